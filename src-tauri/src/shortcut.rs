//! The global shortcut that opens the quick-ask window.

use std::str::FromStr;

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Shortcut, ShortcutState};

use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::state::Desktop;

/// The plugin, calling the quick-ask window for every shortcut it owns.
pub fn plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_global_shortcut::Builder::new()
        .with_handler(|app, _shortcut, event| {
            if event.state() == ShortcutState::Pressed {
                crate::windows::toggle_quick(app);
            }
        })
        .build()
}

/// Registers the saved shortcut at start-up; a failure is kept for the settings view.
pub fn register_saved<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<Desktop>();
    let saved = state
        .settings
        .lock()
        .map(|s| s.shortcut.clone())
        .unwrap_or_default();
    if let Err(e) = replace(app, &saved) {
        tracing::warn!("{}", e.message);
    }
}

/// Makes `text` the only shortcut, or leaves the current one and says why not.
pub fn replace<R: Runtime>(app: &AppHandle<R>, text: &str) -> CommandResult<()> {
    let shortcut = Shortcut::from_str(text).map_err(|e| {
        CommandError::new(
            ErrorKind::Invalid,
            format!("“{text}” is not a shortcut ({e}); write it like Ctrl+Shift+Space"),
        )
    })?;
    let shortcuts = app.global_shortcut();
    let state = app.state::<Desktop>();
    if shortcuts.is_registered(shortcut) {
        return Ok(());
    }
    let result = shortcuts
        .unregister_all()
        .and_then(|()| shortcuts.register(shortcut));
    let problem = result
        .as_ref()
        .err()
        .map(|e| format!("{text} could not be registered ({e}); another app may own it"));
    if let Ok(mut current) = state.shortcut_problem.lock() {
        current.clone_from(&problem);
    }
    match problem {
        Some(message) => Err(CommandError::new(ErrorKind::Invalid, message)),
        None => Ok(()),
    }
}
