//! Retrieval: ranked, page-aware hits with highlighted snippets. Full-text hits
//! are joined with the catalog, which supplies path, page and text; hits whose
//! chunk the catalog no longer has (an interrupted write) are dropped.

use std::ops::Range;
use std::path::PathBuf;

use serde::Serialize;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::store::catalog::{Catalog, ChunkDetail, ChunkId, FileId};
use crate::store::lexical::LexicalResults;
use crate::store::{LexicalIndex, VectorIndex};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct SearchHit {
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub path: PathBuf,
    pub title: Option<String>,
    pub page: u32,
    pub score: f32,
    /// Cosine similarity of the passage to the query, when it was among the nearest by meaning.
    pub similarity: Option<f32>,
    pub chunk_id: ChunkId,
    pub file_id: FileId,
    /// Byte span of the chunk in its page's text.
    pub span: Range<usize>,
    pub snippet: Snippet,
    /// Whether the passage was read from an image by OCR (its words may be misread).
    pub read_by_ocr: bool,
    /// The whole passage the snippet is cut from (answers put it in the prompt).
    #[serde(skip)]
    pub passage: String,
}

/// A fragment of the hit's text with the byte ranges of the matched words.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Snippet {
    pub text: String,
    pub highlights: Vec<Range<usize>>,
}

impl Snippet {
    /// The fragment with each match wrapped in `open` … `close` (HTML tags, ANSI codes).
    pub fn marked(&self, open: &str, close: &str) -> String {
        let mut out = String::with_capacity(self.text.len() + 16 * self.highlights.len());
        for (piece, highlighted) in self.pieces() {
            if highlighted {
                out.push_str(open);
                out.push_str(piece);
                out.push_str(close);
            } else {
                out.push_str(piece);
            }
        }
        out
    }

    /// The fragment in order, as pieces that are matches (true) or the text between them.
    pub fn pieces(&self) -> impl Iterator<Item = (&str, bool)> {
        let mut last = 0;
        let mut pieces = Vec::with_capacity(2 * self.highlights.len() + 1);
        for range in &self.highlights {
            let (Some(before), Some(word)) = (self.text.get(last..range.start), self.text.get(range.clone()))
            else {
                continue;
            };
            pieces.push((before, false));
            pieces.push((word, true));
            last = range.end;
        }
        pieces.push((self.text.get(last..).unwrap_or_default(), false));
        pieces.into_iter().filter(|(piece, _)| !piece.is_empty())
    }
}

/// How results are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Keywords only (BM25 over title and text).
    Bm25,
    /// Meaning only (nearest sentence vectors).
    Vector,
    /// Both, fused by reciprocal rank.
    #[default]
    Hybrid,
}

/// What a search is limited to; the default is the whole library.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    /// Only files under this folder: one of the library's folders or any folder inside one.
    pub folder: Option<PathBuf>,
    /// Only files with one of these extensions, without the dot ("pdf", "md"); any case.
    pub file_types: Vec<String>,
}

impl SearchFilter {
    /// Files under `folder` only.
    pub fn folder(folder: impl Into<PathBuf>) -> SearchFilter {
        SearchFilter {
            folder: Some(folder.into()),
            file_types: Vec::new(),
        }
    }

    pub fn is_everything(&self) -> bool {
        self.folder.is_none() && self.file_types.is_empty()
    }

    /// Whether the file at `path` (canonical, as the catalog holds it) passes. `folder`
    /// must be canonical too.
    pub(crate) fn admits(&self, path: &std::path::Path) -> bool {
        let in_folder = self.folder.as_ref().is_none_or(|folder| path.starts_with(folder));
        let of_type = self.file_types.is_empty()
            || path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|extension| {
                    self.file_types
                        .iter()
                        .any(|wanted| wanted.trim_start_matches('.').eq_ignore_ascii_case(extension))
                });
        in_folder && of_type
    }
}

/// The files and passages a [`SearchFilter`] leaves, looked up in the catalog once per search.
pub(crate) struct Scope {
    files: Vec<FileId>,
    chunks: HashSet<ChunkId>,
}

