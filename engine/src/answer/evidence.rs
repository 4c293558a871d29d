//! The evidence for an answer, sentence by sentence, before the model is asked:
//! - whether the sources can answer the question at all: a library can be about a subject
//!   and still not say what was asked (the year a thing happened, when only its place is
//!   written down). Passages close in meaning pass the first gate (`abstain_below`); this one
//!   asks that some sentence of a source holds what the question is about;
//! - which sentences of each passage the model needs to see (`passage_sentences`): the ones
//!   closest to the question, with their neighbours.

use std::ops::Range;
use std::sync::Arc;

use serde::Serialize;

use super::text::{content_terms, sentence_ranges};
use super::verify::Verifier;
use super::Source;
use crate::embed::Embedder;
use crate::error::Result;

/// What the sources hold of the question.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct EvidenceCheck {
    /// The best weighted share of the question's terms that one sentence of a source, or
    /// two neighbouring ones, contain (terms weighted by how rare they are among the sources).
    pub question_coverage: f32,
    /// The source that holds it.
    pub best_source: Option<usize>,
    /// The best cosine similarity between the question and one sentence of a source.
    pub sentence_similarity: Option<f32>,
}

/// A source's sentences, each scored by how close it comes to the question.
pub(crate) struct ScoredSentences {
    pub ranges: Vec<Range<usize>>,
    pub scores: Vec<f32>,
}

/// The evidence check, and each source's sentences scored against the question: cosine
/// similarity by `embedder` (the one that found the sources) plus the share of the
/// question's terms it holds.
pub(crate) async fn measure(
    embedder: &Arc<Embedder>,
    question: &str,
    sources: &[Source],
) -> Result<(EvidenceCheck, Vec<ScoredSentences>)> {
    let verifier = Verifier::new(question, sources);
    let best_source = verifier.best_source_for_question();
    let question_coverage = best_source
        .and_then(|n| verifier.best_quote_for_question(n))
        .map_or(0.0, |(coverage, _)| coverage);
    let mut scored: Vec<ScoredSentences> = sources
        .iter()
        .map(|source| {
            let ranges = sentence_ranges(&source.text);
            let question_terms = content_terms(question);
            let scores = ranges
                .iter()
                .map(|r| {
                    let terms = content_terms(&source.text[r.clone()]);
                    let held = question_terms.intersection(&terms).count();
                    held as f32 / question_terms.len().max(1) as f32
                })
                .collect();
            ScoredSentences { ranges, scores }
        })
        .collect();
    let mut sentence_similarity = None;
    let texts: Vec<String> = sources
        .iter()
        .zip(&scored)
        .flat_map(|(source, s)| s.ranges.iter().map(|r| source.text[r.clone()].trim().to_string()))
        .collect();
    let query = question.to_string();
    let embedder_ = embedder.clone();
    let question_vector = tokio::task::spawn_blocking(move || embedder_.embed_query(&query)).await??;
    let vectors = embedder.embed_passages_blocking(texts).await?;
    let mut similarities = vectors
        .iter()
        .map(|v| v.iter().zip(&question_vector).map(|(a, b)| a * b).sum::<f32>());
    for source in &mut scored {
        for score in &mut source.scores {
            let similarity = similarities.next().unwrap_or(0.0);
            sentence_similarity =
                Some(sentence_similarity.map_or(similarity, |best: f32| best.max(similarity)));
            *score += similarity;
        }
    }
    Ok((
        EvidenceCheck {
            question_coverage,
            best_source,
            sentence_similarity,
        },
        scored,
    ))
}

/// `source` cut to at most `keep` of its sentences: the best-scored ones with their
/// neighbours, in their order, gaps marked "…". A source of `keep` sentences or fewer stays whole.
pub(crate) fn window(source: &Source, scored: &ScoredSentences, keep: usize) -> String {
    let n = scored.ranges.len();
    if keep == 0 || n <= keep {
        return source.text.clone();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scored.scores[b].total_cmp(&scored.scores[a]).then(a.cmp(&b)));
    let mut chosen = vec![false; n];
    let mut count = 0;
    'outer: for best in order {
        for i in [Some(best), best.checked_sub(1), Some(best + 1)]
            .into_iter()
            .flatten()
        {
            if count == keep {
                break 'outer;
            }
            if i < n && !chosen[i] {
                chosen[i] = true;
                count += 1;
            }
        }
    }
    let mut text = String::new();
    let mut previous: Option<usize> = None;
    for (i, range) in scored.ranges.iter().enumerate().filter(|(i, _)| chosen[*i]) {
        let sentence = source.text[range.clone()].trim();
        match previous {
            Some(p) if p + 1 == i => text.push(' '),
            Some(_) => text.push_str(" … "),
            None if i > 0 => text.push_str("… "),
            None => {}
        }
        text.push_str(sentence);
        previous = Some(i);
    }
    if previous.is_some_and(|p| p + 1 < n) {
        text.push_str(" …");
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn a_window_keeps_the_best_sentences_with_their_neighbours_in_order() {
        let text = "One. Two. Three. Four. Five. Six.";
        let source = Source {
            number: 1,
            path: PathBuf::from("/a.txt"),
            page: 1,
            similarity: None,
            text: text.into(),
        };
        let scored = ScoredSentences {
            ranges: sentence_ranges(text),
            scores: vec![0.0, 0.1, 0.0, 0.0, 0.9, 0.0],
        };
        assert_eq!(window(&source, &scored, 3), "… Four. Five. Six.");
        assert_eq!(window(&source, &scored, 5), "One. Two. … Four. Five. Six.");
        assert_eq!(window(&source, &scored, 6), text);
        assert_eq!(window(&source, &scored, 0), text);
    }
}
