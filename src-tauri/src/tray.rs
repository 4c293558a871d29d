//! The tray icon and its menu: Ask…, Show Quire, Pause/Resume indexing, Quit.

use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

use crate::events::library_changed;
use crate::state::Desktop;

const PAUSE_ITEM: &str = "pause";

/// Makes the tray icon. Its pause item calls `set_paused` (indexing's, given by the
/// app: the tray only shows the pause and asks for it).
pub fn create<R: Runtime>(app: &AppHandle<R>, set_paused: fn(&AppHandle<R>, bool)) -> tauri::Result<()> {
    let ask = MenuItem::with_id(app, "ask", "Ask…", true, None::<&str>)?;
    let show = MenuItem::with_id(app, "show", "Show Quire", true, None::<&str>)?;
    let pause = MenuItem::with_id(app, PAUSE_ITEM, pause_label(false), true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&ask, &show, &pause, &quit])?;
    let mut tray = TrayIconBuilder::with_id("quire")
        .tooltip("Quire")
        .menu(&menu)
        .on_menu_event(move |app, event| match event.id.as_ref() {
            "ask" => crate::windows::show_quick(app),
            "show" => crate::windows::show_main(app),
            PAUSE_ITEM => {
                let paused = app.state::<Desktop>().engine.indexing_paused();
                set_paused(app, !paused);
            }
            "quit" => {
                app.state::<Desktop>().watcher.cancel();
                app.exit(0);
            }
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    // The menu item is looked up again by id when its label changes.
    app.manage(PauseItem(pause));
    Ok(())
}

struct PauseItem<R: Runtime>(MenuItem<R>);

fn pause_label(paused: bool) -> &'static str {
    if paused {
        "Resume indexing"
    } else {
        "Pause indexing"
    }
}

/// Updates the tray's pause item and tells the windows.
pub fn show_paused<R: Runtime>(app: &AppHandle<R>, paused: bool) {
    if let Some(item) = app.try_state::<PauseItem<R>>() {
        let _ = item.0.set_text(pause_label(paused));
    }
    let message = if paused {
        "Indexing paused."
    } else {
        "Indexing resumed."
    };
    library_changed(app, message.into());
}
