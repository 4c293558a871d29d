//! Folder watching: notify (through notify-debouncer-full) over every folder of
//! the library. Changes are debounced and batched; each batch brings the folders
//! it touched up to date through the same incremental indexing as `quire index`
//! (size and mtime → content hash → extract), so creates, edits, deletes and
//! renames (recognised by content) reach the catalog, the full-text index and the
//! vectors alike. On start, and whenever the watcher reports that it lost events,
//! every folder is reconciled the same way.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_full::notify::RecommendedWatcher;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, RecommendedCache};
use serde::Serialize;

use crate::cancel::CancelToken;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ingest::IndexReport;
use crate::progress::NoProgress;

/// How long the file system must be quiet before a batch of changes is indexed.
pub const DEBOUNCE: Duration = Duration::from_millis(750);
/// How often the library's folder list is checked for folders added or removed. A
/// timer, because another process (`quire index`) may change it: only the catalog knows.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// How long to wait before trying again when another process holds the library. A
/// timer, because the lock file tells nobody when it is let go.
const BUSY_RETRY: Duration = Duration::from_secs(2);

type Debouncer = notify_debouncer_full::Debouncer<RecommendedWatcher, RecommendedCache>;

/// What the watcher did, for the front end to show.
#[derive(Debug, Clone, Serialize)]
pub enum WatchUpdate {
    /// Folders are watched; the first reconciliation is done.
    Watching {
        #[serde(serialize_with = "crate::serde_path::lossy_list")]
        folders: Vec<PathBuf>,
        report: IndexReport,
    },
    /// A batch of changes was indexed.
    Indexed {
        #[serde(serialize_with = "crate::serde_path::lossy_list")]
        folders: Vec<PathBuf>,
        report: IndexReport,
    },
    /// The library gained or lost folders; these are watched now.
    Folders {
        #[serde(serialize_with = "crate::serde_path::lossy_list")]
        folders: Vec<PathBuf>,
    },
    /// Something went wrong for one batch; watching goes on.
    Problem { message: String },
}

/// Whether an event can change what is indexed. Reads are not: indexing itself
/// opens files and lists folders, and counting those would make it chase its own tail.
fn changes_content(event: &notify_debouncer_full::DebouncedEvent) -> bool {
    !matches!(event.kind, EventKind::Access(_))
}

/// Adds the folders that a batch of events touched to `touched`: those holding a
/// changed path, or all of them when events may have been lost.
fn add_touched(
    batch: DebounceEventResult,
    folders: &[PathBuf],
    data_dir: &Path,
    touched: &mut BTreeSet<PathBuf>,
    on_update: &(dyn Fn(&WatchUpdate) + Send + Sync),
) {
    match batch {
        Ok(events) => {
            for event in &events {
                if event.need_rescan() {
                    touched.extend(folders.iter().cloned());
                }
                if !changes_content(event) {
                    continue;
                }
                // The library's own files, when it lives inside a watched folder, are not news.
                for path in event.paths.iter().filter(|p| !p.starts_with(data_dir)) {
                    touched.extend(folders.iter().filter(|f| path.starts_with(f)).cloned());
                }
            }
        }
        Err(errors) => {
            // Events may have been lost: reconcile everything.
            for error in errors {
                on_update(&WatchUpdate::Problem {
                    message: error.to_string(),
                });
            }
            touched.extend(folders.iter().cloned());
        }
    }
}

/// What one run of indexing did, and to which folders.
#[derive(Default)]
struct Batch {
    folders: Vec<PathBuf>,
    report: IndexReport,
}

