//! Folder watching: notify over every folder of the library. Changes are
//! debounced and batched; each batch brings the folders it touched up to date
//! through the same incremental indexing as `quire index` (size and mtime →
//! content hash → extract), so creates, edits, deletes and renames (recognised by
//! content) reach the catalog, the full-text index and the vectors alike. On
//! start, and whenever the watcher reports that it lost events, every folder is
//! reconciled the same way.
//!
//! On Linux every directory costs an inotify watch out of a per-user limit that all
//! programs share, so Quire watches the directories indexing walks into, one by one
//! (`DirectoryWatches`): ignored and hidden ones are left out and links are never
//! followed (notify's own recursive mode follows them, and one link to /usr cost
//! thousands of watches). Directories that appear later are watched when their
//! creation is reported; a cap keeps a share of the limit for other programs.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::ModifyKind;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use serde::Serialize;
use tokio::time::Instant;

use crate::cancel::CancelToken;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ingest::{directories, IndexReport};
use crate::progress::NoProgress;

/// How long the file system must be quiet before a batch of changes is indexed.
pub const DEBOUNCE: Duration = Duration::from_millis(750);
/// Changes that never pause (a log written to all the time) are still indexed this often.
const LONGEST_WAIT: Duration = Duration::from_secs(5);
/// How often the library's folder list is checked for folders added or removed. A
/// timer, because another process (`quire index`) may change it: only the catalog knows.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// How long to wait before trying again when another process holds the library. A
/// timer, because the lock file tells nobody when it is let go.
const BUSY_RETRY: Duration = Duration::from_secs(2);
/// The system's limit on inotify watches, per user, for all programs together.
const INOTIFY_LIMIT: &str = "/proc/sys/fs/inotify/max_user_watches";
/// Watches Quire allows itself where the system names no limit.
const CAP_WITHOUT_LIMIT: usize = 8192;
/// Where the system watches a whole tree with one handle (FSEvents, ReadDirectoryChangesW,
/// neither of which follows links), a folder is watched whole; elsewhere directory by directory.
const SYSTEM_WATCHES_TREES: bool = cfg!(any(target_os = "macos", target_os = "windows"));

/// What the watcher did, for the front end to show.
#[derive(Debug, Clone, Serialize)]
pub enum WatchUpdate {
    /// Folders are watched; the first reconciliation is done.
    Watching {
        #[serde(serialize_with = "crate::serde_path::lossy_list")]
        folders: Vec<PathBuf>,
        /// How many directories are watched in them (on macOS and Windows, one per
        /// folder: the system watches it whole).
        directories: usize,
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
        directories: usize,
    },
    /// Something went wrong for one batch, or not every directory could be
    /// watched; watching goes on.
    Problem { message: String },
}

/// Whether an event can change what is indexed. Reads are not: indexing itself
/// opens files and lists folders, and counting those would make it chase its own tail.
fn changes_content(event: &notify::Event) -> bool {
    !matches!(event.kind, EventKind::Access(_))
}

/// Whether an event may have made or unmade a directory, which gains or loses a watch.
fn changes_structure(event: &notify::Event) -> bool {
    matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
    )
}

/// Events waiting for the file system to be quiet for [`DEBOUNCE`].
#[derive(Default)]
struct Settling {
    /// Folders holding a changed path.
    touched: BTreeSet<PathBuf>,
    /// Paths created, removed or renamed: directories among them gain or lose watches.
    structure: BTreeSet<PathBuf>,
    /// Events were lost: every folder is reconciled and its watches checked.
    rescan: bool,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Settling {
    fn add(
        &mut self,
        event: notify::Result<notify::Event>,
        folders: &[PathBuf],
        data_dir: &Path,
        on_update: &(dyn Fn(&WatchUpdate) + Send + Sync),
    ) {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                // Events may have been lost: reconcile everything.
                on_update(&WatchUpdate::Problem {
                    message: error.to_string(),
                });
                self.rescan = true;
                self.noted();
                return;
            }
        };
        if event.need_rescan() {
            self.rescan = true;
            self.noted();
        }
        if !changes_content(&event) {
            return;
        }
        // The library's own files, when it lives inside a watched folder, are not news.
        for path in event.paths.iter().filter(|p| !p.starts_with(data_dir)) {
            let Some(folder) = folders.iter().find(|f| path.starts_with(f)) else {
                continue;
            };
            self.touched.insert(folder.clone());
            if changes_structure(&event) {
                self.structure.insert(path.clone());
            }
            self.noted();
        }
    }

    fn noted(&mut self) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// When the batch is ready: quiet for [`DEBOUNCE`], or waiting for [`LONGEST_WAIT`].
    fn due(&self) -> Option<Instant> {
        Some((self.last? + DEBOUNCE).min(self.first? + LONGEST_WAIT))
    }
}

