//! Citation verification: every "[n]" in an answer must point at a passage that supports
//! the sentence it ends. A sentence is checked as soon as it is complete, before it is
//! shown: a marker whose passage does not support it moves to the source that does, a
//! claim without a marker gets the one that supports it, and a claim no source supports
//! loses its markers and is reported unsupported.
//!
//! Support is measured on terms (stemmed content words, numbers, acronyms): the share of
//! what a claim adds to the question that one or two neighbouring sentences of the passage
//! contain, each term weighted by how rare it is among the sources (a word every source
//! shares says little about which one a claim came from). A claim whose figures are not in
//! the passage is not supported by it, however many words they share.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::markers::{markers_in, without_markers, CitationFilter};
use super::text::{content_terms, is_number, sentence_ranges, sentences};
use super::Source;
pub use crate::store::conversations::{Claim, Support};

/// The share of a claim's weighted terms a passage must hold to support it.
pub(crate) const SUPPORTED: f32 = 0.5;

/// A source prepared for checking: its sentences and their terms.
struct PreparedSource {
    number: usize,
    text: String,
    sentences: Vec<Range<usize>>,
    terms: Vec<HashSet<String>>,
}

/// How well one source supports a claim, and the sentence(s) that do.
#[derive(Debug, Clone)]
struct Backing {
    number: usize,
    coverage: f32,
    quote: Range<usize>,
}

/// Checks claims against the sources of one answer.
pub(crate) struct Verifier {
    question: HashSet<String>,
    sources: Vec<PreparedSource>,
    /// Sources holding each term.
    holders: HashMap<String, usize>,
}

impl Verifier {
    pub(crate) fn new(question: &str, sources: &[Source]) -> Verifier {
        let sources: Vec<PreparedSource> = sources
            .iter()
            .map(|source| {
                let ranges = sentence_ranges(&source.text);
                let terms = ranges
                    .iter()
                    .map(|r| content_terms(&source.text[r.clone()]))
                    .collect();
                PreparedSource {
                    number: source.number,
                    text: source.text.clone(),
                    sentences: ranges,
                    terms,
                }
            })
            .collect();
        let mut holders: HashMap<String, usize> = HashMap::new();
        for source in &sources {
            let all: HashSet<&String> = source.terms.iter().flatten().collect();
            for term in all {
                *holders.entry(term.clone()).or_default() += 1;
            }
        }
        Verifier {
            question: content_terms(question),
            sources,
            holders,
        }
    }

    /// A term's weight: rarer among the sources is stronger; a figure counts double. A word
    /// no source has weighs as little as one every source has: it is how the answer is
    /// worded ("holds", "located"), unless it is all the claim says.
    fn weight(&self, term: &str) -> f32 {
        let n = self.sources.len().max(1) as f32;
        let held = match self.holders.get(term).copied().unwrap_or(0) {
            0 => n,
            held => held as f32,
        };
        let rarity = (1.0 + n / held).ln();
        if is_number(term) {
            2.0 * rarity
        } else {
            rarity
        }
    }

    /// The terms a claim is checked on: what it adds to the question, or all of its terms
    /// when it adds nothing (it only restates the question). The flag says which.
    fn claim_terms(&self, claim: &str) -> (HashSet<String>, bool) {
        let terms = content_terms(&without_markers(claim));
        let added: HashSet<String> = terms.difference(&self.question).cloned().collect();
        if added.is_empty() {
            (terms, false)
        } else {
            (added, true)
        }
    }

    /// Weighted share of `terms` in `window`; a claim's figures must all be there.
    fn coverage(&self, terms: &HashSet<String>, window: &[&HashSet<String>]) -> f32 {
        let held = |term: &String| window.iter().any(|w| w.contains(term));
        let total: f32 = terms.iter().map(|t| self.weight(t)).sum();
        if total <= 0.0 {
            return 0.0;
        }
        let found: f32 = terms.iter().filter(|t| held(t)).map(|t| self.weight(t)).sum();
        let numbers: Vec<&String> = terms.iter().filter(|t| is_number(t)).collect();
        let figures = if numbers.is_empty() {
            1.0
        } else {
            numbers.iter().filter(|t| held(t)).count() as f32 / numbers.len() as f32
        };
        found / total * figures
    }

