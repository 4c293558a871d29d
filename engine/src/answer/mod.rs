//! Answers from the documents: hybrid retrieval → numbered sources in the prompt, within
//! the model's context budget → a streamed answer, checked sentence by sentence against its
//! sources → each [n] resolved to file, page and the sentence that supports the claim.
//!
//! Quire declines instead of answering when no passage is close enough in meaning to the
//! question, when no sentence of those passages comes close to what the question asks (the
//! library is about the subject but does not say), when the model says the sources do not hold it, and
//! when the model's reply says nothing the question did not (a repeated question or bare
//! markers) and no passage answers the question well enough to quote.

mod evidence;
mod markers;
mod prompt;
mod text;
mod verify;

use std::path::PathBuf;

use serde::Serialize;

use crate::cancel::CancelToken;
use crate::engine::Engine;
use crate::error::Result;
use crate::llm::GenerationStats;
use crate::retrieve::{SearchFilter, SearchHit, SearchMode};
use crate::store::conversations::Citation;

pub use evidence::EvidenceCheck;
pub use markers::numbers_in;
pub use markers::{without_markers, CitationFilter};
pub use prompt::SourcePolicy;
pub use prompt::{build_prompt, rag_messages};
pub(crate) use text::content_terms;
pub use text::sentences;
pub use verify::{Claim, Support};

/// What Quire says when the documents do not hold the answer.
pub const NOT_FOUND: &str = "I could not find this in your documents.";

/// Hits retrieved per question before the sources are chosen.
pub const CANDIDATES: usize = 24;

/// One earlier exchange of a conversation, as the model saw it.
#[derive(Debug, Clone)]
pub struct Turn {
    pub question: String,
    /// The user message that was sent: the question with its numbered sources.
    pub prompt: String,
    pub answer: String,
}

#[derive(Debug, Clone, Default)]
pub struct AskOptions<'a> {
    /// Which files the answer may come from (a folder, file types); all by default.
    pub filter: SearchFilter,
    /// Earlier exchanges of the conversation, oldest first.
    pub history: &'a [Turn],
}

/// A passage placed in the prompt under its number.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Source {
    pub number: usize,
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub path: PathBuf,
    pub page: u32,
    pub similarity: Option<f32>,
    pub text: String,
}

/// Why Quire declined to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Declined {
    /// No passage is close enough in meaning to the question (`abstain_below`).
    NothingClose,
    /// Passages are on the subject, but no sentence of them comes close enough in meaning
    /// to the question (`evidence_below`); the model was not asked.
    NoEvidence,
    /// The model said the sources do not hold the answer.
    ByModel,
    /// The model's reply said nothing the question did not, and no passage answers the
    /// question well enough to quote instead.
    NoAnswer,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Answer {
    pub question: String,
    /// The answer as shown: every marker checked against its source.
    pub text: String,
    /// Quire (or the model) found nothing in the documents that answers the question.
    pub abstained: bool,
    /// Why, when it abstained.
    pub declined: Option<Declined>,
    /// The sentences that state something, each with the sources that support it (or none).
    pub claims: Vec<Claim>,
    /// Each source the answer cites, with the sentence of it that supports the claim.
    pub citations: Vec<Citation>,
    pub sources: Vec<Source>,
    /// When Quire abstains: the passages that came closest.
    pub closest: Vec<SearchHit>,
    /// Best cosine similarity of any passage to the question.
    pub evidence: Option<f32>,
    /// How well the sources cover the question, measured before the model is asked.
    pub check: Option<EvidenceCheck>,
    /// How much of the question the sentence(s) backing the answer's first claim hold.
    pub answer_coverage: Option<f32>,
    /// The model's reply as it wrote it, before the checks (empty when it was not asked).
    pub draft: String,
    #[serde(skip)]
    pub prompt: String,
    pub stats: Option<GenerationStats>,
    /// The file of the model that wrote it (None: no model was asked).
    pub model: Option<String>,
}

impl Answer {
    fn new(question: &str, evidence: Option<f32>) -> Answer {
        Answer {
            question: question.to_string(),
            text: String::new(),
            abstained: false,
            declined: None,
            claims: Vec::new(),
            citations: Vec::new(),
            sources: Vec::new(),
            closest: Vec::new(),
            evidence,
            check: None,
            answer_coverage: None,
            draft: String::new(),
            prompt: question.to_string(),
            stats: None,
            model: None,
        }
    }

    /// The sentences no source supports, as shown.
    pub fn unsupported(&self) -> impl Iterator<Item = &Claim> {
        self.claims.iter().filter(|c| c.support == Support::Unsupported)
    }
}

