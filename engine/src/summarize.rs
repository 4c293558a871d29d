//! Summaries of documents of any length: the pages are grouped into sections
//! that fit the model's context (counted with its tokenizer), each section is
//! summarised into page-cited bullets (map), and the bullets are combined,
//! recursively while they do not fit one prompt (reduce). Every bullet carries
//! the pages it rests on; a bullet the model left uncited is matched to its page
//! by shared words. The result is cached by the file's content hash and model.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::answer::content_terms;
use crate::cancel::CancelToken;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::extract::Document;
use crate::helper::{Extractor, HelperSettings};
use crate::ingest::read_regular;
use crate::llm::{ChatMessage, Generator, Role};
use crate::progress::{Phase, ProgressSink, ProgressTracker};

/// Tokens a section summary or a combined summary may use.
const SUMMARY_TOKENS: usize = 320;
/// Bump when prompts or parsing change, so cached summaries are made again.
const SUMMARY_VERSION: u32 = 2;

const SYSTEM_PROMPT: &str = "You summarise documents faithfully and briefly, using only the text given.";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Bullet {
    pub text: String,
    /// The pages this point rests on, ascending.
    pub pages: Vec<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Summary {
    #[serde(serialize_with = "crate::serde_path::lossy", skip_deserializing)]
    pub path: PathBuf,
    pub title: Option<String>,
    pub pages: u32,
    /// Sections summarised separately, and combining rounds after them.
    pub sections: usize,
    pub rounds: usize,
    pub bullets: Vec<Bullet>,
    /// Came from the cache (the file's content had been summarised by this model before).
    #[serde(skip_deserializing)]
    pub cached: bool,
    /// The largest prompt sent, in tokens, and the context it had to fit.
    pub largest_prompt_tokens: usize,
    pub context_tokens: usize,
}

/// One page's text (or a part of a long page) with its page number.
#[derive(Debug, Clone)]
struct Piece {
    page: u32,
    text: String,
    tokens: usize,
}

impl Engine {
    /// Summarises the file at `path` (it need not be in the library): every point cites
    /// its page(s). Cached per content and model, so the same file is summarised once.
    pub async fn summarize(
        &self,
        path: &Path,
        progress: &dyn ProgressSink,
        cancel: &CancelToken,
    ) -> Result<Summary> {
        summarize(self, path, progress, cancel).await
    }
}

/// Summarises the file at `path` (it need not be in the library). A link given by
/// name is followed once; what is read is then only that regular file, off the
/// async threads, and its text comes from an extraction helper (crate::helper).
async fn summarize(
    engine: &Engine,
    path: &Path,
    progress: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Summary> {
    let config = engine.config();
    let limit = config.max_file_bytes;
    let file = path.to_path_buf();
    let bytes =
        tokio::task::spawn_blocking(move || read_regular(&file, limit, |message| unreadable(&file, message)))
            .await??;
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let generator = engine.generator().await?;
    let model_key = format!(
        "{}#v{SUMMARY_VERSION}#ctx{}",
        generator.info().name,
        generator.context_tokens()
    );
    if let Some(cached) = engine.catalog().cached_summary(&hash, &model_key).await? {
        if let Ok(mut summary) = serde_json::from_str::<Summary>(&cached) {
            summary.path = path.to_path_buf();
            summary.cached = true;
            return Ok(summary);
        }
    }
    let settings = HelperSettings::from_config(&config)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let document = tokio::task::spawn_blocking(move || Extractor::new(settings).document(&name, bytes))
        .await??
        .map_err(|refused| unreadable(path, refused.into_message()))?;
    let mut summary = summarize_document(&generator, &document, progress, cancel).await?;
    summary.path = path.to_path_buf();
    let json = serde_json::to_string(&summary).map_err(|e| Error::Encoding {
        what: "the summary",
        message: e.to_string(),
    })?;
    engine.catalog().store_summary(&hash, &model_key, &json).await?;
    Ok(summary)
}

fn unreadable(path: &Path, message: String) -> Error {
    Error::NotFound {
        what: path.display().to_string(),
        message: format!("cannot be summarised: {message}"),
    }
}

/// Map-reduce over a document already extracted.
pub async fn summarize_document(
    generator: &Generator,
    document: &Document,
    progress: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<Summary> {
    // Room for the text of one prompt: the context less the answer and the instructions around it.
    let overhead = generator.count_prompt_tokens(&map_messages(1, 1, "")).await?;
    let room = generator
        .context_tokens()
        .saturating_sub(SUMMARY_TOKENS + overhead + 16)
        .max(64);
    let pieces = pieces_of(generator, document, room).await?;
    if pieces.is_empty() {
        return Err(Error::NotFound {
            what: "document".into(),
            message: "has no text to summarise".into(),
        });
    }
    let sections = group_by_budget(&pieces, room);
    let mut tracker = ProgressTracker::new(progress, Phase::Summarizing, "sections", sections.len() as u64);
    let mut largest_prompt = 0;
    let mut bullets: Vec<Bullet> = Vec::new();
    for section in &sections {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let first = section.first().map_or(1, |p| p.page);
        let last = section.last().map_or(first, |p| p.page);
        let text: String = section
            .iter()
            .map(|p| format!("[p. {}]\n{}\n\n", p.page, p.text.trim()))
            .collect();
        let messages = map_messages(first, last, &text);
        largest_prompt = largest_prompt.max(generator.count_prompt_tokens(&messages).await?);
        let reply = generator
            .generate(&messages, SUMMARY_TOKENS, cancel, &mut |_| {})
            .await?;
        tracing::debug!("section {first}–{last} summary: {}", reply.text);
        let evidence: Vec<(Vec<u32>, &str)> =
            section.iter().map(|p| (vec![p.page], p.text.as_str())).collect();
        bullets.extend(parse_bullets(&reply.text, &evidence, first));
        tracker.advance(1);
    }
    if bullets.is_empty() {
        return Err(Error::Generator {
            path: generator.info().path.clone(),
            message: "the model wrote no usable summary of this document".into(),
        });
    }
    let mut rounds = 0;
    // Combine until one prompt takes all the notes; one section's bullets stand as they are.
    if sections.len() > 1 || needs_combining(generator, &bullets, room).await? {
        loop {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            rounds += 1;
            let groups = group_bullets(generator, &bullets, room).await?;
            tracker.add_total(groups.len() as u64);
            let mut combined = Vec::new();
            for group in &groups {
                let messages = reduce_messages(group);
                largest_prompt = largest_prompt.max(generator.count_prompt_tokens(&messages).await?);
                let reply = generator
                    .generate(&messages, SUMMARY_TOKENS, cancel, &mut |_| {})
                    .await?;
                let evidence: Vec<(Vec<u32>, &str)> =
                    group.iter().map(|b| (b.pages.clone(), b.text.as_str())).collect();
                let fallback = group.first().and_then(|b| b.pages.first().copied()).unwrap_or(1);
                let mut parsed = parse_bullets(&reply.text, &evidence, fallback);
                if parsed.is_empty() {
                    // The model returned nothing usable: keep the group's notes rather than lose them.
                    parsed = group.clone();
                }
                combined.extend(parsed);
                tracker.advance(1);
            }
            // Done when one prompt combined everything, or when a round no longer shrinks the notes.
            let finished = groups.len() == 1 || combined.len() >= bullets.len();
            bullets = combined;
            if finished {
                break;
            }
        }
    }
    Ok(Summary {
        path: PathBuf::new(),
        title: document.title.clone(),
        pages: u32::try_from(document.pages.len()).unwrap_or(u32::MAX),
        sections: sections.len(),
        rounds,
        bullets,
        cached: false,
        largest_prompt_tokens: largest_prompt,
        context_tokens: generator.context_tokens(),
    })
}

/// Pages as pieces of at most `room` tokens; a longer page is cut at sentence
/// or line ends into several pieces with the same page number.
async fn pieces_of(generator: &Generator, document: &Document, room: usize) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    // Pieces of about half a prompt, so that sections pack well.
    let target = (room / 2).max(32);
    for page in &document.pages {
        let text = page.text.trim();
        if text.is_empty() {
            continue;
        }
        let tokens = generator.count_tokens(text).await?;
        if tokens <= target {
            pieces.push(Piece {
                page: page.number,
                text: text.to_string(),
                tokens,
            });
            continue;
        }
        let parts = tokens.div_ceil(target);
        let mut rest = text;
        for part in 0..parts {
            let share = rest.len().div_ceil(parts - part);
            let cut = cut_point(rest, share);
            let (head, tail) = rest.split_at(cut);
            rest = tail;
            let mut head = head.to_string();
            let mut tokens = generator.count_tokens(&head).await?;
            // Character shares can misjudge token counts; shorten until it surely fits.
            while tokens > room && head.len() > 1 {
                let keep = floor_char_boundary(&head, head.len() * 3 / 4);
                head.truncate(keep);
                tokens = generator.count_tokens(&head).await?;
            }
            if !head.trim().is_empty() {
                pieces.push(Piece {
                    page: page.number,
                    text: head,
                    tokens,
                });
            }
        }
    }
    Ok(pieces)
}

/// A byte offset near `want` (never past it by much) that ends a sentence or a line.
fn cut_point(text: &str, want: usize) -> usize {
    if want >= text.len() {
        return text.len();
    }
    let limit = floor_char_boundary(text, want);
    let window = &text[..limit];
    let at = window
        .rfind(['.', '\n', '!', '?'])
        .filter(|&i| i > limit / 2)
        .or_else(|| window.rfind(' ').filter(|&i| i > limit / 2))
        .map_or(limit, |i| i + 1);
    floor_char_boundary(text, at).max(1)
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Consecutive pieces whose tokens add up to at most `room` (page markers included).
fn group_by_budget(pieces: &[Piece], room: usize) -> Vec<Vec<Piece>> {
    const MARKER_TOKENS: usize = 8;
    let mut sections: Vec<Vec<Piece>> = Vec::new();
    let mut used = 0;
    for piece in pieces {
        let cost = piece.tokens + MARKER_TOKENS;
        match sections.last_mut() {
            Some(section) if used + cost <= room => section.push(piece.clone()),
            _ => {
                sections.push(vec![piece.clone()]);
                used = 0;
            }
        }
        used += cost;
    }
    sections
}

fn bullet_line(bullet: &Bullet) -> String {
    format!("- {} ({})", bullet.text, page_label(&bullet.pages))
}

/// "p. 4", "pp. 4, 7–9".
pub fn page_label(pages: &[u32]) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &p in pages {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == p => *end = p,
            _ => runs.push((p, p)),
        }
    }
    let text: Vec<String> = runs
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            }
        })
        .collect();
    if pages.len() == 1 {
        format!("p. {}", text.join(", "))
    } else {
        format!("pp. {}", text.join(", "))
    }
}

