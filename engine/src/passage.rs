//! The passage in context: a page of an indexed file, rebuilt from its chunks,
//! with the cited or found passage located in it, so that a reader can check a
//! citation without leaving Quire. Chunks hold every word of a page (only
//! whitespace falls between them), so the page reads as it was extracted, with
//! the gaps between chunks given back as a paragraph break.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::helper::{Extractor, HelperSettings};
use crate::ingest::read_regular;
use crate::page_image::PageImage;
use crate::store::catalog::PageChunks;
use crate::FileStatus;

/// A page's text with the passage marked.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct PageText {
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub path: PathBuf,
    pub title: Option<String>,
    pub page: u32,
    /// Pages the file has.
    pub pages: u32,
    pub text: String,
    /// Byte range of the passage in `text`; None when it is no longer on the page
    /// (the file changed since the answer quoted it).
    pub highlight: Option<Range<usize>>,
}

/// What to mark on the page.
#[derive(Debug, Clone)]
pub enum Mark<'a> {
    /// Words quoted from the page (whitespace may differ).
    Quote(&'a str),
    /// A byte span of the page's extracted text, as search hits carry.
    Span(Range<usize>),
    Nothing,
}

impl Engine {
    /// What became of the file at `path` when it was last indexed; None: it is not in the library.
    pub async fn file_status(&self, path: &Path) -> Result<Option<FileStatus>> {
        self.catalog().file_status(path).await
    }

    /// Page `page` of the indexed file `path`, with `mark` located in it.
    pub async fn page_text(&self, path: &Path, page: u32, mark: Mark<'_>) -> Result<PageText> {
        let not_found = |message: String| Error::NotFound {
            what: path.display().to_string(),
            message,
        };
        let Some(PageChunks { title, pages, chunks }) = self.catalog().page_chunks(path, page).await? else {
            return Err(not_found("is not an indexed file of the library".into()));
        };
        if chunks.is_empty() {
            return Err(not_found(format!("has no text on page {page} (it has {pages})")));
        }
        let page_text = rebuild(&chunks);
        let highlight = match mark {
            Mark::Quote(quote) => locate(&page_text.text, quote),
            Mark::Span(span) => page_text.map_span(span),
            Mark::Nothing => None,
        };
        Ok(PageText {
            path: path.to_path_buf(),
            title,
            page,
            pages,
            text: page_text.text,
            highlight,
        })
    }

    /// Page `page` of the indexed PDF `path` drawn about `width_px` pixels wide, with
    /// the words of `passage` (the text [`Engine::page_text`] marked) marked on it.
    /// The file is read as it is now and drawn in an extraction helper: a hostile
    /// PDF costs the helper, not Quire.
    pub async fn page_image(
        &self,
        path: &Path,
        page: u32,
        width_px: u32,
        passage: &str,
    ) -> Result<PageImage> {
        if self.file_status(path).await?.is_none() {
            return Err(cannot_draw(
                path,
                "it is not an indexed file of the library".into(),
            ));
        }
        let config = self.config();
        let settings = HelperSettings::for_drawing(&config)?;
        let limit = config.max_file_bytes;
        let file = path.to_path_buf();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let passage = passage.to_string();
        let drawn = tokio::task::spawn_blocking(move || {
            let bytes = read_regular(&file, limit, |message| cannot_draw(&file, message))?;
            Extractor::new(settings).page_image(&name, bytes, page, width_px, &passage)
        })
        .await??;
        drawn.map_err(|refused| cannot_draw(path, refused.into_message()))
    }
}

fn cannot_draw(path: &Path, message: String) -> Error {
    Error::NotFound {
        what: path.display().to_string(),
        message: format!("cannot be drawn: {message}"),
    }
}

/// A page rebuilt from overlapping chunks, remembering where each chunk's text landed.
struct Rebuilt {
    text: String,
    /// (offset in the extracted page, offset in `text`) at the start of each piece copied.
    anchors: Vec<(usize, usize)>,
}

