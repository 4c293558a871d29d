//! Persistent stores: the SQLite catalog (source of truth, also holding conversations
//! and summaries), the tantivy index and the vector graph.

pub mod catalog;
// Chats and summaries are stored only where answers are made (the `generation` feature).
#[cfg_attr(not(feature = "generation"), allow(dead_code))]
pub mod conversations;
pub mod lexical;
pub mod vectors;

pub use catalog::Catalog;
pub use lexical::LexicalIndex;
pub use vectors::VectorIndex;
