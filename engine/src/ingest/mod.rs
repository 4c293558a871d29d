//! The indexing pipeline: walk → compare with the catalog → read and hash the
//! files that may have changed → extract and chunk (parallel worker threads, each
//! with its helper process, see crate::helper) → write in batches (one catalog
//! transaction and one full-text commit each).
//! Unchanged files are not read when their size and mtime match, and not
//! extracted when their content hash matches; a file that reappears under a new
//! name with the content of a vanished one is a rename, not new work.

mod in_flight;
mod read;
mod walk;
mod write;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::activity::GenerationActivity;
use crate::cancel::CancelToken;
use crate::config::Config;
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::extract::{self, ExtractError, Ocr};
use crate::helper::{Extractor, HelperSettings};
use crate::progress::{Phase, ProgressSink, ProgressTracker};
use crate::size::human_bytes;
use crate::store::catalog::{
    Catalog, FileId, FileProblem, FileRecord, FileStamp, FileStatus, Folder, IndexedContent,
};
use crate::store::{LexicalIndex, VectorIndex};

pub(crate) use read::{read_regular, read_settled, ReadFailure};
pub(crate) use walk::stamp_of;
pub use walk::{directories, walk, EntryKind, FileIdentity, FoundFile, WalkProblem};
pub(crate) use write::{passage_text, BatchWriter, EMBED_SLICE};

/// The stores an indexing run writes to.
pub(crate) struct Stores<'a> {
    pub catalog: &'a Catalog,
    pub lexical: Arc<LexicalIndex>,
    pub embedder: Arc<Embedder>,
    pub vectors: Arc<VectorIndex>,
    /// Cancelled when the user pauses indexing: workers take no new file.
    pub pause: CancelToken,
    /// Answers and summaries being generated: indexing steps aside while there are any.
    pub generating: GenerationActivity,
}

/// Where an indexing run spent its time, in seconds. Extraction and chunking
/// add up the time of every worker thread, so they can exceed the wall time.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexTimings {
    pub extract_secs: f64,
    pub chunk_secs: f64,
    pub embed_secs: f64,
    pub lexical_secs: f64,
    pub vector_secs: f64,
    pub catalog_secs: f64,
}

impl IndexTimings {
    pub fn add(&mut self, other: &IndexTimings) {
        self.extract_secs += other.extract_secs;
        self.chunk_secs += other.chunk_secs;
        self.embed_secs += other.embed_secs;
        self.lexical_secs += other.lexical_secs;
        self.vector_secs += other.vector_secs;
        self.catalog_secs += other.catalog_secs;
    }
}

/// What one indexing run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexReport {
    /// Files found in the folders.
    pub scanned: u64,
    /// Found files that needed no work.
    pub unchanged: u64,
    /// Files extracted and (re)indexed, by path.
    #[serde(skip)]
    pub extracted: Vec<PathBuf>,
    pub renamed: u64,
    pub removed: u64,
    pub skipped: u64,
    pub failed: u64,
    pub chunks_written: u64,
    /// Files and folders that could not be indexed in this run, with the reason.
    pub problems: Vec<FileProblem>,
    pub timings: IndexTimings,
    pub elapsed_secs: f64,
    /// Indexing was paused before every file was read; the next run carries on.
    pub paused: bool,
}

impl IndexReport {
    pub fn merge(&mut self, other: IndexReport) {
        self.scanned += other.scanned;
        self.unchanged += other.unchanged;
        self.extracted.extend(other.extracted);
        self.renamed += other.renamed;
        self.removed += other.removed;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.chunks_written += other.chunks_written;
        self.problems.extend(other.problems);
        self.paused |= other.paused;
        self.timings.add(&other.timings);
        self.elapsed_secs += other.elapsed_secs;
    }
}