impl Rebuilt {
    /// Where a span of the extracted page lies in the rebuilt text.
    fn map_span(&self, span: Range<usize>) -> Option<Range<usize>> {
        let to_text = |at: usize| {
            let (page_at, text_at) = self.anchors.iter().rev().find(|(p, _)| *p <= at)?;
            let mapped = text_at.checked_add(at - page_at)?;
            (mapped <= self.text.len() && self.text.is_char_boundary(mapped)).then_some(mapped)
        };
        let (start, end) = (to_text(span.start)?, to_text(span.end)?);
        (start < end).then_some(start..end)
    }
}

fn rebuild(chunks: &[(Range<usize>, String)]) -> Rebuilt {
    let mut text = String::new();
    let mut anchors = Vec::new();
    // How far into the extracted page `text` reaches.
    let mut covered = 0usize;
    for (span, chunk) in chunks {
        if span.end <= covered && !text.is_empty() {
            continue;
        }
        let skip = covered.saturating_sub(span.start);
        let Some(rest) = chunk.get(skip..) else {
            continue;
        };
        if span.start > covered && !text.is_empty() {
            text.push_str("\n\n");
        }
        anchors.push((span.start + skip, text.len()));
        text.push_str(rest);
        covered = span.end;
    }
    Rebuilt { text, anchors }
}

/// The byte range of `quote` in `text`, comparing words only (whitespace runs are
/// equal to each other; quotation marks and ellipses around the quote are ignored).
fn locate(text: &str, quote: &str) -> Option<Range<usize>> {
    let quote = quote
        .trim()
        .trim_matches(|c: char| matches!(c, '…' | '“' | '”' | '"'))
        .trim();
    if quote.is_empty() {
        return None;
    }
    let (haystack, origins) = squeeze_whitespace(text);
    let (needle, _) = squeeze_whitespace(quote);
    let at = haystack.find(&needle)?;
    let start = origins[at];
    // The end of the last matched character, in `text`.
    let last = haystack[..at + needle.len()].char_indices().last()?.0;
    let end = origins[last] + text[origins[last]..].chars().next()?.len_utf8();
    Some(start..end)
}

/// `text` with each run of whitespace made one space, and for each byte of the
/// result the offset in `text` it came from.
fn squeeze_whitespace(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut origins = Vec::with_capacity(text.len());
    let mut in_space = false;
    for (at, c) in text.trim().char_indices() {
        let at = at + (text.len() - text.trim_start().len());
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
                origins.push(at);
            }
            in_space = true;
            continue;
        }
        in_space = false;
        let mut buf = [0u8; 4];
        for _ in c.encode_utf8(&mut buf).bytes() {
            origins.push(at);
        }
        out.push(c);
    }
    (out, origins)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks_of(page: &str, spans: &[Range<usize>]) -> Vec<(Range<usize>, String)> {
        spans
            .iter()
            .map(|s| (s.clone(), page[s.clone()].to_string()))
            .collect()
    }

    #[test]
    fn a_page_is_rebuilt_from_overlapping_chunks_with_every_word_once() {
        let page =
            "The boiler is serviced each October.  It costs 140 euros.\n\nGutters are cleared in November.";
        let chunks = chunks_of(page, &[0..36, 20..57, 59..page.len()]);
        let rebuilt = rebuild(&chunks);
        assert_eq!(
            rebuilt.text,
            "The boiler is serviced each October.  It costs 140 euros.\n\nGutters are cleared in November."
        );
        // A span of the extracted page lands on the same words.
        let span = page.find("Gutters").unwrap()..page.len();
        let mapped = rebuilt.map_span(span).unwrap();
        assert_eq!(&rebuilt.text[mapped], "Gutters are cleared in November.");
    }

    #[test]
    fn a_quote_is_found_whatever_its_whitespace() {
        let text = "Intro.\n\nThe boiler is serviced\neach October by   the engineer. Then more.";
        let range = locate(text, "“The boiler is serviced each October by the engineer.”").unwrap();
        assert_eq!(
            &text[range],
            "The boiler is serviced\neach October by   the engineer."
        );
        assert_eq!(locate(text, "The boiler explodes"), None);
        assert_eq!(locate(text, "  "), None);
    }

    #[test]
    fn quotes_in_other_scripts_keep_their_character_boundaries() {
        let text = "前書き。ボイラーは十月に点検する。 Ende.";
        let range = locate(text, "ボイラーは十月に点検する。").unwrap();
        assert_eq!(&text[range], "ボイラーは十月に点検する。");
    }
}
