//! Answers from the documents: hybrid retrieval → numbered sources in the prompt,
//! within the model's context budget → a streamed answer → each [n] resolved to
//! file, page and quoted passage. When no passage is close enough to the question,
//! Quire says so and shows the closest passages instead of asking the model.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::llm::{Cancel, ChatMessage, GenerationStats, Generator, Role};
use crate::retrieve::{SearchHit, SearchMode};
use crate::store::conversations::Citation;

/// What Quire says when the documents do not hold the answer.
pub const NOT_FOUND: &str = "I could not find this in your documents.";

const SYSTEM_PROMPT: &str = "You are Quire, an assistant that answers questions about the user's documents. \
Answer only from the numbered sources given with the question. End every sentence with the number of the \
source it comes from in square brackets. Only when the sources do not contain the answer at all, reply with \
exactly this and nothing else: \"I could not find this in your documents.\" Be brief and precise.";

/// Hits retrieved per question before the sources are chosen.
pub(crate) const CANDIDATES: usize = 24;
/// Hits that matched only by keywords (no similarity known) are kept from the top this many ranks.
const KEYWORD_ONLY_RANKS: usize = 3;

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
    /// Only passages from files under this folder.
    pub folder: Option<&'a Path>,
    /// Earlier exchanges of the conversation, oldest first.
    pub history: &'a [Turn],
}

/// A passage placed in the prompt under its number.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub number: usize,
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub path: PathBuf,
    pub page: u32,
    pub similarity: Option<f32>,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub question: String,
    /// The answer as shown; markers that point at no source are removed.
    pub text: String,
    /// Quire (or the model) found nothing in the documents that answers the question.
    pub abstained: bool,
    pub citations: Vec<Citation>,
    pub sources: Vec<Source>,
    /// When Quire abstains: the passages that came closest.
    pub closest: Vec<SearchHit>,
    /// Best cosine similarity of any passage to the question.
    pub evidence: Option<f32>,
    #[serde(skip)]
    pub prompt: String,
    pub stats: Option<GenerationStats>,
}

/// Answers `question` from the library, streaming the answer's text to `on_text`.
pub async fn ask(
    engine: &Engine,
    question: &str,
    options: AskOptions<'_>,
    cancel: &Cancel,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<Answer> {
    let config = engine.config();
    // A follow-up ("and in winter?") is searched together with the question before it.
    let query = match options.history.last() {
        Some(previous) => format!("{} {}", previous.question, question),
        None => question.to_string(),
    };
    let mut hits = engine.search(&query, SearchMode::Hybrid, CANDIDATES).await?;
    if let Some(folder) = options.folder {
        // Library paths are canonical; so must the folder be to compare with them.
        let folder = std::fs::canonicalize(folder).map_err(|e| Error::io(folder, e))?;
        hits.retain(|h| h.path.starts_with(&folder));
    }
    let evidence = hits.iter().filter_map(|h| h.similarity).reduce(f32::max);
    let mut answer = Answer {
        question: question.to_string(),
        text: String::new(),
        abstained: false,
        citations: Vec::new(),
        sources: Vec::new(),
        closest: Vec::new(),
        evidence,
        prompt: question.to_string(),
        stats: None,
    };
    if evidence.is_none_or(|e| e < config.abstain_below) {
        answer.abstained = true;
        answer.text = NOT_FOUND.to_string();
        on_text(NOT_FOUND);
        hits.truncate(3);
        answer.closest = hits;
        return Ok(answer);
    }
    let generator = engine.generator().await?;
    let (messages, sources) = build_prompt(
        &generator,
        question,
        options.history,
        hits,
        &SourcePolicy::of(config),
        config.answer_max_tokens,
    )
    .await?;
    answer.prompt = messages.last().map(|m| m.content.clone()).unwrap_or_default();
    let mut filter = CitationFilter::new(sources.len());
    let generation = generator
        .generate(&messages, config.answer_max_tokens, cancel, &mut |piece| {
            let shown = filter.push(piece);
            if !shown.is_empty() {
                on_text(&shown);
            }
        })
        .await?;
    let rest = filter.finish();
    if !rest.is_empty() {
        on_text(&rest);
    }
    answer.text = without_trailing_refusal(&strip_invalid_markers(generation.text.trim(), sources.len()));
    answer.abstained = says_not_found(&answer.text);
    answer.citations = if answer.abstained {
        Vec::new()
    } else {
        resolve_citations(&answer.text, &sources)
    };
    answer.sources = sources;
    answer.stats = Some(generation.stats);
    Ok(answer)
}

/// Which retrieved passages earn a place in an answer's prompt. Every source costs
/// prompt tokens, and on a CPU the prompt is most of the wait for the first word.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SourcePolicy {
    /// Passages less similar to the question than this are left out.
    pub min_similarity: f32,
    /// At most this many sources (`quire eval <beir> --prompt-sources` measures what fewer
    /// cost in evidence: the README's "Prompt size").
    pub max_sources: usize,
}

