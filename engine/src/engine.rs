//! The facade every front end uses: open a data directory, add folders, index
//! them, search, report status. It owns the stores and the embedding model.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::activity::GenerationActivity;
use crate::cancel::CancelToken;
use crate::config::Config;
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::extract::Document;
use crate::ingest::{self, passage_text, BatchWriter, IndexReport, Outcome, Processed, Stores, EMBED_SLICE};
#[cfg(feature = "generation")]
use crate::llm::Generator;
use crate::lock::IndexLock;
use crate::pause::IndexingPause;
use crate::progress::{Phase, ProgressSink, ProgressTracker};
use crate::retrieve::{self, Scope, SearchFilter, SearchHit, SearchMode, SearchStores};
use crate::store::catalog::{
    AwaitingOcr, ChunkId, FileId, FileProblem, Folder, FolderSummary, IndexedContent,
};
use crate::store::lexical::{LexicalOp, LexicalResults};
use crate::store::vectors::REBUILD_TOMBSTONE_FRACTION;
use crate::store::{Catalog, LexicalIndex, VectorIndex};

pub struct Engine {
    /// Replaced whole when answer settings or the embedder change
    /// ([`Engine::apply_answer_settings`], [`Engine::change_embedder`]); the folders
    /// of the stores never change while the engine is open.
    config: std::sync::RwLock<Arc<Config>>,
    catalog: Catalog,
    lexical: Arc<LexicalIndex>,
    /// The embedder and the vector graph, or why the model could not be loaded
    /// (keyword search and status work without it). Replaced whole when the user
    /// changes the embedder ([`Engine::change_embedder`]); a search holds the one it began with.
    semantic: std::sync::RwLock<std::result::Result<Arc<Semantic>, (PathBuf, String)>>,
    /// A vector graph rebuild running in the background.
    background: Mutex<Option<tokio::task::JoinHandle<Result<()>>>>,
    /// One writer at a time within this process (the file lock covers other processes).
    writers: tokio::sync::Mutex<()>,
    /// The token indexing runs stop on: [`Engine::pause_indexing`] cancels it, and
    /// [`Engine::resume_indexing`] gives later runs a fresh one.
    pause: IndexingPause,
    /// Answers and summaries being generated; indexing steps aside meanwhile.
    generating: GenerationActivity,
    /// The chat model, loaded on first use: searching needs none of its memory. Emptied
    /// when the settings name another model (or runtime, context, threads).
    #[cfg(feature = "generation")]
    generator: tokio::sync::Mutex<Option<Arc<Generator>>>,
}

/// Fields drop in order: the file lock is released before the next writer of this
/// process gets its turn, or that writer would find the file still locked (Busy).
struct WriteTurn<'a> {
    _file: IndexLock,
    _turn: tokio::sync::MutexGuard<'a, ()>,
}

/// The embedding model and the vectors it made, replaced together.
pub(crate) struct Semantic {
    pub(crate) embedder: Arc<Embedder>,
    vectors: Arc<VectorIndex>,
}

/// One record of a corpus file: a document with its id in the corpus.
#[derive(Debug, Clone)]
pub struct CorpusRecord {
    pub id: String,
    pub document: Document,
}

/// What [`Engine::index_corpus`] wrote: the records' file ids in order, and where the time went.
#[derive(Debug, Clone)]
pub struct CorpusIndexed {
    pub ids: Vec<FileId>,
    pub timings: ingest::IndexTimings,
}

/// What `quire status` shows.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct LibraryStatus {
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub data_dir: PathBuf,
    pub folders: Vec<FolderSummary>,
    /// Files not indexed, with why: errors first, then skips.
    pub problems: Vec<FileProblem>,
    /// Indexed files with pages of pictures left unread for want of OCR.
    pub awaiting_ocr: Vec<AwaitingOcr>,
    /// Passages in the vector graph; absent when the embedding model is not available.
    pub vectors: Option<usize>,
    /// Why semantic search is unavailable, when it is.
    pub model_problem: Option<String>,
    /// The processors models run on; absent in a build without llama.cpp.
    pub compute: Option<crate::llm::gpu::ComputeDevices>,
}

