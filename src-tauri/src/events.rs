//! What the shell tells every window, by event name, and how it says it.

use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime};

/// The library changed (a run finished, the watcher indexed a batch, a folder came or went).
pub const LIBRARY_CHANGED: &str = "library-changed";
/// An indexing run reports progress.
pub const INDEXING_PROGRESS: &str = "indexing-progress";

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct LibraryChanged {
    /// What happened, in words for the status line.
    pub message: String,
}

/// Tells the windows the library changed, with `message` for the status line.
pub fn library_changed<R: Runtime>(app: &AppHandle<R>, message: String) {
    let _ = app.emit(LIBRARY_CHANGED, LibraryChanged { message });
}
