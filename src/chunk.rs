//! Chunking: pages are cut into passages of about 200–400 tokens with some
//! overlap, at the most meaningful boundary that fits (paragraph, sentence, word).
//! Chunks never cross a page, so every chunk cites one page, and each keeps its
//! byte span in that page's text.

use std::ops::Range;

use text_splitter::{ChunkConfig, ChunkSizer, TextSplitter};

use crate::config::Config;
use crate::extract::Document;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Position of the chunk in its document, from 0.
    pub ordinal: u32,
    pub page: u32,
    /// Byte range of `text` in the page's text.
    pub span: Range<usize>,
    pub text: String,
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
        let chunk_config = ChunkConfig::new(config.chunk_min_tokens..config.chunk_max_tokens)
            .with_sizer(TokenEstimate)
            .with_overlap(config.chunk_overlap_tokens)
            // Config::load checks that the overlap is below the chunk size; fall back to none.
            .unwrap_or_else(|_| {
                ChunkConfig::new(config.chunk_min_tokens..config.chunk_max_tokens).with_sizer(TokenEstimate)
            });
        Chunker {
            splitter: TextSplitter::new(chunk_config),
        }
    }

    pub fn chunk(&self, document: &Document) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        for page in &document.pages {
            for (offset, text) in self.splitter.chunk_indices(&page.text) {
                if text.trim().is_empty() {
                    continue;
                }
                chunks.push(Chunk {
                    ordinal: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
                    page: page.number,
                    span: offset..offset + text.len(),
                    text: text.to_string(),
                });
            }
        }
        chunks
    }
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
}