    /// How well source `number` backs a claim made of `terms`: its best sentence, or pair of
    /// neighbouring sentences when no single one does.
    fn backing(&self, terms: &HashSet<String>, number: usize) -> Option<Backing> {
        let source = self.sources.iter().find(|s| s.number == number)?;
        let better = |best: &Option<Backing>, coverage: f32| {
            best.as_ref().is_none_or(|b| coverage > b.coverage + 1e-6)
        };
        let mut best: Option<Backing> = None;
        for (i, sentence) in source.sentences.iter().enumerate() {
            let coverage = self.coverage(terms, &[&source.terms[i]]);
            if better(&best, coverage) {
                best = Some(Backing {
                    number,
                    coverage,
                    quote: sentence.clone(),
                });
            }
        }
        if best.as_ref().is_none_or(|b| b.coverage < SUPPORTED) {
            for i in 1..source.sentences.len() {
                let coverage = self.coverage(terms, &[&source.terms[i - 1], &source.terms[i]]);
                if better(&best, coverage) {
                    best = Some(Backing {
                        number,
                        coverage,
                        quote: source.sentences[i - 1].start..source.sentences[i].end,
                    });
                }
            }
        }
        best
    }

    /// The source that backs a claim best, if any backs it at all.
    fn best_backing(&self, terms: &HashSet<String>) -> Option<Backing> {
        self.sources
            .iter()
            .filter_map(|s| self.backing(terms, s.number))
            .filter(|b| b.coverage > 0.0)
            .max_by(|a, b| a.coverage.total_cmp(&b.coverage).then(b.number.cmp(&a.number)))
    }

    /// The sentence(s) of source `number` that best answer the question itself.
    pub(crate) fn best_quote_for_question(&self, number: usize) -> Option<(f32, String)> {
        let backing = self.backing(&self.question, number)?;
        let source = self.sources.iter().find(|s| s.number == number)?;
        Some((backing.coverage, source.text[backing.quote].trim().to_string()))
    }

    /// The source whose sentences cover the question best.
    pub(crate) fn best_source_for_question(&self) -> Option<usize> {
        self.best_backing(&self.question).map(|b| b.number)
    }

    /// The weighted share of the question's terms that the sentence(s) backing a claim hold.
    fn question_coverage(&self, backing: &Backing) -> f32 {
        let terms = content_terms(&self.quote(backing));
        self.coverage(&self.question, &[&terms])
    }

    fn quote(&self, backing: &Backing) -> String {
        self.sources
            .iter()
            .find(|s| s.number == backing.number)
            .map(|s| s.text[backing.quote.clone()].trim().to_string())
            .unwrap_or_default()
    }

