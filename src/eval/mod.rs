//! Retrieval evaluation on BEIR-format benchmarks (corpus.jsonl, queries.jsonl,
//! qrels/test.tsv): nDCG@10 and recall@100 computed as trec_eval computes
//! `ndcg_cut.10` and `recall.100`. A document's score is its best chunk's.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use anyhow::Result;
#[cfg(feature = "generation")]
use quire_engine::answer::{build_prompt, SourcePolicy};
use quire_engine::config::Config;
use quire_engine::engine::{CorpusRecord, Engine};
use quire_engine::extract::Document;
use quire_engine::progress::{Phase, ProgressSink, ProgressTracker};
use quire_engine::retrieve::{fuse, fuse_all, Feedback, Fusion, SearchMode};
use quire_engine::Error;

/// A benchmark file that does not hold what its format says.
#[derive(Debug, thiserror::Error)]
#[error("{}: line {line}: {message}", path.display())]
pub struct BadBenchmarkFile {
    pub path: PathBuf,
    /// From 1; 0 when the problem is not on one line.
    pub line: usize,
    pub message: String,
}

#[cfg(feature = "generation")]
pub mod answers;

/// How many documents each query ranks (the deepest cut-off measured is 100).
const RUN_DEPTH: usize = 100;
/// Chunks fetched per query to rank RUN_DEPTH documents; documents are short,
/// so this covers the depth many times over.
const CHUNK_DEPTH: usize = 1000;
/// Passages `Mode::App` asks the app's search for: enough for nDCG@10, and for recall at
/// the depth a reader of the results reaches.
const APP_HITS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Keyword search (BM25 over title and text).
    Bm25,
    /// Nearest sentence vectors.
    Vector,
    /// Both, fused as the embedder's profile says (reciprocal rank fusion, k = 10, BM25
    /// weighing 1.5), with the query moved towards the best passages and searched again (the
    /// profile's feedback).
    Hybrid,
    /// Hybrid without the feedback: the first fused ranking alone.
    #[serde(rename = "hybrid-without-feedback")]
    HybridWithoutFeedback,
    /// Hybrid search exactly as the app runs it (`Engine::search`, [`APP_HITS`] passages):
    /// its own depth (4 × the passages asked for), passages fed back from the best files, at
    /// most `max_hits_per_file` passages of a file. Recall counts the documents it returns.
    App,
    /// Each of the above.
    All,
}

