//! Chunking: pages are cut into passages of about 200–400 tokens with some
//! overlap, at the most meaningful boundary that fits (paragraph, sentence, word).
//! Chunks never cross a page, so every chunk cites one page, and each keeps its
//! byte span in that page's text. Pages are chunked in windows of bounded size
//! (long lines are cut), which keeps chunking linear in the text.

use std::ops::Range;

use text_splitter::{ChunkConfig, ChunkSizer, TextSplitter};

use crate::config::Config;
use crate::extract::Document;

/// Pages are chunked in windows of at most this many bytes, cut after a paragraph
/// break, else a line break, else a space where there is one. The splitter's work
/// for each chunk grows with the rest of its line (a 2 MB line of base64 took 41 s,
/// 1.6 MB of `[a](` 124 s) and with the line breaks still ahead of it, so bounded
/// windows keep it linear. A window holds some 20 passages; few lose their overlap.
const WINDOW_BYTES: usize = 32 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Position of the chunk in its document, from 0.
    pub ordinal: u32,
    pub page: u32,
    /// Byte range of `text` in the page's text.
    pub span: Range<usize>,
    pub text: String,
    /// Whether its page was read from an image by OCR.
    pub read_by_ocr: bool,
}

/// Estimates subword tokens (WordPiece/BPE) without a model's tokenizer: a word
/// of up to six letters or digits is one token, longer words one more per six
/// characters, each punctuation mark one. Close to real tokenizers on English prose.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenEstimate;

impl TokenEstimate {
    pub fn count(text: &str) -> usize {
        let mut tokens = 0;
        let mut word_len = 0usize;
        for c in text.chars() {
            if c.is_alphanumeric() {
                word_len += 1;
            } else {
                tokens += word_len.div_ceil(6);
                word_len = 0;
                if !c.is_whitespace() {
                    tokens += 1;
                }
            }
        }
        tokens + word_len.div_ceil(6)
    }
}

impl ChunkSizer for TokenEstimate {
    fn size(&self, chunk: &str) -> usize {
        TokenEstimate::count(chunk)
    }
}

pub struct Chunker {
    splitter: TextSplitter<TokenEstimate>,
}

impl Chunker {
    pub fn new(config: &Config) -> Chunker {
        Chunker::with_sizes(
            config.chunk_min_tokens,
            config.chunk_max_tokens,
            config.chunk_overlap_tokens,
        )
    }

    /// Passages of `min_tokens` to `max_tokens`, neighbours sharing about `overlap_tokens`.
    pub fn with_sizes(min_tokens: usize, max_tokens: usize, overlap_tokens: usize) -> Chunker {
        let max_tokens = max_tokens.max(min_tokens).max(1);
        let chunk_config = ChunkConfig::new(min_tokens..max_tokens)
            .with_sizer(TokenEstimate)
            .with_overlap(overlap_tokens)
            // Config::load checks that the overlap is below the chunk size; fall back to none.
            .unwrap_or_else(|_| ChunkConfig::new(min_tokens..max_tokens).with_sizer(TokenEstimate));
        Chunker {
            splitter: TextSplitter::new(chunk_config),
        }
    }

    pub fn chunk(&self, document: &Document) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        for page in &document.pages {
            for window in windows(&page.text) {
                for (offset, text) in self.splitter.chunk_indices(&page.text[window.clone()]) {
                    if text.trim().is_empty() {
                        continue;
                    }
                    let start = window.start + offset;
                    chunks.push(Chunk {
                        ordinal: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
                        page: page.number,
                        span: start..start + text.len(),
                        text: text.to_string(),
                        read_by_ocr: page.read_by_ocr,
                    });
                }
            }
        }
        chunks
    }
}

/// `text` cut into consecutive ranges of at most [`WINDOW_BYTES`] (a character
/// longer than that aside), each ending after the strongest break in its second half.
fn windows(text: &str) -> Vec<Range<usize>> {
    let mut windows = Vec::with_capacity(text.len() / WINDOW_BYTES + 1);
    let mut start = 0;
    while text.len() - start > WINDOW_BYTES {
        let end = window_end(text, start);
        windows.push(start..end);
        start = end;
    }
    if start < text.len() {
        windows.push(start..text.len());
    }
    windows
}

