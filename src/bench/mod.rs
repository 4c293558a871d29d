//! Benchmarks, printed as tables and JSON: indexing (time per stage, passages
//! per second, peak memory, embedding FLOP rate against a large matrix product
//! measured in the same run), query latency per search mode, and generation
//! speed beside llama.cpp ([`generate`]).

pub mod extract;
#[cfg(feature = "generation")]
pub mod generate;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use serde::Serialize;

use crate::eval::{self, Benchmark, Mode};
use anyhow::{anyhow, Result};
use quire_engine::config::Config;
use quire_engine::embed::EmbeddingWork;
use quire_engine::engine::{CorpusRecord, Engine};
use quire_engine::ingest::IndexTimings;
use quire_engine::progress::ProgressSink;
use quire_engine::retrieve::SearchMode;
use quire_engine::Error;

/// Side of the square matrices of the reference product.
const MATMUL_SIZE: usize = 1024;
/// How long the reference product is repeated.
const MATMUL_SECS: f64 = 3.0;

#[derive(Debug, Clone, Serialize)]
pub struct IndexBench {
    #[serde(serialize_with = "quire_engine::serde_path::lossy")]
    pub benchmark: PathBuf,
    pub documents: usize,
    /// The corpus's records handed to the indexer as documents: no file, no extraction.
    pub records: IndexRun,
    /// The same documents as HTML files in a folder, indexed as a person's files are:
    /// walked, read, hashed, extracted and chunked in helper processes.
    pub files: IndexRun,
    /// Passages per second of `files` over those of `records`.
    pub files_vs_records: f64,
    /// Embedding work of the records run.
    pub embedding: EmbeddingWork,
    pub embedding_gflops: f64,
    pub matmul_gflops: f64,
    /// Embedding FLOP rate over the reference matrix product's.
    pub embedding_vs_matmul: f64,
    /// Of this process; the helpers' own memory is not counted.
    pub peak_rss_bytes: Option<u64>,
}

