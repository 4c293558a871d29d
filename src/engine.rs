//! The facade every front end uses: open a data directory, add folders, index
//! them, search, report status. It owns the stores.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::extract::Document;
use crate::ingest::{self, BatchWriter, IndexReport, Outcome, Processed};
use crate::lock::IndexLock;
use crate::progress::{Phase, ProgressSink, ProgressTracker};
use crate::retrieve::{self, SearchHit};
use crate::store::catalog::{FileId, FileProblem, FileStamp, Folder, FolderSummary, IndexedContent};
use crate::store::lexical::{LexicalOp, LexicalResults};
use crate::store::{Catalog, LexicalIndex};

pub struct Engine {
    config: Config,
    catalog: Catalog,
    lexical: Arc<LexicalIndex>,
}

/// What `quire status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryStatus {
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub data_dir: PathBuf,
    pub folders: Vec<FolderSummary>,
    /// Files not indexed, with why: errors first, then skips.
    pub problems: Vec<FileProblem>,
}

impl Engine {
    /// Opens (creating when needed) the library in `config.data_dir`.
    pub async fn open(mut config: Config) -> Result<Engine> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        // Canonical, so that walks can recognise (and skip) it inside an indexed folder.
        config.data_dir = absolute(&config.data_dir)?;
        let catalog = Catalog::open(&config.catalog_path()).await?;
        let (lexical, created) = LexicalIndex::open(&config.lexical_dir(), config.title_boost)?;
        let engine = Engine {
            config,
            catalog,
            lexical: Arc::new(lexical),
        };
        if created && engine.catalog.chunk_count().await? > 0 {
            // The catalog is the source of truth: a lost full-text index is rebuilt from it.
            tracing::warn!("the full-text index was missing; rebuilding it from the catalog");
            let _lock = engine.lock()?;
            engine.rebuild_lexical().await?;
        }
        Ok(engine)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Adds `path` to the library and indexes it (or brings its index up to date).
    pub async fn index_folder(&self, path: &Path, progress: &dyn ProgressSink) -> Result<IndexReport> {
        let _lock = self.lock()?;
        let folder = self.register(path).await?;
        self.index_registered(&folder, progress).await
    }

    /// Brings every folder of the library up to date.
    pub async fn index_all(&self, progress: &dyn ProgressSink) -> Result<IndexReport> {
        let _lock = self.lock()?;
        let mut report = IndexReport::default();
        for folder in self.catalog.folders().await? {
            if !folder.path.is_dir() {
                tracing::warn!(folder = %folder.path.display(), "folder is missing; keeping its index until it is removed");
                continue;
            }
            report.merge(self.index_registered(&folder, progress).await?);
        }
        Ok(report)
    }

    /// Removes a folder and everything indexed from it.
    pub async fn remove_folder(&self, path: &Path) -> Result<()> {
        let _lock = self.lock()?;
        // The folder itself may be gone already; then its name is all there is.
        let path = absolute(path).or_else(|_| std::path::absolute(path).map_err(|e| Error::io(path, e)))?;
        let folder = self
            .catalog
            .folder(&path)
            .await?
            .ok_or(Error::UnknownFolder { path })?;
        let files = self.catalog.remove_folder(folder.id).await?;
        let ops = files.into_iter().map(LexicalOp::DeleteFile).collect();
        self.apply_lexical(ops).await
    }

    pub async fn folders(&self) -> Result<Vec<Folder>> {
        self.catalog.folders().await
    }

    /// Ranked keyword search over every indexed chunk.
    pub async fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>> {
        retrieve::search_bm25(&self.catalog, &self.lexical, query, limit).await
    }

    pub async fn status(&self) -> Result<LibraryStatus> {
        Ok(LibraryStatus {
            data_dir: self.config.data_dir.clone(),
            folders: self.catalog.folder_summaries().await?,
            problems: self.catalog.problems().await?,
        })
    }