    /// Checks one sentence (its markers already normalised to "[n]"). `previous` is the
    /// last claim checked, for a sentence that only points at sources ("This is on page 2 [1].").
    fn check(&self, sentence: &str, previous: Option<&HashSet<String>>) -> Checked {
        let markers = markers_in(sentence);
        let (terms, adds) = self.claim_terms(sentence);
        if !adds {
            // Not a claim: it states nothing, or only restates the question. Its markers vouch
            // for the sentence before it, or for the question being in that source.
            let previous = if terms.is_empty() {
                previous
            } else {
                Some(&self.question)
            };
            let kept: Vec<usize> = match previous {
                Some(previous) => markers
                    .iter()
                    .map(|(_, n)| *n)
                    .filter(|&n| self.backing(previous, n).is_some_and(|b| b.coverage >= SUPPORTED))
                    .collect(),
                None => markers.iter().map(|(_, n)| *n).collect(),
            };
            return Checked {
                text: rewrite(sentence, &markers, &kept, None),
                claim: None,
                terms,
            };
        }
        let cited: Vec<Backing> = markers
            .iter()
            .filter_map(|(range, n)| {
                // A marker in the middle of a sentence vouches for the clause before it.
                let clause = &sentence[..range.start];
                let clause_terms: HashSet<String> = self.claim_terms(clause).0;
                let whole = self.backing(&terms, *n)?;
                let part = self.backing(&clause_terms, *n);
                let mid_sentence = sentence[range.end..].chars().any(char::is_alphanumeric);
                Some(match part {
                    Some(part) if mid_sentence && part.coverage > whole.coverage => part,
                    _ => whole,
                })
            })
            .collect();
        let supported: Vec<&Backing> = cited.iter().filter(|b| b.coverage >= SUPPORTED).collect();
        let (kept, added, support) = if !supported.is_empty() {
            let kept: Vec<usize> = supported.iter().map(|b| b.number).collect();
            let support = if kept.len() == markers.len() {
                Support::Cited
            } else {
                Support::Corrected
            };
            (kept, None, support)
        } else {
            match self.best_backing(&terms).filter(|b| b.coverage >= SUPPORTED) {
                Some(best) => (Vec::new(), Some(best), Support::Corrected),
                None => (Vec::new(), None, Support::Unsupported),
            }
        };
        let mut quotes: Vec<(usize, String, bool)> = supported
            .iter()
            .map(|b| (b.number, self.quote(b), false))
            .collect();
        if let Some(best) = &added {
            quotes.push((best.number, self.quote(best), true));
        }
        let question_coverage = supported
            .iter()
            .copied()
            .chain(added.as_ref())
            .map(|b| self.question_coverage(b))
            .fold(0.0, f32::max);
        let text = rewrite(sentence, &markers, &kept, added.as_ref().map(|b| b.number));
        let mut sources: Vec<usize> = quotes.iter().map(|(n, _, _)| *n).collect();
        sources.dedup();
        Checked {
            text,
            claim: Some(CheckedClaim {
                sources,
                support,
                adds_to_question: adds,
                quotes,
                question_coverage,
            }),
            terms,
        }
    }
}

/// One sentence after checking.
struct Checked {
    /// The sentence as it is shown: markers kept, moved, added or removed.
    text: String,
    /// None when the sentence states nothing (it only points at sources, or introduces).
    claim: Option<CheckedClaim>,
    terms: HashSet<String>,
}

struct CheckedClaim {
    sources: Vec<usize>,
    support: Support,
    /// The claim says more than the question did.
    adds_to_question: bool,
    /// (source, the sentence of it that supports the claim, whether Quire chose the source).
    quotes: Vec<(usize, String, bool)>,
    /// How much of the question the supporting sentence(s) hold (0 when unsupported).
    question_coverage: f32,
}

/// `sentence` with only the markers `kept`; `added` goes where the first removed marker
/// was, or before the sentence's closing punctuation when it had none.
fn rewrite(
    sentence: &str,
    markers: &[(Range<usize>, usize)],
    kept: &[usize],
    added: Option<usize>,
) -> String {
    let mut out = String::with_capacity(sentence.len() + 4);
    let mut last = 0;
    let mut added = added;
    let mut seen = HashSet::new();
    for (range, number) in markers {
        out.push_str(&sentence[last..range.start]);
        last = range.end;
        if kept.contains(number) && seen.insert(*number) {
            out.push_str(&format!("[{number}]"));
        } else if let Some(new) = added.take() {
            out.push_str(&format!("[{new}]"));
        } else {
            // Removed: no space left dangling before punctuation or another space.
            let next = sentence[range.end..].chars().next();
            if next.is_none_or(|c| !c.is_alphanumeric()) {
                let trimmed = out.trim_end_matches(' ').len();
                out.truncate(trimmed);
            }
        }
    }
    out.push_str(&sentence[last..]);
    if let Some(new) = added {
        let body_end = out.trim_end().len();
        let closing = out[..body_end]
            .char_indices()
            .next_back()
            .filter(|(_, c)| matches!(c, '.' | '!' | '?' | ':' | ';'))
            .map_or(body_end, |(i, _)| i);
        let body = out[..closing].trim_end_matches(' ').len();
        out.insert_str(body, &format!(" [{new}]"));
    }
    out
}

/// A claim's supporting sentence in one source, as a citation shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Quote {
    pub number: usize,
    pub text: String,
    /// Quire chose this source for the claim; the model did not cite it there.
    pub by_quire: bool,
}

/// What streaming an answer through the checks produced.
#[derive(Debug, Default)]
pub(crate) struct CheckedAnswer {
    pub text: String,
    pub claims: Vec<Claim>,
    /// Each cited source's quote, in order of first citation.
    pub quotes: Vec<Quote>,
    /// The model said the sources do not hold the answer.
    pub declined: bool,
    /// Some claim says more than the question did.
    pub adds_to_question: bool,
    /// How much of the question the sentence(s) backing the first such claim hold.
    pub answer_coverage: Option<f32>,
}

