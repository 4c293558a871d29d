//! What every fuzz target checks: the indexer's own path from bytes to chunks
//! never crashes, and what it produces is consistent. Parser panics are turned
//! into per-file errors by `quire_engine::extract::extract`; anything that escapes it,
//! hangs, or breaks an invariant below is a finding.

use std::path::Path;

use quire_engine::chunk::Chunker;
use quire_engine::extract::{self, Document};
use quire_engine::Config;

/// Extracts `bytes` as a file named `name` (its extension picks the extractor),
/// then chunks the document as indexing would.
pub fn extract_and_chunk(name: &str, bytes: &[u8]) {
    match extract::extract(Path::new(name), bytes) {
        Ok(document) => {
            check_document(&document);
            chunk_everything(&document, &Config::default());
        }
        Err(refused) => {
            // The reason is shown to the user per file: it must say something.
            assert!(!refused.into_message().trim().is_empty(), "an extraction error without a reason");
        }
    }
}

/// Pages are numbered 1, 2, 3… and at least one has text (extract promises it).
pub fn check_document(document: &Document) {
    assert!(document.has_text(), "an extracted document without text");
    for (i, page) in document.pages.iter().enumerate() {
        assert_eq!(page.number as usize, i + 1, "pages out of order");
    }
}

/// Chunks `document` and checks every promise a citation relies on: each chunk is
/// exactly its span of its page's text, ordinals count up from 0, and no visible
/// character of any page is left out of every chunk.
pub fn chunk_everything(document: &Document, config: &Config) {
    let chunks = Chunker::new(config).chunk(document);
    let mut covered: Vec<Vec<bool>> = document.pages.iter().map(|p| vec![false; p.text.len()]).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.ordinal as usize, i, "chunk ordinals are not consecutive");
        let page_index = (chunk.page as usize)
            .checked_sub(1)
            .filter(|&p| p < document.pages.len())
            .unwrap_or_else(|| panic!("chunk {i} cites page {} that does not exist", chunk.page));
        let text = &document.pages[page_index].text;
        let in_page = text.get(chunk.span.clone());
        assert_eq!(
            in_page,
            Some(chunk.text.as_str()),
            "chunk {i} is not its span of the page"
        );
        assert!(!chunk.text.trim().is_empty(), "chunk {i} is blank");
        covered[page_index][chunk.span.clone()]
            .iter_mut()
            .for_each(|c| *c = true);
    }
    for (page, covered) in document.pages.iter().zip(&covered) {
        for (at, c) in page.text.char_indices() {
            assert!(
                c.is_whitespace() || covered[at],
                "page {}: {c:?} at byte {at} is in no chunk",
                page.number
            );
        }
    }
}

/// Draws page 1 of `bytes` as a PDF with a passage marked, as the passage view does:
/// never a crash, and what comes back is an image with its marks on it.
pub fn draw_pdf_page(bytes: &[u8]) {
    match quire_engine::page_image::render_pdf_page(bytes.to_vec(), 1, 300, "the page") {
        Ok(image) => {
            assert!(image.width > 0 && image.height > 0 && image.page <= image.pages);
            assert!(image.png.starts_with(b"\x89PNG"), "not a PNG");
            for mark in &image.marks {
                let sides = [mark.left, mark.top, mark.width, mark.height];
                assert!(sides.iter().all(|s| s.is_finite()), "a mark off the image: {mark:?}");
            }
        }
        Err(refused) => {
            assert!(!refused.into_message().trim().is_empty(), "a drawing error without a reason");
        }
    }
}
