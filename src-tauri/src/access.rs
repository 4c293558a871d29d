//! Which paths the window may name. The web view is not trusted with the file
//! system: a command opens or reads a path only when it lies inside a folder of
//! the library, or is a file the user dropped on a window, picked in a dialog or
//! passed on the command line.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use quire_engine::Engine;

use crate::error::{CommandError, CommandResult, ErrorKind};

#[derive(Default)]
pub struct Access {
    granted: Mutex<HashSet<PathBuf>>,
    /// Model files the user chose in the model dialog: the only ones outside the
    /// models folder the window may name as the chat model.
    models: Mutex<HashSet<PathBuf>>,
}

impl Access {
    /// Lets the window name `path` from now on (the user dropped or picked it).
    pub fn grant(&self, path: &Path) {
        if let (Ok(path), Ok(mut granted)) = (path.canonicalize(), self.granted.lock()) {
            granted.insert(path);
        }
    }

    /// Lets the window name `path` as the chat model (the user chose it in the model dialog).
    pub fn grant_model(&self, path: &Path) {
        if let (Ok(path), Ok(mut models)) = (path.canonicalize(), self.models.lock()) {
            models.insert(path);
        }
    }

    pub fn model_was_chosen(&self, canonical: &Path) -> bool {
        self.models.lock().is_ok_and(|m| m.contains(canonical))
    }

    /// Whether the user handed over the file `canonical` themselves (dropped, picked, opened with).
    pub fn was_given(&self, canonical: &Path) -> bool {
        self.granted.lock().is_ok_and(|g| g.contains(canonical))
    }

    /// The canonical form of `path` when the window may use it; otherwise a clear refusal.
    pub async fn check(&self, engine: &Engine, path: &str) -> CommandResult<PathBuf> {
        let canonical = Path::new(path).canonicalize().map_err(|e| {
            CommandError::new(ErrorKind::NotFound, quire_engine::Error::io(path, e).to_string())
        })?;
        if self.granted.lock().is_ok_and(|g| g.contains(&canonical)) {
            return Ok(canonical);
        }
        let folders = engine.folders().await?;
        if folders.iter().any(|f| canonical.starts_with(&f.path)) {
            return Ok(canonical);
        }
        Err(CommandError::new(
            ErrorKind::OutsideLibrary,
            format!(
                "{path} is not in a folder of your library, nor a file you dropped or picked; \
                 Quire opens only those"
            ),
        ))
    }
}