impl Scope {
    /// The part of the library `filter` admits; `filter.folder` must be canonical.
    pub(crate) async fn of(catalog: &Catalog, filter: &SearchFilter) -> Result<Scope> {
        let files: HashSet<FileId> = catalog
            .file_paths()
            .await?
            .into_iter()
            .filter(|(_, path)| filter.admits(path))
            .map(|(id, _)| id)
            .collect();
        let chunks = catalog
            .chunk_files()
            .await?
            .into_iter()
            .filter(|(_, file)| files.contains(file))
            .map(|(chunk, _)| chunk)
            .collect();
        let mut files: Vec<FileId> = files.into_iter().collect();
        files.sort_unstable();
        Ok(Scope { files, chunks })
    }
}

/// How hybrid search fuses the keyword ranking with the ranking by meaning. Tuned
/// per embedder ([`crate::embed::ModelProfile`]): how far its ranking can be trusted
/// against BM25's is the model's.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Fusion {
    /// Weighted reciprocal rank fusion: an item scores the sum of weight / (k + rank)
    /// over the rankings it is in (the ranking by meaning weighs 1).
    Ranks {
        /// How fast the weight of lower ranks decays (larger: flatter).
        k: f32,
        keyword_weight: f32,
    },
    /// A convex combination of the scores, each ranking's min-max normalised over
    /// what it returned: keyword_share × BM25 + (1 − keyword_share) × cosine; an item
    /// missing from a ranking scores 0 there.
    Scores { keyword_share: f32 },
}

impl Fusion {
    /// Plain reciprocal rank fusion as published (Cormack et al. 2009): k = 60, equal weights.
    pub const PLAIN: Fusion = Fusion::Ranks {
        k: 60.0,
        keyword_weight: 1.0,
    };

    /// Reciprocal rank fusion with k = 10, BM25 weighing 1.5 against each ranking by meaning's 1:
    /// what every embedder Quire offers uses. With feedback BM25 is one ranking of three, and at
    /// 1.5 it holds 1.5 of 3.5 votes. `quire eval nfcorpus --feedback-sweep` (15 fusions, with
    /// [`Feedback::TUNED`]): hybrid nDCG@10 0.3690 → 0.3740 with nomic int8 and 0.3620 → 0.3673
    /// with MiniLM int8 against k = 20 with equal weights, the best of the 15 for both. On
    /// SciFact, which it was not chosen on, MiniLM int8: 0.7094 → 0.7185.
    pub const TUNED: Fusion = Fusion::Ranks {
        k: 10.0,
        keyword_weight: 1.5,
    };
}

/// Pseudo-relevance feedback for the ranking by meaning (Rocchio's, on sentence vectors):
/// the query's vector is moved towards the passages the first fused ranking puts on top,
/// and searched again; that ranking joins the fusion as a third one. It finds passages
/// that say what the best matches say in other words than the query's.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Feedback {
    /// How many of the best fused passages the query moves towards.
    pub passages: usize,
    /// The weight of their mean against the query's own (1).
    pub weight: f32,
}

impl Feedback {
    /// The two best passages, weighed twice the query: what every embedder Quire offers uses.
    /// `quire eval nfcorpus --feedback-sweep` (1, 2, 3 or 5 passages, weights 0.5 to 3): every
    /// setting beats none; this one is within 0.0005 of the best for both embedders (hybrid
    /// nDCG@10 0.3595 → 0.3693 with nomic int8, 0.3541 → 0.3617 with MiniLM int8, both under
    /// the fusion of the time, k = 20 with equal weights). On SciFact, which it was not tuned
    /// on: 0.7206 → 0.7292 with nomic, 0.7153 → 0.7094 with MiniLM (0.7104 → 0.7185 under
    /// [`Fusion::TUNED`]).
    pub const TUNED: Feedback = Feedback {
        passages: 2,
        weight: 2.0,
    };

