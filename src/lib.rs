//! Quire: a private document assistant. The engine indexes folders into a SQLite
//! catalog and a tantivy full-text index and searches them; every front end (the
//! `quire` CLI, tests, the desktop shell) drives it through [`Engine`].

pub mod bench;
pub mod chunk;
pub mod config;
pub mod embed;
pub mod engine;
pub mod error;
pub mod eval;
pub mod extract;
pub mod ingest;
mod lock;
pub mod progress;
pub mod retrieve;
pub mod serde_path;
pub mod store;

pub use config::Config;
pub use engine::Engine;
pub use error::{Error, Result};
