//! PDF, page by page, by two readers. The first, pdf-extract over lopdf, reads most
//! PDFs well. The second is the text hayro's interpreter draws ([`crate::drawn_text`]):
//! it follows CID fonts through their CMaps (Japanese, Chinese, Korean), rebuilds a
//! damaged cross-reference table by scanning the file's objects, and decodes every
//! standard filter. Each page takes the reading closer to what the page draws (see
//! [`choose`]); a page neither reader can read keeps its number with no text, so
//! later pages keep theirs.

use std::panic::{self, AssertUnwindSafe};

use hayro::hayro_interpret::hayro_syntax::{DecryptionError, LoadPdfError, Pdf};
use hayro::hayro_interpret::InterpreterCache;
use lopdf::Object;
use pdf_extract::{output_doc_page, PlainTextOutput};

use super::ocr::{self, Ocr};
use super::{Document, ExtractError, PdfText, ReadOptions, MAX_OCR_PAGES};
use crate::drawn_text::drawn_page_unscaled;
use crate::page_image::draw_for_ocr;

const PASSWORD_PROTECTED: &str = "password-protected PDF; Quire cannot read it without the password";

/// A page with fewer letters and digits than this, and an image on it, is read by OCR.
const OCR_BELOW_CHARS: usize = 20;

pub fn extract(
    bytes: &[u8],
    options: &ReadOptions,
    page_recognized: &dyn Fn(),
) -> Result<Document, ExtractError> {
    if !bytes.starts_with(b"%PDF-") && !bytes[..bytes.len().min(1024)].windows(5).any(|w| w == b"%PDF-") {
        return Err(ExtractError::Failed("not a PDF file (no %PDF header)".into()));
    }
    let use_drawn = options.pdf_text != PdfText::FirstReader || matches!(options.ocr, Ocr::On(_));
    // An encrypted file is judged by the reader that knows every standard security
    // handler: the first one reads some of them as a PDF with no pages. Any other
    // file the second reader cannot open is left to the first.
    let drawn_pdf = match use_drawn.then(|| Pdf::new(bytes.to_vec())) {
        Some(Err(LoadPdfError::Decryption(DecryptionError::PasswordProtected))) => {
            return Err(ExtractError::Failed(PASSWORD_PROTECTED.into()))
        }
        opened => opened.and_then(Result::ok),
    };
    let readings = drawn_pdf.as_ref().map(read_drawn);
    // Pages that draw pictures (or glyphs that say nothing of their text): where such
    // a page has no text to speak of, its text is in the picture.
    let pictured: Vec<bool> = readings
        .iter()
        .flatten()
        .map(|r| r.images > 0 || r.inked_glyphs >= OCR_BELOW_CHARS)
        .collect();
    let drawn = match options.pdf_text {
        PdfText::FirstReader => None,
        PdfText::Best | PdfText::SecondReader => readings,
    };
    let first = match options.pdf_text {
        PdfText::SecondReader => None,
        PdfText::Best | PdfText::FirstReader => Some(read_first(bytes)),
    };
    let mut document = match (first, drawn) {
        (Some(Ok(first)), Some(drawn)) if drawn.len() == first.pages.len() => {
            let texts = first
                .pages
                .into_iter()
                .zip(drawn)
                .map(|(first, drawn)| choose(first, drawn))
                .collect::<Vec<String>>();
            Document::from_pages(first.title, texts)
        }
        (Some(Ok(first)), _) => first.into_document(),
        (_, Some(drawn)) if !drawn.is_empty() => {
            Document::from_pages(None, drawn.into_iter().map(|page| page.text))
        }
        (Some(Err(refused)), _) => return Err(refused),
        (_, Some(_)) => return Err(ExtractError::Failed("the PDF has no pages".into())),
        (None, None) => return Err(ExtractError::Failed("the PDF's structure is damaged".into())),
    };
    // Readers that disagree on the page count leave OCR out: pages would be misplaced.
    if pictured.len() != document.pages.len() {
        return Ok(document);
    }
    let in_pictures: Vec<usize> = document
        .pages
        .iter()
        .zip(&pictured)
        .enumerate()
        .filter(|(_, (page, pictured))| **pictured && letters_and_digits(&page.text) < OCR_BELOW_CHARS)
        .map(|(i, _)| i)
        .collect();
    match (&drawn_pdf, &options.ocr) {
        (Some(pdf), Ocr::On(ocr)) => recognize_pages(pdf, &mut document, &in_pictures, ocr, page_recognized)?,
        _ => document.pages_awaiting_ocr = u32::try_from(in_pictures.len()).unwrap_or(u32::MAX),
    }
    Ok(document)
}