    /// `query` moved towards the mean of `passages` (unit vectors, as the embedder makes
    /// them), as a unit vector; None when there is nothing to move towards.
    pub fn expand(&self, query: &[f32], passages: &[Vec<f32>]) -> Option<Vec<f32>> {
        let passages: Vec<&Vec<f32>> = passages.iter().filter(|p| p.len() == query.len()).collect();
        if passages.is_empty() {
            return None;
        }
        let share = self.weight / passages.len() as f32;
        let mut moved = query.to_vec();
        for passage in passages {
            for (m, p) in moved.iter_mut().zip(passage) {
                *m += share * p;
            }
        }
        let norm = moved.iter().map(|x| x * x).sum::<f32>().sqrt();
        (norm > f32::EPSILON).then(|| moved.iter().map(|x| x / norm).collect())
    }
}

/// Fuses the keyword ranking with the ranking by meaning (each best first, with its
/// scores) as `fusion` says. Best first; ties keep first-seen order.
pub fn fuse<K: Clone + Eq + std::hash::Hash>(
    keyword: &[(K, f32)],
    meaning: &[(K, f32)],
    fusion: &Fusion,
) -> Vec<(K, f32)> {
    fuse_all(keyword, &[meaning], fusion)
}

/// Fuses the keyword ranking with one or more rankings by meaning (the query's, and the
/// query's moved by [`Feedback`]) as `fusion` says: in `Ranks`, each ranking by meaning
/// weighs 1; in `Scores`, they share the meaning's part equally. Best first; ties keep
/// first-seen order.
pub fn fuse_all<K: Clone + Eq + std::hash::Hash>(
    keyword: &[(K, f32)],
    meanings: &[&[(K, f32)]],
    fusion: &Fusion,
) -> Vec<(K, f32)> {
    let mut scores: HashMap<K, (f32, usize)> = HashMap::new();
    let mut seen = 0usize;
    let mut add = |key: &K, score: f32| {
        let entry = scores.entry(key.clone()).or_insert_with(|| {
            seen += 1;
            (0.0, seen)
        });
        entry.0 += score;
    };
    let rankings = std::iter::once(keyword).chain(meanings.iter().copied());
    match *fusion {
        Fusion::Ranks { k, keyword_weight } => {
            for (index, list) in rankings.enumerate() {
                let weight = if index == 0 { keyword_weight } else { 1.0 };
                for (rank, (key, _)) in list.iter().enumerate() {
                    add(key, weight / (k + rank as f32 + 1.0));
                }
            }
        }
        Fusion::Scores { keyword_share } => {
            let meaning_share = (1.0 - keyword_share) / meanings.len().max(1) as f32;
            for (index, list) in rankings.enumerate() {
                let share = if index == 0 { keyword_share } else { meaning_share };
                let (low, high) = list
                    .iter()
                    .fold((f32::MAX, f32::MIN), |(lo, hi), (_, s)| (lo.min(*s), hi.max(*s)));
                let span = (high - low).max(1e-6);
                for (key, score) in list {
                    add(key, share * (score - low) / span);
                }
            }
        }
    }
    let mut fused: Vec<(K, f32, usize)> = scores.into_iter().map(|(k, (s, order))| (k, s, order)).collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
    fused.into_iter().map(|(k, s, _)| (k, s)).collect()
}

/// The stores a search reads; `semantic` is absent when no embedding model is available.
pub(crate) struct SearchStores<'a> {
    pub catalog: &'a Catalog,
    pub lexical: &'a Arc<LexicalIndex>,
    pub semantic: Option<(&'a Arc<Embedder>, &'a Arc<VectorIndex>)>,
}

