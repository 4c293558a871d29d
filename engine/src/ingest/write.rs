//! Writing in batches: each batch embeds its new chunks, then is one catalog
//! transaction (files, chunks, vectors) and one full-text commit, then updates
//! the vector graph. The full-text index commits before the catalog, so a
//! crash in between leaves only full-text entries whose chunk ids the catalog
//! does not have; searches ignore those, and the file's next indexing deletes
//! them. The graph follows the catalog and is rebuilt from it when it lags.

use std::time::Instant;

use super::{IndexTimings, Outcome, Processed, Stores, BATCH_MAX_AGE};
use crate::error::Result;
use crate::store::catalog::{CatalogBatch, ChunkId, FileId, FileState};
use crate::store::lexical::LexicalOp;

/// A batch is written when it holds this many files or chunks. Small enough
/// that progress (counted in committed files) moves every few seconds while
/// embedding, and that a crash loses little.
const BATCH_FILES: usize = 256;
const BATCH_CHUNKS: usize = 128;
/// Passages embedded in one call: a second or two of work, so that indexing steps
/// aside soon after an answer starts (crate::activity), and stops soon after a pause.
pub(crate) const EMBED_SLICE: usize = 32;

pub(crate) struct BatchWriter<'a> {
    stores: &'a Stores<'a>,
    pending: Vec<Processed>,
    removals: Vec<FileId>,
    pending_chunks: usize,
    oldest: Option<Instant>,
    chunks_written: u64,
    /// Files whose outcome is committed, of those pushed.
    files_committed: u64,
    timings: IndexTimings,
    /// File ids written for each processed item, in order (used by evaluation).
    written_ids: Vec<FileId>,
}

/// What the embedder reads for a chunk: its document's title, then its text,
/// so that a passage far from the title still carries what it is about.
pub(crate) fn passage_text(title: Option<&str>, text: &str) -> String {
    match title {
        Some(title) if !title.trim().is_empty() => format!("{title}\n{text}"),
        _ => text.to_string(),
    }
}

impl<'a> BatchWriter<'a> {
    pub fn new(stores: &'a Stores<'a>) -> Self {
        BatchWriter {
            stores,
            pending: Vec::new(),
            removals: Vec::new(),
            pending_chunks: 0,
            oldest: None,
            chunks_written: 0,
            files_committed: 0,
            timings: IndexTimings::default(),
            written_ids: Vec::new(),
        }
    }

    pub async fn push(&mut self, processed: Processed) -> Result<()> {
        if let Outcome::Indexed(content) = &processed.outcome {
            self.pending_chunks += content.chunks.len();
        }
        self.pending.push(processed);
        self.oldest.get_or_insert_with(Instant::now);
        self.flush_if_due().await
    }

    /// Forgets a file that is gone from its folder.
    pub async fn remove(&mut self, file: FileId) -> Result<()> {
        self.removals.push(file);
        self.oldest.get_or_insert_with(Instant::now);
        self.flush_if_due().await
    }

    pub async fn finish(&mut self) -> Result<()> {
        self.flush().await
    }

    /// Files pushed whose outcome is in the library now: what progress counts.
    pub fn files_committed(&self) -> u64 {
        self.files_committed
    }

    pub fn chunks_written(&self) -> u64 {
        self.chunks_written
    }

    pub fn timings(&self) -> &IndexTimings {
        &self.timings
    }

    pub fn written_ids(&self) -> &[FileId] {
        &self.written_ids
    }

