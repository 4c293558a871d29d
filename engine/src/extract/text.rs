//! Plain text and source code. UTF-8 is read as it is; UTF-16 with a byte-order
//! mark and legacy single- and multi-byte encodings are detected and decoded;
//! anything that still does not decode is reported, never indexed as garbage.

use super::{Document, ExtractError};

/// How much of a file is inspected to tell text from binary.
const SNIFF_BYTES: usize = 64 * 1024;

pub fn extract(bytes: &[u8]) -> Result<Document, ExtractError> {
    let text = decode_text(bytes)?;
    // A form feed is the plain-text page break (printouts, man pages, old reports).
    let pages = text.split('\u{c}').map(str::to_string).collect::<Vec<_>>();
    Ok(Document::from_pages(None, pages))
}

/// Decodes bytes that should be text. Binary content is `Skipped`; text in an
/// encoding that cannot be decoded cleanly is `Failed`.
pub fn decode_text(bytes: &[u8]) -> Result<String, ExtractError> {
    if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        if had_errors {
            return Err(ExtractError::Failed(format!(
                "starts with a {} byte-order mark but is not valid {} text",
                encoding.name(),
                encoding.name()
            )));
        }
        return Ok(text.into_owned());
    }
    if looks_binary(bytes) {
        return Err(ExtractError::Skipped(
            "binary content (not text, despite its name)".into(),
        ));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_string());
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(bytes, true);
    let encoding = detector.guess(None, true);
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(ExtractError::Failed(format!(
            "text is not UTF-8 and does not decode as {} either",
            encoding.name()
        )));
    }
    tracing::debug!(encoding = encoding.name(), "decoded non-UTF-8 text");
    Ok(text.into_owned())
}

/// Text files have no NUL bytes and almost no control characters other than
/// whitespace and escape sequences.
fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if head.contains(&0) {
        return true;
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
        .count();
    control * 100 > head.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_form_feeds_becomes_pages() {
        let doc = extract("first page\u{c}second page".as_bytes()).unwrap();
        assert_eq!(doc.pages.len(), 2);
        assert_eq!(doc.pages[1].number, 2);
        assert_eq!(doc.pages[1].text, "second page");
    }

    #[test]
    fn legacy_encodings_are_decoded_not_garbled() {
        // "Café crème brûlée" in windows-1252.
        let latin1 = b"Caf\xe9 cr\xe8me br\xfbl\xe9e, une recette fran\xe7aise tr\xe8s simple.";
        assert_eq!(
            decode_text(latin1).unwrap(),
            "Café crème brûlée, une recette française très simple."
        );
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("hello".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(decode_text(&utf16).unwrap(), "hello");
    }

    #[test]
    fn binary_content_is_skipped() {
        let err = decode_text(b"\x7fELF\x02\x01\x01\x00\x00\x00").unwrap_err();
        assert!(matches!(err, ExtractError::Skipped(_)), "{err:?}");
    }

    #[test]
    fn broken_utf16_is_reported() {
        let err = decode_text(&[0xfe, 0xff, 0xd8, 0x00]).unwrap_err();
        assert!(matches!(err, ExtractError::Failed(_)), "{err:?}");
    }
}