async fn needs_combining(generator: &Generator, bullets: &[Bullet], room: usize) -> Result<bool> {
    let text: String = bullets.iter().map(|b| bullet_line(b) + "\n").collect();
    Ok(generator.count_tokens(&text).await? > room)
}

/// Bullets in consecutive groups that each fit one combining prompt.
async fn group_bullets(generator: &Generator, bullets: &[Bullet], room: usize) -> Result<Vec<Vec<Bullet>>> {
    let mut groups: Vec<Vec<Bullet>> = Vec::new();
    let mut used = 0;
    for bullet in bullets {
        let cost = generator.count_tokens(&bullet_line(bullet)).await? + 2;
        match groups.last_mut() {
            Some(group) if used + cost <= room => group.push(bullet.clone()),
            _ => {
                groups.push(vec![bullet.clone()]);
                used = 0;
            }
        }
        used += cost;
    }
    Ok(groups)
}

fn map_messages(first: u32, last: u32, text: &str) -> Vec<ChatMessage> {
    let pages = if first == last {
        format!("page {first}")
    } else {
        format!("pages {first}–{last}")
    };
    // Instructions after the text: small models follow what they read last.
    vec![
        ChatMessage::new(Role::System, SYSTEM_PROMPT),
        ChatMessage::new(
            Role::User,
            format!(
                "Text ({pages}; each page starts with its marker, like [p. {first}]):\n\n{text}\n\
                 Write 3 to 5 bullet points that summarise the text above. Start each bullet with \"- \" \
                 and end it with the page it comes from, like (p. {first})."
            ),
        ),
    ]
}

