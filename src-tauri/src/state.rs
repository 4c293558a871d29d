//! What the desktop shell keeps between commands: the engine, the paths the user
//! granted, the latest indexing progress, the answer being written, files waiting
//! for a summary in each window.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use quire_engine::cancel::CancelToken;
use quire_engine::progress::Progress;
use quire_engine::Engine;

use crate::access::Access;
use crate::settings::Settings;

pub struct Desktop {
    pub engine: Arc<Engine>,
    pub access: Access,
    /// The latest report of an indexing run in progress.
    pub indexing: Mutex<Option<Progress>>,
    /// Indexing runs started by the window and not finished.
    pub runs: Mutex<usize>,
    /// Stops the answer being written.
    pub answering: Mutex<Option<CancelToken>>,
    /// Files dropped on (or opened with) each window, not yet taken by it.
    pub dropped: Mutex<HashMap<String, Vec<PathBuf>>>,
    pub settings: Mutex<Settings>,
    /// Why the global shortcut could not be registered, when it could not.
    pub shortcut_problem: Mutex<Option<String>>,
    /// Stops the folder watcher when the app quits.
    pub watcher: CancelToken,
}

impl Desktop {
    pub fn new(engine: Engine) -> Desktop {
        let settings = Settings::load(&engine.config().data_dir);
        Desktop {
            engine: Arc::new(engine),
            access: Access::default(),
            indexing: Mutex::new(None),
            runs: Mutex::new(0),
            answering: Mutex::new(None),
            dropped: Mutex::new(HashMap::new()),
            settings: Mutex::new(settings),
            shortcut_problem: Mutex::new(None),
            watcher: CancelToken::new(),
        }
    }

    /// Queues files for the window `label` to summarise; the user gave them.
    pub fn queue_files(&self, label: &str, files: &[PathBuf]) {
        for file in files {
            self.access.grant(file);
        }
        if let Ok(mut dropped) = self.dropped.lock() {
            dropped
                .entry(label.to_string())
                .or_default()
                .extend(files.iter().cloned());
        }
    }

    pub fn take_files(&self, label: &str) -> Vec<PathBuf> {
        self.dropped
            .lock()
            .ok()
            .and_then(|mut d| d.remove(label))
            .unwrap_or_default()
    }
}