/// The best `limit` passages for `query`, within `scope` when given (the restriction
/// is applied inside both searches, so a folder's best passages are found however the
/// rest of the library ranks). Vector and hybrid results keep at most `per_file`
/// passages of one file, so one long document cannot fill the page.
pub(crate) async fn search(
    stores: &SearchStores<'_>,
    query: &str,
    mode: SearchMode,
    limit: usize,
    per_file: usize,
    scope: Option<Arc<Scope>>,
) -> Result<Vec<SearchHit>> {
    if query.trim().is_empty() || limit == 0 || scope.as_ref().is_some_and(|s| s.files.is_empty()) {
        return Ok(Vec::new());
    }
    // Deeper than asked: stale entries are dropped and files capped afterwards.
    let depth = (limit * 4).max(50);
    let mut candidates = find_candidates(stores, query, mode, depth, scope.clone()).await?;
    let mut details = details_of(stores.catalog, &candidates.ids()).await?;
    let fusion = stores
        .semantic
        .map_or(Fusion::PLAIN, |(embedder, _)| embedder.profile().fusion);
    let feedback = stores
        .semantic
        .and_then(|(embedder, _)| embedder.profile().feedback);
    if let (SearchMode::Hybrid, Some(feedback), Some((_, vectors))) = (mode, feedback, stores.semantic) {
        let first = rank(mode, &candidates, &details, &fusion);
        // The best passage of each of the best files, as evaluation feeds back documents.
        let mut files = HashSet::new();
        let chosen: Vec<ChunkId> = first
            .iter()
            .filter(|r| r.is_live(&details) && files.insert(details[&r.chunk_id].file_id))
            .take(feedback.passages)
            .map(|r| r.chunk_id)
            .collect();
        let known: HashSet<ChunkId> = candidates.ids().into_iter().collect();
        candidates.add_moved(search_moved(vectors, &candidates, &chosen, feedback, depth, scope).await?);
        let new: Vec<ChunkId> = candidates
            .ids()
            .into_iter()
            .filter(|id| !known.contains(id))
            .collect();
        details.extend(details_of(stores.catalog, &new).await?);
    }
    let ranked = rank(mode, &candidates, &details, &fusion);
    let cap = if mode == SearchMode::Bm25 {
        usize::MAX
    } else {
        per_file
    };
    Ok(hits_with_snippets(ranked, &mut details, &candidates, cap, limit))
}

/// The catalog's details of passages `ids`: path, page and text, which also put tied keyword
/// scores in order. A passage the catalog lacks (an interrupted write) has none.
async fn details_of(catalog: &Catalog, ids: &[ChunkId]) -> Result<HashMap<ChunkId, ChunkDetail>> {
    Ok(catalog
        .chunk_details(ids)
        .await?
        .into_iter()
        .map(|d| (d.chunk_id, d))
        .collect())
}

/// What each search found: the keyword hits (with what cuts snippets for this query),
/// the nearest passages by meaning with their similarity, and, with [`Feedback`], the
/// nearest to the query moved towards the best of both.
struct Candidates {
    keyword: LexicalResults,
    nearest: Vec<(ChunkId, f32)>,
    /// The query's vector (None in keyword mode).
    query_vector: Option<Vec<f32>>,
    /// Nearest to the moved query, with their similarity to the moved query (it ranks them).
    moved: Vec<(ChunkId, f32)>,
    /// Similarity to the query itself of the passages only the moved query found (neither
    /// the keyword nor the first search by meaning).
    moved_similarity: Vec<(ChunkId, f32)>,
}

/// What the search by the moved query found (see [`Candidates`]).
struct Moved {
    ranking: Vec<(ChunkId, f32)>,
    similarity: Vec<(ChunkId, f32)>,
}

/// The search by the query moved towards `chosen` (the first fused ranking's best live
/// passages): its ranking, and the similarity to the query itself of what neither first
/// search found (a keyword hit keeps none, as before), which is what every hit by meaning
/// reports and what abstention reads.
async fn search_moved(
    vectors: &Arc<VectorIndex>,
    candidates: &Candidates,
    chosen: &[ChunkId],
    feedback: Feedback,
    depth: usize,
    scope: Option<Arc<Scope>>,
) -> Result<Moved> {
    let Some(query) = candidates.query_vector.clone() else {
        return Ok(Moved::none());
    };
    let (vectors, chosen) = (vectors.clone(), chosen.to_vec());
    let found: HashSet<ChunkId> = candidates
        .nearest
        .iter()
        .map(|&(c, _)| c)
        .chain(candidates.keyword.hits.iter().map(|h| h.chunk_id))
        .collect();
    let moved = tokio::task::spawn_blocking(move || {
        let in_scope = |chunk: ChunkId| scope.as_ref().is_none_or(|s| s.chunks.contains(&chunk));
        let keep: Option<&dyn Fn(ChunkId) -> bool> = scope.is_some().then_some(&in_scope);
        let hits = vectors.search_moved(
            &query,
            &chosen,
            |passages| feedback.expand(&query, passages),
            depth,
            keep,
        );
        Moved {
            ranking: hits.iter().map(|h| (h.chunk_id, h.moved_similarity)).collect(),
            similarity: hits
                .iter()
                .filter(|h| !found.contains(&h.chunk_id))
                .map(|h| (h.chunk_id, h.similarity))
                .collect(),
        }
    })
    .await?;
    Ok(moved)
}