/// What reading one file led to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Same content as the catalog has for this path (`Processed::existing`): only the stamp moved.
    Unchanged,
    /// Same content as a file that vanished: it was moved or renamed.
    Renamed {
        file: FileId,
    },
    Indexed(IndexedContent),
    NotIndexed {
        status: FileStatus,
        message: String,
        hash: Option<String>,
        /// Its text is in pictures and OCR was not there: read again once it is.
        awaiting_ocr: bool,
    },
    /// Deleted while the run was going on.
    Vanished,
    /// Another file than the one listed is at the path now (saved anew, or a folder
    /// on its way swapped for a link): nothing is recorded; the next run reads it.
    Replaced,
}

#[derive(Debug)]
pub(crate) struct Processed {
    pub folder: i64,
    pub path: PathBuf,
    pub stamp: FileStamp,
    /// The catalog's record for this path, when it has one.
    pub existing: Option<FileId>,
    pub outcome: Outcome,
    /// Worker time spent extracting and chunking this file.
    pub extract_secs: f64,
    pub chunk_secs: f64,
    /// The catalog holds an interrupted read of this path, which this outcome settles.
    pub was_interrupted: bool,
}

/// A file Quire stopped on this many times in a row, while it was being read, is
/// not read again until it changes.
const MAX_INTERRUPTED_READS: u32 = 2;

/// What a worker hands the writer.
enum WorkerMessage {
    Processed(Box<Processed>),
    /// No helper could be started: the run cannot go on.
    Failed(Error),
}

struct Candidate {
    path: PathBuf,
    stamp: FileStamp,
    kind: EntryKind,
    identity: Option<FileIdentity>,
    existing: Option<FileRecord>,
}

/// What a run reads: the files that may have changed, with what the workers need to
/// recognise renames and files Quire stopped on.
struct Reads {
    candidates: VecDeque<Candidate>,
    /// Content hash → the vanished file that had it.
    rename_sources: HashMap<String, FileId>,
    /// Files that were being read when Quire stopped: path → (hash, times in a row).
    interrupted: HashMap<PathBuf, (String, u32)>,
    /// How they are read (the helpers, OCR).
    helper: HelperSettings,
}

/// A run's plan: the walk compared with the catalog.
struct Plan {
    reads: Reads,
    /// The catalog's files that are gone from the folder (or moved within it).
    vanished: Vec<FileRecord>,
}

