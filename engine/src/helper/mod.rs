//! Extraction and chunking in helper processes. Every file is untrusted input, and a
//! parser can be made to overflow its stack, ask for gigabytes, or run for days on
//! a few kilobytes; no `catch_unwind` stops any of that. So Quire hands a file's bytes
//! to a helper (its own executable started as `<program> __extract-helper`, see
//! [`serve_if_requested`]) and gets its passages (or pages) back, or a reason.
//!
//! A helper runs one file at a time under limits (memory, processor time; see
//! `limits`), is killed when a file takes longer than the wall-clock timeout, and
//! ends with Quire. Each indexing worker keeps one helper for the files it takes, so
//! the helpers form a pool as wide as the workers; one that died or was killed is
//! replaced at the next file. Whatever happened becomes that file's own error
//! status, in words a person understands; only a helper that cannot start at all
//! stops the run.

mod limits;
mod protocol;
mod serve;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use protocol::Chunked;
use protocol::{read_frame, write_frame, FrameError, Reply, Request, Want, VERSION};
pub use serve::{serve_if_requested, HELPER_ARG};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::extract::{Document, ExtractError, ReadOptions, MAX_OCR_PAGES};
use crate::page_image::PageImage;
use crate::size::human_bytes;

/// How long a helper may take to start and say hello.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What Quire keeps of the start and of the end of a helper's stderr, to tell why it died.
const STDERR_KEPT_BYTES: usize = 4 * 1024;

/// How helpers are started and what each file may cost.
#[derive(Debug, Clone)]
pub struct HelperSettings {
    /// The program started as a helper (this executable unless configured).
    pub program: PathBuf,
    /// Wall-clock time per file.
    pub timeout: Duration,
    /// Memory a helper may use beyond what it holds at start.
    pub memory_bytes: u64,
    pub max_text_bytes: u64,
    pub max_chunks: u64,
    pub chunk_tokens: (usize, usize, usize),
    /// How files are read (PDF readers, OCR).
    pub read: ReadOptions,
}

impl HelperSettings {
    /// Settings for reading files (indexing, summaries): OCR as the configuration and
    /// the system allow (this asks Tesseract which languages it has).
    pub fn from_config(config: &Config) -> Result<HelperSettings> {
        let mut settings = HelperSettings::for_drawing(config)?;
        settings.read.ocr = config.ocr();
        Ok(settings)
    }

    /// Settings for drawing pages, which never reads by OCR: nothing is asked of Tesseract.
    pub fn for_drawing(config: &Config) -> Result<HelperSettings> {
        let program = match &config.extract_helper {
            Some(program) => program.clone(),
            None => std::env::current_exe().map_err(|e| Error::Helper {
                program: PathBuf::from("quire"),
                message: format!("cannot tell where this program is: {e}"),
            })?,
        };
        Ok(HelperSettings {
            program,
            timeout: Duration::from_secs(config.extract_timeout_secs),
            memory_bytes: config.extract_memory_bytes,
            max_text_bytes: config.max_text_bytes,
            max_chunks: config.max_chunks_per_file,
            chunk_tokens: (
                config.chunk_min_tokens,
                config.chunk_max_tokens,
                config.chunk_overlap_tokens,
            ),
            read: ReadOptions::default(),
        })
    }

    /// The largest answer a helper may send: the text cap, passages overlapping, and framing.
    fn reply_ceiling(&self) -> u64 {
        self.max_text_bytes
            .saturating_mul(4)
            .saturating_add(self.max_chunks.saturating_mul(32))
            .saturating_add(64 * 1024 * 1024)
    }
}

/// Why a helper gave no answer for a file: what the file made it do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HelperFailure {
    TimedOut,
    OutOfMemory,
    OutOfProcessorTime,
    StackOverflow,
    Crashed(String),
}

/// What a helper was asked to do, for the words of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    /// Extract a file (indexing, summaries): a failure stands until the file changes.
    Read,
    /// Draw a page for the passage view: the page's text is still shown.
    Draw,
}

