//! Quire: a private document assistant. The engine indexes folders into a SQLite
//! catalog, a tantivy full-text index and a vector graph, searches them, and answers
//! questions and summarises files with an on-device model; every front end (the
//! `quire` CLI, tests, the desktop shell) drives it through [`Engine`].

pub mod activity;
#[cfg(feature = "generation")]
pub mod answer;
pub mod cancel;
#[cfg(feature = "generation")]
pub mod chat;
pub mod chunk;
pub mod config;
mod drawn_text;
pub mod embed;
pub mod engine;
pub mod error;
pub mod extract;
pub mod helper;
pub mod ingest;
pub mod llm;
mod lock;
pub mod logging;
pub mod page_image;
pub mod passage;
mod pause;
pub mod progress;
pub mod retrieve;
pub mod serde_path;
mod serde_secs;
pub mod size;
mod store;
#[cfg(feature = "generation")]
pub mod summarize;
pub mod watch;

pub use config::Config;
// What the stores hand out; the stores themselves are the engine's own.
pub use engine::Engine;
pub use error::{Error, Result};
pub use store::catalog::{AwaitingOcr, ChunkId, FileId, FileProblem, FileStatus, Folder, FolderSummary};
pub use store::conversations::{Chat, ChatId, ChatSummary, Citation, Claim, StoredMessage, Support};
