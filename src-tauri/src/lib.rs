//! Quire on the desktop: a thin Tauri 2 shell over the engine. The windows are
//! in ui/; everything they do goes through the commands in [`commands`].

mod access;
pub mod bindings;
pub mod commands;
mod dialog;
pub mod error;
mod events;
mod indexing;
mod navigation;
mod open;
pub mod preferences;
pub mod settings;
mod shortcut;
pub mod state;
mod tray;
mod windows;

use std::path::{Path, PathBuf};

use tauri::{AppHandle, DragDropEvent, Emitter, Manager, Runtime, WindowEvent};

use crate::state::Desktop;

/// Files given to a window, to summarise.
pub const FILES_DROPPED: &str = "files-dropped";

/// The commands, for the real app and for tests on the mock runtime.
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::library_status,
        commands::add_folder,
        commands::remove_folder,
        commands::pause_indexing,
        commands::resume_indexing,
        commands::ask,
        commands::stop_generation,
        commands::list_chats,
        commands::get_chat,
        commands::delete_chat,
        commands::export_chat,
        commands::open_source,
        commands::read_passage,
        commands::read_page_image,
        commands::search_library,
        commands::summarize,
        commands::pick_files,
        commands::take_dropped_files,
        preferences::get_settings,
        preferences::set_shortcut,
        preferences::set_theme,
        preferences::pick_model,
        preferences::save_engine_settings,
        preferences::change_embedder,
        commands::open_in_main,
        commands::hide_quick,
    ])
}

pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env(quire_engine::logging::FILTER_ENV).unwrap_or_else(
                |_| tracing_subscriber::EnvFilter::new(quire_engine::logging::DEFAULT_FILTER),
            ),
        )
        .init();
    if let Err(e) = try_run() {
        eprintln!("quire-desktop: {e:#}");
        std::process::exit(1);
    }
}

fn try_run() -> anyhow::Result<()> {
    let config = quire_engine::Config::from_environment()?;
    quire_engine::llm::set_compute_threads(config.threads);
    let engine = tauri::async_runtime::block_on(quire_engine::Engine::open(config))?;
    let builder = tauri::Builder::default()
        // First: a second launch hands its arguments over and exits.
        .plugin(tauri_plugin_single_instance::init(|app, args, cwd| {
            windows::show_main(app);
            open_arguments(app, &args, Path::new(&cwd));
        }))
        .plugin(navigation::guard())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(shortcut::plugin())
        .manage(Desktop::new(engine))
        .setup(|app| {
            let handle = app.handle();
            windows::create_quick(handle)?;
            tray::create(handle, indexing::set_paused)?;
            shortcut::register_saved(handle);
            indexing::watch(handle);
            let args: Vec<String> = std::env::args().collect();
            let cwd = std::env::current_dir().unwrap_or_default();
            open_arguments(handle, &args, &cwd);
            Ok(())
        })
        .on_window_event(|window, event| match event {
            WindowEvent::DragDrop(DragDropEvent::Drop { paths, .. }) => {
                give_files(window.app_handle(), window.label(), paths.clone());
            }
            // The main window hides to the tray; Quit is in the tray menu.
            WindowEvent::CloseRequested { api, .. } if window.label() == windows::MAIN => {
                api.prevent_close();
                let _ = window.hide();
            }
            _ => {}
        });
    with_commands(builder)
        .run(tauri::generate_context!())
        .map_err(|e| anyhow::anyhow!("the window could not start: {e}"))
}

/// `quire-desktop [FOLDER | FILE]…`: folders join the library, files are summarised.
fn open_arguments<R: Runtime>(app: &AppHandle<R>, args: &[String], cwd: &Path) {
    let mut files = Vec::new();
    for arg in args.iter().skip(1).filter(|a| !a.starts_with('-')) {
        let path = cwd.join(arg);
        if path.is_dir() {
            indexing::start(app, Some(path));
        } else if path.is_file() {
            files.push(path);
        } else {
            tracing::warn!("{}: no such file or folder", path.display());
        }
    }
    if !files.is_empty() {
        give_files(app, windows::MAIN, files);
    }
}

/// Hands files the user gave to window `label`, which summarises them in turn.
fn give_files<R: Runtime>(app: &AppHandle<R>, label: &str, files: Vec<PathBuf>) {
    let files: Vec<PathBuf> = files.into_iter().filter(|f| f.is_file()).collect();
    if files.is_empty() {
        return;
    }
    app.state::<Desktop>().queue_files(label, &files);
    let _ = app.emit_to(label, FILES_DROPPED, ());
}