/// Reads the pages `in_pictures` (indexes) by OCR, drawn at 300 dpi; a page keeps
/// its own text when OCR reads less.
fn recognize_pages(
    pdf: &Pdf,
    document: &mut Document,
    in_pictures: &[usize],
    options: &ocr::OcrOptions,
    page_recognized: &dyn Fn(),
) -> Result<(), ExtractError> {
    if in_pictures.len() > MAX_OCR_PAGES {
        tracing::warn!("read {MAX_OCR_PAGES} pages of this PDF by OCR; its other pages are left unread");
    }
    let pages = pdf.pages();
    let mut first_failure = None;
    for &index in in_pictures.iter().take(MAX_OCR_PAGES) {
        let (Some(page), Some(drawn)) = (document.pages.get_mut(index), pages.get(index)) else {
            continue;
        };
        let Some(png) = draw_for_ocr(drawn) else {
            continue;
        };
        // A page OCR fails on keeps what it had; the others are still read. When no
        // page has text in the end, the failure is the file's.
        match ocr::recognize(&png, ocr::PAGE_DPI, options) {
            Ok(text) if letters_and_digits(&text) > letters_and_digits(&page.text) => {
                page.text = text;
                page.read_by_ocr = true;
            }
            Ok(_) => {}
            Err(failed) => {
                tracing::debug!(page = page.number, "OCR failed: {failed}");
                first_failure.get_or_insert(failed);
            }
        }
        page_recognized();
    }
    match first_failure {
        Some(failed) if !document.has_text() => Err(failed),
        _ => Ok(()),
    }
}

fn letters_and_digits(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphanumeric()).count()
}

/// A page as the second reader sees it.
#[derive(Debug)]
struct DrawnReading {
    text: String,
    /// Glyphs the page draws that are not white space, with or without known text.
    inked_glyphs: usize,
    /// Pictures it draws.
    images: usize,
    /// Whether it draws more glyphs than are noted.
    incomplete: bool,
}

/// Every page's text as hayro draws it.
fn read_drawn(pdf: &Pdf) -> Vec<DrawnReading> {
    let cache = InterpreterCache::new();
    pdf.pages()
        .iter()
        .map(|page| {
            let drawn = drawn_page_unscaled(page, &cache);
            DrawnReading {
                text: drawn.text(),
                inked_glyphs: drawn.inked_glyphs(),
                images: drawn.images,
                incomplete: drawn.incomplete,
            }
        })
        .collect()
}

/// The reading of one page closer to what it draws: the first reader's unless the
/// second's is clearly closer (fewer characters missing or extra against the glyphs
/// drawn, fewer characters no text has). A page the first reader failed on takes
/// the second's.
fn choose(first: Option<String>, drawn: DrawnReading) -> String {
    let Some(first) = first else {
        return drawn.text;
    };
    // A page the second reader saw no glyphs on (a font it stood in for, a stream it
    // could not decode, too many glyphs to note) says nothing against the first.
    if drawn.inked_glyphs == 0 || drawn.incomplete {
        return first;
    }
    let first_distance = distance(&first, drawn.inked_glyphs);
    let drawn_distance = distance(&drawn.text, drawn.inked_glyphs);
    // A fifth closer, and by more than a few characters: near ties keep the first.
    if drawn_distance * 5 < first_distance * 4 && first_distance - drawn_distance > 3 {
        drawn.text
    } else {
        first
    }
}

/// How far a page's text is from the `inked` glyphs it draws: characters missing or
/// extra, and twice each character no text should have.
fn distance(text: &str, inked: usize) -> usize {
    let (mut chars, mut garbled) = (0usize, 0usize);
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        chars += 1;
        if is_garbled(c) {
            garbled += 1;
        }
    }
    chars.abs_diff(inked) + 2 * garbled
}

/// Characters a reader writes when it does not know what a glyph stands for: the
/// replacement character, private-use code points, and control characters.
fn is_garbled(c: char) -> bool {
    c == '\u{fffd}' || ('\u{e000}'..='\u{f8ff}').contains(&c) || c.is_control()
}

/// The first reader's pages: `None` for a page it failed on.
struct FirstReading {
    title: Option<String>,
    pages: Vec<Option<String>>,
}

impl FirstReading {
    fn into_document(self) -> Document {
        let texts = self.pages.into_iter().map(Option::unwrap_or_default);
        Document::from_pages(self.title, texts)
    }
}

fn read_first(bytes: &[u8]) -> Result<FirstReading, ExtractError> {
    let mut doc = lopdf::Document::load_mem(bytes).map_err(describe)?;
    if doc.is_encrypted() {
        // Many PDFs are encrypted with an empty user password (printing restrictions only).
        doc.decrypt("")
            .map_err(|_| ExtractError::Failed(PASSWORD_PROTECTED.into()))?;
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(ExtractError::Failed("the PDF has no pages".into()));
    }
    let mut looping_pages = 0usize;
    let texts: Vec<Option<String>> = pages
        .iter()
        .map(|(&number, &page_id)| {
            // pdf-extract follows /Parent links for inherited resources without
            // remembering where it has been: a loop there would never return.
            if parents_loop(&doc, page_id) {
                looping_pages += 1;
                return None;
            }
            // Each page on its own: one damaged content stream must not cost the others.
            let rendered = panic::catch_unwind(AssertUnwindSafe(|| {
                let mut text = String::new();
                output_doc_page(&doc, &mut PlainTextOutput::new(&mut text), number).map(|()| text)
            }));
            match rendered {
                Ok(Ok(text)) => Some(text),
                Ok(Err(err)) => {
                    tracing::debug!(page = number, "PDF page failed: {err}");
                    None
                }
                Err(_) => None,
            }
        })
        .collect();
    if looping_pages == texts.len() {
        return Err(ExtractError::Failed(
            "damaged PDF: its page tree loops back on itself".into(),
        ));
    }
    let failed_pages = texts.iter().filter(|t| t.is_none()).count();
    if failed_pages == texts.len() {
        return Err(ExtractError::Failed(format!(
            "none of its {} pages could be read; the file may be damaged",
            texts.len()
        )));
    }
    if failed_pages > 0 {
        tracing::debug!(failed_pages, "the first PDF reader failed on some pages");
    }
    Ok(FirstReading {
        title: info_title(&doc),
        pages: texts,
    })
}

