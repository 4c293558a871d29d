//! Persistent stores: the SQLite catalog (source of truth) and the tantivy index.

pub mod catalog;
pub mod lexical;

pub use catalog::{Catalog, FileStatus};
pub use lexical::LexicalIndex;