impl Engine {
    /// Opens (creating when needed) the library in `config.data_dir`.
    pub async fn open(mut config: Config) -> Result<Engine> {
        // Before llama.cpp starts: with the GPU off, its CUDA module is never loaded.
        crate::llm::gpu::set_gpu_enabled(config.gpu);
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        // Canonical, so that walks can recognise (and skip) it inside an indexed folder.
        config.data_dir = absolute(&config.data_dir)?;
        let catalog = Catalog::open(&config.catalog_path()).await?;
        let lock = || IndexLock::acquire(&config.lock_path(), &config.data_dir);
        let (lexical, created, held) = LexicalIndex::open(&config.lexical_dir(), config.title_boost, lock)?;
        let lexical = Arc::new(lexical);
        let chunks = catalog.chunk_count().await?;
        if created && chunks > 0 {
            // The catalog is the source of truth: a lost full-text index is rebuilt from it.
            tracing::warn!("the full-text index was missing; rebuilding it from the catalog");
            let _lock = held.map_or_else(lock, Ok)?;
            rebuild_lexical(&catalog, &lexical).await?;
        } else if lexical.num_docs() != chunks {
            // A batch was cut short after its full-text commit and before the catalog's (a crash,
            // a kill): its passages must not linger, even unseen, in the keyword statistics.
            // While another process indexes, the two legitimately differ for a moment: leave them.
            match lock() {
                Ok(_lock) => {
                    tracing::warn!(
                        "the full-text index holds {} passages, the catalog {chunks}; rebuilding it from the catalog",
                        lexical.num_docs()
                    );
                    rebuild_lexical(&catalog, &lexical).await?;
                }
                Err(Error::Busy { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        let (model, options) = (config.embedder_path(), config.embedder_options());
        let loaded = tokio::task::spawn_blocking(move || Embedder::load(&model, &options)).await?;
        let semantic = match loaded {
            Ok(embedder) => Ok(Arc::new(open_vectors(&config, &catalog, embedder).await?)),
            // Whatever keeps the model from loading (a damaged file, one Quire may not read),
            // the library opens for keyword search and says why search by meaning is off.
            Err(problem) => {
                let (path, message) = match problem {
                    Error::Model { path, message } => (path, message),
                    other => (config.embedder_path(), other.to_string()),
                };
                tracing::info!("semantic search is unavailable: {}: {message}", path.display());
                Err((path, message))
            }
        };
        Ok(Engine {
            config: std::sync::RwLock::new(Arc::new(config)),
            catalog,
            lexical,
            semantic: std::sync::RwLock::new(semantic),
            background: Mutex::new(None),
            writers: tokio::sync::Mutex::new(()),
            pause: IndexingPause::default(),
            generating: GenerationActivity::default(),
            #[cfg(feature = "generation")]
            generator: tokio::sync::Mutex::new(None),
        })
    }

    /// The configuration in force: the one the engine opened with, with the answer
    /// settings applied since.
    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(config) => config.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The catalog, for conversations, summaries and pages in context.
    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The chat model named by the configuration, loaded on first use.
    #[cfg(feature = "generation")]
    pub async fn generator(&self) -> Result<Arc<Generator>> {
        let mut loaded = self.generator.lock().await;
        if let Some(generator) = loaded.as_ref() {
            return Ok(generator.clone());
        }
        let config = self.config();
        let path = config.generator_path();
        if !path.exists() {
            return Err(Error::Generator {
                path,
                message: "no such model file. `scripts/fetch-models.sh qwen-1.5b` installs the default \
                          one; or point `generator` in config.toml at any GGUF chat model"
                    .into(),
            });
        }
        let generator = Generator::load(&path, &config.generator_options()).await?;
        let generator = Arc::new(generator.with_activity(self.generating.clone()));
        *loaded = Some(generator.clone());
        Ok(generator)
    }

    /// Answers with `generator`, already loaded elsewhere, instead of loading the configured
    /// model (one model serves several libraries, as in `quire eval --answers`). An error
    /// once this engine has loaded its own.
    #[cfg(feature = "generation")]
    pub fn use_generator(&self, generator: Arc<Generator>) -> Result<()> {
        let mut loaded = self
            .generator
            .try_lock()
            .map_err(|_| Error::GeneratorAlreadyLoaded)?;
        if loaded.is_some() {
            return Err(Error::GeneratorAlreadyLoaded);
        }
        *loaded = Some(generator);
        Ok(())
    }

    /// Applies new answer settings from the next question on, without a restart: a
    /// setting out of range, or a model file Quire cannot run (not GGUF, damaged, no
    /// chat template), is refused with the reason and changes nothing. A new model,
    /// runtime, context or thread count unloads the current model; the next answer
    /// loads the new one (an answer being written finishes with the old).
    #[cfg(feature = "generation")]
    pub async fn apply_answer_settings(&self, settings: &crate::config::AnswerSettings) -> Result<()> {
        let current = self.config();
        let next = current.with_answer_settings(settings)?;
        if !next.runtime.is_built() {
            return Err(Error::Config {
                path: current.data_dir.join(crate::config::CONFIG_FILE),
                message: format!(
                    "this build of Quire has no {} runtime (cargo feature `{}`)",
                    next.runtime.name(),
                    next.runtime.cargo_feature()
                ),
            });
        }
        let new_model = next.generator_path() != current.generator_path()
            || next.generator_options() != current.generator_options();
        if new_model {
            let path = next.generator_path();
            tokio::task::spawn_blocking(move || crate::llm::inspect(&path)).await??;
        }
        let mut loaded = self.generator.lock().await;
        // Applied to the configuration in force now, not the one read above: an embedder
        // change that ended meanwhile stays.
        let mut reload = false;
        self.update_config(|config| {
            let next = config.with_answer_settings(settings)?;
            reload = next.generator_path() != config.generator_path()
                || next.generator_options() != config.generator_options();
            Ok(next)
        })?;
        if reload {
            *loaded = None;
        }
        Ok(())
    }

    /// Pauses indexing: a run in progress finishes the files it is reading, commits
    /// them and returns with `paused` set; later runs return at once the same way
    /// until [`Engine::resume_indexing`]. Nothing finished is lost or redone.
    pub fn pause_indexing(&self) {
        self.pause.pause();
    }

    /// Lets indexing runs take files again (start one to carry on).
    pub fn resume_indexing(&self) {
        self.pause.resume();
    }

    /// What indexing watches to step aside while the chat model runs; a generator
    /// loaded outside the engine can report to it (`Generator::with_activity`).
    pub fn generation_activity(&self) -> &GenerationActivity {
        &self.generating
    }

    pub fn indexing_paused(&self) -> bool {
        self.pause.is_paused()
    }

    /// While indexing is paused, a token that [`Engine::resume_indexing`] cancels.
    pub(crate) fn indexing_resumed(&self) -> Option<CancelToken> {
        self.pause.resumed()
    }

    /// Adds `path` to the library and indexes it (or brings its index up to date).
    pub async fn index_folder(&self, path: &Path, progress: &dyn ProgressSink) -> Result<IndexReport> {
        let _lock = self.lock().await?;
        let semantic = self.semantic()?;
        let folder = self.register(path).await?;
        self.embed_missing(&semantic, progress).await?;
        let report = self.index_registered(&semantic, &folder, progress).await?;
        self.after_writes(&semantic).await?;
        Ok(report)
    }

    /// Brings `path` up to date if it is still a folder of the library; `None` when
    /// it is not (removed, or merged into a folder around it). For the watcher, whose
    /// batches are queued before they run: unlike [`Engine::index_folder`] this never
    /// adds a folder, and it looks the folder up under the write turn that
    /// [`Engine::remove_folder`] takes, so a removal cannot slip in between and be undone.
    pub(crate) async fn update_folder_in_library(
        &self,
        path: &Path,
        progress: &dyn ProgressSink,
    ) -> Result<Option<IndexReport>> {
        let _lock = self.lock().await?;
        let Some(folder) = self.catalog.folder(path).await? else {
            return Ok(None);
        };
        if !folder.path.is_dir() {
            tracing::warn!(folder = %folder.path.display(), "folder is missing; keeping its index until it is removed");
            return Ok(None);
        }
        let semantic = self.semantic()?;
        self.embed_missing(&semantic, progress).await?;
        let report = self.index_registered(&semantic, &folder, progress).await?;
        self.after_writes(&semantic).await?;
        Ok(Some(report))
    }

    /// Brings every folder of the library up to date.
    pub async fn index_all(&self, progress: &dyn ProgressSink) -> Result<IndexReport> {
        let _lock = self.lock().await?;
        let semantic = self.semantic()?;
        self.embed_missing(&semantic, progress).await?;
        let mut report = IndexReport::default();
        for folder in self.catalog.folders().await? {
            if folder.path.is_file() {
                continue; // A corpus (index_corpus): nothing to walk.
            }
            if !folder.path.is_dir() {
                tracing::warn!(folder = %folder.path.display(), "folder is missing; keeping its index until it is removed");
                continue;
            }
            report.merge(self.index_registered(&semantic, &folder, progress).await?);
        }
        self.after_writes(&semantic).await?;
        Ok(report)
    }

    /// Removes a folder and everything indexed from it.
    pub async fn remove_folder(&self, path: &Path) -> Result<()> {
        let _lock = self.lock().await?;
        // The folder itself may be gone already; then its name is all there is.
        let path = absolute(path).or_else(|_| std::path::absolute(path).map_err(|e| Error::io(path, e)))?;
        let folder = self
            .catalog
            .folder(&path)
            .await?
            .ok_or(Error::UnknownFolder { path })?;
        let chunks = self.catalog.chunk_ids_in_folder(folder.id).await?;
        let (files, generation) = self.catalog.remove_folder(folder.id).await?;
        let ops = files.into_iter().map(LexicalOp::DeleteFile).collect();
        self.apply_lexical(ops).await?;
        if let Ok(semantic) = self.semantic() {
            semantic.vectors.update(&[], &chunks, generation);
            self.after_writes(&semantic).await?;
        }
        Ok(())
    }

    pub async fn folders(&self) -> Result<Vec<Folder>> {
        self.catalog.folders().await
    }

    /// The best `limit` passages for `query` in the whole library.
    pub async fn search(&self, query: &str, mode: SearchMode, limit: usize) -> Result<Vec<SearchHit>> {
        self.search_in(query, mode, limit, &SearchFilter::default()).await
    }

    /// The best `limit` passages for `query` among the files `filter` admits. A folder
    /// that is not in the library (nor inside a folder of it) is an error, not an empty page.
    pub async fn search_in(
        &self,
        query: &str,
        mode: SearchMode,
        limit: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<SearchHit>> {
        let semantic = match mode {
            SearchMode::Bm25 => None,
            SearchMode::Vector | SearchMode::Hybrid => Some(self.semantic()?),
        };
        self.search_with(semantic.as_deref(), query, mode, limit, filter)
            .await
    }

    /// [`Engine::search_in`] with the embedder and vectors `semantic` (None: keywords only),
    /// for a caller that must read the same model's thresholds afterwards.
    pub(crate) async fn search_with(
        &self,
        semantic: Option<&Semantic>,
        query: &str,
        mode: SearchMode,
        limit: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<SearchHit>> {
        let stores = SearchStores {
            catalog: &self.catalog,
            lexical: &self.lexical,
            semantic: semantic.map(|s| (&s.embedder, &s.vectors)),
        };
        let scope = if filter.is_everything() {
            None
        } else {
            let filter = self.canonical_filter(filter).await?;
            Some(Arc::new(Scope::of(&self.catalog, &filter).await?))
        };
        retrieve::search(
            &stores,
            query,
            mode,
            limit,
            self.config().max_hits_per_file,
            scope,
        )
        .await
    }

    /// `filter` with its folder canonical, as the catalog's paths are; the folder must be
    /// one of the library's or inside one.
    async fn canonical_filter(&self, filter: &SearchFilter) -> Result<SearchFilter> {
        let Some(folder) = &filter.folder else {
            return Ok(filter.clone());
        };
        let folder = absolute(folder)?;
        let folders = self.catalog.folders().await?;
        if !folders.iter().any(|f| folder.starts_with(&f.path)) {
            return Err(Error::UnknownFolder { path: folder });
        }
        Ok(SearchFilter {
            folder: Some(folder),
            file_types: filter.file_types.clone(),
        })
    }

    /// Why search by meaning (and answers) cannot run, when the embedder could not be loaded.
    pub fn meaning_search_problem(&self) -> Option<String> {
        self.semantic().err().map(|e| e.to_string())
    }

    pub async fn status(&self) -> Result<LibraryStatus> {
        Ok(LibraryStatus {
            data_dir: self.config().data_dir.clone(),
            folders: self.catalog.folder_summaries().await?,
            problems: self.catalog.problems().await?,
            awaiting_ocr: self.catalog.awaiting_ocr().await?,
            vectors: self.semantic().ok().map(|s| s.vectors.live_points()),
            model_problem: self.meaning_search_problem(),
            // Starting llama.cpp (its kernels, a GPU's driver) blocks for a moment.
            compute: {
                let gpu = self.config().gpu;
                tokio::task::spawn_blocking(move || crate::llm::gpu::devices(gpu)).await?
            },
        })
    }

    /// The processors llama.cpp runs models on: the GPU its CUDA module found, or the CPU
    /// and why no GPU. Starts llama.cpp if nothing has yet (no model is loaded for it);
    /// `None` in a build without llama.cpp.
    pub fn compute_devices(&self) -> Option<crate::llm::gpu::ComputeDevices> {
        crate::llm::gpu::devices(self.config().gpu)
    }

    /// Re-embeds every passage of the library with the embedding model `choice` (a
    /// folder or GGUF file, int8 or not) and makes it the one search and answers use from
    /// then on. The passages come from the catalog: no file is read again. Until the last
    /// one is embedded, search goes on with the current model and its vectors, indexing
    /// waits its turn, and answers being written get the cores first; stopped (`cancel`,
    /// or indexing paused) or failed before the new vectors are committed, everything stays
    /// as it was. Only the embedder changes in the configuration: answer settings applied
    /// meanwhile stay. Saving the choice in config.toml is the caller's
    /// ([`crate::config::save_embedder`]).
    pub async fn change_embedder(
        &self,
        choice: &crate::embed::EmbedderChoice,
        progress: &dyn ProgressSink,
        cancel: &CancelToken,
    ) -> Result<()> {
        let current = self.config();
        let options = crate::embed::EmbedderOptions {
            int8: choice.int8,
            ..current.embedder_options()
        };
        let model = choice.model.clone();
        let embedder = tokio::task::spawn_blocking(move || Embedder::load(&model, &options)).await??;
        let embedder = Arc::new(embedder);
        let _lock = self.lock().await?;
        let background = self.background.lock().ok().and_then(|mut b| b.take());
        if let Some(handle) = background {
            // A graph rebuild of the old vectors would save over the new graph.
            handle.await??;
        }
        let chunks = self.catalog.all_chunks().await?;
        let mut tracker = ProgressTracker::new(progress, Phase::Indexing, "passages", chunks.len() as u64);
        let mut vectors = Vec::with_capacity(chunks.len());
        let pause = self.pause.token();
        for batch in chunks.chunks(EMBED_SLICE) {
            // An answer being written gets the cores, as from indexing.
            tokio::select! {
                _ = self.generating.wait(&pause) => {}
                () = cancel.cancelled() => {}
            }
            // Pausing indexing stops a change too: it is all or nothing, begun anew later.
            if cancel.is_cancelled() || pause.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let passages = batch
                .iter()
                .map(|(_, _, _, title, text)| passage_text(title.as_deref(), text))
                .collect();
            let embedded = embedder.embed_passages_blocking(passages).await?;
            vectors.extend(batch.iter().map(|chunk| chunk.0).zip(embedded));
            tracker.advance(batch.len() as u64);
        }
        let generation = self
            .catalog
            .replace_vectors(&vectors, embedder.identity())
            .await?;
        // The catalog now holds the new model's vectors only: from here on the change is made,
        // and search must use the new model (the old one's queries would meet vectors it did
        // not make, in the next graph rebuilt from the catalog).
        let (graph_dir, dimension) = (current.vectors_dir(), embedder.dimension());
        let graph = Arc::new(
            tokio::task::spawn_blocking(move || {
                VectorIndex::built(&graph_dir, dimension, vectors, generation)
            })
            .await?,
        );
        let next = Arc::new(Semantic {
            embedder,
            vectors: graph.clone(),
        });
        replace(&self.semantic, Ok(next));
        self.update_config(|config| {
            Ok(Config {
                embedder: choice.model.clone(),
                embedder_int8: choice.int8,
                ..config.clone()
            })
        })?;
        tracing::info!(embedder = %choice.model.display(), int8 = choice.int8, "the library is embedded with another model now");
        if let Err(e) = tokio::task::spawn_blocking(move || graph.save()).await? {
            // The saved graph is then an older generation than the catalog: it is rebuilt
            // from the catalog at the next start.
            tracing::warn!("the new vector graph could not be saved ({e}); it is rebuilt at the next start");
        }
        Ok(())
    }

    /// Finishes background work and closes the stores, releasing the full-text writer.
    pub async fn close(self) -> Result<()> {
        let background = self.background.lock().ok().and_then(|mut b| b.take());
        if let Some(handle) = background {
            handle.await??;
        }
        let lexical = self.lexical.clone();
        tokio::task::spawn_blocking(move || lexical.close_writer()).await??;
        self.catalog.close().await;
        Ok(())
    }

    /// Indexes the records of `corpus`, one file holding many documents (a benchmark's
    /// `corpus.jsonl`), as `quire eval` and `quire bench` need. Each record is kept as
    /// `<corpus>/<id>`, the name searches return, stamped with the corpus file's own size
    /// and modification time, which change whenever a record does. Folder runs
    /// ([`Engine::index_all`], the watcher) leave a corpus alone: it has no files to walk.
    pub async fn index_corpus(
        &self,
        corpus: &Path,
        records: Vec<CorpusRecord>,
        progress: &dyn ProgressSink,
    ) -> Result<CorpusIndexed> {
        let _lock = self.lock().await?;
        let semantic = self.semantic()?;
        // Kept under the name it is given, as callers look it up by that name.
        let metadata = std::fs::metadata(corpus).map_err(|e| Error::io(corpus, e))?;
        let stamp = ingest::stamp_of(&metadata);
        let folder = self.catalog.add_folder(corpus).await?;
        let chunker = crate::chunk::Chunker::new(&self.config());
        let mut tracker = ProgressTracker::new(progress, Phase::Indexing, "documents", records.len() as u64);
        let stores = self.stores(&semantic);
        let mut writer = BatchWriter::new(&stores);
        let mut chunk_secs = 0.0;
        for record in records {
            let started = std::time::Instant::now();
            let chunks = chunker.chunk(&record.document);
            chunk_secs += started.elapsed().as_secs_f64();
            let path = corpus.join(&record.id);
            let content = IndexedContent {
                hash: blake3::hash(path.as_os_str().as_encoded_bytes())
                    .to_hex()
                    .to_string(),
                title: record.document.title.clone(),
                page_count: u32::try_from(record.document.pages.len()).unwrap_or(u32::MAX),
                pages_awaiting_ocr: record.document.pages_awaiting_ocr,
                chunks,
            };
            writer
                .push(Processed {
                    folder: folder.id,
                    path,
                    stamp,
                    existing: None,
                    outcome: Outcome::Indexed(content),
                    extract_secs: 0.0,
                    chunk_secs: 0.0,
                    was_interrupted: false,
                })
                .await?;
            tracker.set_chunks(writer.chunks_written());
            tracker.advance(1);
        }
        writer.finish().await?;
        let mut timings = writer.timings().clone();
        timings.chunk_secs = chunk_secs;
        let ids = writer.written_ids().to_vec();
        self.after_writes(&semantic).await?;
        Ok(CorpusIndexed { ids, timings })
    }

    /// The similarity between a question and its best passage below which Quire abstains:
    /// config.toml's `abstain_below`, else the value calibrated for the embedder.
    pub fn abstain_below(&self) -> f32 {
        self.config().abstain_below(self.embedder_profile())
    }

    /// The similarity between a question and the sources' best sentence below which Quire
    /// declines: config.toml's `evidence_below`, else the value calibrated for the embedder.
    pub fn evidence_below(&self) -> f32 {
        self.config().evidence_below(self.embedder_profile())
    }

    /// The embedder's profile; without an embedder, the plain one (nothing is compared by
    /// meaning then, so its thresholds never apply).
    fn embedder_profile(&self) -> &'static crate::embed::ModelProfile {
        self.semantic()
            .map(|s| s.embedder.profile())
            .unwrap_or(&crate::embed::ModelProfile::PLAIN)
    }

    /// The identity of the embedding model in use (its name, precision, dimension and
    /// prefixes), when there is one.
    pub fn embedder_identity(&self) -> Option<String> {
        self.semantic().ok().map(|s| s.embedder.identity().to_string())
    }

    /// How hybrid search fuses keyword and meaning rankings with the embedder in use.
    pub fn fusion(&self) -> crate::retrieve::Fusion {
        self.embedder_profile().fusion
    }

    /// Tokens embedded and FLOPs spent on them since the engine opened.
    pub fn embedding_work(&self) -> Option<crate::embed::EmbeddingWork> {
        self.semantic().ok().map(|s| s.embedder.work())
    }

    /// Raw full-text search (chunk ids, file ids, scores), for evaluation.
    pub fn search_lexical(&self, query: &str, limit: usize) -> Result<LexicalResults> {
        self.lexical.search(query, limit)
    }

    /// Raw vector search: the `k` nearest chunks with their similarity (query embedding included).
    pub fn search_vectors(&self, query: &str, k: usize) -> Result<Vec<(ChunkId, f32)>> {
        self.search_by_vector(&self.embed_query(query)?, k)
    }

    /// The query's vector, as vector search compares it with passages.
    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>> {
        self.semantic()?.embedder.embed_query(query)
    }

    /// Raw vector search by a query's vector: the `k` nearest chunks with their similarity.
    pub fn search_by_vector(&self, vector: &[f32], k: usize) -> Result<Vec<(ChunkId, f32)>> {
        Ok(self.semantic()?.vectors.search(vector, k))
    }

    /// The query's vector moved towards the passages `chosen` as `feedback` says (hybrid
    /// search uses [`Engine::feedback`]); None when none of `chosen` has a vector.
    pub fn moved_query(
        &self,
        feedback: &crate::retrieve::Feedback,
        vector: &[f32],
        chosen: &[ChunkId],
    ) -> Result<Option<Vec<f32>>> {
        let passages: Vec<Vec<f32>> = self
            .semantic()?
            .vectors
            .vectors_of(chosen)
            .into_values()
            .collect();
        Ok(feedback.expand(vector, &passages))
    }

    /// How hybrid search moves the query towards its best passages with the embedder in use
    /// (its profile's); None without an embedder.
    pub fn feedback(&self) -> Option<crate::retrieve::Feedback> {
        self.semantic().ok().and_then(|s| s.embedder.profile().feedback)
    }

    pub async fn file_paths(&self) -> Result<std::collections::HashMap<FileId, PathBuf>> {
        self.catalog.file_paths().await
    }

    pub async fn chunk_files(&self) -> Result<std::collections::HashMap<ChunkId, FileId>> {
        self.catalog.chunk_files().await
    }

    pub(crate) fn semantic(&self) -> Result<Arc<Semantic>> {
        match &*self.semantic.read().unwrap_or_else(|e| e.into_inner()) {
            Ok(semantic) => Ok(semantic.clone()),
            Err((path, message)) => Err(Error::Model {
                path: path.clone(),
                message: message.clone(),
            }),
        }
    }

    fn stores<'a>(&'a self, semantic: &Semantic) -> Stores<'a> {
        Stores {
            catalog: &self.catalog,
            lexical: self.lexical.clone(),
            embedder: semantic.embedder.clone(),
            vectors: semantic.vectors.clone(),
            pause: self.pause.token(),
            generating: self.generating.clone(),
        }
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

    async fn index_registered(
        &self,
        semantic: &Semantic,
        folder: &Folder,
        progress: &dyn ProgressSink,
    ) -> Result<IndexReport> {
        ingest::index_folder(&self.config(), &self.stores(semantic), folder, progress).await
    }

    /// Embeds passages that have no vector yet: after the embedding model
    /// changed, or in a library indexed before vectors existed. Text comes from
    /// the catalog; nothing is extracted again.
    async fn embed_missing(&self, semantic: &Semantic, progress: &dyn ProgressSink) -> Result<()> {
        let missing = self.catalog.count_chunks_without_vectors().await?;
        if missing == 0 {
            return Ok(());
        }
        tracing::info!(missing, "embedding passages that have no vector yet");
        let mut tracker = ProgressTracker::new(progress, Phase::Indexing, "passages", missing);
        let pause = self.pause.token();
        loop {
            // An answer being written gets the cores, as from indexing.
            self.generating.wait(&pause).await;
            if pause.is_cancelled() {
                return Ok(());
            }
            let rows = self.catalog.chunks_without_vectors(EMBED_SLICE).await?;
            if rows.is_empty() {
                return Ok(());
            }
            let passages: Vec<String> = rows
                .iter()
                .map(|(_, title, text)| passage_text(title.as_deref(), text))
                .collect();
            let vectors = semantic.embedder.embed_passages_blocking(passages).await?;
            let added: Vec<(ChunkId, Vec<f32>)> = rows.iter().map(|r| r.0).zip(vectors).collect();
            let mut batch = self.catalog.begin().await?;
            batch.store_vectors(&added).await?;
            let generation = batch.bump_generation().await?;
            batch.commit().await?;
            let count = added.len() as u64;
            semantic.vectors.update(&added, &[], generation);
            tracker.advance(count);
        }
    }

    /// Saves the vector graph, and rebuilds it in the background when removed
    /// passages make up too much of it (`close` waits for that to finish).
    async fn after_writes(&self, semantic: &Semantic) -> Result<()> {
        let vectors = semantic.vectors.clone();
        tokio::task::spawn_blocking(move || vectors.save()).await??;
        if semantic.vectors.tombstone_fraction() <= REBUILD_TOMBSTONE_FRACTION {
            return Ok(());
        }
        let mut background = self.background.lock().unwrap_or_else(|e| e.into_inner());
        if background.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        let catalog = self.catalog.clone();
        let vectors = semantic.vectors.clone();
        *background = Some(tokio::spawn(async move {
            let generation = catalog.vector_generation().await?;
            let live = catalog.all_vectors().await?;
            tokio::task::spawn_blocking(move || {
                if vectors.replace(live, generation) {
                    vectors.save()?;
                }
                Ok(())
            })
            .await?
        }));
        Ok(())
    }

    async fn apply_lexical(&self, ops: Vec<LexicalOp>) -> Result<()> {
        let lexical = self.lexical.clone();
        tokio::task::spawn_blocking(move || lexical.apply(ops)).await?
    }

    /// Replaces the configuration in force by `change` of it, in one step: two changes made
    /// at once (answer settings saved while the embedder changes) both hold.
    fn update_config(&self, change: impl FnOnce(&Config) -> Result<Config>) -> Result<()> {
        let mut config = self
            .config
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let next = change(&config)?;
        *config = Arc::new(next);
        Ok(())
    }

    /// The right to write: runs in this process wait their turn (the desktop app
    /// indexes a new folder while its watcher works); another process is Busy.
    async fn lock(&self) -> Result<WriteTurn<'_>> {
        let turn = self.writers.lock().await;
        let config = self.config();
        let file = IndexLock::acquire(&config.lock_path(), &config.data_dir)?;
        Ok(WriteTurn {
            _file: file,
            _turn: turn,
        })
    }
}

/// Puts `value` in `lock`; a panic that poisoned it left nothing half-written (every
/// writer replaces the whole value), so the lock is taken anyway.
fn replace<T>(lock: &std::sync::RwLock<T>, value: T) {
    *lock.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = value;
}

/// Opens the vector graph for `embedder`: the saved one when it is current,
/// otherwise one built from the catalog's vectors. A different embedder than
/// the one that made the stored vectors makes them all stale.
async fn open_vectors(config: &Config, catalog: &Catalog, embedder: Embedder) -> Result<Semantic> {
    let identity = embedder.identity().to_string();
    match catalog.meta("embedder").await? {
        Some(previous) if previous == identity => {}
        Some(_) => {
            tracing::info!("the embedding model changed; passages will be embedded again when indexing");
            catalog.replace_vectors(&[], &identity).await?;
        }
        None => catalog.set_meta("embedder", &identity).await?,
    }
    let generation = catalog.vector_generation().await?;
    let dir = config.vectors_dir();
    let dimension = embedder.dimension();
    let vectors = match VectorIndex::load(&dir, dimension, generation) {
        Ok(vectors) => vectors,
        Err(reason) => {
            tracing::info!("rebuilding the vector graph from the catalog: {reason}");
            let all = catalog.all_vectors().await?;
            tokio::task::spawn_blocking(move || VectorIndex::build(&dir, dimension, all, generation))
                .await??
        }
    };
    Ok(Semantic {
        embedder: Arc::new(embedder),
        vectors: Arc::new(vectors),
    })
}

async fn rebuild_lexical(catalog: &Catalog, lexical: &Arc<LexicalIndex>) -> Result<()> {
    let lexical_ = lexical.clone();
    tokio::task::spawn_blocking(move || lexical_.clear()).await??;
    let ops = catalog
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
    let lexical_ = lexical.clone();
    tokio::task::spawn_blocking(move || lexical_.apply(ops)).await?
}

/// The folder's absolute, canonical path (symlinks resolved), so that one folder
/// is never registered twice under two names.
fn absolute(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|e| Error::io(path, e))
}