impl SourcePolicy {
    pub fn of(config: &Config) -> SourcePolicy {
        SourcePolicy {
            min_similarity: config.abstain_below,
            max_sources: config.max_sources,
        }
    }

    /// The passages that earn a place: close enough in meaning, or top keyword
    /// matches; fused order; at most `max_sources`.
    fn choose(&self, hits: Vec<SearchHit>) -> Vec<SearchHit> {
        hits.into_iter()
            .enumerate()
            .filter(|(rank, hit)| match hit.similarity {
                Some(similarity) => similarity >= self.min_similarity,
                None => *rank < KEYWORD_ONLY_RANKS,
            })
            .map(|(_, hit)| hit)
            .take(self.max_sources)
            .collect()
    }
}

/// The messages for an answer to `question` from the passages `hits` (best first), and the
/// sources they number: the passages `policy` chooses, within the generator's context.
pub(crate) async fn build_prompt(
    generator: &Generator,
    question: &str,
    history: &[Turn],
    hits: Vec<SearchHit>,
    policy: &SourcePolicy,
    answer_tokens: usize,
) -> Result<(Vec<ChatMessage>, Vec<Source>)> {
    fit_prompt(generator, question, history, policy.choose(hits), answer_tokens).await
}

/// Builds the messages (system, the conversation so far, the question with its
/// sources) so that prompt and answer fit the generator's context. Older turns go
/// first, then the weakest sources; the strongest source is trimmed if it alone is too long.
async fn fit_prompt(
    generator: &Generator,
    question: &str,
    history: &[Turn],
    candidates: Vec<SearchHit>,
    answer_tokens: usize,
) -> Result<(Vec<ChatMessage>, Vec<Source>)> {
    let budget = generator.context_tokens().saturating_sub(answer_tokens);
    let mut history = history;
    let mut sources: Vec<Source> = Vec::new();
    let mut fixed = generator
        .count_prompt_tokens(&rag_messages(question, history, &[]))
        .await?;
    // Keep at least half the budget for this question's sources.
    while !history.is_empty() && fixed > budget / 2 {
        history = &history[1..];
        fixed = generator
            .count_prompt_tokens(&rag_messages(question, history, &[]))
            .await?;
    }
    let mut used = fixed;
    for hit in candidates {
        let mut source = Source {
            number: sources.len() + 1,
            path: hit.path.clone(),
            page: hit.page,
            similarity: hit.similarity,
            text: hit.passage.clone(),
        };
        let mut cost = generator.count_tokens(&source_block(&source)).await?;
        if used + cost > budget {
            if !sources.is_empty() {
                continue;
            }
            // Trim the one source to the room there is (tokens ≈ proportional to characters).
            let room = budget.saturating_sub(used);
            let keep = source.text.chars().count() * room / cost.max(1) * 9 / 10;
            source.text = source.text.chars().take(keep).collect();
            cost = generator.count_tokens(&source_block(&source)).await?;
        }
        used += cost;
        sources.push(source);
    }
    // Template tokens between blocks are not in the estimate: check the real count.
    loop {
        let messages = rag_messages(question, history, &sources);
        if sources.len() <= 1 || generator.count_prompt_tokens(&messages).await? <= budget {
            return Ok((messages, sources));
        }
        sources.pop();
    }
}

fn source_block(source: &Source) -> String {
    let name = source
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(
        "[{}] {name}, page {}:\n{}\n",
        source.number,
        source.page,
        source.text.trim()
    )
}

pub(crate) fn rag_messages(question: &str, history: &[Turn], sources: &[Source]) -> Vec<ChatMessage> {
    let mut messages = vec![ChatMessage::new(Role::System, SYSTEM_PROMPT)];
    for turn in history {
        messages.push(ChatMessage::new(Role::User, turn.prompt.clone()));
        messages.push(ChatMessage::new(Role::Assistant, turn.answer.clone()));
    }
    let mut user = String::from("Sources:\n");
    for source in sources {
        user.push_str(&source_block(source));
        user.push('\n');
    }
    if sources.is_empty() {
        user.push_str("(none)\n\n");
    }
    user.push_str("Question: ");
    user.push_str(question.trim());
    // Said last as well: small models follow what they read last.
    user.push_str("\n\nAnswer from the sources and cite them by number, like [1].");
    messages.push(ChatMessage::new(Role::User, user));
    messages
}

