//! Retrieval: ranked, page-aware hits with highlighted snippets. Full-text hits
//! are joined with the catalog, which supplies path, page and text; hits whose
//! chunk the catalog no longer has (an interrupted write) are dropped.

use std::ops::Range;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;
use crate::store::catalog::{Catalog, ChunkId, FileId};
use crate::store::LexicalIndex;

#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub path: PathBuf,
    pub title: Option<String>,
    pub page: u32,
    pub score: f32,
    pub chunk_id: ChunkId,
    pub file_id: FileId,
    /// Byte span of the chunk in its page's text.
    pub span: Range<usize>,
    pub snippet: Snippet,
}

/// A fragment of the hit's text with the byte ranges of the matched words.
#[derive(Debug, Clone, Serialize)]
pub struct Snippet {
    pub text: String,
    pub highlights: Vec<Range<usize>>,
}

impl Snippet {
    /// The fragment with each match wrapped in `open` … `close` (HTML tags, ANSI codes).
    pub fn marked(&self, open: &str, close: &str) -> String {
        let mut out = String::with_capacity(self.text.len() + 16 * self.highlights.len());
        let mut last = 0;
        for range in &self.highlights {
            let (Some(before), Some(word)) = (self.text.get(last..range.start), self.text.get(range.clone()))
            else {
                continue;
            };
            out.push_str(before);
            out.push_str(open);
            out.push_str(word);
            out.push_str(close);
            last = range.end;
        }
        out.push_str(self.text.get(last..).unwrap_or_default());
        out
    }
}

/// Keyword (BM25) search: the best `limit` chunks for `query`.
pub async fn search_bm25(
    catalog: &Catalog,
    lexical: &std::sync::Arc<LexicalIndex>,
    query: &str,
    limit: usize,
) -> Result<Vec<SearchHit>> {
    if query.trim().is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    // A few more than asked, so that dropped stale entries do not leave the page short.
    let wanted = limit + limit / 2 + 5;
    let lexical_ = lexical.clone();
    let query_ = query.to_string();
    let results = tokio::task::spawn_blocking(move || lexical_.search(&query_, wanted)).await??;
    let ids: Vec<ChunkId> = results.hits.iter().map(|h| h.chunk_id).collect();
    let details = catalog.chunk_details(&ids).await?;
    let mut by_id: std::collections::HashMap<ChunkId, _> =
        details.into_iter().map(|d| (d.chunk_id, d)).collect();
    let mut hits = Vec::with_capacity(limit);
    for hit in &results.hits {
        let Some(detail) = by_id.remove(&hit.chunk_id) else {
            continue;
        };
        if detail.file_id != hit.file_id {
            continue;
        }
        let snippet = results.snippet(&detail.text);
        let snippet = if snippet.is_empty() {
            // The match was in the title only: show the start of the passage.
            Snippet {
                text: detail.text.chars().take(200).collect(),
                highlights: Vec::new(),
            }
        } else {
            Snippet {
                text: snippet.fragment().to_string(),
                highlights: snippet.highlighted().to_vec(),
            }
        };
        hits.push(SearchHit {
            path: detail.path,
            title: detail.title,
            page: detail.page,
            score: hit.score,
            chunk_id: detail.chunk_id,
            file_id: detail.file_id,
            span: detail.span_start..detail.span_end,
            snippet,
        });
        if hits.len() == limit {
            break;
        }
    }
    Ok(hits)
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
}