    /// Closes the stores, releasing the full-text writer.
    pub async fn close(self) -> Result<()> {
        let lexical = self.lexical.clone();
        tokio::task::spawn_blocking(move || lexical.close_writer()).await??;
        self.catalog.close().await;
        Ok(())
    }

    /// Indexes documents that do not come from files of a folder (benchmark
    /// corpora): each gets `path` as its name under `source`. Returns their file
    /// ids in order.
    pub(crate) async fn index_documents(
        &self,
        source: &Path,
        documents: Vec<(PathBuf, Document)>,
        progress: &dyn ProgressSink,
    ) -> Result<Vec<FileId>> {
        let _lock = self.lock()?;
        let folder = self.catalog.add_folder(source).await?;
        let chunker = crate::chunk::Chunker::new(&self.config);
        let mut tracker =
            ProgressTracker::new(progress, Phase::Indexing, "documents", documents.len() as u64);
        let mut writer = BatchWriter::new(&self.catalog, self.lexical.clone());
        for (path, document) in documents {
            let chunks = chunker.chunk(&document);
            let content = IndexedContent {
                hash: blake3::hash(path.as_os_str().as_encoded_bytes())
                    .to_hex()
                    .to_string(),
                title: document.title.clone(),
                page_count: u32::try_from(document.pages.len()).unwrap_or(u32::MAX),
                chunks,
            };
            writer
                .push(Processed {
                    folder: folder.id,
                    path,
                    stamp: FileStamp { size: 0, mtime_ns: 0 },
                    existing: None,
                    outcome: Outcome::Indexed(content),
                })
                .await?;
            tracker.advance(1);
        }
        writer.finish().await?;
        Ok(writer.written_ids().to_vec())
    }

    /// Raw full-text search (chunk ids, file ids, scores), for evaluation.
    pub(crate) fn search_lexical(&self, query: &str, limit: usize) -> Result<LexicalResults> {
        self.lexical.search(query, limit)
    }

    /// Registers a folder. A folder inside one already in the library is that
    /// one; a folder around some already in the library takes their files over.
    /// Either way each file belongs to one folder and is indexed once.
    async fn register(&self, path: &Path) -> Result<Folder> {
        let path = absolute(path)?;
        if !path.is_dir() {
            return Err(Error::NotAFolder { path });
        }
        let existing = self.catalog.folders().await?;
        if let Some(outer) = existing.iter().find(|f| path.starts_with(&f.path)) {
            return Ok(outer.clone());
        }
        let folder = self.catalog.add_folder(&path).await?;
        for inner in existing.iter().filter(|f| f.path.starts_with(&path)) {
            self.catalog.merge_folder(inner.id, folder.id).await?;
        }
        Ok(folder)
    }

    async fn index_registered(&self, folder: &Folder, progress: &dyn ProgressSink) -> Result<IndexReport> {
        ingest::index_folder(&self.config, &self.catalog, &self.lexical, folder, progress).await
    }

    async fn rebuild_lexical(&self) -> Result<()> {
        let lexical = self.lexical.clone();
        tokio::task::spawn_blocking(move || lexical.clear()).await??;
        let ops = self
            .catalog
            .all_chunks()
            .await?
            .into_iter()
            .map(|(chunk_id, file_id, page, title, body)| LexicalOp::Add {
                chunk_id,
                file_id,
                page,
                title: title.unwrap_or_default(),
                body,
            })
            .collect();
        self.apply_lexical(ops).await
    }

    async fn apply_lexical(&self, ops: Vec<LexicalOp>) -> Result<()> {
        let lexical = self.lexical.clone();
        tokio::task::spawn_blocking(move || lexical.apply(ops)).await?
    }

    fn lock(&self) -> Result<IndexLock> {
        IndexLock::acquire(&self.config.lock_path(), &self.config.data_dir)
    }
}

/// The folder's absolute, canonical path (symlinks resolved), so that one folder
/// is never registered twice under two names.
fn absolute(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|e| Error::io(path, e))
}