/// Returns at `deadline`; without one, never.
async fn until_or_never(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The directory watches Quire holds, one per directory that indexing walks into
/// (one per folder where the system watches trees), at most `cap` of them.
struct DirectoryWatches {
    watcher: RecommendedWatcher,
    watched: BTreeSet<PathBuf>,
    cap: usize,
    /// The system's limit the cap was taken from, to name in messages.
    system_limit: Option<usize>,
    /// Quire's data directory, never watched.
    exclude: PathBuf,
    /// Whether the user was told that a limit stopped the watching. Told once, until
    /// some watch is let go and room may have come back.
    told_of_limit: bool,
}

/// Which limit stopped the watching.
enum Limit {
    Quire,
    System,
}

impl DirectoryWatches {
    fn new(watcher: RecommendedWatcher, exclude: PathBuf) -> DirectoryWatches {
        let system_limit = std::fs::read_to_string(INOTIFY_LIMIT)
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok());
        // Half the limit: editors, sync clients and build tools watch too.
        let cap = system_limit.map_or(CAP_WITHOUT_LIMIT, |limit| (limit / 2).max(1));
        DirectoryWatches {
            watcher,
            watched: BTreeSet::new(),
            cap,
            system_limit,
            exclude,
            told_of_limit: false,
        }
    }

    fn count(&self) -> usize {
        self.watched.len()
    }

    /// The directories to watch in the library folder `root`, found off the async
    /// threads (a walk of a large folder takes a while).
    async fn walk_folder(&self, root: &Path) -> Result<Vec<PathBuf>> {
        if SYSTEM_WATCHES_TREES {
            return Ok(vec![root.to_path_buf()]);
        }
        let (root, exclude) = (root.to_path_buf(), self.exclude.clone());
        Ok(tokio::task::spawn_blocking(move || directories(&root, &exclude, None)).await?)
    }

    /// Watches `root`, a library folder, and the directories in it that are not
    /// watched yet; lets go of those no longer there. Returns why `root` itself
    /// could not be watched, unless a limit was the reason (then it was said).
    async fn sync_folder(
        &mut self,
        root: &Path,
        folders: &[PathBuf],
        on_update: &(dyn Fn(&WatchUpdate) + Send + Sync),
    ) -> Result<std::result::Result<(), notify::Error>> {
        let walked = self.walk_folder(root).await?;
        let present: HashSet<&PathBuf> = walked.iter().collect();
        let gone: Vec<PathBuf> = self
            .under(root)
            .filter(|dir| !present.contains(dir))
            .cloned()
            .collect();
        for dir in gone {
            self.unwatch(&dir);
        }
        let mut failures = self.watch_all(walked, folders, on_update);
        Ok(match failures.iter().position(|(dir, _)| dir == root) {
            Some(at_root) => Err(failures.swap_remove(at_root).1),
            None => Ok(()),
        })
    }

    /// Follows paths created, removed or renamed inside the library: directories that
    /// left lose their watches, those that came (with what is under them) gain them.
    async fn follow_structure(
        &mut self,
        paths: BTreeSet<PathBuf>,
        folders: &[PathBuf],
        on_update: &(dyn Fn(&WatchUpdate) + Send + Sync),
    ) -> Result<()> {
        if SYSTEM_WATCHES_TREES {
            return Ok(());
        }
        // A path under another in the batch is covered by that one's walk.
        let mut outermost: Vec<PathBuf> = Vec::new();
        for path in paths {
            if outermost.last().is_none_or(|above| !path.starts_with(above)) {
                outermost.push(path);
            }
        }
        let exclude = self.exclude.clone();
        let walked = tokio::task::spawn_blocking(move || walk_changed(outermost, &exclude)).await?;
        let mut appeared = Vec::new();
        for (path, dirs) in walked {
            // Anything watched there may be stale (a directory deleted and made again
            // between two batches keeps its name, not its watch): let go and watch afresh.
            let stale: Vec<PathBuf> = self.under(&path).cloned().collect();
            for dir in stale {
                self.unwatch(&dir);
            }
            appeared.extend(dirs.into_iter().flatten());
        }
        for (dir, error) in self.watch_all(appeared, folders, on_update) {
            tracing::debug!(dir = %dir.display(), "not watched: {error}");
        }
        Ok(())
    }

    /// Lets go of every watch in `root`, a library folder that left.
    fn forget_folder(&mut self, root: &Path) {
        let inside: Vec<PathBuf> = self.under(root).cloned().collect();
        for dir in inside {
            self.unwatch(&dir);
        }
    }

    /// `root` and the watched directories under it.
    fn under<'a>(&'a self, root: &'a Path) -> impl Iterator<Item = &'a PathBuf> + 'a {
        // Paths order by component, so a directory's descendants follow it together.
        self.watched
            .range(root.to_path_buf()..)
            .take_while(move |dir| dir.starts_with(root))
    }

    fn unwatch(&mut self, dir: &Path) {
        if self.watched.remove(dir) {
            // The system drops the watch of a deleted directory itself; notify may have too.
            let _ = self.watcher.unwatch(dir);
            self.told_of_limit = false;
        }
    }

    /// Watches those of `dirs` not watched yet, shallowest first, so that when a
    /// limit stops it the directories nearest the top of each folder are the ones
    /// watched. Returns the directories that could not be watched for another reason.
    fn watch_all(
        &mut self,
        mut dirs: Vec<PathBuf>,
        folders: &[PathBuf],
        on_update: &(dyn Fn(&WatchUpdate) + Send + Sync),
    ) -> Vec<(PathBuf, notify::Error)> {
        dirs.retain(|dir| !self.watched.contains(dir));
        dirs.sort_by_key(|dir| dir.components().count());
        let mode = if SYSTEM_WATCHES_TREES {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        let mut failures = Vec::new();
        for dir in dirs {
            if self.watched.len() >= self.cap {
                self.tell_of_limit(Limit::Quire, &dir, folders, on_update);
                break;
            }
            match self.watcher.watch(&dir, mode) {
                Ok(()) => {
                    self.watched.insert(dir);
                }
                Err(error) if matches!(error.kind, notify::ErrorKind::MaxFilesWatch) => {
                    self.tell_of_limit(Limit::System, &dir, folders, on_update);
                    break;
                }
                // Gone since the walk, or unreadable: nothing to watch there.
                Err(error) => failures.push((dir, error)),
            }
        }
        failures
    }

    fn tell_of_limit(
        &mut self,
        limit: Limit,
        first_unwatched: &Path,
        folders: &[PathBuf],
        on_update: &(dyn Fn(&WatchUpdate) + Send + Sync),
    ) {
        if self.told_of_limit {
            return;
        }
        self.told_of_limit = true;
        let folder = folders
            .iter()
            .find(|f| first_unwatched.starts_with(f))
            .map_or(first_unwatched, PathBuf::as_path);
        let system = match self.system_limit {
            Some(limit) => format!("the system's limit of {limit} inotify watches"),
            None => "the system's limit on inotify watches".to_string(),
        };
        let why = match limit {
            Limit::Quire => format!(
                "Quire watches at most {} directories, half of {system}, leaving the rest to other programs",
                self.cap
            ),
            Limit::System => format!("{system} is reached (other programs hold watches too)"),
        };
        let message = format!(
            "{why}. {count} directories are watched for changes; changes in the other directories of {folder} \
             are picked up the next time watching starts or the folder is indexed. To watch them all, raise the \
             limit (sysctl fs.inotify.max_user_watches) and start watching again.",
            count = self.watched.len(),
            folder = folder.display(),
        );
        tracing::warn!("{message}");
        on_update(&WatchUpdate::Problem { message });
    }
}

