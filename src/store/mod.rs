//! Persistent stores: the SQLite catalog (source of truth) and the tantivy index.

pub mod catalog;
pub mod lexical;
pub mod vectors;

pub use catalog::{Catalog, FileStatus};
pub use lexical::LexicalIndex;
pub use vectors::VectorIndex;