/// Indexes one registered folder.
pub(crate) async fn index_folder(
    config: &Config,
    stores: &Stores<'_>,
    folder: &Folder,
    progress: &dyn ProgressSink,
) -> Result<IndexReport> {
    let started = Instant::now();
    let mut report = IndexReport::default();
    ProgressTracker::new(progress, Phase::Scanning, "files", 0);
    let helper = HelperSettings::from_config(config)?;
    let Plan { reads, vanished } = plan(config, stores.catalog, folder, helper, &mut report).await?;

    let mut tracker = ProgressTracker::new(progress, Phase::Indexing, "files", reads.candidates.len() as u64);
    let mut writer = BatchWriter::new(stores);
    let claimed_sources = if reads.candidates.is_empty() {
        Vec::new()
    } else {
        extract(
            config,
            stores,
            folder,
            reads,
            &mut writer,
            &mut tracker,
            &mut report,
        )
        .await?
    };
    // After a pause, a vanished file may still turn up renamed among the files not
    // read yet: removing it now would cost its embeddings. The next run decides.
    if !report.paused {
        report.removed += remove_vanished(&mut writer, &vanished, &claimed_sources).await?;
    }
    writer.finish().await?;
    if writer.files_committed() > tracker.snapshot().done {
        tracker.set_chunks(writer.chunks_written());
        let done = tracker.snapshot().done;
        tracker.advance(writer.files_committed() - done);
    }
    report.chunks_written = writer.chunks_written();
    // The workers timed extraction and chunking; the writer, everything after.
    report.timings.add(writer.timings());
    report.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Walks the folder and compares what it found with the catalog: files whose size
/// and mtime match need no work, the rest are read, and records left over vanished.
/// Counts what was found and unchanged, and the walk's problems, in `report`.
/// `helper`: how files are read in this run (files waiting for OCR are read when it can run).
async fn plan(
    config: &Config,
    catalog: &Catalog,
    folder: &Folder,
    helper: HelperSettings,
    report: &mut IndexReport,
) -> Result<Plan> {
    let root = folder.path.clone();
    let exclude = config.data_dir.clone();
    let (found, walk_problems) = tokio::task::spawn_blocking(move || walk(&root, &exclude)).await?;
    for problem in walk_problems {
        tracing::warn!(path = %problem.path.display(), "{}", problem.message);
        report.problems.push(FileProblem {
            path: problem.path,
            status: FileStatus::Error,
            message: problem.message,
        });
    }
    report.scanned = found.len() as u64;
    let interrupted = take_interrupted_reads(config, catalog).await?;

    let mut known: HashMap<PathBuf, FileRecord> = catalog
        .files_in_folder(folder.id)
        .await?
        .into_iter()
        .map(|r| (r.path.clone(), r))
        .collect();
    let mut candidates = VecDeque::new();
    let mut unchanged = 0;
    let ocr_is_there = matches!(helper.read.ocr, Ocr::On(_));
    for file in found {
        match known.remove(&file.path) {
            // Files that could not be read are retried every run: the cause
            // (permissions, a half-written download) may have gone away without
            // touching mtime. Files whose content failed (their hash is known) wait
            // until they change: reading them again would fail again. Files with
            // pages of pictures left unread wait until OCR is there.
            Some(record)
                if record.size == file.stamp.size
                    && record.mtime_ns == file.stamp.mtime_ns
                    && (record.status != FileStatus::Error || record.hash.is_some())
                    && (record.pages_awaiting_ocr == 0 || !ocr_is_there) =>
            {
                unchanged += 1
            }
            existing => candidates.push_back(Candidate {
                path: file.path,
                stamp: file.stamp,
                kind: file.kind,
                identity: file.identity,
                existing,
            }),
        }
    }
    report.unchanged = unchanged;
    // What is left in `known` vanished from the folder. Its indexed content may
    // reappear under another name among the candidates.
    let vanished: Vec<FileRecord> = known.into_values().collect();
    let rename_sources: HashMap<String, FileId> = vanished
        .iter()
        .filter(|r| r.status == FileStatus::Indexed)
        .filter_map(|r| r.hash.clone().map(|h| (h, r.id)))
        .collect();
    Ok(Plan {
        reads: Reads {
            candidates,
            rename_sources,
            interrupted,
            helper,
        },
        vanished,
    })
}

/// Reads, extracts and chunks the candidates on worker threads and hands each
/// outcome to `writer`; notes them in `report`, with `paused` set when files were
/// left for the next run. Returns the vanished files found again under a new name.
async fn extract(
    config: &Config,
    stores: &Stores<'_>,
    folder: &Folder,
    reads: Reads,
    writer: &mut BatchWriter<'_>,
    tracker: &mut ProgressTracker<'_>,
    report: &mut IndexReport,
) -> Result<Vec<FileId>> {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<WorkerMessage>(64);
    let shared = Arc::new(WorkerShared {
        queue: Mutex::new(reads.candidates),
        rename_sources: Mutex::new(reads.rename_sources),
        helper: reads.helper,
        in_flight: config.in_flight_dir(),
        interrupted: reads.interrupted,
        max_file_bytes: config.max_file_bytes,
        folder: folder.id,
        pause: stores.pause.clone(),
        generating: stores.generating.clone(),
    });
    let workers = config.worker_threads();
    let mut handles = Vec::with_capacity(workers);
    for worker in 0..workers {
        let shared = shared.clone();
        let sender = sender.clone();
        handles.push(tokio::task::spawn_blocking(move || shared.run(worker, &sender)));
    }
    drop(sender);
    let mut claimed_sources = Vec::new();
    // Progress counts files committed, not files read: reading runs ahead of
    // embedding, and a bar at 100 % that still has minutes to go misleads.
    let mut reported = 0;
    while let Some(message) = receiver.recv().await {
        let processed = match message {
            WorkerMessage::Processed(processed) => *processed,
            WorkerMessage::Failed(error) => {
                // Workers stop at their next file once nobody receives.
                drop(receiver);
                for handle in handles {
                    let _ = handle.await;
                }
                return Err(error);
            }
        };
        note_outcome(report, &processed, &mut claimed_sources);
        writer.push(processed).await?;
        if writer.files_committed() > reported {
            tracker.set_chunks(writer.chunks_written());
            tracker.advance(writer.files_committed() - reported);
            reported = writer.files_committed();
        }
    }
    for handle in handles {
        handle.await?;
    }
    report.paused = !shared.queue.lock().map(|q| q.is_empty()).unwrap_or(true);
    Ok(claimed_sources)
}

/// Forgets the files gone from the folder, but those `claimed` as renamed. Returns how many.
async fn remove_vanished(
    writer: &mut BatchWriter<'_>,
    vanished: &[FileRecord],
    claimed: &[FileId],
) -> Result<u64> {
    let mut removed = 0;
    for record in vanished.iter().filter(|r| !claimed.contains(&r.id)) {
        writer.remove(record.id).await?;
        removed += 1;
    }
    Ok(removed)
}

/// Takes the records of files that were inside a helper when the last run stopped
/// into the catalog, and returns every interrupted read it holds: path → (hash, times).
async fn take_interrupted_reads(
    config: &Config,
    catalog: &Catalog,
) -> Result<HashMap<PathBuf, (String, u32)>> {
    let dir = config.in_flight_dir();
    let dir_ = dir.clone();
    let left_over = tokio::task::spawn_blocking(move || in_flight::left_over(&dir_)).await?;
    for (path, _) in &left_over {
        tracing::warn!(
            file = %path.display(),
            "Quire stopped while this file was being read; it is read again once more, carefully"
        );
    }
    catalog.note_interrupted_reads(&left_over).await?;
    tokio::task::spawn_blocking(move || in_flight::reset(&dir))
        .await?
        .map_err(|e| Error::io(config.in_flight_dir(), e))?;
    catalog.interrupted_reads().await
}

fn note_outcome(report: &mut IndexReport, processed: &Processed, claimed: &mut Vec<FileId>) {
    report.timings.extract_secs += processed.extract_secs;
    report.timings.chunk_secs += processed.chunk_secs;
    match &processed.outcome {
        Outcome::Unchanged => report.unchanged += 1,
        Outcome::Renamed { file } => {
            claimed.push(*file);
            report.renamed += 1;
        }
        Outcome::Indexed(_) => report.extracted.push(processed.path.clone()),
        Outcome::NotIndexed { status, message, .. } => {
            if *status == FileStatus::Error {
                report.failed += 1;
            } else {
                report.skipped += 1;
            }
            report.problems.push(FileProblem {
                path: processed.path.clone(),
                status: *status,
                message: message.clone(),
            });
        }
        Outcome::Vanished => report.removed += u64::from(processed.existing.is_some()),
        Outcome::Replaced => {}
    }
}

struct WorkerShared {
    queue: Mutex<VecDeque<Candidate>>,
    /// Hashes of vanished files; a worker that finds one claims it by removing it.
    rename_sources: Mutex<HashMap<String, FileId>>,
    helper: HelperSettings,
    /// Where workers note the file their helper holds.
    in_flight: PathBuf,
    /// Files that were being read when Quire stopped: path → (hash, times in a row).
    interrupted: HashMap<PathBuf, (String, u32)>,
    max_file_bytes: u64,
    folder: i64,
    pause: CancelToken,
    generating: GenerationActivity,
}

impl WorkerShared {
    fn run(&self, worker: usize, sender: &tokio::sync::mpsc::Sender<WorkerMessage>) {
        let mut extractor = Extractor::new(self.helper.clone());
        let in_flight = in_flight::InFlight::slot(&self.in_flight, worker);
        loop {
            self.generating.wait_blocking(&self.pause);
            if self.pause.is_cancelled() || sender.is_closed() {
                return; // Files left in the queue wait for the next run.
            }
            let next = self.queue.lock().ok().and_then(|mut q| q.pop_front());
            let Some(candidate) = next else { return };
            let message = match self.process(candidate, &mut extractor, &in_flight) {
                Ok(processed) => WorkerMessage::Processed(Box::new(processed)),
                Err(error) => WorkerMessage::Failed(error),
            };
            if sender.blocking_send(message).is_err() {
                return; // The writer stopped (an error); nothing more to do.
            }
        }
    }

    fn process(
        &self,
        candidate: Candidate,
        extractor: &mut Extractor,
        in_flight: &in_flight::InFlight,
    ) -> Result<Processed> {
        let Candidate {
            path,
            stamp,
            kind,
            identity,
            existing,
        } = candidate;
        let existing_id = existing.as_ref().map(|r| r.id);
        // Content that waits for OCR is read again even though it is the same.
        let existing_hash = existing
            .filter(|r| r.pages_awaiting_ocr == 0)
            .and_then(|r| r.hash);
        let mut timing = (0.0, 0.0);
        let mut stamp = stamp;
        let listed = Listed { kind, identity };
        let known = Known {
            in_catalog: existing_id.is_some(),
            hash: existing_hash,
        };
        let outcome = self.outcome(
            &path,
            listed,
            &mut stamp,
            known,
            extractor,
            in_flight,
            &mut timing,
        )?;
        Ok(Processed {
            folder: self.folder,
            was_interrupted: self.interrupted.contains_key(&path),
            path,
            stamp,
            existing: existing_id,
            outcome,
            extract_secs: timing.0,
            chunk_secs: timing.1,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn outcome(
        &self,
        path: &Path,
        listed: Listed,
        stamp: &mut FileStamp,
        known: Known,
        extractor: &mut Extractor,
        in_flight: &in_flight::InFlight,
        timing: &mut (f64, f64),
    ) -> Result<Outcome> {
        let not_indexed = |status, message: String, hash| {
            Ok(Outcome::NotIndexed {
                status,
                message,
                hash,
                awaiting_ocr: false,
            })
        };
        if listed.kind != EntryKind::File {
            return not_indexed(FileStatus::Skipped, not_regular(listed.kind), None);
        }
        if let Err(ExtractError::Skipped(reason)) = extract::format_of(path) {
            return not_indexed(FileStatus::Skipped, reason, None);
        }
        if stamp.size > self.max_file_bytes {
            return not_indexed(
                FileStatus::Skipped,
                too_large(stamp.size, self.max_file_bytes),
                None,
            );
        }
        let bytes = match read_settled(path, listed.identity, self.max_file_bytes) {
            Ok((bytes, read_stamp)) => {
                // The stamp of what was read, not of what was listed: the file may
                // have changed in between, and the next run compares against this.
                *stamp = read_stamp;
                bytes
            }
            Err(ReadFailure::Vanished) => return Ok(Outcome::Vanished),
            Err(ReadFailure::Replaced) => return Ok(Outcome::Replaced),
            Err(ReadFailure::NotRegular(kind)) => {
                // Swapped for a link or a pipe since it was listed: recorded as what it is now.
                match std::fs::symlink_metadata(path) {
                    Ok(meta) => *stamp = walk::stamp_of(&meta),
                    Err(_) => return Ok(Outcome::Vanished),
                }
                return not_indexed(FileStatus::Skipped, not_regular(kind), None);
            }
            Err(ReadFailure::TooLarge(size)) => {
                return not_indexed(FileStatus::Skipped, too_large(size, self.max_file_bytes), None)
            }
            Err(ReadFailure::Io(err)) => return not_indexed(FileStatus::Error, read_error(&err), None),
        };
        let hash = blake3::hash(&bytes).to_hex().to_string();
        if known.hash.as_deref() == Some(hash.as_str()) {
            return Ok(Outcome::Unchanged);
        }
        if !known.in_catalog {
            let claimed = self
                .rename_sources
                .lock()
                .ok()
                .and_then(|mut sources| sources.remove(&hash));
            if let Some(file) = claimed {
                return Ok(Outcome::Renamed { file });
            }
        }
        if let Some((interrupted_hash, times)) = self.interrupted.get(path) {
            if *interrupted_hash == hash && *times >= MAX_INTERRUPTED_READS {
                return not_indexed(FileStatus::Error, STOPPED_WHILE_READ.into(), Some(hash));
            }
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let started = Instant::now();
        in_flight.begin(path, &hash);
        let extracted = extractor.chunks(&name, bytes);
        in_flight.end();
        let extracted = extracted?;
        let elapsed = started.elapsed().as_secs_f64();
        Ok(match extracted {
            Ok(chunked) => {
                *timing = ((elapsed - chunked.chunk_secs).max(0.0), chunked.chunk_secs);
                Outcome::Indexed(IndexedContent {
                    hash,
                    title: chunked.title,
                    page_count: chunked.page_count,
                    pages_awaiting_ocr: chunked.pages_awaiting_ocr,
                    chunks: chunked.chunks,
                })
            }
            Err(ExtractError::Skipped(reason)) => Outcome::NotIndexed {
                status: FileStatus::Skipped,
                message: reason,
                hash: Some(hash),
                awaiting_ocr: false,
            },
            Err(ExtractError::Failed(reason)) => Outcome::NotIndexed {
                status: FileStatus::Error,
                message: reason,
                hash: Some(hash),
                awaiting_ocr: false,
            },
            // Read again at a run where OCR is there. A picture is not a fault (a folder
            // of photos is no folder of errors); a scanned PDF that cannot be read is.
            Err(ExtractError::NeedsOcr(reason)) => Outcome::NotIndexed {
                status: match extract::format_of(path) {
                    Ok(extract::Format::Image) => FileStatus::Skipped,
                    _ => FileStatus::Error,
                },
                message: reason,
                hash: Some(hash),
                awaiting_ocr: true,
            },
        })
    }
}

/// The status of a file Quire stopped on twice while it was being read.
const STOPPED_WHILE_READ: &str = "Quire stopped twice while this file was being read (it was closed, \
     killed or ran out of memory); it is not read again until it changes";

/// What the catalog knows of a path.
struct Known {
    in_catalog: bool,
    hash: Option<String>,
}

fn too_large(size: u64, limit: u64) -> String {
    format!(
        "too large to index ({}; the limit is {}, set max_file_bytes in config.toml to change it)",
        human_bytes(size),
        human_bytes(limit)
    )
}

/// What the walk saw at a path.
#[derive(Debug, Clone, Copy)]
struct Listed {
    kind: EntryKind,
    identity: Option<FileIdentity>,
}

/// Why a link, a pipe, a socket or a device is not indexed.
fn not_regular(kind: EntryKind) -> String {
    match kind {
        EntryKind::Link => {
            "a symbolic link; Quire does not follow links (add the folder it points to instead)".into()
        }
        EntryKind::Special(what) => format!("{what}, not a regular file; Quire reads only regular files"),
        EntryKind::File => "a regular file".into(),
    }
}

fn read_error(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied: Quire may not read this file".to_string(),
        _ => format!("cannot read the file: {err}"),
    }
}

/// How long the writer waits before committing a batch that is not full, so a
/// slow trickle of large files still becomes searchable soon.
pub(crate) const BATCH_MAX_AGE: Duration = Duration::from_secs(5);
