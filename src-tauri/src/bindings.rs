//! The TypeScript types of what the commands and events carry, generated from the
//! Rust types into ui/src/bindings so the windows cannot drift from them
//! (tests/bindings.rs fails when the committed files differ).

use std::collections::BTreeMap;

use quire_engine::page_image::PageImage;
use quire_engine::passage::PageText;
use quire_engine::progress::Progress;
use quire_engine::retrieve::SearchHit;
use quire_engine::summarize::Summary;
use quire_engine::{Chat, ChatSummary};
use ts_rs::{Config, TypeVisitor, TS};

use crate::commands::{AnswerEvent, Answered, LibraryView, Opened, SummaryEvent};
use crate::error::CommandError;
use crate::events::LibraryChanged;
use crate::preferences::SettingsView;

/// Where the files go, from the workspace's root.
pub const DIR: &str = "ui/src/bindings";

/// Each file of the bindings (by name) and its text: the types the windows receive and
/// every type they contain.
pub fn generate() -> Result<BTreeMap<String, String>, ts_rs::ExportError> {
    // Ids, times and counts (i64, u64) stay far below 2^53 and JSON carries them as
    // numbers, not as the BigInts ts-rs assumes by default.
    let config = Config::new().with_large_int("number");
    let mut files = Files {
        config: &config,
        files: BTreeMap::new(),
        error: None,
    };
    // Command replies and channel messages.
    files.visit::<LibraryView>();
    files.visit::<Answered>();
    files.visit::<AnswerEvent>();
    files.visit::<ChatSummary>();
    files.visit::<Chat>();
    files.visit::<Summary>();
    files.visit::<SummaryEvent>();
    files.visit::<SettingsView>();
    files.visit::<Opened>();
    files.visit::<PageText>();
    files.visit::<PageImage>();
    files.visit::<Vec<SearchHit>>();
    files.visit::<CommandError>();
    // Event payloads.
    files.visit::<Progress>();
    files.visit::<LibraryChanged>();
    match files.error {
        Some(error) => Err(error),
        None => Ok(files.files),
    }
}

/// Collects a type's file and, recursively, those of the types it uses.
struct Files<'a> {
    config: &'a Config,
    files: BTreeMap<String, String>,
    error: Option<ts_rs::ExportError>,
}

impl TypeVisitor for Files<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        // Primitives and containers have no file of their own.
        let Some(path) = T::output_path() else {
            return;
        };
        let name = path.to_string_lossy().into_owned();
        if self.error.is_some() || self.files.contains_key(&name) {
            return;
        }
        match T::export_to_string(self.config) {
            Ok(text) => {
                self.files.insert(name, text);
                T::visit_dependencies(self);
            }
            Err(error) => self.error = Some(error),
        }
    }
}
