//! One progress type for every long operation, rendered by the CLI as a bar and
//! sent by the desktop app as events: done/total, rate and ETA.

use std::time::Instant;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Walking folders to find files; the total is not known yet.
    Scanning,
    /// Reading, extracting and indexing files.
    Indexing,
    /// Running evaluation queries.
    Querying,
    /// Summarising a document section by section, then combining.
    Summarizing,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Progress {
    pub phase: Phase,
    pub done: u64,
    pub total: u64,
    /// What is counted: "files", "documents", "queries".
    pub unit: &'static str,
    /// Items per second since the phase began.
    pub rate: f64,
    /// Seconds left at the current rate, once there is a rate.
    pub eta_secs: Option<f64>,
    /// Passages indexed so far in this phase (indexing only), and per second.
    pub chunks: u64,
    pub chunk_rate: f64,
}

/// Receives progress reports. Implemented for closures.
pub trait ProgressSink: Send + Sync {
    fn report(&self, progress: &Progress);
}

impl<F: Fn(&Progress) + Send + Sync> ProgressSink for F {
    fn report(&self, progress: &Progress) {
        self(progress)
    }
}

/// A sink that ignores reports.
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn report(&self, _: &Progress) {}
}

/// Counts one phase and turns counts into reports with rate and ETA.
pub struct ProgressTracker<'a> {
    sink: &'a dyn ProgressSink,
    phase: Phase,
    unit: &'static str,
    total: u64,
    done: u64,
    chunks: u64,
    started: Instant,
}

impl<'a> ProgressTracker<'a> {
    pub fn new(sink: &'a dyn ProgressSink, phase: Phase, unit: &'static str, total: u64) -> Self {
        let tracker = ProgressTracker {
            sink,
            phase,
            unit,
            total,
            done: 0,
            chunks: 0,
            started: Instant::now(),
        };
        tracker.emit();
        tracker
    }

    pub fn advance(&mut self, n: u64) {
        self.done = (self.done + n).min(self.total.max(self.done + n));
        self.emit();
    }

    /// More work turned up (a summary needs another combining round).
    pub fn add_total(&mut self, n: u64) {
        self.total += n;
    }

    /// Records how many passages are indexed so far (reported with the next advance).
    pub fn set_chunks(&mut self, chunks: u64) {
        self.chunks = chunks;
    }

    pub fn snapshot(&self) -> Progress {
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            self.done as f64 / elapsed
        } else {
            0.0
        };
        let eta_secs =
            (rate > 0.0 && self.total >= self.done).then(|| (self.total - self.done) as f64 / rate);
        Progress {
            phase: self.phase,
            done: self.done,
            total: self.total,
            unit: self.unit,
            rate,
            eta_secs,
            chunks: self.chunks,
            chunk_rate: if elapsed > 0.0 {
                self.chunks as f64 / elapsed
            } else {
                0.0
            },
        }
    }

    fn emit(&self) {
        self.sink.report(&self.snapshot());
    }
}