impl Moved {
    fn none() -> Moved {
        Moved {
            ranking: Vec::new(),
            similarity: Vec::new(),
        }
    }
}

/// A passage's place in the ranking: its score, and the file the full-text index
/// believes it belongs to (None for a match by meaning alone).
struct Ranked {
    chunk_id: ChunkId,
    score: f32,
    lexical_file: Option<FileId>,
}

impl Ranked {
    /// Whether the catalog still holds the passage, in the file the full-text index names.
    fn is_live(&self, details: &HashMap<ChunkId, ChunkDetail>) -> bool {
        details
            .get(&self.chunk_id)
            .is_some_and(|d| self.lexical_file.is_none_or(|f| f == d.file_id))
    }
}

/// Runs the keyword search, and the vector search unless `mode` is keywords only.
async fn find_candidates(
    stores: &SearchStores<'_>,
    query: &str,
    mode: SearchMode,
    depth: usize,
    scope: Option<Arc<Scope>>,
) -> Result<Candidates> {
    let lexical = stores.lexical.clone();
    let query_text = query.to_string();
    // In vector mode the keyword query is still built: it highlights query words in the snippets.
    let keyword_depth = if mode == SearchMode::Vector { 1 } else { depth };
    let keyword = {
        let scope = scope.clone();
        tokio::task::spawn_blocking(move || {
            let files = scope.as_ref().map(|s| s.files.as_slice());
            lexical.search_within(&query_text, keyword_depth, files)
        })
        .await??
    };
    if mode == SearchMode::Bm25 {
        return Ok(Candidates {
            keyword,
            nearest: Vec::new(),
            query_vector: None,
            moved: Vec::new(),
            moved_similarity: Vec::new(),
        });
    }
    let Some((embedder, vectors)) = stores.semantic else {
        // Engine::search_in reports the model's own problem before it gets here.
        return Err(Error::Embedding(
            "semantic search needs the embedding model, which is not loaded".into(),
        ));
    };
    let (embedder, vectors, query_text) = (embedder.clone(), vectors.clone(), query.to_string());
    let (vector, nearest) = tokio::task::spawn_blocking(move || -> Result<_> {
        let vector = embedder.embed_query(&query_text)?;
        let nearest = match &scope {
            None => vectors.search(&vector, depth),
            Some(scope) => vectors.search_among(&vector, depth, &|chunk| scope.chunks.contains(&chunk)),
        };
        Ok((vector, nearest))
    })
    .await??;
    Ok(Candidates {
        keyword,
        nearest,
        query_vector: Some(vector),
        moved: Vec::new(),
        moved_similarity: Vec::new(),
    })
}

