//! Persistent stores: the SQLite catalog (source of truth, also holding conversations
//! and summaries), the tantivy index and the vector graph.

pub mod catalog;
pub mod conversations;
pub mod lexical;
pub mod vectors;

pub use catalog::Catalog;
pub use lexical::LexicalIndex;
pub use vectors::VectorIndex;
