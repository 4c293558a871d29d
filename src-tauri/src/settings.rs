//! The desktop's own settings (desktop.toml in the data directory); the engine's
//! stay in config.toml.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const DEFAULT_SHORTCUT: &str = "Ctrl+Shift+Space";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The global shortcut that opens the quick-ask window.
    pub shortcut: String,
    pub theme: Theme,
}

/// How the windows look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// Light or dark as the system is.
    #[default]
    System,
    Light,
    Dark,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            shortcut: DEFAULT_SHORTCUT.into(),
            theme: Theme::System,
        }
    }
}

impl Settings {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("desktop.toml")
    }

    /// The saved settings; defaults when there are none or they cannot be read.
    pub fn load(data_dir: &Path) -> Settings {
        let path = Settings::path(data_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!("{}: {e}; using the default settings", path.display());
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    }

    pub fn save(&self, data_dir: &Path) -> quire_engine::Result<()> {
        let path = Settings::path(data_dir);
        let text = toml::to_string(self).map_err(|e| quire_engine::Error::Config {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::create_dir_all(data_dir).map_err(|e| quire_engine::Error::io(data_dir, e))?;
        std::fs::write(&path, text).map_err(|e| quire_engine::Error::io(&path, e))
    }
}