/// A small model sometimes answers, then adds the refusal line as well: the answer stands without it.
fn without_trailing_refusal(text: &str) -> String {
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().eq_ignore_ascii_case(NOT_FOUND))
        .collect();
    if kept.iter().all(|l| l.trim().is_empty()) {
        return text.to_string();
    }
    kept.join("\n").trim().to_string()
}

/// The model itself said the sources do not hold the answer (and said nothing else of substance).
fn says_not_found(text: &str) -> bool {
    let lower = text.trim().to_lowercase();
    lower.is_empty()
        || lower.starts_with("i could not find this in your documents")
        || lower.starts_with("i couldn't find this in your documents")
}

/// Parses "[1]", "[1, 2]", "[Source 3]" into source numbers; None when the
/// bracket holds anything else.
fn marker_numbers(inner: &str) -> Option<Vec<usize>> {
    let cleaned = inner
        .trim()
        .trim_start_matches("Sources")
        .trim_start_matches("Source");
    let cleaned = cleaned.trim_start_matches("sources").trim_start_matches("source");
    let numbers: Option<Vec<usize>> = cleaned
        .split(',')
        .map(|part| part.trim().parse::<usize>().ok())
        .collect();
    numbers.filter(|n| !n.is_empty())
}

/// The marker for the numbers of `numbers` that name a source, or nothing.
fn rewrite_marker(numbers: &[usize], sources: usize) -> String {
    numbers
        .iter()
        .filter(|n| (1..=sources).contains(*n))
        .map(|n| format!("[{n}]"))
        .collect()
}

/// Removes or rewrites markers in finished text, exactly as [`CitationFilter`] does while streaming.
fn strip_invalid_markers(text: &str, sources: usize) -> String {
    let mut filter = CitationFilter::new(sources);
    let mut out = filter.push(text);
    out.push_str(&filter.finish());
    out
}

/// Passes streamed text through, holding back a "[…" until it is known to be a
/// citation marker; markers that point at no source are dropped, valid ones
/// written as "[n]".
pub struct CitationFilter {
    sources: usize,
    pending: Option<String>,
}

/// Longest bracket content still considered a possible marker.
const MAX_MARKER: usize = 24;

impl CitationFilter {
    pub fn new(sources: usize) -> CitationFilter {
        CitationFilter {
            sources,
            pending: None,
        }
    }

    pub fn push(&mut self, piece: &str) -> String {
        let mut out = String::with_capacity(piece.len());
        for c in piece.chars() {
            match self.pending.as_mut() {
                None if c == '[' => self.pending = Some(String::from("[")),
                None => out.push(c),
                Some(pending) if c == ']' => {
                    match marker_numbers(&pending[1..]) {
                        Some(numbers) => out.push_str(&rewrite_marker(&numbers, self.sources)),
                        None => {
                            out.push_str(pending);
                            out.push(']');
                        }
                    }
                    self.pending = None;
                }
                Some(pending) => {
                    let possible = c.is_ascii_digit() || c == ',' || c == ' ' || c.is_ascii_alphabetic();
                    if possible && pending.len() < MAX_MARKER {
                        pending.push(c);
                    } else {
                        out.push_str(pending);
                        self.pending = None;
                        if c == '[' {
                            self.pending = Some(String::from("["));
                        } else {
                            out.push(c);
                        }
                    }
                }
            }
        }
        out
    }

    /// Whatever is still held back when the stream ends.
    pub fn finish(&mut self) -> String {
        self.pending.take().unwrap_or_default()
    }
}