fn reduce_messages(bullets: &[Bullet]) -> Vec<ChatMessage> {
    let notes: String = bullets.iter().map(|b| bullet_line(b) + "\n").collect();
    vec![
        ChatMessage::new(Role::System, SYSTEM_PROMPT),
        ChatMessage::new(
            Role::User,
            format!(
                "Notes on the parts of one document:\n\n{notes}\n\
                 Combine these notes into at most 8 bullet points covering the whole document. Start each \
                 bullet with \"- \" and keep the page references, like (p. 3)."
            ),
        ),
    ]
}

/// Bullets from a model reply. Page references the model wrote are kept when
/// they are pages of the evidence; otherwise the bullet gets the pages of the
/// evidence it shares most words with, else `fallback`.
fn parse_bullets(reply: &str, evidence: &[(Vec<u32>, &str)], fallback: u32) -> Vec<Bullet> {
    let known: BTreeSet<u32> = evidence
        .iter()
        .flat_map(|(pages, _)| pages.iter().copied())
        .collect();
    let evidence_words: Vec<_> = evidence
        .iter()
        .map(|(pages, text)| (pages, content_terms(text)))
        .collect();
    let mut bullets = Vec::new();
    // A reply without list items (small models often write prose) counts sentence by sentence.
    let points: Vec<&str> = if reply.lines().any(|l| bullet_body(l).is_some()) {
        reply.lines().filter_map(bullet_body).collect()
    } else {
        crate::answer::sentences(reply)
    };
    for body in points {
        let (text, cited) = split_page_refs(body);
        let text = text.trim().trim_end_matches([',', ';']).trim().to_string();
        if text.chars().filter(|c| c.is_alphabetic()).count() < 8 {
            continue;
        }
        let mut pages: Vec<u32> = cited.into_iter().filter(|p| known.contains(p)).collect();
        if pages.is_empty() {
            let words = content_terms(&text);
            pages = evidence_words
                .iter()
                .map(|(pages, theirs)| (words.intersection(theirs).count(), *pages))
                .filter(|(shared, _)| *shared > 0)
                .max_by_key(|(shared, _)| *shared)
                .map_or_else(|| vec![fallback], |(_, pages)| pages.clone());
        }
        pages.sort_unstable();
        pages.dedup();
        bullets.push(Bullet { text, pages });
    }
    bullets
}

