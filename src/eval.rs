//! Retrieval evaluation on BEIR-format benchmarks (corpus.jsonl, queries.jsonl,
//! qrels/test.tsv): nDCG@10 and recall@100 computed as trec_eval computes
//! `ndcg_cut.10` and `recall.100`. A document's score is its best chunk's.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::extract::Document;
use crate::progress::{Phase, ProgressSink, ProgressTracker};

/// How many documents each query ranks (the deepest cut-off measured is 100).
const RUN_DEPTH: usize = 100;
/// Chunks fetched per query to rank RUN_DEPTH documents; documents are short,
/// so this covers the depth many times over.
const CHUNK_DEPTH: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Keyword search (BM25 over title and text).
    Bm25,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub benchmark: PathBuf,
    pub mode: Mode,
    pub documents: usize,
    pub chunks: u64,
    pub queries: usize,
    pub ndcg_at_10: f64,
    pub recall_at_100: f64,
    pub index_secs: f64,
    pub query_secs: f64,
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
        Ok(Benchmark {
            dir: dir.to_path_buf(),
            corpus,
            queries,
            qrels,
        })
    }
}

/// Indexes the benchmark's corpus into a fresh library in `work_dir`, runs its
/// test queries and scores them. `run_out` receives a TREC run file.
pub async fn evaluate(
    benchmark: &Benchmark,
    mode: Mode,
    work_dir: &Path,
    run_out: Option<&Path>,
    progress: &dyn ProgressSink,
) -> Result<EvalReport> {
    let engine = Engine::open(Config::with_data_dir(work_dir)).await?;
    let index_started = Instant::now();
    let source = benchmark.dir.join("corpus.jsonl");
    let documents = benchmark
        .corpus
        .iter()
        .map(|doc| {
            // Title and text are both indexed: the title in the title field of
            // every chunk, the text as the body.
            let title = (!doc.title.trim().is_empty()).then(|| doc.title.clone());
            let text = doc.text.clone();
            (source.join(&doc.id), Document::from_pages(title, [text]))
        })
        .collect();
    let file_ids = engine.index_documents(&source, documents, progress).await?;
    let doc_of_file: HashMap<i64, &str> = file_ids
        .iter()
        .zip(&benchmark.corpus)
        .map(|(&file, doc)| (file, doc.id.as_str()))
        .collect();
    let index_secs = index_started.elapsed().as_secs_f64();
    let chunks = engine.status().await?.folders.iter().map(|f| f.chunks).sum();

    let query_started = Instant::now();
    let mut tracker = ProgressTracker::new(
        progress,
        Phase::Querying,
        "queries",
        benchmark.queries.len() as u64,
    );
    let mut run: Vec<(String, Vec<(String, f32)>)> = Vec::with_capacity(benchmark.queries.len());
    for (query_id, text) in &benchmark.queries {
        let ranked = match mode {
            Mode::Bm25 => {
                let hits = engine.search_lexical(text, CHUNK_DEPTH)?.hits;
                best_chunk_per_document(hits.iter().map(|h| (h.file_id, h.score)), &doc_of_file)
            }
        };
        run.push((query_id.clone(), ranked));
        tracker.advance(1);
    }
    let query_secs = query_started.elapsed().as_secs_f64();
    engine.close().await?;

    let mut ndcg = 0.0;
    let mut recall = 0.0;
    for (query_id, ranked) in &run {
        let judged = &benchmark.qrels[query_id];
        ndcg += ndcg_at(ranked, judged, 10);
        recall += recall_at(ranked, judged, 100);
    }
    let n = run.len().max(1) as f64;
    if let Some(path) = run_out {
        write_trec_run(path, &run, mode)?;
    }
    Ok(EvalReport {
        benchmark: benchmark.dir.clone(),
        mode,
        documents: benchmark.corpus.len(),
        chunks,
        queries: run.len(),
        ndcg_at_10: ndcg / n,
        recall_at_100: recall / n,
        index_secs,
        query_secs,
    })
}

/// Ranks documents by their best chunk's score, in trec_eval's order: score
/// descending, ties broken by document id descending.
fn best_chunk_per_document(
    chunk_scores: impl Iterator<Item = (i64, f32)>,
    doc_of_file: &HashMap<i64, &str>,
) -> Vec<(String, f32)> {
    let mut best: HashMap<&str, f32> = HashMap::new();
    for (file, score) in chunk_scores {
        if let Some(doc) = doc_of_file.get(&file) {
            let entry = best.entry(doc).or_insert(f32::NEG_INFINITY);
            *entry = entry.max(score);
        }
    }
    let mut ranked: Vec<(String, f32)> = best.into_iter().map(|(d, s)| (d.to_string(), s)).collect();
    sort_trec(&mut ranked);
    ranked.truncate(RUN_DEPTH);
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
            let _ = writeln!(out, "{query_id} Q0 {doc} {} {score:.6} {tag}", rank + 1);
        }
    }
    std::fs::write(path, out).map_err(|e| Error::io(path, e))
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
        let bad = |message: &str| Error::Benchmark {
            path: path.to_path_buf(),
            line: i + 1,
            message: message.to_string(),
        };
        let [query, doc, grade] = fields[..] else {
            return Err(bad(
                "expected three tab-separated columns: query-id, corpus-id, score",
            ));
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
        items.push(serde_json::from_str(&line).map_err(|e| Error::Benchmark {
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