fn window_end(text: &str, start: usize) -> usize {
    let mut limit = start + WINDOW_BYTES;
    while !text.is_char_boundary(limit) {
        limit -= 1;
    }
    if limit == start {
        // One character longer than a window (impossible in UTF-8, kept for safety).
        return text[start..]
            .chars()
            .next()
            .map_or(text.len(), |c| start + c.len_utf8());
    }
    let window = &text[start..limit];
    let second_half = window.len() / 2;
    let after = |found: Option<usize>, separator_len: usize| {
        found
            .filter(|&at| at >= second_half)
            .map(|at| start + at + separator_len)
    };
    after(window.rfind("\n\n"), 2)
        .or_else(|| after(window.rfind('\n'), 1))
        .or_else(|| {
            let space = window.rfind(char::is_whitespace);
            let width = space
                .and_then(|at| window[at..].chars().next())
                .map_or(1, char::len_utf8);
            after(space, width)
        })
        .unwrap_or(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_estimate_counts_words_and_punctuation() {
        assert_eq!(TokenEstimate::count("Hello, world!"), 4);
        assert_eq!(TokenEstimate::count("internationalization"), 4);
        assert_eq!(TokenEstimate::count(""), 0);
    }

    #[test]
    fn chunks_stay_on_their_page_and_keep_their_spans() {
        let sentence = "The quick brown fox jumps over the lazy dog near the river bank. ";
        let page_one = sentence.repeat(60);
        let page_two = "A short second page.".to_string();
        let doc = Document::from_pages(None, [page_one.clone(), page_two.clone()]);
        let chunks = Chunker::new(&Config::default()).chunk(&doc);
        assert!(
            chunks.len() >= 3,
            "expected page one to be split, got {}",
            chunks.len()
        );
        for chunk in &chunks {
            let page_text = if chunk.page == 1 { &page_one } else { &page_two };
            assert_eq!(&page_text[chunk.span.clone()], chunk.text);
            assert!(TokenEstimate::count(&chunk.text) <= 400);
        }
        assert_eq!(chunks.last().unwrap().page, 2);
        assert_eq!(chunks.last().unwrap().text, page_two);
        // Neighbouring chunks on page one overlap.
        assert!(chunks[1].span.start < chunks[0].span.end);
    }

    #[test]
    fn long_lines_are_cut_into_windows_and_every_word_lands_in_a_chunk() {
        // A 100 KB line of base64-like text with no space, a long paragraph on one
        // line, then ordinary lines.
        let blob: String = (0..100_000u32)
            .map(|i| {
                char::from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                        [(i * 7 % 64) as usize],
                )
            })
            .collect();
        let paragraph = "The boiler is serviced each October by the engineer. ".repeat(1_500);
        let lines = "A line of the heating log.\n".repeat(2_000);
        let page = format!("{blob}\n{paragraph}\n\n{lines}");
        let chunks = Chunker::new(&Config::default()).chunk(&Document::from_pages(None, [page.clone()]));

        let mut covered = vec![false; page.len()];
        for chunk in &chunks {
            assert_eq!(&page[chunk.span.clone()], chunk.text);
            assert!(TokenEstimate::count(&chunk.text) <= 400, "{}", chunk.text.len());
            covered[chunk.span.clone()].iter_mut().for_each(|c| *c = true);
        }
        let missed = page
            .char_indices()
            .filter(|&(at, c)| !c.is_whitespace() && !covered[at])
            .count();
        assert_eq!(missed, 0, "characters in no chunk");
        // Windows end after a break where the text has one, within their size.
        for window in windows(&page) {
            assert!(window.len() <= WINDOW_BYTES);
            let text = &page[window.clone()];
            if window.start > blob.len() && window.end < page.len() {
                assert!(
                    text.ends_with(char::is_whitespace),
                    "{:?}",
                    &text[text.len() - 20..]
                );
            }
        }
    }
}