/// Whether following /Parent from this page ever comes back to an object already
/// seen (or goes on longer than any real page tree).
fn parents_loop(doc: &lopdf::Document, page: lopdf::ObjectId) -> bool {
    const DEEPEST_TREE: usize = 1024;
    let mut seen = std::collections::HashSet::new();
    let mut current = page;
    for _ in 0..DEEPEST_TREE {
        if !seen.insert(current) {
            return true;
        }
        let parent = doc
            .get_dictionary(current)
            .ok()
            .and_then(|d| d.get(b"Parent").ok())
            .and_then(|p| p.as_reference().ok());
        match parent {
            Some(parent) => current = parent,
            None => return false,
        }
    }
    true
}

/// Says what is wrong with a PDF that does not load, in words a person can act on.
fn describe(err: lopdf::Error) -> ExtractError {
    use lopdf::Error as E;
    let message = match &err {
        E::Xref(_) => "damaged cross-reference table (the file is corrupt or truncated)".to_string(),
        // lopdf does not export its parse error type; its messages are stable words.
        E::Parse(parse) => match parse.to_string().as_str() {
            "invalid cross reference table" => {
                "damaged cross-reference table (the file is corrupt or truncated)".to_string()
            }
            "invalid file header" => "not a PDF file (invalid header)".to_string(),
            _ => "the PDF is truncated or its structure is damaged".to_string(),
        },
        E::Decryption(_) | E::InvalidPassword | E::UnsupportedSecurityHandler(_) => PASSWORD_PROTECTED.into(),
        other => format!("damaged PDF ({other})"),
    };
    ExtractError::Failed(message)
}

fn info_title(doc: &lopdf::Document) -> Option<String> {
    let info = match doc.trailer.get(b"Info").ok()? {
        Object::Reference(id) => doc.get_dictionary(*id).ok()?,
        Object::Dictionary(dict) => dict,
        _ => return None,
    };
    let bytes = match info.get(b"Title").ok()? {
        Object::String(bytes, _) => bytes,
        _ => return None,
    };
    let title = decode_pdf_text_string(bytes);
    let title = title.trim();
    (!title.is_empty()).then(|| title.to_string())
}

/// PDF text strings are UTF-16BE with a byte-order mark, or PDFDocEncoding
/// (treated as Latin-1, which it matches for printable characters).
fn decode_pdf_text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else if let Some(rest) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: a page whose /Parent chain loops made pdf-extract spin
    /// forever, and with it an indexing worker. The first reader reports it; the
    /// second reads the pages without following the loop.
    #[test]
    fn a_page_tree_that_loops_is_not_followed() {
        let bytes = include_bytes!("../../../fuzz/corpus/extract_pdf/regress-page-tree-loop.pdf");
        let first_only = ReadOptions {
            pdf_text: PdfText::FirstReader,
            ..ReadOptions::default()
        };
        let err = extract(bytes, &first_only, &|| {}).unwrap_err();
        assert_eq!(err.to_string(), "damaged PDF: its page tree loops back on itself");
        let document = extract(bytes, &ReadOptions::default(), &|| {}).unwrap();
        let texts: Vec<&str> = document.pages.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Garden plan 2026 - page 1",
                "whenever grass clippings make it slimy."
            ]
        );
    }

    #[test]
    fn garbage_is_not_a_pdf() {
        let err = extract(b"hello, I am not a PDF", &ReadOptions::default(), &|| {}).unwrap_err();
        assert_eq!(err.to_string(), "not a PDF file (no %PDF header)");
    }

    #[test]
    fn a_truncated_pdf_is_reported_as_damaged() {
        let err = extract(
            b"%PDF-1.5\n1 0 obj\n<< /Type /Catalog",
            &ReadOptions::default(),
            &|| {},
        )
        .unwrap_err();
        assert!(matches!(err, ExtractError::Failed(_)), "{err:?}");
    }

    #[test]
    fn utf16_titles_are_decoded() {
        assert_eq!(decode_pdf_text_string(&[0xfe, 0xff, 0, b'H', 0, b'i']), "Hi");
        assert_eq!(decode_pdf_text_string(b"Caf\xe9"), "Café");
    }
}
