//! PDF, page by page, through pdf-extract over lopdf. A page that fails to
//! render keeps its number with no text, so later pages keep theirs.

use std::panic::{self, AssertUnwindSafe};

use lopdf::Object;
use pdf_extract::{output_doc_page, PlainTextOutput};

use super::{Document, ExtractError};

pub fn extract(bytes: &[u8]) -> Result<Document, ExtractError> {
    if !bytes.starts_with(b"%PDF-") && !bytes[..bytes.len().min(1024)].windows(5).any(|w| w == b"%PDF-") {
        return Err(ExtractError::Failed("not a PDF file (no %PDF header)".into()));
    }
    let mut doc = lopdf::Document::load_mem(bytes).map_err(describe)?;
    if doc.is_encrypted() {
        // Many PDFs are encrypted with an empty user password (printing restrictions only).
        doc.decrypt("").map_err(|_| {
            ExtractError::Failed("password-protected PDF; Quire cannot read it without the password".into())
        })?;
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(ExtractError::Failed("the PDF has no pages".into()));
    }
    let mut failed_pages = 0usize;
    let mut looping_pages = 0usize;
    let texts: Vec<String> = pages
        .iter()
        .map(|(&number, &page_id)| {
            // pdf-extract follows /Parent links for inherited resources without
            // remembering where it has been: a loop there would never return.
            if parents_loop(&doc, page_id) {
                looping_pages += 1;
                failed_pages += 1;
                return String::new();
            }
            // Each page on its own: one damaged content stream must not cost the others.
            let rendered = panic::catch_unwind(AssertUnwindSafe(|| {
                let mut text = String::new();
                output_doc_page(&doc, &mut PlainTextOutput::new(&mut text), number).map(|()| text)
            }));
            match rendered {
                Ok(Ok(text)) => text,
                Ok(Err(err)) => {
                    tracing::debug!(page = number, "PDF page failed: {err}");
                    failed_pages += 1;
                    String::new()
                }
                Err(_) => {
                    failed_pages += 1;
                    String::new()
                }
            }
        })
        .collect();
    if looping_pages == texts.len() {
        return Err(ExtractError::Failed(
            "damaged PDF: its page tree loops back on itself".into(),
        ));
    }
    if failed_pages == texts.len() {
        return Err(ExtractError::Failed(format!(
            "none of its {} pages could be read; the file may be damaged",
            texts.len()
        )));
    }
    if failed_pages > 0 {
        tracing::warn!(failed_pages, "some PDF pages could not be read");
    }
    let title = info_title(&doc);
    Ok(Document::from_pages(title, texts))
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
        E::Decryption(_) | E::InvalidPassword | E::UnsupportedSecurityHandler(_) => {
            "password-protected PDF; Quire cannot read it without the password".into()
        }
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
    /// forever, and with it an indexing worker.
    #[test]
    fn a_page_tree_that_loops_is_reported_not_followed() {
        let bytes = include_bytes!("../../../fuzz/corpus/extract_pdf/regress-page-tree-loop.pdf");
        let err = extract(bytes).unwrap_err();
        assert_eq!(err.to_string(), "damaged PDF: its page tree loops back on itself");
    }

    #[test]
    fn garbage_is_not_a_pdf() {
        let err = extract(b"hello, I am not a PDF").unwrap_err();
        assert_eq!(err.to_string(), "not a PDF file (no %PDF header)");
    }

    #[test]
    fn a_truncated_pdf_is_reported_as_damaged() {
        let err = extract(b"%PDF-1.5\n1 0 obj\n<< /Type /Catalog").unwrap_err();
        assert!(matches!(err, ExtractError::Failed(_)), "{err:?}");
    }

    #[test]
    fn utf16_titles_are_decoded() {
        assert_eq!(decode_pdf_text_string(&[0xfe, 0xff, 0, b'H', 0, b'i']), "Hi");
        assert_eq!(decode_pdf_text_string(b"Caf\xe9"), "Café");
    }
}