/// Each source the answer cites, in order of first mention, with the sentence of
/// the passage closest to what the answer says there. With no marker at all the
/// answer's sentences are matched to sources by shared words (marked attributed).
fn resolve_citations(text: &str, sources: &[Source]) -> Vec<Citation> {
    // (source, the sentence with the marker, that sentence with the one before it)
    let mut cited: Vec<(usize, String, String)> = Vec::new();
    let mut seen = HashSet::new();
    let all = sentences(text);
    for (index, sentence) in all.iter().copied().enumerate() {
        // "… in early autumn. This is on page 1 [1]." : the marker may cover the sentence before it.
        let wider = match index.checked_sub(1).and_then(|i| all.get(i)) {
            Some(previous) => format!("{previous} {sentence}"),
            None => sentence.to_string(),
        };
        let mut rest = sentence;
        while let Some(open) = rest.find('[') {
            let Some(close) = rest[open..].find(']') else {
                break;
            };
            if let Some(numbers) = marker_numbers(&rest[open + 1..open + close]) {
                for n in numbers {
                    if (1..=sources.len()).contains(&n) && seen.insert(n) {
                        cited.push((n, sentence.to_string(), wider.clone()));
                    }
                }
            }
            rest = &rest[open + close + 1..];
        }
    }
    let attributed = cited.is_empty();
    if attributed {
        for sentence in sentences(text) {
            if let Some(n) = best_source_for(sentence, sources) {
                if seen.insert(n) {
                    cited.push((n, sentence.to_string(), sentence.to_string()));
                }
            }
        }
    }
    cited
        .into_iter()
        .filter_map(|(n, claim, wider)| {
            let source = sources.get(n - 1)?;
            Some(Citation {
                number: n,
                path: source.path.clone(),
                page: source.page,
                quote: match best_quote(&source.text, &claim) {
                    (0, _) => best_quote(&source.text, &wider).1,
                    (_, quote) => quote,
                },
                passage: source.text.clone(),
                attributed,
            })
        })
        .collect()
}

/// The source sharing most content words with `sentence`, if it shares enough to count.
fn best_source_for(sentence: &str, sources: &[Source]) -> Option<usize> {
    let words = content_words(sentence);
    if words.len() < 3 {
        return None;
    }
    sources
        .iter()
        .map(|s| {
            let theirs = content_words(&s.text);
            (s.number, words.intersection(&theirs).count())
        })
        // At least three content words, and a third of the sentence's: a paraphrase that embellishes still counts.
        .filter(|&(_, shared)| shared >= 3 && shared * 3 >= words.len())
        .max_by_key(|&(number, shared)| (shared, std::cmp::Reverse(number)))
        .map(|(number, _)| number)
}

/// The sentence of `passage` that shares most content words with `claim`, and
/// how many it shares (with none shared: the passage's start).
pub(crate) fn best_quote(passage: &str, claim: &str) -> (usize, String) {
    let claim_words = content_words(claim);
    let best = sentences(passage)
        .into_iter()
        .map(|s| (content_words(s).intersection(&claim_words).count(), s))
        .filter(|(_, s)| s.chars().any(char::is_alphanumeric))
        .max_by_key(|(shared, s)| (*shared, std::cmp::Reverse(s.len())));
    match best {
        Some((shared, sentence)) if shared > 0 => (shared, sentence.trim().to_string()),
        _ => (
            0,
            passage.chars().take(200).collect::<String>().trim().to_string(),
        ),
    }
}

pub(crate) fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let end = match b {
            // A single line break is often a soft wrap (PDF lines); a blank line or a list item is not.
            b'\n' => bytes
                .get(i + 1)
                .is_none_or(|n| matches!(n, b'\n' | b'-' | b'*' | b'#') || n.is_ascii_digit()),
            b'.' => {
                bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace())
                    && !after_abbreviation(&text[start..i])
            }
            b'!' | b'?' => bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace()),
            _ => false,
        };
        if end {
            // Markers right after the full stop ("… outside. [2]") belong to the sentence before.
            let piece = &text[start..=i];
            if !piece.trim().is_empty() {
                out.push(piece);
            }
            start = i + 1;
        }
    }
    if start < text.len() && !text[start..].trim().is_empty() {
        out.push(&text[start..]);
    }
    // Attach a marker-only fragment to the sentence before it.
    let mut merged: Vec<&str> = Vec::with_capacity(out.len());
    for piece in out {
        let marker_only = piece.trim().starts_with('[') && !piece.chars().any(|c| c.is_alphabetic());
        match merged.last_mut() {
            Some(last) if marker_only => {
                let from = last.as_ptr() as usize - text.as_ptr() as usize;
                let to = piece.as_ptr() as usize - text.as_ptr() as usize + piece.len();
                *last = &text[from..to];
            }
            _ => merged.push(piece),
        }
    }
    merged
}