/// The text of a bullet line ("- x", "* x", "• x", "1. x"), or None for other lines.
fn bullet_body(line: &str) -> Option<&str> {
    let line = line.trim();
    for marker in ["- ", "* ", "• ", "– "] {
        if let Some(rest) = line.strip_prefix(marker) {
            return Some(rest);
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 {
        let rest = &line[digits..];
        if let Some(rest) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some(rest);
        }
    }
    None
}

/// Takes page references — "(p. 4)", "(pp. 4-5)", "(page 3, 7)", "[p. 2]" — out
/// of a bullet; returns the text without them and the pages named.
fn split_page_refs(body: &str) -> (String, Vec<u32>) {
    let mut text = String::with_capacity(body.len());
    let mut pages = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find(['(', '[']) {
        let close_char = if rest[open..].starts_with('(') { ')' } else { ']' };
        let Some(len) = rest[open..].find(close_char) else {
            break;
        };
        let inner = &rest[open + 1..open + len];
        match page_numbers(inner) {
            Some(found) => {
                text.push_str(&rest[..open]);
                pages.extend(found);
            }
            // Not a page reference: keep the bracketed text as written.
            None => text.push_str(&rest[..=open + len]),
        }
        rest = &rest[open + len + 1..];
    }
    text.push_str(rest);
    (text.split_whitespace().collect::<Vec<_>>().join(" "), pages)
}

/// "p. 4", "pp. 4-6", "pages 2, 5", "page 3" → the pages; None for other text.
fn page_numbers(inner: &str) -> Option<Vec<u32>> {
    let lower = inner.trim().to_lowercase();
    let numbers = ["pages", "page", "pp.", "pp", "p.", "p"]
        .iter()
        .find_map(|prefix| lower.strip_prefix(prefix))?;
    let mut pages = Vec::new();
    for part in numbers
        .split([',', ';'])
        .map(|p| p.trim().trim_start_matches("and ").trim())
    {
        if part.is_empty() {
            continue;
        }
        let mut ends = part
            .split(['-', '–'])
            .map(|n| n.trim().trim_start_matches("p.").trim().parse::<u32>());
        match (ends.next(), ends.next()) {
            (Some(Ok(a)), None) => pages.push(a),
            (Some(Ok(a)), Some(Ok(b))) if a <= b && b - a < 1000 => pages.extend(a..=b),
            _ => return None,
        }
    }
    (!pages.is_empty()).then_some(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_references_are_read_in_the_forms_models_write() {
        assert_eq!(page_numbers("p. 4"), Some(vec![4]));
        assert_eq!(page_numbers("pp. 4-6"), Some(vec![4, 5, 6]));
        assert_eq!(page_numbers("Pages 2, 5"), Some(vec![2, 5]));
        assert_eq!(page_numbers("see appendix"), None);
        let (text, pages) = split_page_refs("Frost ends in May (p. 3) and beans follow [pp. 4–5].");
        assert_eq!(text, "Frost ends in May and beans follow .");
        assert_eq!(pages, [3, 4, 5]);
        let (text, pages) = split_page_refs("Uses HEPA (high efficiency) filters (p. 2)");
        assert_eq!(text, "Uses HEPA (high efficiency) filters");
        assert_eq!(pages, [2]);
    }

    #[test]
    fn bullets_keep_only_pages_of_their_evidence_and_otherwise_match_by_words() {
        let evidence = [
            (
                vec![3],
                "The boiler is serviced every autumn by a certified engineer.",
            ),
            (vec![4], "Radiators are bled in October, starting downstairs."),
        ];
        let reply = "Summary:\n- The boiler gets an autumn service by an engineer (p. 99)\n\
                     2. Radiators are bled every October, downstairs first (p. 4)\n- ok";
        let bullets = parse_bullets(reply, &evidence, 1);
        assert_eq!(bullets.len(), 2);
        assert_eq!(
            bullets[0].pages,
            [3],
            "page 99 is not in the section; matched by words"
        );
        assert_eq!(bullets[1].pages, [4]);
        assert_eq!(page_label(&[4, 5, 6, 9]), "pp. 4–6, 9");
        assert_eq!(page_label(&[2]), "p. 2");
    }

    #[test]
    fn long_pages_are_cut_at_sentence_ends() {
        let text = "One sentence here. Another one there. A third.";
        let cut = cut_point(text, 30);
        assert_eq!(&text[..cut], "One sentence here.");
    }
}
