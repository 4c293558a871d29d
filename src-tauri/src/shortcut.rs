//! The global shortcut that opens the quick-ask window.

use std::str::FromStr;

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_global_shortcut::{Code, GlobalShortcutExt, Modifiers, Shortcut, ShortcutState};

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
        if let Ok(mut problem) = state.shortcut_problem.lock() {
            *problem = Some(e.message);
        }
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
    if !leaves_typing_alone(&shortcut) {
        return Err(CommandError::new(
            ErrorKind::Invalid,
            format!(
                "“{text}” needs Ctrl, Alt or Super (or be an F-key): a global shortcut takes its keys \
                 from every program, so a plain key would stop you typing it anywhere"
            ),
        ));
    }
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

/// Whether a shortcut can be grabbed system-wide without taking a key from typing:
/// it holds Ctrl, Alt or Super (Shift alone only changes the letter), or is an F-key.
fn leaves_typing_alone(shortcut: &Shortcut) -> bool {
    let grabs = Modifiers::CONTROL | Modifiers::ALT | Modifiers::SUPER | Modifiers::META;
    shortcut.mods.intersects(grabs) || is_function_key(shortcut.key)
}

fn is_function_key(key: Code) -> bool {
    use Code::*;
    matches!(
        key,
        F1 | F2
            | F3
            | F4
            | F5
            | F6
            | F7
            | F8
            | F9
            | F10
            | F11
            | F12
            | F13
            | F14
            | F15
            | F16
            | F17
            | F18
            | F19
            | F20
            | F21
            | F22
            | F23
            | F24
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(text: &str) -> bool {
        leaves_typing_alone(&Shortcut::from_str(text).unwrap())
    }

    #[test]
    fn a_shortcut_must_not_take_a_key_from_typing() {
        for good in ["Ctrl+Shift+Space", "Alt+Q", "Super+K", "F9", "Shift+F2"] {
            assert!(allowed(good), "{good}");
        }
        for bad in ["Q", "Space", "Shift+Q", "Enter"] {
            assert!(!allowed(bad), "{bad}");
        }
    }
}