/// Whether `before` (a sentence so far) ends in an abbreviation whose full stop ends nothing: "p. 4", "e.g. this".
fn after_abbreviation(before: &str) -> bool {
    const ABBREVIATIONS: &[&str] = &[
        "p", "pp", "e.g", "i.e", "cf", "vs", "fig", "no", "dr", "mr", "mrs", "ms", "st", "etc",
    ];
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '[')
        .next()
        .unwrap_or("");
    ABBREVIATIONS.contains(&word.to_lowercase().as_str())
}

const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "are", "was", "were", "that", "this", "with", "from", "have", "has", "had", "not",
    "but", "you", "your", "its", "they", "their", "them", "what", "which", "when", "where", "who", "how",
    "can", "will", "would", "should", "could", "into", "than", "then", "there", "these", "those", "been",
    "being", "also", "about", "some", "such", "only", "any", "all", "one", "our", "out", "may",
];

pub(crate) fn content_words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 2)
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(number: usize, page: u32, text: &str) -> Source {
        Source {
            number,
            path: PathBuf::from(format!("/docs/file{number}.pdf")),
            page,
            similarity: Some(0.6),
            text: text.into(),
        }
    }

    #[test]
    fn markers_that_point_at_nothing_are_dropped_even_when_split_across_tokens() {
        let mut filter = CitationFilter::new(2);
        let mut out = String::new();
        for piece in [
            "Frost ends in May [",
            "1",
            "]. Plant",
            " beans late [",
            "7]",
            "[Source 2]",
            " [see below].",
        ] {
            out.push_str(&filter.push(piece));
        }
        out.push_str(&filter.finish());
        assert_eq!(out, "Frost ends in May [1]. Plant beans late [2] [see below].");
        assert_eq!(strip_invalid_markers("A [1, 3] b [0]", 2), "A [1] b ");
    }

    #[test]
    fn citations_resolve_to_file_page_and_the_closest_sentence() {
        let sources = [
            source(
                1,
                3,
                "Tomatoes need warmth. Harden them off before the last frost date in May.",
            ),
            source(2, 7, "Beans are sown in June."),
        ];
        let cited = resolve_citations("Harden tomatoes off before the last frost in May [1].", &sources);
        assert_eq!(cited.len(), 1);
        assert_eq!((cited[0].number, cited[0].page), (1, 3));
        assert_eq!(
            cited[0].quote,
            "Harden them off before the last frost date in May."
        );
        assert!(!cited[0].attributed);
        // The marker's own sentence picks the quote; a bare "see [1]" sentence borrows the one before it.
        let quote = |text: &str| resolve_citations(text, &sources)[0].quote.clone();
        assert_eq!(
            quote("Tomatoes need warmth. Harden them off in May [1]."),
            "Harden them off before the last frost date in May."
        );
        assert_eq!(
            quote("Tomatoes need warmth above all. This is on page 3 of [1]."),
            "Tomatoes need warmth."
        );
    }

    #[test]
    fn an_answer_without_markers_is_attributed_by_shared_words() {
        let sources = [
            source(
                1,
                2,
                "The boiler pressure should read between one and two bar when cold.",
            ),
            source(2, 5, "Bleed the radiators once a year, starting downstairs."),
        ];
        let cited = resolve_citations("Bleed each radiator once a year, starting downstairs.", &sources);
        assert_eq!(cited.len(), 1);
        assert_eq!(cited[0].number, 2);
        assert!(cited[0].attributed);
        assert!(resolve_citations("Nothing relevant here at all.", &sources).is_empty());
    }

    #[test]
    fn weak_passages_do_not_earn_a_place_in_the_prompt() {
        let hit = |similarity: Option<f32>| SearchHit {
            path: PathBuf::from("/a.txt"),
            title: None,
            page: 1,
            score: 0.0,
            similarity,
            chunk_id: 1,
            file_id: 1,
            span: 0..1,
            snippet: crate::retrieve::Snippet {
                text: String::new(),
                highlights: Vec::new(),
            },
            passage: String::new(),
        };
        let hits = vec![
            hit(Some(0.7)),
            hit(None),
            hit(Some(0.1)),
            hit(Some(0.5)),
            hit(None),
        ];
        let kept = |max_sources| -> Vec<Option<f32>> {
            let policy = SourcePolicy {
                min_similarity: 0.35,
                max_sources,
            };
            policy.choose(hits.clone()).iter().map(|h| h.similarity).collect()
        };
        assert_eq!(kept(6), [Some(0.7), None, Some(0.5)]);
        assert_eq!(kept(2), [Some(0.7), None]);
    }
}