impl HelperFailure {
    fn message(&self, settings: &HelperSettings, task: Task) -> String {
        let (doing, stopped, then) = match task {
            Task::Read => ("read", "reading it", "; it is not read again until it changes"),
            Task::Draw => ("draw this page", "drawing it", "; its text is shown instead"),
        };
        match self {
            HelperFailure::TimedOut => format!(
                "took longer than {} s to {doing}, so Quire stopped {stopped}{then} \
                 (extract_timeout_secs in config.toml allows more time)",
                settings.timeout.as_secs()
            ),
            HelperFailure::OutOfMemory => format!(
                "needed more than {} of memory to {doing}, so Quire stopped {stopped}{then} \
                 (extract_memory_bytes in config.toml)",
                human_bytes(settings.memory_bytes)
            ),
            HelperFailure::OutOfProcessorTime => format!(
                "used more than {} s of processor time, so Quire stopped {stopped}{then}",
                settings.timeout.as_secs()
            ),
            HelperFailure::StackOverflow => format!(
                "the extractor crashed on this file: its content nests without end (a part that \
                 contains itself?); the file is damaged or made to crash readers{then}"
            ),
            HelperFailure::Crashed(how) => {
                format!("the extractor crashed on this file ({how}); it may be damaged{then}")
            }
        }
    }
}

/// One helper process, started at the first file and replaced after a failure.
pub struct Extractor {
    settings: HelperSettings,
    running: Option<Running>,
}

impl Extractor {
    pub fn new(settings: HelperSettings) -> Extractor {
        Extractor {
            settings,
            running: None,
        }
    }