/// Returns when `token` is cancelled; without a token, never.
async fn cancelled_or_never(token: Option<&CancelToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

impl Engine {
    /// Watches every folder of the library until `stop` is cancelled, keeping
    /// the index up to date; `on_update` hears about each batch. Folders added to
    /// or removed from the library meanwhile are followed. While indexing is
    /// paused, changes are collected and indexed on resume.
    pub async fn watch(
        &self,
        stop: &CancelToken,
        on_update: &(dyn Fn(&WatchUpdate) + Send + Sync),
    ) -> Result<()> {
        let (sender, mut changes) = tokio::sync::mpsc::unbounded_channel::<DebounceEventResult>();
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            let _ = sender.send(result);
        })
        .map_err(|e| Error::Watch(e.to_string()))?;
        let mut folders = Vec::new();
        let mut pending = BTreeSet::new();
        self.follow_library(&mut debouncer, &mut folders, &mut pending, on_update)
            .await?;
        // Changes made while Quire was not running: reconcile once, now that events are being collected.
        let report = if self.indexing_paused() {
            IndexReport {
                paused: true,
                ..IndexReport::default()
            }
        } else {
            let all: Vec<PathBuf> = std::mem::take(&mut pending).into_iter().collect();
            self.index_until_free(&all, stop).await?.report
        };
        if report.paused {
            pending.extend(folders.iter().cloned());
        }
        on_update(&WatchUpdate::Watching {
            folders: folders.clone(),
            report,
        });
        let data_dir = self.config().data_dir.clone();
        let mut follow = tokio::time::interval_at(tokio::time::Instant::now() + FOLLOW_EVERY, FOLLOW_EVERY);
        // After a long batch, one look is enough, not one for every tick missed.
        follow.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // While indexing is paused the changes wait for the resume, which wakes the loop.
            let resumed = self.indexing_resumed();
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                batch = changes.recv() => {
                    let Some(batch) = batch else { break };
                    add_touched(batch, &folders, &data_dir, &mut pending, on_update);
                    // Whatever else arrived meanwhile goes into the same batch.
                    while let Ok(more) = changes.try_recv() {
                        add_touched(more, &folders, &data_dir, &mut pending, on_update);
                    }
                }
                () = cancelled_or_never(resumed.as_ref()) => {}
                _ = follow.tick() => {
                    if let Err(e) = self
                        .follow_library(&mut debouncer, &mut folders, &mut pending, on_update)
                        .await
                    {
                        on_update(&WatchUpdate::Problem {
                            message: e.to_string(),
                        });
                    }
                }
            }
            if pending.is_empty() || self.indexing_paused() {
                continue;
            }
            let touched: Vec<PathBuf> = std::mem::take(&mut pending).into_iter().collect();
            match self.index_until_free(&touched, stop).await {
                Ok(batch) => {
                    if batch.report.paused {
                        pending.extend(touched.iter().cloned());
                    }
                    // Nothing to tell when every touched folder had left the library.
                    if !batch.folders.is_empty() {
                        on_update(&WatchUpdate::Indexed {
                            folders: batch.folders,
                            report: batch.report,
                        });
                    }
                }
                Err(Error::Cancelled) => break,
                Err(e) => on_update(&WatchUpdate::Problem {
                    message: e.to_string(),
                }),
            }
        }
        drop(debouncer);
        Ok(())
    }

    /// Watches folders the library gained (queueing them for a reconciliation) and
    /// stops watching those it lost.
    async fn follow_library(
        &self,
        debouncer: &mut Debouncer,
        watched: &mut Vec<PathBuf>,
        pending: &mut BTreeSet<PathBuf>,
        on_update: &(dyn Fn(&WatchUpdate) + Send + Sync),
    ) -> Result<()> {
        // A corpus (Engine::index_corpus) is a file with no files to watch.
        let library: Vec<PathBuf> = self
            .folders()
            .await?
            .into_iter()
            .map(|f| f.path)
            .filter(|path| !path.is_file())
            .collect();
        let before = watched.len();
        watched.retain(|folder| {
            let keep = library.contains(folder);
            if !keep {
                let _ = debouncer.unwatch(folder);
                pending.remove(folder);
            }
            keep
        });
        let mut changed = watched.len() != before;
        let new: Vec<PathBuf> = library
            .into_iter()
            .filter(|f| !watched.contains(f) && f.is_dir())
            .collect();
        for folder in new {
            match debouncer.watch(&folder, RecursiveMode::Recursive) {
                Ok(()) => {
                    watched.push(folder.clone());
                    pending.insert(folder.clone());
                    changed = true;
                }
                Err(e) => on_update(&WatchUpdate::Problem {
                    message: format!("cannot watch {}: {e}", folder.display()),
                }),
            }
        }
        if changed {
            on_update(&WatchUpdate::Folders {
                folders: watched.clone(),
            });
        }
        Ok(())
    }

    /// Brings `folders` up to date, waiting while another process holds the library.
    async fn index_until_free(&self, folders: &[PathBuf], stop: &CancelToken) -> Result<Batch> {
        loop {
            match self.index_folders(folders).await {
                Err(Error::Busy { .. }) => tokio::select! {
                    biased;
                    () = stop.cancelled() => return Err(Error::Cancelled),
                    () = tokio::time::sleep(BUSY_RETRY) => {}
                },
                other => return other,
            }
        }
    }

    /// Only folders still in the library are indexed: one removed since its changes
    /// were queued stays removed (`update_folder_in_library` never adds a folder).
    async fn index_folders(&self, folders: &[PathBuf]) -> Result<Batch> {
        let mut batch = Batch::default();
        for folder in folders {
            if let Some(report) = self.update_folder_in_library(folder, &NoProgress).await? {
                batch.report.merge(report);
                batch.folders.push(folder.clone());
            }
        }
        Ok(batch)
    }
}