impl Mode {
    fn expand(self) -> Vec<Mode> {
        match self {
            Mode::All => vec![
                Mode::Bm25,
                Mode::Vector,
                Mode::HybridWithoutFeedback,
                Mode::Hybrid,
                Mode::App,
            ],
            mode => vec![mode],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Bm25 => "bm25",
            Mode::Vector => "vector",
            Mode::Hybrid => "hybrid",
            Mode::HybridWithoutFeedback => "hybrid-without-feedback",
            Mode::App => "app",
            Mode::All => "all",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    #[serde(serialize_with = "quire_engine::serde_path::lossy")]
    pub benchmark: PathBuf,
    pub documents: usize,
    pub chunks: u64,
    pub queries: usize,
    /// Seconds spent indexing the corpus (0 when an earlier evaluation's index was reused).
    pub index_secs: f64,
    pub index_reused: bool,
    /// What the library takes on disk: catalog (texts and vectors), full-text index and vector graph.
    pub index_bytes: u64,
    /// The embedding model's identity (model, precision, dimension, prefixes).
    pub embedder: Option<String>,
    pub results: Vec<ModeResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModeResult {
    pub mode: Mode,
    pub ndcg_at_10: f64,
    pub recall_at_100: f64,
    /// Per-query latency in milliseconds (the query embedding included).
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
}

/// A BEIR benchmark: corpus, the test queries, and their relevance judgments.
pub struct Benchmark {
    pub dir: PathBuf,
    pub corpus: Vec<CorpusDoc>,
    /// Test queries (those with judgments), sorted by id.
    pub queries: Vec<(String, String)>,
    /// query id → document id → grade.
    pub qrels: HashMap<String, HashMap<String, i32>>,
}

#[derive(Debug, Deserialize)]
pub struct CorpusDoc {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Deserialize)]
struct QueryLine {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

impl Benchmark {
    pub fn load(dir: &Path) -> Result<Benchmark> {
        let qrels = load_qrels(&dir.join("qrels").join("test.tsv"))?;
        let corpus = read_jsonl::<CorpusDoc>(&dir.join("corpus.jsonl"))?;
        let mut queries: Vec<(String, String)> = read_jsonl::<QueryLine>(&dir.join("queries.jsonl"))?
            .into_iter()
            .filter(|q| qrels.contains_key(&q.id))
            .map(|q| (q.id, q.text))
            .collect();
        queries.sort();
        // Documents are indexed under the benchmark's path: the same benchmark named
        // another way (a relative path) must reuse the cached index, not add its corpus again.
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        Ok(Benchmark {
            dir,
            corpus,
            queries,
            qrels,
        })
    }
}

/// Indexes the benchmark's corpus into the library in `work_dir` (or reuses
/// it when an earlier run indexed the same corpus there with the same
/// settings), runs its test queries in each mode and scores them. `run_out`
/// receives a TREC run file (one per mode, suffixed, for `Mode::All`).
pub async fn evaluate(
    benchmark: &Benchmark,
    mode: Mode,
    config: Config,
    run_out: Option<&Path>,
    progress: &dyn ProgressSink,
) -> Result<EvalReport> {
    let data_dir = config.data_dir.clone();
    let (engine, index_reused, index_secs) = open_indexed(benchmark, config, progress).await?;
    let embedder = engine.embedder_identity();
    let doc_of_chunk = documents_of_chunks(&engine, benchmark).await?;
    let chunks = doc_of_chunk.len() as u64;

    let modes = mode.expand();
    let mut results = Vec::new();
    for &mode in &modes {
        let mut tracker = ProgressTracker::new(
            progress,
            Phase::Querying,
            "queries",
            benchmark.queries.len() as u64,
        );
        let mut run: Vec<(String, Vec<(String, f32)>)> = Vec::with_capacity(benchmark.queries.len());
        let mut latencies = Vec::with_capacity(benchmark.queries.len());
        for (query_id, text) in &benchmark.queries {
            let started = Instant::now();
            let ranked = rank_documents(&engine, text, mode, &doc_of_chunk).await?;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            run.push((query_id.clone(), ranked));
            tracker.advance(1);
        }
        let mut ndcg = 0.0;
        let mut recall = 0.0;
        for (query_id, ranked) in &run {
            let judged = &benchmark.qrels[query_id];
            ndcg += ndcg_at(ranked, judged, 10);
            recall += recall_at(ranked, judged, 100);
        }
        let n = run.len().max(1) as f64;
        if let Some(path) = run_out {
            let path = if modes.len() > 1 {
                let mut name = path.as_os_str().to_owned();
                name.push(format!(".{}", mode.name()));
                PathBuf::from(name)
            } else {
                path.to_path_buf()
            };
            write_trec_run(&path, &run, mode)?;
        }
        results.push(ModeResult {
            mode,
            ndcg_at_10: ndcg / n,
            recall_at_100: recall / n,
            latency_p50_ms: percentile(&mut latencies, 0.50),
            latency_p95_ms: percentile(&mut latencies, 0.95),
        });
    }
    engine.close().await?;
    Ok(EvalReport {
        benchmark: benchmark.dir.clone(),
        documents: benchmark.corpus.len(),
        chunks,
        queries: benchmark.queries.len(),
        index_secs,
        index_reused,
        index_bytes: bytes_under(&data_dir),
        embedder,
        results,
    })
}

/// One way of fusing the keyword and meaning rankings, and how it scores.
#[derive(Debug, Clone, Serialize)]
pub struct FusionResult {
    pub fusion: Fusion,
    /// Documents taken from each ranking before fusing.
    pub depth: usize,
    pub ndcg_at_10: f64,
    pub recall_at_100: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FusionSweep {
    pub embedder: Option<String>,
    /// What the embedder's profile uses now.
    pub current: Fusion,
    /// Best nDCG@10 first.
    pub results: Vec<FusionResult>,
}

/// Hybrid ranking quality under a grid of fusions (reciprocal rank constant, keyword
/// weight, depth of each ranking), each query's two rankings computed once.
pub async fn fusion_sweep(
    benchmark: &Benchmark,
    config: Config,
    progress: &dyn ProgressSink,
) -> Result<FusionSweep> {
    let (engine, _, _) = open_indexed(benchmark, config, progress).await?;
    let doc_of_chunk = documents_of_chunks(&engine, benchmark).await?;
    let mut tracker = ProgressTracker::new(
        progress,
        Phase::Querying,
        "queries",
        benchmark.queries.len() as u64,
    );
    let mut rankings = Vec::with_capacity(benchmark.queries.len());
    for (query_id, text) in &benchmark.queries {
        let bm25 = engine.search_lexical(text, CHUNK_DEPTH)?.hits;
        let bm25 = best_chunk_per_document(
            bm25.iter().map(|h| (h.chunk_id, h.score)),
            &doc_of_chunk,
            CHUNK_DEPTH,
        );
        let vector = engine.search_vectors(text, CHUNK_DEPTH)?;
        let vector = best_chunk_per_document(vector.into_iter(), &doc_of_chunk, CHUNK_DEPTH);
        rankings.push((query_id.clone(), bm25, vector));
        tracker.advance(1);
    }
    let mut fusions = Vec::new();
    for k in [5.0, 10.0, 20.0, 40.0, 60.0, 100.0] {
        for keyword_weight in [0.4, 0.6, 0.8, 1.0, 1.25, 1.5] {
            fusions.push(Fusion::Ranks { k, keyword_weight });
        }
    }
    for keyword_share in [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7] {
        fusions.push(Fusion::Scores { keyword_share });
    }
    let mut results = Vec::new();
    for depth in [20, 50, 100, CHUNK_DEPTH] {
        for fusion in &fusions {
            let (mut ndcg, mut recall) = (0.0, 0.0);
            for (query_id, bm25, vector) in &rankings {
                let (bm25, vector) = (&bm25[..depth.min(bm25.len())], &vector[..depth.min(vector.len())]);
                let mut fused = fuse(bm25, vector, fusion);
                sort_trec(&mut fused);
                fused.truncate(RUN_DEPTH);
                let judged = &benchmark.qrels[query_id];
                ndcg += ndcg_at(&fused, judged, 10);
                recall += recall_at(&fused, judged, 100);
            }
            let n = rankings.len().max(1) as f64;
            results.push(FusionResult {
                fusion: *fusion,
                depth,
                ndcg_at_10: ndcg / n,
                recall_at_100: recall / n,
            });
        }
    }
    results.sort_by(|a, b| b.ndcg_at_10.total_cmp(&a.ndcg_at_10));
    let (current, embedder) = (engine.fusion(), engine.embedder_identity());
    engine.close().await?;
    Ok(FusionSweep {
        embedder,
        current,
        results,
    })
}

/// The benchmark document each indexed chunk belongs to.
async fn documents_of_chunks(engine: &Engine, benchmark: &Benchmark) -> Result<HashMap<i64, String>> {
    let source = benchmark.dir.join("corpus.jsonl");
    let files = engine.file_paths().await?;
    Ok(engine
        .chunk_files()
        .await?
        .into_iter()
        .filter_map(|(chunk, file)| {
            let path = files.get(&file)?;
            let doc = path.strip_prefix(&source).ok()?.to_string_lossy().into_owned();
            Some((chunk, doc))
        })
        .collect())
}

/// The size of the files under `dir`, all the way down.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => bytes_under(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// What each way of choosing an answer's sources puts in the prompt, over a benchmark's
/// test queries: prompt tokens (the chat model's own count, as `quire ask` builds the
/// prompt) against the judged-relevant passages that make it in. The model is not run:
/// an answer can only be as good as the evidence it is given, and prompt tokens are most
/// of the wait for its first word on a CPU.
#[cfg(feature = "generation")]
#[derive(Debug, Clone, Serialize)]
pub struct PromptSourcesReport {
    #[serde(serialize_with = "quire_engine::serde_path::lossy")]
    pub benchmark: PathBuf,
    pub queries: usize,
    /// Queries Quire abstains on (no passage reaches `abstain_below`), whatever the policy.
    pub abstained: usize,
    pub policies: Vec<PolicyResult>,
}

#[cfg(feature = "generation")]
#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    pub name: String,
    pub policy: SourcePolicy,
    /// Over the queries answered: mean sources and prompt tokens.
    pub mean_sources: f64,
    pub mean_prompt_tokens: f64,
    pub p95_prompt_tokens: f64,
    /// Share of answered queries whose prompt holds at least one relevant passage.
    pub with_relevant: f64,
    /// Mean relevant passages in the prompt, and their share of its sources.
    pub mean_relevant: f64,
    pub relevant_share: f64,
}

#[cfg(feature = "generation")]
pub async fn prompt_sources(
    benchmark: &Benchmark,
    config: Config,
    policies: &[(String, SourcePolicy)],
    progress: &dyn ProgressSink,
) -> Result<PromptSourcesReport> {
    let answer_tokens = config.answer_max_tokens;
    let (engine, _, _) = open_indexed(benchmark, config, progress).await?;
    let abstain_below = engine.abstain_below();
    let source = benchmark.dir.join("corpus.jsonl");
    let generator = engine.generator().await?;
    let mut tracker = ProgressTracker::new(
        progress,
        Phase::Querying,
        "queries",
        benchmark.queries.len() as u64,
    );
    let mut abstained = 0;
    // Per policy: (sources, prompt tokens, relevant sources) of each answered query.
    let mut samples: Vec<Vec<(usize, usize, usize)>> = vec![Vec::new(); policies.len()];
    for (query_id, text) in &benchmark.queries {
        let hits = engine
            .search(text, SearchMode::Hybrid, quire_engine::answer::CANDIDATES)
            .await?;
        tracker.advance(1);
        let evidence = hits.iter().filter_map(|h| h.similarity).reduce(f32::max);
        if evidence.is_none_or(|e| e < abstain_below) {
            abstained += 1;
            continue;
        }
        let judged = &benchmark.qrels[query_id];
        for ((_, policy), samples) in policies.iter().zip(&mut samples) {
            let (messages, sources) =
                build_prompt(&generator, text, &[], hits.clone(), policy, answer_tokens).await?;
            let tokens = generator.count_prompt_tokens(&messages).await?;
            let relevant = sources
                .iter()
                .filter(|s| {
                    let doc = s.path.strip_prefix(&source).ok();
                    doc.and_then(|d| judged.get(d.to_string_lossy().as_ref()))
                        .is_some_and(|&grade| grade > 0)
                })
                .count();
            samples.push((sources.len(), tokens, relevant));
        }
    }
    drop(generator);
    engine.close().await?;
    let results = policies
        .iter()
        .zip(samples)
        .map(|((name, policy), samples)| {
            let n = samples.len().max(1) as f64;
            let mean = |f: &dyn Fn(&(usize, usize, usize)) -> usize| {
                samples.iter().map(|s| f(s) as f64).sum::<f64>() / n
            };
            let mut tokens: Vec<f64> = samples.iter().map(|s| s.1 as f64).collect();
            let sources: usize = samples.iter().map(|s| s.0).sum();
            let relevant: usize = samples.iter().map(|s| s.2).sum();
            PolicyResult {
                name: name.clone(),
                policy: *policy,
                mean_sources: mean(&|s| s.0),
                mean_prompt_tokens: mean(&|s| s.1),
                p95_prompt_tokens: percentile(&mut tokens, 0.95),
                with_relevant: samples.iter().filter(|s| s.2 > 0).count() as f64 / n,
                mean_relevant: mean(&|s| s.2),
                relevant_share: relevant as f64 / sources.max(1) as f64,
            }
        })
        .collect();
    Ok(PromptSourcesReport {
        benchmark: benchmark.dir.clone(),
        queries: benchmark.queries.len(),
        abstained,
        policies: results,
    })
}

/// The engine over the benchmark's corpus, indexing it unless the library in
/// `config.data_dir` already holds all of it. Also says whether it was reused
/// and how long indexing took.
async fn open_indexed(
    benchmark: &Benchmark,
    config: Config,
    progress: &dyn ProgressSink,
) -> Result<(Engine, bool, f64)> {
    let engine = Engine::open(config).await?;
    let source = benchmark.dir.join("corpus.jsonl");
    let already = engine
        .status()
        .await?
        .folders
        .iter()
        .find(|f| f.path == source)
        .map_or(0, |f| f.indexed);
    if already == benchmark.corpus.len() as u64 {
        return Ok((engine, true, 0.0));
    }
    let started = Instant::now();
    let documents = benchmark.corpus.iter().map(corpus_record).collect();
    engine.index_corpus(&source, documents, progress).await?;
    Ok((engine, false, started.elapsed().as_secs_f64()))
}

/// How close the best passage comes to questions the library can answer (the
/// benchmark's queries on its own corpus) and to questions it cannot (the same
/// queries on an unrelated folder): the evidence `abstain_below` is set from.
#[derive(Debug, Clone, Serialize)]
pub struct AbstentionReport {
    pub benchmark: PathBuf,
    pub unrelated: PathBuf,
    pub queries: usize,
    /// Best cosine similarity per query: on its own corpus, and on the unrelated folder.
    pub on_topic: Vec<f64>,
    pub off_topic: Vec<f64>,
    /// Per threshold: share of on-topic questions answered, share of off-topic ones abstained on.
    pub thresholds: Vec<(f64, f64, f64)>,
    /// The threshold with the best balanced accuracy.
    pub best: f64,
}

pub async fn abstention(
    benchmark: &Benchmark,
    bench_config: Config,
    unrelated: &Path,
    unrelated_config: Config,
    progress: &dyn ProgressSink,
) -> Result<AbstentionReport> {
    let (engine, _, _) = open_indexed(benchmark, bench_config, progress).await?;
    let on_topic = best_similarities(&engine, benchmark, progress).await?;
    engine.close().await?;
    let engine = Engine::open(unrelated_config).await?;
    engine.index_folder(unrelated, progress).await?;
    let off_topic = best_similarities(&engine, benchmark, progress).await?;
    engine.close().await?;
    let share = |samples: &[f64], keep: &dyn Fn(f64) -> bool| {
        samples.iter().filter(|&&s| keep(s)).count() as f64 / samples.len().max(1) as f64
    };
    // Every model spreads its similarities differently (MiniLM's best answer near 0.2,
    // nomic's near 0.6): the whole range, in steps of 0.005.
    let thresholds: Vec<(f64, f64, f64)> = (0..=180)
        .map(|i| {
            let t = 0.05 + 0.005 * f64::from(i);
            (t, share(&on_topic, &|s| s >= t), share(&off_topic, &|s| s < t))
        })
        .collect();
    let best = thresholds
        .iter()
        .max_by(|a, b| (a.1 + a.2).total_cmp(&(b.1 + b.2)))
        .map_or(0.35, |t| t.0);
    Ok(AbstentionReport {
        benchmark: benchmark.dir.clone(),
        unrelated: unrelated.to_path_buf(),
        queries: benchmark.queries.len(),
        on_topic,
        off_topic,
        thresholds,
        best,
    })
}

async fn best_similarities(
    engine: &Engine,
    benchmark: &Benchmark,
    progress: &dyn ProgressSink,
) -> Result<Vec<f64>> {
    let mut tracker = ProgressTracker::new(
        progress,
        Phase::Querying,
        "queries",
        benchmark.queries.len() as u64,
    );
    let mut best = Vec::with_capacity(benchmark.queries.len());
    for (_, text) in &benchmark.queries {
        let hits = engine.search(text, SearchMode::Vector, 1).await?;
        best.push(hits.first().and_then(|h| h.similarity).map_or(-1.0, f64::from));
        tracker.advance(1);
    }
    Ok(best)
}

/// A corpus entry as a document named `source/<id>`. The title goes to the
/// title field of every chunk (and before each passage the embedder reads),
/// the text is the body.
pub fn corpus_record(doc: &CorpusDoc) -> CorpusRecord {
    let title = (!doc.title.trim().is_empty()).then(|| doc.title.clone());
    CorpusRecord {
        id: doc.id.clone(),
        document: Document::from_pages(title, [doc.text.clone()]),
    }
}

/// One query's document ranking in `mode`.
async fn rank_documents(
    engine: &Engine,
    query: &str,
    mode: Mode,
    doc_of_chunk: &HashMap<i64, String>,
) -> Result<Vec<(String, f32)>> {
    let per_document =
        |hits: &[(i64, f32)]| best_chunk_per_document(hits.iter().copied(), doc_of_chunk, RUN_DEPTH);
    let mut ranked = match mode {
        Mode::Bm25 => per_document(&keyword_hits(engine, query)?),
        Mode::Vector => per_document(&engine.search_vectors(query, CHUNK_DEPTH)?),
        Mode::Hybrid | Mode::All => {
            let rankings = QueryRankings::of(engine, query)?;
            rankings.hybrid(engine, doc_of_chunk, &engine.fusion(), engine.feedback().as_ref())?
        }
        Mode::HybridWithoutFeedback => {
            QueryRankings::of(engine, query)?.hybrid(engine, doc_of_chunk, &engine.fusion(), None)?
        }
        Mode::App => {
            let hits = engine.search(query, SearchMode::Hybrid, APP_HITS).await?;
            // The app's order, as descending scores: each document at its first passage.
            let in_order = hits
                .iter()
                .enumerate()
                .map(|(rank, hit)| (hit.chunk_id, -(rank as f32)));
            best_chunk_per_document(in_order, doc_of_chunk, RUN_DEPTH)
        }
    };
    ranked.truncate(RUN_DEPTH);
    Ok(ranked)
}

/// The full-text index's best chunks for `query`, as deep as fusion reads.
fn keyword_hits(engine: &Engine, query: &str) -> Result<Vec<(i64, f32)>> {
    let hits = engine.search_lexical(query, CHUNK_DEPTH)?.hits;
    Ok(hits.iter().map(|h| (h.chunk_id, h.score)).collect())
}

/// One query's chunk rankings by keywords and by meaning, and its vector: what hybrid
/// ranking starts from, computed once.
struct QueryRankings {
    keyword: Vec<(i64, f32)>,
    nearest: Vec<(i64, f32)>,
    vector: Vec<f32>,
}

impl QueryRankings {
    fn of(engine: &Engine, query: &str) -> Result<QueryRankings> {
        let vector = engine.embed_query(query)?;
        Ok(QueryRankings {
            keyword: keyword_hits(engine, query)?,
            nearest: engine.search_by_vector(&vector, CHUNK_DEPTH)?,
            vector,
        })
    }

    /// Documents ranked by `fusion` of their best chunks' ranks (fusion sees every document
    /// the chunk lists reach, not just the top RUN_DEPTH); with `feedback`, the query moved
    /// towards the best documents joins as a third ranking, as in the app's hybrid search.
    fn hybrid(
        &self,
        engine: &Engine,
        doc_of_chunk: &HashMap<i64, String>,
        fusion: &Fusion,
        feedback: Option<&Feedback>,
    ) -> Result<Vec<(String, f32)>> {
        let per_document =
            |hits: &[(i64, f32)]| best_chunk_per_document(hits.iter().copied(), doc_of_chunk, CHUNK_DEPTH);
        let (bm25, vector) = (per_document(&self.keyword), per_document(&self.nearest));
        let mut fused = fuse(&bm25, &vector, fusion);
        if let Some(feedback) = feedback {
            // Each of the best documents is represented by its passage nearest the query (by
            // keywords when no passage of it is near), as the app's search feeds back passages.
            let chosen: Vec<i64> = fused
                .iter()
                .take(feedback.passages)
                .filter_map(|(doc, _)| {
                    let of_doc = |&&(chunk, _): &&(i64, f32)| doc_of_chunk.get(&chunk) == Some(doc);
                    let best = self
                        .nearest
                        .iter()
                        .find(of_doc)
                        .or_else(|| self.keyword.iter().find(of_doc));
                    best.map(|&(chunk, _)| chunk)
                })
                .collect();
            if let Some(moved) = engine.moved_query(feedback, &self.vector, &chosen)? {
                let moved = per_document(&engine.search_by_vector(&moved, CHUNK_DEPTH)?);
                fused = fuse_all(&bm25, &[&vector, &moved], fusion);
            }
        }
        sort_trec(&mut fused);
        Ok(fused)
    }
}

/// How hybrid ranking scores with the query moved towards its best passages (pseudo-relevance
/// feedback) in several ways, and without, under several fusions: the fusion decides which
/// passages are fed back, so the two are tuned together.
#[derive(Debug, Clone, Serialize)]
pub struct FeedbackSweep {
    pub embedder: Option<String>,
    /// What the embedder's profile uses now.
    pub current_fusion: Fusion,
    pub current_feedback: Option<Feedback>,
    /// Best nDCG@10 first.
    pub results: Vec<FeedbackResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FeedbackResult {
    pub fusion: Fusion,
    /// None: no feedback.
    pub feedback: Option<Feedback>,
    pub ndcg_at_10: f64,
    pub recall_at_100: f64,
}

/// Hybrid ranking quality with no feedback and with a grid of feedbacks (passages fed back,
/// their weight), each under a grid of reciprocal rank fusions (k, keyword weight) beside the
/// one the embedder's profile uses; each query's first rankings are computed once.
pub async fn feedback_sweep(
    benchmark: &Benchmark,
    config: Config,
    progress: &dyn ProgressSink,
) -> Result<FeedbackSweep> {
    let (engine, _, _) = open_indexed(benchmark, config, progress).await?;
    let doc_of_chunk = documents_of_chunks(&engine, benchmark).await?;
    let current_fusion = engine.fusion();
    let mut fusions = vec![current_fusion];
    for k in [5.0, 10.0, 20.0, 40.0, 60.0] {
        // With feedback BM25 is one ranking of three: weighed more, it keeps its say.
        for keyword_weight in [1.0, 1.5, 2.0] {
            let fusion = Fusion::Ranks { k, keyword_weight };
            if !fusions.contains(&fusion) {
                fusions.push(fusion);
            }
        }
    }
    let mut feedbacks = vec![None];
    for passages in [1, 2, 3, 5] {
        for weight in [0.5, 1.0, 2.0, 3.0] {
            feedbacks.push(Some(Feedback { passages, weight }));
        }
    }
    let settings: Vec<(Fusion, Option<Feedback>)> = fusions
        .iter()
        .flat_map(|&fusion| feedbacks.iter().map(move |&feedback| (fusion, feedback)))
        .collect();
    let mut tracker = ProgressTracker::new(
        progress,
        Phase::Querying,
        "queries",
        benchmark.queries.len() as u64,
    );
    let mut totals = vec![(0.0, 0.0); settings.len()];
    for (query_id, text) in &benchmark.queries {
        let rankings = QueryRankings::of(&engine, text)?;
        let judged = &benchmark.qrels[query_id];
        for ((fusion, feedback), (ndcg, recall)) in settings.iter().zip(&mut totals) {
            let ranked = rankings.hybrid(&engine, &doc_of_chunk, fusion, feedback.as_ref())?;
            *ndcg += ndcg_at(&ranked, judged, 10);
            *recall += recall_at(&ranked, judged, 100);
        }
        tracker.advance(1);
    }
    let n = benchmark.queries.len().max(1) as f64;
    let mut results: Vec<FeedbackResult> = settings
        .into_iter()
        .zip(totals)
        .map(|((fusion, feedback), (ndcg, recall))| FeedbackResult {
            fusion,
            feedback,
            ndcg_at_10: ndcg / n,
            recall_at_100: recall / n,
        })
        .collect();
    results.sort_by(|a, b| b.ndcg_at_10.total_cmp(&a.ndcg_at_10));
    let (current_feedback, embedder) = (engine.feedback(), engine.embedder_identity());
    engine.close().await?;
    Ok(FeedbackSweep {
        embedder,
        current_fusion,
        current_feedback,
        results,
    })
}

/// The value below which `share` of the samples fall (nearest rank).
pub fn percentile(samples: &mut [f64], share: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((share * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

/// Ranks documents by their best chunk's score, in trec_eval's order: score
/// descending, ties broken by document id descending.
fn best_chunk_per_document(
    chunk_scores: impl Iterator<Item = (i64, f32)>,
    doc_of_chunk: &HashMap<i64, String>,
    depth: usize,
) -> Vec<(String, f32)> {
    let mut best: HashMap<&str, f32> = HashMap::new();
    for (chunk, score) in chunk_scores {
        if let Some(doc) = doc_of_chunk.get(&chunk) {
            let entry = best.entry(doc).or_insert(f32::NEG_INFINITY);
            *entry = entry.max(score);
        }
    }
    let mut ranked: Vec<(String, f32)> = best.into_iter().map(|(d, s)| (d.to_string(), s)).collect();
    sort_trec(&mut ranked);
    ranked.truncate(depth);
    ranked
}

fn sort_trec(ranked: &mut [(String, f32)]) {
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
}

/// trec_eval `ndcg_cut.k`: gain is the judged grade, discount log2(rank + 1),
/// the ideal ranking is all judged documents by grade.
pub fn ndcg_at(ranked: &[(String, f32)], judged: &HashMap<String, i32>, k: usize) -> f64 {
    let gain = |doc: &str| judged.get(doc).copied().unwrap_or(0).max(0) as f64;
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, (doc, _))| gain(doc) / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<f64> = judged.values().filter(|&&g| g > 0).map(|&g| g as f64).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, g)| g / ((i + 2) as f64).log2())
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// trec_eval `recall.k`: relevant documents (grade ≥ 1) in the top k over all relevant.
pub fn recall_at(ranked: &[(String, f32)], judged: &HashMap<String, i32>, k: usize) -> f64 {
    let relevant = judged.values().filter(|&&g| g > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|(doc, _)| judged.get(doc).is_some_and(|&g| g > 0))
        .count();
    found as f64 / relevant as f64
}

fn write_trec_run(path: &Path, run: &[(String, Vec<(String, f32)>)], mode: Mode) -> Result<()> {
    let tag = format!(
        "quire-{}",
        serde_json::to_string(&mode).unwrap_or_default().trim_matches('"')
    );
    let mut out = String::new();
    for (query_id, ranked) in run {
        for (rank, (doc, score)) in ranked.iter().enumerate() {
            // Shortest exact form: rounding would create ties that trec_eval breaks differently.
            let _ = writeln!(out, "{query_id} Q0 {doc} {} {score} {tag}", rank + 1);
        }
    }
    Ok(std::fs::write(path, out).map_err(|e| Error::io(path, e))?)
}

fn load_qrels(path: &Path) -> Result<HashMap<String, HashMap<String, i32>>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut qrels: HashMap<String, HashMap<String, i32>> = HashMap::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        if line.trim().is_empty() || (i == 0 && fields.first() == Some(&"query-id")) {
            continue;
        }
        let bad = |message: &str| BadBenchmarkFile {
            path: path.to_path_buf(),
            line: i + 1,
            message: message.to_string(),
        };
        let [query, doc, grade] = fields[..] else {
            return Err(bad("expected three tab-separated columns: query-id, corpus-id, score").into());
        };
        let grade: i32 = grade
            .parse()
            .map_err(|_| bad("the score is not a whole number"))?;
        qrels
            .entry(query.to_string())
            .or_default()
            .insert(doc.to_string(), grade);
    }
    // Only queries with at least one relevant document are scored.
    qrels.retain(|_, docs| docs.values().any(|&g| g > 0));
    Ok(qrels)
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut items = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        items.push(serde_json::from_str(&line).map_err(|e| BadBenchmarkFile {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(docs: &[&str]) -> Vec<(String, f32)> {
        docs.iter()
            .enumerate()
            .map(|(i, d)| (d.to_string(), 10.0 - i as f32))
            .collect()
    }

    fn judged(pairs: &[(&str, i32)]) -> HashMap<String, i32> {
        pairs.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    #[test]
    fn ndcg_matches_a_hand_computed_value() {
        // Ranking: a (2), x (0), b (1). Ideal: a (2), b (1).
        let score = ndcg_at(&run(&["a", "x", "b"]), &judged(&[("a", 2), ("b", 1)]), 10);
        let dcg = 2.0 + 1.0 / 4f64.log2();
        let idcg = 2.0 + 1.0 / 3f64.log2();
        assert!((score - dcg / idcg).abs() < 1e-12);
        assert_eq!(
            ndcg_at(&run(&["a", "b"]), &judged(&[("a", 2), ("b", 1)]), 10),
            1.0
        );
    }

    #[test]
    fn ndcg_cuts_at_k_and_recall_counts_relevant_only() {
        let judgments = judged(&[("a", 1), ("b", 1), ("z", 0)]);
        assert_eq!(ndcg_at(&run(&["x", "a"]), &judgments, 1), 0.0);
        assert_eq!(recall_at(&run(&["z", "a", "q"]), &judgments, 100), 0.5);
        assert_eq!(recall_at(&run(&["z", "a", "b"]), &judgments, 2), 0.5);
    }

    #[test]
    fn ties_are_broken_by_document_id_descending_as_trec_eval_does() {
        let mut ranked = vec![
            ("d1".to_string(), 1.0),
            ("d3".to_string(), 1.0),
            ("d2".to_string(), 2.0),
        ];
        sort_trec(&mut ranked);
        let order: Vec<&str> = ranked.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(order, ["d2", "d3", "d1"]);
    }
}