/// One indexing of the corpus into a fresh library.
#[derive(Debug, Clone, Serialize)]
pub struct IndexRun {
    pub chunks: u64,
    pub total_secs: f64,
    pub chunks_per_sec: f64,
    pub timings: IndexTimings,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryBench {
    #[serde(serialize_with = "quire_engine::serde_path::lossy")]
    pub benchmark: PathBuf,
    pub queries: usize,
    pub limit: usize,
    pub modes: Vec<QueryLatency>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryLatency {
    pub mode: SearchMode,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

/// Indexes the benchmark's corpus (its first `limit` documents, when given) twice,
/// each time into a fresh library under `config.data_dir`: as records, then as files
/// (see [`IndexBench`]); reports where the time went.
pub async fn index(
    benchmark: &Benchmark,
    limit: Option<usize>,
    config: Config,
    progress: &dyn ProgressSink,
) -> Result<IndexBench> {
    let source = benchmark.dir.join("corpus.jsonl");
    // A corpus's "extraction" is turning its records into documents.
    let extract_started = Instant::now();
    let documents: Vec<CorpusRecord> = benchmark
        .corpus
        .iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(eval::corpus_record)
        .collect();
    let count = documents.len();
    let extract_secs = extract_started.elapsed().as_secs_f64();

    let folder = config.data_dir.join("corpus");
    write_as_html(&documents, &folder)?;
    let folder = std::fs::canonicalize(&folder).map_err(|e| Error::io(&folder, e))?;

    let engine = Engine::open(Config {
        data_dir: config.data_dir.join("records"),
        ..config.clone()
    })
    .await?;
    let started = Instant::now();
    let mut timings = engine.index_corpus(&source, documents, progress).await?.timings;
    timings.extract_secs = extract_secs;
    let total_secs = started.elapsed().as_secs_f64() + extract_secs;
    let records = IndexRun::of(chunk_total(&engine).await?, total_secs, timings);
    let embedding = engine.embedding_work().unwrap_or_default();
    engine.close().await?;

    let engine = Engine::open(Config {
        data_dir: config.data_dir.join("files"),
        ..config
    })
    .await?;
    let started = Instant::now();
    let report = engine.index_folder(&folder, progress).await?;
    let files = IndexRun::of(
        chunk_total(&engine).await?,
        started.elapsed().as_secs_f64(),
        report.timings,
    );
    engine.close().await?;

    let matmul_gflops = tokio::task::spawn_blocking(matmul_gflops).await??;
    let embedding_gflops = embedding.flops / records.timings.embed_secs.max(1e-9) / 1e9;
    Ok(IndexBench {
        benchmark: benchmark.dir.clone(),
        documents: count,
        files_vs_records: files.chunks_per_sec / records.chunks_per_sec.max(1e-9),
        records,
        files,
        embedding,
        embedding_gflops,
        matmul_gflops,
        embedding_vs_matmul: embedding_gflops / matmul_gflops.max(1e-9),
        peak_rss_bytes: peak_rss_bytes(),
    })
}

impl IndexRun {
    fn of(chunks: u64, total_secs: f64, timings: IndexTimings) -> IndexRun {
        IndexRun {
            chunks,
            total_secs,
            chunks_per_sec: chunks as f64 / total_secs.max(1e-9),
            timings,
        }
    }
}

async fn chunk_total(engine: &Engine) -> Result<u64> {
    Ok(engine.status().await?.folders.iter().map(|f| f.chunks).sum())
}

/// Writes each document as `<folder>/<n>.html` with its title and text, which the
/// HTML extractor reads back as the same title and text.
fn write_as_html(documents: &[CorpusRecord], folder: &Path) -> Result<()> {
    std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    for (n, CorpusRecord { document, .. }) in documents.iter().enumerate() {
        let title = document.title.as_deref().map(escape).unwrap_or_default();
        let body: String = document
            .pages
            .iter()
            .map(|page| format!("<p>{}</p>", escape(&page.text)))
            .collect();
        let path = folder.join(format!("{n:06}.html"));
        let html = format!("<html><head><title>{title}</title></head><body>{body}</body></html>");
        std::fs::write(&path, html).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// Latency of a search as a person runs it (top `limit` passages with
/// snippets, the query embedding included) in each mode, over the benchmark's
/// test queries. The library is the evaluation index, built first if needed.
pub async fn query(
    benchmark: &Benchmark,
    config: Config,
    limit: usize,
    progress: &dyn ProgressSink,
) -> Result<QueryBench> {
    // Builds (or reuses) the evaluation index; its own scores are not needed here.
    eval::evaluate(benchmark, Mode::Bm25, config.clone(), None, progress).await?;
    let engine = Engine::open(config).await?;
    let mut modes = Vec::new();
    for mode in [SearchMode::Bm25, SearchMode::Vector, SearchMode::Hybrid] {
        // One query first so that lazily loaded parts are warm.
        if let Some((_, text)) = benchmark.queries.first() {
            engine.search(text, mode, limit).await?;
        }
        let mut latencies = Vec::with_capacity(benchmark.queries.len());
        for (_, text) in &benchmark.queries {
            let started = Instant::now();
            engine.search(text, mode, limit).await?;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        modes.push(QueryLatency {
            mode,
            p50_ms: eval::percentile(&mut latencies, 0.50),
            p95_ms: eval::percentile(&mut latencies, 0.95),
            max_ms: eval::percentile(&mut latencies, 1.0),
        });
    }
    engine.close().await?;
    Ok(QueryBench {
        benchmark: benchmark.dir.clone(),
        queries: benchmark.queries.len(),
        limit,
        modes,
    })
}

/// The FLOP rate of a large f32 matrix product with candle on this machine, all cores.
pub fn matmul_gflops() -> Result<f64> {
    let fail = |e: candle_core::Error| anyhow!("matrix product benchmark: {e}");
    let device = Device::Cpu;
    let a = Tensor::randn(0f32, 1.0, (MATMUL_SIZE, MATMUL_SIZE), &device).map_err(fail)?;
    let b = Tensor::randn(0f32, 1.0, (MATMUL_SIZE, MATMUL_SIZE), &device).map_err(fail)?;
    a.matmul(&b).map_err(fail)?; // warm-up
    let started = Instant::now();
    let mut runs = 0u32;
    while started.elapsed().as_secs_f64() < MATMUL_SECS {
        a.matmul(&b).map_err(fail)?;
        runs += 1;
    }
    let flops = 2.0 * (MATMUL_SIZE as f64).powi(3) * f64::from(runs);
    Ok(flops / started.elapsed().as_secs_f64() / 1e9)
}

/// The most memory this process has held (Linux; elsewhere unknown).
pub fn peak_rss_bytes() -> Option<u64> {
    peak_rss_of("/proc/self/status")
}

/// Starts the peak-RSS measurement again (Linux: writing 5 to clear_refs resets VmHWM).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// VmHWM from a /proc status file (Linux), in bytes.
fn peak_rss_of(status_file: &str) -> Option<u64> {
    let status = std::fs::read_to_string(Path::new(status_file)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