    /// The passages of the file `name` whose content is `bytes`, cut with the
    /// configured sizes; or why the file yields none. `Err` only when no helper can be
    /// started: the run cannot go on.
    pub fn chunks(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<std::result::Result<Chunked, ExtractError>> {
        let (min_tokens, max_tokens, overlap_tokens) = self.settings.chunk_tokens;
        let want = Want::Chunks {
            min_tokens: u32::try_from(min_tokens).unwrap_or(u32::MAX),
            max_tokens: u32::try_from(max_tokens).unwrap_or(u32::MAX),
            overlap_tokens: u32::try_from(overlap_tokens).unwrap_or(u32::MAX),
        };
        self.ask(name, want, bytes, Task::Read, |reply| match reply {
            Reply::Chunks(chunked) => Some(chunked),
            _ => None,
        })
    }

    /// The pages of the file `name` whose content is `bytes` (see [`Extractor::chunks`]).
    pub fn document(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<std::result::Result<Document, ExtractError>> {
        self.ask(name, Want::Pages, bytes, Task::Read, |reply| match reply {
            Reply::Pages(document) => Some(document),
            _ => None,
        })
    }

    /// Page `page` of the PDF `name` whose content is `bytes`, drawn about `width_px`
    /// wide with the words of `passage` marked (see [`crate::page_image`]).
    pub fn page_image(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        page: u32,
        width_px: u32,
        passage: &str,
    ) -> Result<std::result::Result<PageImage, ExtractError>> {
        let want = Want::PageImage {
            page,
            width_px,
            passage: passage.to_string(),
        };
        self.ask(name, want, bytes, Task::Draw, |reply| match reply {
            Reply::PageImage(image) if image.page == page => Some(image),
            _ => None,
        })
    }

    /// Asks the helper for `want` and takes the answer `expected` accepts, a refusal,
    /// or why the helper gave none; any other answer is garbled.
    fn ask<T>(
        &mut self,
        name: &str,
        want: Want,
        bytes: Vec<u8>,
        task: Task,
        expected: impl FnOnce(Reply) -> Option<T>,
    ) -> Result<std::result::Result<T, ExtractError>> {
        Ok(match self.call(name, want, bytes, task)? {
            Ok(Reply::Refused(refused)) => Err(refused),
            Ok(reply) => expected(reply).ok_or_else(|| self.garbled("an answer of the wrong kind", task)),
            Err(failed) => Err(failed),
        })
    }

    fn call(
        &mut self,
        name: &str,
        want: Want,
        bytes: Vec<u8>,
        task: Task,
    ) -> Result<std::result::Result<Reply, ExtractError>> {
        let settings = &self.settings;
        let request = Request {
            name: name.to_string(),
            want,
            max_text_bytes: settings.max_text_bytes,
            max_chunks: settings.max_chunks,
            cpu_secs: settings.timeout.as_secs().saturating_add(1),
            read: settings.read.clone(),
            bytes,
        };
        let running = match self.running.as_mut() {
            Some(running) => running,
            None => self.running.insert(Running::start(settings)?),
        };
        let answered = running.ask(request.encode(), settings.timeout);
        let failure = match answered {
            Ok((kind, payload)) => match Reply::decode(kind, &payload) {
                Ok(reply) => return Ok(Ok(reply)),
                Err(e) => HelperFailure::Crashed(format!("it sent an answer Quire cannot read: {e}")),
            },
            Err(Stop::TimedOut) => HelperFailure::TimedOut,
            Err(Stop::Died) => HelperFailure::Crashed(String::new()),
        };
        // The helper is done for: it is stopped here and replaced at the next file.
        let (status, stderr) = self.running.take().map(Running::stop).unwrap_or_default();
        let failure = match failure {
            HelperFailure::Crashed(how) if how.is_empty() => why_it_died(status, &stderr),
            other => other,
        };
        tracing::debug!(file = name, ?failure, stderr = %stderr.trim(), "extraction helper failed");
        Ok(Err(ExtractError::Failed(failure.message(&self.settings, task))))
    }

    fn garbled(&mut self, what: &str, task: Task) -> ExtractError {
        if let Some(running) = self.running.take() {
            running.stop();
        }
        ExtractError::Failed(HelperFailure::Crashed(format!("it sent {what}")).message(&self.settings, task))
    }
}

/// Why a helper stopped answering.
enum Stop {
    TimedOut,
    Died,
}

type Frame = std::result::Result<(u8, Vec<u8>), FrameError>;

/// A started helper with its pipes: requests go through a writer thread and answers
/// come from a reader thread, so that a helper that stops reading or writing never
/// blocks Quire past the timeout.
struct Running {
    child: Child,
    requests: Option<mpsc::Sender<(u8, Vec<u8>)>>,
    answers: mpsc::Receiver<Frame>,
    stderr: Arc<Mutex<StderrKept>>,
    threads: Vec<JoinHandle<()>>,
}

/// The start and the end of what a helper wrote to stderr.
#[derive(Default)]
struct StderrKept {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl StderrKept {
    fn push(&mut self, mut bytes: &[u8]) {
        let room = STDERR_KEPT_BYTES.saturating_sub(self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..room]);
        bytes = &bytes[room..];
        self.tail.extend_from_slice(bytes);
        if self.tail.len() > STDERR_KEPT_BYTES {
            let cut = self.tail.len() - STDERR_KEPT_BYTES;
            self.tail.drain(..cut);
        }
    }

    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        text.push_str(&String::from_utf8_lossy(&self.tail));
        text
    }
}

impl Running {
    fn start(settings: &HelperSettings) -> Result<Running> {
        let fail = |message: String| Error::Helper {
            program: settings.program.clone(),
            message,
        };
        let mut child = Command::new(&settings.program)
            .arg(HELPER_ARG)
            .arg(settings.memory_bytes.to_string())
            // A program on mimalloc would reserve a gigabyte of address space up front
            // and count it as what the helper holds at start; this keeps that honest.
            .env("MIMALLOC_ARENA_RESERVE", "0")
            // Its last words are read for why it died; a backtrace would bury them.
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(e.to_string()))?;
        let contained = limits::contain(&child, settings.memory_bytes);
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail("its pipes could not be opened".into()));
        };
        let (requests, to_write) = mpsc::channel();
        let (answered, answers) = mpsc::channel();
        let tail = Arc::new(Mutex::new(StderrKept::default()));
        let ceiling = settings.reply_ceiling();
        let threads = vec![
            std::thread::spawn(move || write_requests(stdin, to_write)),
            std::thread::spawn(move || read_answers(stdout, ceiling, answered)),
            {
                let tail = tail.clone();
                std::thread::spawn(move || keep_stderr(stderr, &tail))
            },
        ];
        let running = Running {
            child,
            requests: Some(requests),
            answers,
            stderr: tail,
            threads,
        };
        if let Err(e) = contained {
            running.stop();
            return Err(fail(format!("its limits could not be set: {e}")));
        }
        match running.answers.recv_timeout(START_TIMEOUT) {
            Ok(Ok((kind, payload))) => match Reply::decode(kind, &payload) {
                Ok(Reply::Hello { version }) if version == VERSION => Ok(running),
                Ok(Reply::Hello { version }) => {
                    running.stop();
                    Err(fail(format!(
                        "it speaks version {version} of the protocol, not {VERSION}"
                    )))
                }
                _ => {
                    let (_, stderr) = running.stop();
                    Err(fail(format!(
                        "it does not answer as Quire's extraction helper (set extract_helper to the \
                         `quire` program){}",
                        first_line(&stderr)
                    )))
                }
            },
            _ => {
                let (status, stderr) = running.stop();
                Err(fail(format!(
                    "it did not start ({}){}",
                    status.map_or_else(|| "no answer".to_string(), |s| s.to_string()),
                    first_line(&stderr)
                )))
            }
        }
    }

    fn ask(
        &mut self,
        (kind, payload): (u8, Vec<u8>),
        timeout: Duration,
    ) -> std::result::Result<(u8, Vec<u8>), Stop> {
        let sent = self
            .requests
            .as_ref()
            .is_some_and(|r| r.send((kind, payload)).is_ok());
        if !sent {
            return Err(Stop::Died);
        }
        // Pages read by OCR, each of which restarts the time allowed: no more than one
        // file can have.
        let mut pages_read = 0;
        loop {
            match self.answers.recv_timeout(timeout) {
                Ok(Ok((kind, _))) if Reply::is_working(kind) && pages_read < MAX_OCR_PAGES => {
                    pages_read += 1;
                }
                Ok(Ok((kind, _))) if Reply::is_working(kind) => return Err(Stop::TimedOut),
                Ok(Ok(frame)) => return Ok(frame),
                Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => return Err(Stop::Died),
                Err(RecvTimeoutError::Timeout) => return Err(Stop::TimedOut),
            }
        }
    }

    /// Kills the helper (if it still runs), waits for it and its pipes; returns how it
    /// ended and the end of what it wrote to stderr.
    fn stop(mut self) -> (Option<ExitStatus>, String) {
        self.shut_down()
    }

    fn shut_down(&mut self) -> (Option<ExitStatus>, String) {
        // A helper that died on its own has an exit status already; one that did not is killed.
        let status = match self.child.try_wait() {
            Ok(Some(status)) => Some(status),
            _ => {
                let _ = self.child.kill();
                self.child.wait().ok()
            }
        };
        self.requests = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        let kept = self.stderr.lock().map(|kept| kept.text());
        (status, kept.unwrap_or_default())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shut_down();
        }
    }
}