/// For each of `paths`: the directories to watch under it (itself included) when it
/// is a directory indexing walks into, none when it is not, or no longer is.
fn walk_changed(paths: Vec<PathBuf>, exclude: &Path) -> Vec<(PathBuf, Option<Vec<PathBuf>>)> {
    // A walk does not judge its own root, so whether a new directory is ignored or
    // hidden is read from a walk of its parent, one level deep (once per parent).
    let mut walked_into: HashMap<PathBuf, HashSet<PathBuf>> = HashMap::new();
    paths
        .into_iter()
        .map(|path| {
            let is_directory = std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_dir());
            let admitted = is_directory
                && path.parent().is_some_and(|parent| {
                    walked_into
                        .entry(parent.to_path_buf())
                        .or_insert_with(|| directories(parent, exclude, Some(1)).into_iter().collect())
                        .contains(&path)
                });
            let dirs = admitted.then(|| directories(&path, exclude, None));
            (path, dirs)
        })
        .collect()
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
        let (sender, mut changes) = tokio::sync::mpsc::unbounded_channel::<notify::Result<notify::Event>>();
        let watcher = RecommendedWatcher::new(
            move |event| {
                let _ = sender.send(event);
            },
            notify::Config::default(),
        )
        .map_err(|e| Error::Watch(e.to_string()))?;
        let data_dir = self.config().data_dir.clone();
        let mut watches = DirectoryWatches::new(watcher, data_dir.clone());
        let mut folders = Vec::new();
        let mut pending = BTreeSet::new();
        self.follow_library(&mut watches, &mut folders, &mut pending, on_update)
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
            directories: watches.count(),
            report,
        });
        let mut settling = Settling::default();
        let mut follow = tokio::time::interval_at(Instant::now() + FOLLOW_EVERY, FOLLOW_EVERY);
        // After a long batch, one look is enough, not one for every tick missed.
        follow.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // While indexing is paused the changes wait for the resume, which wakes the loop.
            let resumed = self.indexing_resumed();
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                // Before new events, or a steady stream of them would hold the batch back.
                () = until_or_never(settling.due()) => {
                    let settled = std::mem::take(&mut settling);
                    let followed = if settled.rescan {
                        pending.extend(folders.iter().cloned());
                        self.resync_watches(&mut watches, &folders, on_update).await
                    } else {
                        watches.follow_structure(settled.structure, &folders, on_update).await
                    };
                    if let Err(e) = followed {
                        on_update(&WatchUpdate::Problem {
                            message: e.to_string(),
                        });
                    }
                    pending.extend(settled.touched);
                }
                event = changes.recv() => {
                    let Some(event) = event else { break };
                    settling.add(event, &folders, &data_dir, on_update);
                    // Whatever else arrived meanwhile goes into the same batch.
                    while let Ok(more) = changes.try_recv() {
                        settling.add(more, &folders, &data_dir, on_update);
                    }
                }
                () = cancelled_or_never(resumed.as_ref()) => {}
                _ = follow.tick() => {
                    if let Err(e) = self
                        .follow_library(&mut watches, &mut folders, &mut pending, on_update)
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
        Ok(())
    }

    /// After lost events: every folder's watches checked against a fresh walk.
    async fn resync_watches(
        &self,
        watches: &mut DirectoryWatches,
        folders: &[PathBuf],
        on_update: &(dyn Fn(&WatchUpdate) + Send + Sync),
    ) -> Result<()> {
        for folder in folders {
            if let Err(e) = watches.sync_folder(folder, folders, on_update).await? {
                on_update(&WatchUpdate::Problem {
                    message: format!("cannot watch {}: {e}", folder.display()),
                });
            }
        }
        Ok(())
    }

    /// Watches folders the library gained (queueing them for a reconciliation) and
    /// stops watching those it lost.
    async fn follow_library(
        &self,
        watches: &mut DirectoryWatches,
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
                watches.forget_folder(folder);
                pending.remove(folder);
            }
            keep
        });
        let mut changed = watched.len() != before;
        let new: Vec<PathBuf> = library
            .iter()
            .filter(|f| !watched.contains(f) && f.is_dir())
            .cloned()
            .collect();
        for folder in new {
            match watches.sync_folder(&folder, &library, on_update).await? {
                // A folder a limit left unwatched counts as followed too: it was said
                // once, and it is not walked again every tick for the same answer.
                Ok(()) => {
                    watched.push(folder.clone());
                    pending.insert(folder);
                    changed = true;
                }
                // Tried again at the next look, as before the folder could be watched at all.
                Err(e) => {
                    watches.forget_folder(&folder);
                    on_update(&WatchUpdate::Problem {
                        message: format!("cannot watch {}: {e}", folder.display()),
                    });
                }
            }
        }
        if changed {
            on_update(&WatchUpdate::Folders {
                folders: watched.clone(),
                directories: watches.count(),
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