impl Engine {
    /// Answers `question` from the library (or the part `options.filter` admits), streaming
    /// the answer's text to `on_text`: each sentence once it is complete and its citations
    /// are checked. Declines, with the closest passages, when the documents do not answer.
    pub async fn ask(
        &self,
        question: &str,
        options: AskOptions<'_>,
        cancel: &CancelToken,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Answer> {
        ask(self, question, options, cancel, on_text).await
    }
}

/// Answers `question` from the library, streaming the answer's text to `on_text`: each
/// sentence once it is complete and its citations are checked.
pub(crate) async fn ask(
    engine: &Engine,
    question: &str,
    options: AskOptions<'_>,
    cancel: &CancelToken,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<Answer> {
    let config = engine.config();
    // A follow-up ("and in winter?") is searched, and its answer checked, together with the
    // question before it.
    let query = match options.history.last() {
        Some(previous) => format!("{} {}", previous.question, question),
        None => question.to_string(),
    };
    // One embedder for the whole answer: its search, its thresholds and its evidence check
    // (a change of embedder that ends meanwhile applies from the next question; its cosines
    // mean something else).
    let semantic = engine.semantic()?;
    let hits = engine
        .search_with(
            Some(&semantic),
            &query,
            SearchMode::Hybrid,
            CANDIDATES,
            &options.filter,
        )
        .await?;
    let evidence = hits.iter().filter_map(|h| h.similarity).reduce(f32::max);
    let mut answer = Answer::new(question, evidence);
    let profile = semantic.embedder.profile();
    let abstain_below = config.abstain_below(profile);
    if evidence.is_none_or(|e| e < abstain_below) {
        decline(&mut answer, Declined::NothingClose, hits, on_text);
        return Ok(answer);
    }
    let generator = engine.generator().await?;
    let candidates = prompt::numbered(SourcePolicy::of(&config, abstain_below).choose(hits.clone()));
    let (check, scored) = evidence::measure(&semantic.embedder, &query, &candidates).await?;
    answer.check = Some(check);
    if check
        .sentence_similarity
        .is_some_and(|best| best < config.evidence_below(profile))
    {
        answer.sources = candidates;
        decline(&mut answer, Declined::NoEvidence, hits, on_text);
        return Ok(answer);
    }
    let candidates = candidates
        .iter()
        .zip(&scored)
        .map(|(source, sentences)| Source {
            text: evidence::window(source, sentences, config.passage_sentences),
            ..source.clone()
        })
        .collect();
    // The answer's length against the context of the model actually loaded: settings
    // changed while this question was searched (another model, a smaller context) cannot
    // leave the prompt no room.
    let answer_tokens = config.answer_max_tokens.min(generator.context_tokens() / 2);
    let (messages, sources) =
        prompt::fit_prompt(&generator, question, options.history, candidates, answer_tokens).await?;
    answer.prompt = messages.last().map(|m| m.content.clone()).unwrap_or_default();
    let verifier = verify::Verifier::new(&query, &sources);
    let mut stream = verify::CheckedStream::new(&verifier);
    let generation = generator
        .generate(&messages, answer_tokens, cancel, &mut |piece| {
            let shown = stream.push(piece);
            if !shown.is_empty() {
                on_text(&shown);
            }
        })
        .await?;
    let (rest, checked) = stream.finish();
    if !rest.is_empty() {
        on_text(&rest);
    }
    answer.draft = generation.text;
    answer.stats = Some(generation.stats);
    answer.model = generator
        .info()
        .path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    if checked.declined {
        // The refusal line has been shown already.
        answer.text = NOT_FOUND.to_string();
        answer.abstained = true;
        answer.declined = Some(Declined::ByModel);
        answer.closest = hits.into_iter().take(3).collect();
    } else if checked.adds_to_question {
        answer.answer_coverage = checked.answer_coverage;
        answer.text = checked.text.trim_end().to_string();
        answer.claims = checked.claims;
        answer.citations = citations(&checked.quotes, &sources);
    } else {
        match quote_instead(&verifier, &answer.draft, &sources) {
            Some((text, claim, citation)) => {
                on_text(&text);
                answer.text = text;
                answer.claims = vec![claim];
                answer.citations = vec![citation];
            }
            None => decline(&mut answer, Declined::NoAnswer, hits, on_text),
        }
    }
    answer.sources = sources;
    Ok(answer)
}

/// Whether a reply is the refusal line (and nothing else of substance).
pub fn says_not_found(text: &str) -> bool {
    verify::is_refusal(text)
}

/// Makes `answer` Quire's refusal, showing the passages that came closest instead.
fn decline(answer: &mut Answer, why: Declined, hits: Vec<SearchHit>, on_text: &mut (dyn FnMut(&str) + Send)) {
    answer.abstained = true;
    answer.declined = Some(why);
    answer.text = NOT_FOUND.to_string();
    on_text(NOT_FOUND);
    answer.closest = hits.into_iter().take(3).collect();
}

/// When the model's reply says nothing the question did not ("[2]", the question repeated):
/// the sentence of a source that answers the question best, quoted as it is, when one
/// covers enough of the question. The source the model pointed at is preferred.
fn quote_instead(
    verifier: &verify::Verifier,
    draft: &str,
    sources: &[Source],
) -> Option<(String, Claim, Citation)> {
    let pointed = markers::numbers_in(draft)
        .into_iter()
        .find(|n| (1..=sources.len()).contains(n));
    let candidates = pointed.into_iter().chain(verifier.best_source_for_question());
    let (number, quote) = candidates
        .filter_map(|n| {
            verifier
                .best_quote_for_question(n)
                .map(|(coverage, quote)| (n, coverage, quote))
        })
        .find(|(_, coverage, _)| *coverage >= verify::SUPPORTED)
        .map(|(n, _, quote)| (n, quote))?;
    let source = sources.get(number - 1)?;
    let text = format!(
        "The passage that answers this says: “{}” [{number}]",
        quote.trim()
    );
    let claim = Claim {
        start: 0,
        end: text.len(),
        text: text.clone(),
        sources: vec![number],
        support: Support::Corrected,
    };
    let citation = Citation {
        number,
        path: source.path.clone(),
        page: source.page,
        quote,
        passage: source.text.clone(),
        attributed: true,
    };
    Some((text, claim, citation))
}

/// The citations of an answer, in order of first mention, each with its supporting quote.
fn citations(quotes: &[verify::Quote], sources: &[Source]) -> Vec<Citation> {
    quotes
        .iter()
        .filter_map(|quote| {
            let source = sources.get(quote.number.checked_sub(1)?)?;
            Some(Citation {
                number: quote.number,
                path: source.path.clone(),
                page: source.page,
                quote: quote.text.clone(),
                passage: source.text.clone(),
                attributed: quote.by_quire,
            })
        })
        .collect()
}