fn write_requests(mut stdin: ChildStdin, requests: mpsc::Receiver<(u8, Vec<u8>)>) {
    for (kind, payload) in requests {
        if write_frame(&mut stdin, kind, &payload).is_err() {
            return; // The helper is gone; the reader says so.
        }
    }
}

fn read_answers(mut stdout: impl Read, ceiling: u64, answers: mpsc::Sender<Frame>) {
    loop {
        let frame = read_frame(&mut stdout, ceiling);
        let last = frame.is_err();
        if answers.send(frame).is_err() || last {
            return;
        }
    }
}

fn keep_stderr(mut stderr: impl Read, kept: &Mutex<StderrKept>) {
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut buffer) {
        if n == 0 {
            return;
        }
        if let Ok(mut kept) = kept.lock() {
            kept.push(&buffer[..n]);
        }
    }
}

fn first_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default()
}

/// What a helper that died on a file ran into, from how it ended and its last words.
fn why_it_died(status: Option<ExitStatus>, stderr: &str) -> HelperFailure {
    // Rust's allocator reports a failed allocation before it aborts; a stack overflow likewise.
    if stderr.contains("memory allocation of") || stderr.contains(limits::MEMORY_MARKER) {
        return HelperFailure::OutOfMemory;
    }
    if stderr.contains("has overflowed its stack") {
        return HelperFailure::StackOverflow;
    }
    let Some(status) = status else {
        return HelperFailure::Crashed("it stopped answering".into());
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        match status.signal() {
            Some(libc::SIGXCPU) => return HelperFailure::OutOfProcessorTime,
            // Quire kills only on a timeout, handled before: this is the system's OOM killer.
            Some(libc::SIGKILL) => return HelperFailure::OutOfMemory,
            Some(libc::SIGSEGV) | Some(libc::SIGBUS) => {
                return HelperFailure::Crashed("a memory fault".into());
            }
            Some(libc::SIGABRT) => return HelperFailure::Crashed("it aborted".into()),
            Some(signal) => return HelperFailure::Crashed(format!("signal {signal}")),
            None => {}
        }
    }
    #[cfg(windows)]
    {
        const STACK_OVERFLOW: u32 = 0xC000_00FD;
        const NO_MEMORY: u32 = 0xC000_0017;
        match status.code().map(|c| c as u32) {
            Some(STACK_OVERFLOW) => return HelperFailure::StackOverflow,
            Some(NO_MEMORY) => return HelperFailure::OutOfMemory,
            _ => {}
        }
    }
    HelperFailure::Crashed(format!("it exited with {status}"))
}
