//! Writing in batches: each batch is one catalog transaction and one full-text
//! commit. The full-text index commits first and the catalog second, so a crash
//! in between leaves only full-text entries whose chunk ids the catalog does not
//! have; searches ignore those, and the file's next indexing deletes them.

use std::sync::Arc;
use std::time::Instant;

use super::{Outcome, Processed, BATCH_MAX_AGE};
use crate::error::Result;
use crate::store::catalog::{Catalog, FileId};
use crate::store::lexical::LexicalOp;
use crate::store::LexicalIndex;

/// A batch is written when it holds this many files or chunks.
const BATCH_FILES: usize = 256;
const BATCH_CHUNKS: usize = 4096;

pub(crate) struct BatchWriter<'a> {
    catalog: &'a Catalog,
    lexical: Arc<LexicalIndex>,
    pending: Vec<Processed>,
    removals: Vec<FileId>,
    pending_chunks: usize,
    oldest: Option<Instant>,
    chunks_written: u64,
    /// File ids written for each processed item, in order (used by evaluation).
    written_ids: Vec<FileId>,
}

impl<'a> BatchWriter<'a> {
    pub fn new(catalog: &'a Catalog, lexical: Arc<LexicalIndex>) -> Self {
        BatchWriter {
            catalog,
            lexical,
            pending: Vec::new(),
            removals: Vec::new(),
            pending_chunks: 0,
            oldest: None,
            chunks_written: 0,
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

    pub fn chunks_written(&self) -> u64 {
        self.chunks_written
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
        let mut batch = self.catalog.begin().await?;
        let mut ops = Vec::new();
        let mut chunks = 0u64;
        for item in self.pending.drain(..) {
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
                    ops.push(LexicalOp::DeleteFile(file_id));
                    let title = content.title.clone().unwrap_or_default();
                    for (chunk, chunk_id) in content.chunks.into_iter().zip(chunk_ids) {
                        ops.push(LexicalOp::Add {
                            chunk_id,
                            file_id,
                            page: chunk.page,
                            title: title.clone(),
                            body: chunk.text,
                        });
                        chunks += 1;
                    }
                    Some(file_id)
                }
                Outcome::NotIndexed {
                    status,
                    message,
                    hash,
                } => {
                    let file_id = batch
                        .store_unindexed(
                            item.folder,
                            &item.path,
                            item.stamp,
                            hash.as_deref(),
                            status,
                            &message,
                        )
                        .await?;
                    if item.existing.is_some() {
                        ops.push(LexicalOp::DeleteFile(file_id));
                    }
                    Some(file_id)
                }
                Outcome::Vanished => {
                    if let Some(file) = item.existing {
                        batch.remove_file(file).await?;
                        ops.push(LexicalOp::DeleteFile(file));
                    }
                    None
                }
            };
            self.written_ids.extend(file_id);
        }
        for file in self.removals.drain(..) {
            batch.remove_file(file).await?;
            ops.push(LexicalOp::DeleteFile(file));
        }
        if !ops.is_empty() {
            let lexical = self.lexical.clone();
            tokio::task::spawn_blocking(move || lexical.apply(ops)).await??;
        }
        batch.commit().await?;
        self.chunks_written += chunks;
        self.pending_chunks = 0;
        self.oldest = None;
        Ok(())
    }
}