    async fn flush_if_due(&mut self) -> Result<()> {
        let full =
            self.pending.len() + self.removals.len() >= BATCH_FILES || self.pending_chunks >= BATCH_CHUNKS;
        let old = self.oldest.is_some_and(|t| t.elapsed() >= BATCH_MAX_AGE);
        if full || old {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() && self.removals.is_empty() {
            return Ok(());
        }
        // Embedding is the slow part: it runs before the transaction opens.
        let vectors = self.embed_pending().await?;
        let started = Instant::now();
        let mut batch = self.stores.catalog.begin().await?;
        let written = self.write_catalog(&mut batch, vectors).await?;
        self.timings.catalog_secs += started.elapsed().as_secs_f64();
        // The full-text commit comes before the catalog's (see the module's comment).
        self.apply_full_text(written.lexical).await?;
        batch.commit().await?;
        if let Some(generation) = written.generation {
            self.update_graph(written.added, written.removed, generation)
                .await?;
        }
        self.chunks_written += written.chunks;
        self.pending_chunks = 0;
        self.oldest = None;
        Ok(())
    }

    /// The vectors of every chunk pending, in order, embedded a slice at a time.
    async fn embed_pending(&mut self) -> Result<Vec<Vec<f32>>> {
        let stores = self.stores;
        let passages: Vec<String> = self
            .pending
            .iter()
            .filter_map(|item| match &item.outcome {
                Outcome::Indexed(content) => Some(content),
                _ => None,
            })
            .flat_map(|content| {
                content
                    .chunks
                    .iter()
                    .map(|chunk| passage_text(content.title.as_deref(), &chunk.text))
            })
            .collect();
        let mut vectors = Vec::with_capacity(passages.len());
        let mut passages = passages.into_iter().peekable();
        while passages.peek().is_some() {
            // An answer being written gets the cores; the slice in hand is short.
            stores.generating.wait(&stores.pause).await;
            let slice: Vec<String> = passages.by_ref().take(EMBED_SLICE).collect();
            let started = Instant::now();
            vectors.extend(stores.embedder.embed_passages_blocking(slice).await?);
            self.timings.embed_secs += started.elapsed().as_secs_f64();
        }
        Ok(vectors)
    }

    /// Writes the pending outcomes and removals, with their vectors, into the open
    /// transaction, and says what the full-text index and the graph must follow.
    async fn write_catalog(
        &mut self,
        batch: &mut CatalogBatch,
        vectors: Vec<Vec<f32>>,
    ) -> Result<CatalogWrites> {
        let mut vectors = vectors.into_iter();
        let mut written = CatalogWrites::default();
        self.files_committed += self.pending.len() as u64;
        for item in self.pending.drain(..) {
            let file_id = write_processed(batch, item, &mut vectors, &mut written).await?;
            self.written_ids.extend(file_id);
        }
        for file in self.removals.drain(..) {
            batch.remove_file(file).await?;
            written.lexical.push(LexicalOp::DeleteFile(file));
        }
        batch.store_vectors(&written.added).await?;
        written.removed = batch.removed_chunks().to_vec();
        if !written.added.is_empty() || !written.removed.is_empty() {
            written.generation = Some(batch.bump_generation().await?);
        }
        Ok(written)
    }

    async fn apply_full_text(&mut self, ops: Vec<LexicalOp>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let lexical = self.stores.lexical.clone();
        tokio::task::spawn_blocking(move || lexical.apply(ops)).await??;
        self.timings.lexical_secs += started.elapsed().as_secs_f64();
        Ok(())
    }

    /// Brings the vector graph to the catalog's `generation`, after its commit.
    async fn update_graph(
        &mut self,
        added: Vec<(ChunkId, Vec<f32>)>,
        removed: Vec<ChunkId>,
        generation: i64,
    ) -> Result<()> {
        let started = Instant::now();
        let graph = self.stores.vectors.clone();
        tokio::task::spawn_blocking(move || graph.update(&added, &removed, generation)).await?;
        self.timings.vector_secs += started.elapsed().as_secs_f64();
        Ok(())
    }
}

/// What one batch wrote to the catalog, for the full-text index and the graph to follow.
#[derive(Default)]
struct CatalogWrites {
    lexical: Vec<LexicalOp>,
    added: Vec<(ChunkId, Vec<f32>)>,
    removed: Vec<ChunkId>,
    /// The catalog's new vector generation, when the vectors changed.
    generation: Option<i64>,
    chunks: u64,
}

/// Writes one processed file's outcome; `vectors` yields its chunks' vectors in
/// order. Returns the file's id, when the catalog keeps a record of it.
async fn write_processed(
    batch: &mut CatalogBatch,
    item: Processed,
    vectors: &mut impl Iterator<Item = Vec<f32>>,
    written: &mut CatalogWrites,
) -> Result<Option<FileId>> {
    if item.was_interrupted {
        batch.forget_interrupted_read(&item.path).await?;
    }
    let file_id = match item.outcome {
        Outcome::Unchanged => {
            if let Some(file) = item.existing {
                batch.update_location(file, &item.path, item.stamp).await?;
            }
            item.existing
        }
        Outcome::Renamed { file } => {
            batch.update_location(file, &item.path, item.stamp).await?;
            Some(file)
        }
        Outcome::Indexed(content) => {
            let (file_id, chunk_ids) = batch
                .store_indexed(item.folder, &item.path, item.stamp, &content)
                .await?;
            written.lexical.push(LexicalOp::DeleteFile(file_id));
            let title = content.title.clone().unwrap_or_default();
            for (chunk, chunk_id) in content.chunks.into_iter().zip(chunk_ids) {
                if let Some(vector) = vectors.next() {
                    written.added.push((chunk_id, vector));
                }
                written.lexical.push(LexicalOp::Add {
                    chunk_id,
                    file_id,
                    page: chunk.page,
                    title: title.clone(),
                    body: chunk.text,
                });
                written.chunks += 1;
            }
            Some(file_id)
        }
        Outcome::NotIndexed {
            status,
            message,
            hash,
            awaiting_ocr,
        } => {
            let state = FileState {
                hash: hash.as_deref(),
                status,
                message: Some(&message),
                pages_awaiting_ocr: u32::from(awaiting_ocr),
            };
            let file_id = batch
                .store_unindexed(item.folder, &item.path, item.stamp, &state)
                .await?;
            if item.existing.is_some() {
                written.lexical.push(LexicalOp::DeleteFile(file_id));
            }
            Some(file_id)
        }
        Outcome::Replaced => item.existing,
        Outcome::Vanished => {
            if let Some(file) = item.existing {
                batch.remove_file(file).await?;
                written.lexical.push(LexicalOp::DeleteFile(file));
            }
            None
        }
    };
    Ok(file_id)
}
