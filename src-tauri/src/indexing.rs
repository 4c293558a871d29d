//! Indexing in the background, with progress sent to every window as events.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use quire_engine::progress::{Progress, ProgressSink};
use quire_engine::watch::WatchUpdate;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::events::{library_changed, INDEXING_PROGRESS};
use crate::preferences::EmbedderOffer;
use crate::state::Desktop;

/// Progress events at most this often: enough for a smooth bar and ETA.
const PROGRESS_EVERY: Duration = Duration::from_millis(150);

/// Forwards progress to the windows, throttled, and keeps the latest for `library_status`.
struct EventSink<R: Runtime> {
    app: AppHandle<R>,
    last: Mutex<Option<Instant>>,
}

impl<R: Runtime> ProgressSink for EventSink<R> {
    fn report(&self, progress: &Progress) {
        let state = self.app.state::<Desktop>();
        if let Ok(mut latest) = state.indexing.lock() {
            *latest = Some(progress.clone());
        }
        let finished = progress.total > 0 && progress.done >= progress.total;
        let due = self
            .last
            .lock()
            .map(|mut last| {
                let due = finished || last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
                if due {
                    *last = Some(Instant::now());
                }
                due
            })
            .unwrap_or(true);
        if due {
            let _ = self.app.emit(INDEXING_PROGRESS, progress);
        }
    }
}

/// Indexes `folder` (a new one) or, with None, every folder, in the background.
pub fn start<R: Runtime>(app: &AppHandle<R>, folder: Option<PathBuf>) {
    run_in_background(app, |app, sink| async move {
        let state = app.state::<Desktop>();
        let result = match &folder {
            Some(folder) => state.engine.index_folder(folder, &sink).await,
            None => state.engine.index_all(&sink).await,
        };
        match result {
            Ok(report) if report.paused => "Indexing paused.".to_string(),
            Ok(report) => format!(
                "Indexed {} files ({} unchanged, {} skipped, {} failed).",
                report.extracted.len(),
                report.unchanged,
                report.skipped,
                report.failed
            ),
            Err(e) => format!("Indexing stopped: {e}"),
        }
    });
}

/// Re-embeds the library with the embedding model `offer` in the background,
/// progress going to the windows as indexing's does, then saves the choice.
pub fn change_embedder<R: Runtime>(app: &AppHandle<R>, offer: EmbedderOffer) {
    run_in_background(app, |app, sink| async move {
        let state = app.state::<Desktop>();
        let (choice, name) = (offer.choice, offer.label);
        let changed = state
            .engine
            .change_embedder(&choice, &sink, &quire_engine::cancel::CancelToken::new())
            .await;
        let data_dir = state.engine.config().data_dir.clone();
        match changed.map(|()| quire_engine::config::save_embedder(&data_dir, &choice)) {
            Ok(Ok(())) => format!("Search by meaning uses {name} now: the library is embedded with it."),
            Ok(Err(e)) => format!(
                "Search by meaning uses {name} until Quire restarts: the choice could not be saved ({e})."
            ),
            Err(quire_engine::Error::Cancelled) => {
                "Changing the embedding model stopped (indexing was paused); the library keeps the one it had."
                    .into()
            }
            Err(e) => format!("Changing the embedding model failed; the library keeps the one it had: {e}"),
        }
    });
}

/// Runs `work` in the background as an indexing run: counted while it runs (so
/// `library_status` reports its progress), its progress sent to the windows, and
/// the words it ends with put on their status line.
fn run_in_background<R: Runtime, Work, Done>(app: &AppHandle<R>, work: Work)
where
    Work: FnOnce(AppHandle<R>, EventSink<R>) -> Done + Send + 'static,
    Done: std::future::Future<Output = String> + Send,
{
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        run_started(&app.state::<Desktop>());
        let sink = EventSink {
            app: app.clone(),
            last: Mutex::new(None),
        };
        let message = work(app.clone(), sink).await;
        run_ended(&app.state::<Desktop>());
        library_changed(&app, message);
    });
}

fn run_started(state: &Desktop) {
    if let Ok(mut runs) = state.runs.lock() {
        *runs += 1;
    }
}

/// Counts a run out; the last one to end clears the progress `library_status` reports.
fn run_ended(state: &Desktop) {
    let still_running = state
        .runs
        .lock()
        .map(|mut runs| {
            *runs -= 1;
            *runs > 0
        })
        .unwrap_or(false);
    if !still_running {
        if let Ok(mut latest) = state.indexing.lock() {
            *latest = None;
        }
    }
}

/// Pauses or resumes indexing (window or tray); resuming carries on where the
/// paused run stopped, and the watcher indexes what it held back.
pub fn set_paused<R: Runtime>(app: &AppHandle<R>, paused: bool) {
    let state = app.state::<Desktop>();
    if paused {
        state.engine.pause_indexing();
    } else {
        state.engine.resume_indexing();
        start(app, None);
    }
    crate::tray::show_paused(app, paused);
}

/// Keeps the library live while the app runs.
pub fn watch<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<Desktop>();
        let notify = |update: &WatchUpdate| {
            let message = match update {
                WatchUpdate::Watching {
                    folders, directories, ..
                }
                | WatchUpdate::Folders { folders, directories } => format!(
                    "Watching {} folders ({directories} directories) for changes.",
                    folders.len()
                ),
                WatchUpdate::Indexed { report, .. } => format!(
                    "Changes indexed: {} files updated, {} removed.",
                    report.extracted.len(),
                    report.removed
                ),
                WatchUpdate::Problem { message } => message.clone(),
            };
            library_changed(&app, message);
        };
        if let Err(e) = state.engine.watch(&state.watcher, &notify).await {
            tracing::warn!("folder watching stopped: {e}");
        }
    });
}