impl Candidates {
    /// Every candidate passage, once.
    fn ids(&self) -> Vec<ChunkId> {
        let mut ids: Vec<ChunkId> = self.keyword.hits.iter().map(|h| h.chunk_id).collect();
        ids.extend(self.nearest.iter().chain(&self.moved).map(|&(c, _)| c));
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn add_moved(&mut self, moved: Moved) {
        self.moved = moved.ranking;
        self.moved_similarity = moved.similarity;
    }

    /// Each passage found by meaning, with its similarity to the query.
    fn similarities(&self) -> HashMap<ChunkId, f32> {
        self.nearest
            .iter()
            .chain(&self.moved_similarity)
            .copied()
            .collect()
    }
}

/// The candidates in `mode`'s order: keyword score, similarity, or both fused by reciprocal rank.
fn rank(
    mode: SearchMode,
    candidates: &Candidates,
    details: &HashMap<ChunkId, ChunkDetail>,
    fusion: &Fusion,
) -> Vec<Ranked> {
    // Equal keyword scores come back in the order passages were indexed; order them by where they
    // are instead, so that the same library ranks the same however (and after whatever crash) it was built.
    let place = |chunk: ChunkId| {
        details
            .get(&chunk)
            .map(|d| (d.path.clone(), d.page, d.span_start))
    };
    let mut keyword_hits: Vec<_> = candidates.keyword.hits.iter().collect();
    keyword_hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| place(a.chunk_id).cmp(&place(b.chunk_id)))
    });
    match mode {
        SearchMode::Bm25 => keyword_hits
            .iter()
            .map(|h| Ranked {
                chunk_id: h.chunk_id,
                score: h.score,
                lexical_file: Some(h.file_id),
            })
            .collect(),
        SearchMode::Vector => candidates
            .nearest
            .iter()
            .map(|&(chunk_id, score)| Ranked {
                chunk_id,
                score,
                lexical_file: None,
            })
            .collect(),
        SearchMode::Hybrid => {
            let keyword: Vec<(ChunkId, f32)> = keyword_hits.iter().map(|h| (h.chunk_id, h.score)).collect();
            let files: HashMap<ChunkId, FileId> = candidates
                .keyword
                .hits
                .iter()
                .map(|h| (h.chunk_id, h.file_id))
                .collect();
            let mut meanings = vec![candidates.nearest.as_slice()];
            if !candidates.moved.is_empty() {
                meanings.push(candidates.moved.as_slice());
            }
            fuse_all(&keyword, &meanings, fusion)
                .into_iter()
                .map(|(chunk_id, score)| Ranked {
                    chunk_id,
                    score,
                    lexical_file: files.get(&chunk_id).copied(),
                })
                .collect()
        }
    }
}

/// The first `limit` ranked passages that the catalog still holds as indexed, at most
/// `per_file` of one file, each with its snippet.
fn hits_with_snippets(
    ranked: Vec<Ranked>,
    details: &mut HashMap<ChunkId, ChunkDetail>,
    candidates: &Candidates,
    per_file: usize,
    limit: usize,
) -> Vec<SearchHit> {
    let similarities = candidates.similarities();
    let mut per_file_count: HashMap<FileId, usize> = HashMap::new();
    let mut hits = Vec::with_capacity(limit);
    for ranked in ranked {
        let Some(detail) = details.remove(&ranked.chunk_id) else {
            continue;
        };
        if ranked.lexical_file.is_some_and(|f| f != detail.file_id) {
            continue; // A full-text entry left by an interrupted write.
        }
        let count = per_file_count.entry(detail.file_id).or_default();
        if *count >= per_file {
            continue;
        }
        *count += 1;
        hits.push(SearchHit {
            snippet: snippet_of(&candidates.keyword, &detail.text),
            path: detail.path,
            title: detail.title,
            page: detail.page,
            score: ranked.score,
            similarity: similarities.get(&ranked.chunk_id).copied(),
            chunk_id: detail.chunk_id,
            file_id: detail.file_id,
            span: detail.span_start..detail.span_end,
            read_by_ocr: detail.read_by_ocr,
            passage: detail.text,
        });
        if hits.len() == limit {
            break;
        }
    }
    hits
}