/// Checks an answer sentence by sentence while it streams: each sentence is shown once it
/// is complete and checked (its markers corrected), so what was shown is the answer.
pub(crate) struct CheckedStream<'a> {
    verifier: &'a Verifier,
    markers: CitationFilter,
    /// Text received but not yet checked (the sentence being written).
    pending: String,
    /// Checked sentences that only restate the question, held back until something follows
    /// them that does not (a repeated question is not an answer).
    held: Vec<Checked>,
    previous_terms: Option<HashSet<String>>,
    answer: CheckedAnswer,
    /// The first sentence was the refusal line; nothing after it is shown.
    refused: bool,
    started: bool,
}

impl<'a> CheckedStream<'a> {
    pub(crate) fn new(verifier: &'a Verifier) -> CheckedStream<'a> {
        CheckedStream {
            verifier,
            markers: CitationFilter::new(verifier.sources.len()),
            pending: String::new(),
            held: Vec::new(),
            previous_terms: None,
            answer: CheckedAnswer::default(),
            refused: false,
            started: false,
        }
    }

    /// Takes a streamed piece; returns the text that is ready to show.
    pub(crate) fn push(&mut self, piece: &str) -> String {
        let normalised = self.markers.push(piece);
        self.pending.push_str(&normalised);
        let complete = {
            let all = sentences(&self.pending);
            if all.len() < 2 {
                return String::new();
            }
            // Everything before the sentence still being written.
            let last = all[all.len() - 1];
            last.as_ptr() as usize - self.pending.as_ptr() as usize
        };
        let done: String = self.pending.drain(..complete).collect();
        let mut shown = String::new();
        for sentence in sentences(&done) {
            shown.push_str(&self.take(sentence));
        }
        shown
    }

    /// Checks whatever is left when the stream ends and returns it to show.
    pub(crate) fn finish(mut self) -> (String, CheckedAnswer) {
        let rest = self.markers.finish();
        self.pending.push_str(&rest);
        let pending = std::mem::take(&mut self.pending);
        let mut shown = String::new();
        for sentence in sentences(&pending) {
            shown.push_str(&self.take(sentence));
        }
        // Held sentences only restated the question: they are not shown as an answer.
        self.held.clear();
        (shown, self.answer)
    }

    fn take(&mut self, sentence: &str) -> String {
        if self.refused {
            return String::new();
        }
        if is_refusal(sentence) {
            if self.started {
                // An answer followed by the refusal line: the answer stands without it.
                return String::new();
            }
            self.refused = true;
            self.answer.declined = true;
            return self.show_plain(super::NOT_FOUND);
        }
        self.started = true;
        let checked = self.verifier.check(sentence, self.previous_terms.as_ref());
        if !checked.terms.is_empty() {
            self.previous_terms = Some(checked.terms.clone());
        }
        let adds = checked.claim.as_ref().is_some_and(|c| c.adds_to_question);
        if self.answer.adds_to_question {
            return self.show(checked);
        }
        if !adds {
            // Nothing said yet beyond the question: held back until something is.
            self.held.push(checked);
            return String::new();
        }
        self.answer.adds_to_question = true;
        let mut shown = String::new();
        for held in std::mem::take(&mut self.held) {
            shown.push_str(&self.show(held));
        }
        shown.push_str(&self.show(checked));
        shown
    }

    fn show_plain(&mut self, text: &str) -> String {
        self.answer.text.push_str(text);
        text.to_string()
    }

    fn show(&mut self, checked: Checked) -> String {
        let start = self.answer.text.len();
        self.answer.text.push_str(&checked.text);
        if let Some(claim) = checked.claim {
            if claim.adds_to_question && self.answer.answer_coverage.is_none() {
                self.answer.answer_coverage = Some(claim.question_coverage);
            }
            let text = checked.text.trim();
            let leading = checked.text.len() - checked.text.trim_start().len();
            self.answer.claims.push(Claim {
                start: start + leading,
                end: start + leading + text.len(),
                text: text.to_string(),
                sources: claim.sources.clone(),
                support: claim.support,
            });
            for (number, quote, by_quire) in claim.quotes {
                match self.answer.quotes.iter_mut().find(|q| q.number == number) {
                    // The model's own citation of a source outranks Quire's choice of it.
                    Some(existing) if existing.by_quire && !by_quire => existing.by_quire = false,
                    Some(_) => {}
                    None => self.answer.quotes.push(Quote {
                        number,
                        text: quote,
                        by_quire,
                    }),
                }
            }
        } else {
            // Markers of a sentence that states nothing vouch for the claim before it.
            for (_, number) in markers_in(&checked.text) {
                if !self.answer.quotes.iter().any(|q| q.number == number) {
                    if let Some(previous) = &self.previous_terms {
                        if let Some(backing) = self.verifier.backing(previous, number) {
                            self.answer.quotes.push(Quote {
                                number,
                                text: self.verifier.quote(&backing),
                                by_quire: false,
                            });
                        }
                    }
                }
            }
        }
        checked.text
    }
}

/// The model's way of saying the sources do not hold the answer.
pub(crate) fn is_refusal(sentence: &str) -> bool {
    let lower = without_markers(sentence).trim().to_lowercase();
    lower.starts_with("i could not find this in your documents")
        || lower.starts_with("i couldn't find this in your documents")
        || lower.starts_with("i could not find this in the documents")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn source(number: usize, page: u32, text: &str) -> Source {
        Source {
            number,
            path: PathBuf::from(format!("/docs/garden-plan-{number}.pdf")),
            page,
            similarity: Some(0.5),
            text: text.into(),
        }
    }

    fn garden() -> Vec<Source> {
        vec![
            source(
                1,
                1,
                "The vegetable beds are rotated every year to keep the soil healthy. Bed A: potatoes.",
            ),
            source(
                2,
                2,
                "Sow tomatoes indoors in late March and plant them out after the last frost, usually in \
                 mid May. Pinch out side shoots every week.",
            ),
            source(
                3,
                3,
                "Compost: turn the heap every six weeks and keep it as damp as a wrung-out sponge. Add \
                 brown material such as cardboard whenever grass clippings make it slimy.",
            ),
        ]
    }

    fn stream(verifier: &Verifier, pieces: &[&str]) -> (String, CheckedAnswer) {
        let mut stream = CheckedStream::new(verifier);
        let mut shown = String::new();
        for piece in pieces {
            shown.push_str(&stream.push(piece));
        }
        let (rest, answer) = stream.finish();
        shown.push_str(&rest);
        assert_eq!(shown, answer.text, "what streams is the answer");
        (shown, answer)
    }

    #[test]
    fn a_marker_pointing_at_the_wrong_passage_moves_to_the_one_that_says_it() {
        let sources = garden();
        let verifier = Verifier::new("When is it safe to put young plants outside?", &sources);
        let (text, answer) = stream(&verifier, &["Mid ", "May, after the last", " frost [", "3]."]);
        assert_eq!(text, "Mid May, after the last frost [2].");
        assert_eq!(answer.claims.len(), 1);
        assert_eq!(answer.claims[0].support, Support::Corrected);
        assert_eq!(answer.claims[0].sources, [2]);
        assert_eq!(answer.quotes.len(), 1);
        assert!(answer.quotes[0].by_quire);
        assert!(
            answer.quotes[0].text.contains("usually in mid May"),
            "{:?}",
            answer.quotes
        );
    }

    #[test]
    fn a_claim_no_source_supports_loses_its_marker_and_is_flagged() {
        let sources = garden();
        let verifier = Verifier::new("When is it safe to put young plants outside?", &sources);
        let (text, answer) = stream(
            &verifier,
            &[
                "Plant them out in mid May [2]. ",
                "Cover them with fleece in June [1].",
            ],
        );
        assert_eq!(
            text,
            "Plant them out in mid May [2]. Cover them with fleece in June."
        );
        let support: Vec<Support> = answer.claims.iter().map(|c| c.support).collect();
        assert_eq!(support, [Support::Cited, Support::Unsupported]);
        assert_eq!(
            &text[answer.claims[1].start..answer.claims[1].end],
            "Cover them with fleece in June."
        );
        assert!(!answer.quotes[0].by_quire);
    }

    #[test]
    fn a_figure_from_another_passage_is_not_supported_by_this_one() {
        let sources = garden();
        let verifier = Verifier::new("How often is the compost heap turned?", &sources);
        let (text, answer) = stream(&verifier, &["Every six weeks [3]. ", "Every 4 weeks [3]."]);
        assert_eq!(text, "Every six weeks [3]. Every 4 weeks.");
        assert_eq!(answer.claims[1].support, Support::Unsupported);
    }

    #[test]
    fn a_claim_without_a_marker_gets_the_source_that_supports_it() {
        let sources = garden();
        let verifier = Verifier::new("What goes into bed A?", &sources);
        let (text, answer) = stream(&verifier, &["Bed A holds potatoes."]);
        assert_eq!(text, "Bed A holds potatoes [1].");
        assert_eq!(answer.claims[0].support, Support::Corrected);
    }

    #[test]
    fn a_repeated_question_or_bare_markers_are_not_an_answer() {
        let sources = garden();
        let verifier = Verifier::new("When is it safe to put young plants outside?", &sources);
        let (text, answer) = stream(&verifier, &["It is safe to put young plants outside [2]."]);
        assert_eq!(text, "");
        assert!(!answer.adds_to_question);
        let (text, answer) = stream(&verifier, &["[2]"]);
        assert_eq!(text, "");
        assert!(answer.claims.is_empty() && !answer.adds_to_question);
        // A restatement followed by the answer is shown whole.
        let (text, answer) = stream(
            &verifier,
            &[
                "It is safe to put young plants outside [2]. ",
                "That is mid May [2].",
            ],
        );
        // (The restatement's marker goes: source 2 does not say the question's words.)
        assert_eq!(
            text,
            "It is safe to put young plants outside. That is mid May [2]."
        );
        assert!(answer.adds_to_question);
    }

    #[test]
    fn the_refusal_line_declines_and_a_trailing_one_is_dropped() {
        let sources = garden();
        let verifier = Verifier::new("Who painted the shed?", &sources);
        let (text, answer) = stream(
            &verifier,
            &[
                "I could not find this in your documents. ",
                "But [1] says potatoes.",
            ],
        );
        assert_eq!(text, super::super::NOT_FOUND);
        assert!(answer.declined);
        let verifier = Verifier::new("What goes into bed A?", &sources);
        let (text, answer) = stream(
            &verifier,
            &[
                "Bed A holds potatoes [1].\n",
                "I could not find this in your documents.",
            ],
        );
        assert_eq!(text.trim(), "Bed A holds potatoes [1].");
        assert!(!answer.declined);
    }

    /// The README's demo: the answer "Mid May", cited to the compost page of the example
    /// library's garden plan, must cite the page that says it.
    #[test]
    fn the_demo_answer_cites_the_garden_plan_page_that_says_it() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/library/garden-plan.pdf");
        let bytes = std::fs::read(&path).unwrap();
        let document = crate::extract::extract(&path, &bytes).unwrap();
        let sources: Vec<Source> = document
            .pages
            .iter()
            .map(|page| Source {
                number: page.number as usize,
                path: path.clone(),
                page: page.number,
                similarity: Some(0.4),
                text: page.text.clone(),
            })
            .collect();
        assert_eq!(sources.len(), 3);
        let verifier = Verifier::new("when is it safe to put young plants outside", &sources);
        let (text, answer) = stream(&verifier, &["Mid May [3]."]);
        assert_eq!(text, "Mid May [2].");
        assert_eq!(answer.claims[0].sources, [2]);
        let quote = &answer.quotes[0];
        assert_eq!(sources[quote.number - 1].page, 2);
        assert!(quote.text.contains("mid May"), "{quote:?}");
    }

    #[test]
    fn a_marker_after_a_pointer_sentence_vouches_for_the_claim_before_it() {
        let sources = garden();
        let verifier = Verifier::new("What goes into bed A?", &sources);
        let (text, answer) = stream(&verifier, &["Bed A holds potatoes. ", "See [1]."]);
        assert_eq!(text, "Bed A holds potatoes [1]. See [1].");
        assert_eq!(answer.quotes.len(), 1);
    }
}