/// The best fragment of `text` for the query with its matches marked; the passage's start
/// when no query word is in it (a match by meaning, or in the title).
fn snippet_of(keyword: &LexicalResults, text: &str) -> Snippet {
    let snippet = keyword.snippet(text);
    if snippet.is_empty() {
        return Snippet {
            text: text.chars().take(200).collect(),
            highlights: Vec::new(),
        };
    }
    Snippet {
        text: snippet.fragment().to_string(),
        highlights: snippet.highlighted().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_mark_their_matches() {
        let snippet = Snippet {
            text: "green tea and black tea".into(),
            highlights: vec![6..9, 20..23],
        };
        assert_eq!(
            snippet.marked("<b>", "</b>"),
            "green <b>tea</b> and black <b>tea</b>"
        );
    }

    #[test]
    fn reciprocal_rank_fusion_rewards_agreement() {
        let ranked = |keys: [&'static str; 3]| keys.iter().map(|k| (*k, 1.0)).collect::<Vec<_>>();
        let fused = fuse(&ranked(["a", "b", "c"]), &ranked(["c", "b", "d"]), &Fusion::PLAIN);
        let order: Vec<&str> = fused.iter().map(|(k, _)| *k).collect();
        // c (first and third) edges out b (second twice); both beat items in one list only.
        assert_eq!(order, ["c", "b", "a", "d"]);
        let expected_c = 1.0 / 61.0 + 1.0 / 63.0;
        assert!((fused[0].1 - expected_c).abs() < 1e-6);
    }

    #[test]
    fn a_lighter_keyword_ranking_lets_meaning_lead() {
        let lighter = Fusion::Ranks {
            k: 10.0,
            keyword_weight: 0.5,
        };
        let fused = fuse(&[("a", 9.0), ("b", 8.0)], &[("b", 0.9), ("a", 0.8)], &lighter);
        let order: Vec<&str> = fused.iter().map(|(k, _)| *k).collect();
        assert_eq!(order, ["b", "a"]);
    }

    #[test]
    fn feedback_moves_the_query_towards_its_passages_and_keeps_it_a_unit_vector() {
        let query = [1.0, 0.0, 0.0];
        let passages = vec![vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]];
        let moved = Feedback::TUNED.expand(&query, &passages).unwrap();
        // 1 × query + 2 × mean(passages) = (1, 1, 1), normalised.
        let third = 1.0 / 3f32.sqrt();
        for (m, expected) in moved.iter().zip([third; 3]) {
            assert!((m - expected).abs() < 1e-6, "{moved:?}");
        }
        assert!(
            Feedback::TUNED.expand(&query, &[]).is_none(),
            "nothing to move towards"
        );
        assert!(
            Feedback::TUNED.expand(&query, &[vec![1.0, 0.0]]).is_none(),
            "a vector of another embedder is not mixed in"
        );
    }

    #[test]
    fn a_passage_only_the_moved_query_finds_joins_below_what_both_searches_agree_on() {
        let keyword = [("a", 9.0), ("b", 8.0)];
        let meaning = [("b", 0.9), ("a", 0.8)];
        let moved = [("c", 0.95), ("b", 0.9)];
        let fused = fuse_all(&keyword, &[&meaning, &moved], &Fusion::TUNED);
        let order: Vec<&str> = fused.iter().map(|(k, _)| *k).collect();
        // b is in all three rankings, a in two, c (new) in one.
        assert_eq!(order, ["b", "a", "c"]);
        // By scores, the two rankings by meaning share the meaning's half: what tops all three scores 1.
        let by_scores = fuse_all(
            &[("b", 9.0), ("a", 8.0)],
            &[&[("b", 0.9), ("a", 0.8)], &[("b", 0.95), ("c", 0.9)]],
            &Fusion::Scores { keyword_share: 0.5 },
        );
        assert_eq!(by_scores[0].0, "b");
        assert!((by_scores[0].1 - 1.0).abs() < 1e-6, "{by_scores:?}");
    }

    #[test]
    fn fused_scores_weigh_how_far_ahead_an_item_is_not_just_its_rank() {
        // BM25 barely prefers a; meaning strongly prefers b: by scores, b wins.
        let keyword = [("a", 10.0), ("b", 9.9), ("c", 1.0)];
        let meaning = [("b", 0.9), ("a", 0.3), ("c", 0.2)];
        let fused = fuse(&keyword, &meaning, &Fusion::Scores { keyword_share: 0.5 });
        assert_eq!(fused[0].0, "b");
    }
}
