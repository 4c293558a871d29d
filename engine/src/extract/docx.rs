//! DOCX: paragraph text from word/document.xml, the title from docProps/core.xml.
//! Explicit page breaks and the breaks Word records when it saves
//! (`w:lastRenderedPageBreak`) start new pages, so citations can name pages.

use std::io::{Cursor, Read};

use quick_xml::events::Event;
use quick_xml::Reader;

use super::{tidy_whitespace, Document, ExtractError};

/// The most XML read from one part of the archive. word/document.xml of a real
/// document is rarely over a few MB (a 1,000-page report: some 20 MB).
const MAX_XML_BYTES: u64 = 128 * 1024 * 1024;
/// A part may unpack to at most this many times its packed size once it is larger
/// than [`RATIO_FREE_BYTES`]: XML packs some 5–20 times, a zip bomb a thousand
/// (1 MB that unpacked to 258 MB of text: 258 k passages, hours of embedding).
const MAX_UNPACK_RATIO: u64 = 100;
const RATIO_FREE_BYTES: u64 = 16 * 1024 * 1024;

pub fn extract(bytes: &[u8]) -> Result<Document, ExtractError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        ExtractError::Failed(format!(
            "not a valid DOCX file (the zip container is damaged: {e})"
        ))
    })?;
    let body = read_entry(&mut archive, "word/document.xml")?
        .ok_or_else(|| ExtractError::Failed("not a Word document (no word/document.xml inside)".into()))?;
    let pages = body_pages(&body)?;
    let title = read_entry(&mut archive, "docProps/core.xml")
        .ok()
        .flatten()
        .and_then(|core| core_title(&core));
    Ok(Document::from_pages(title, pages))
}

fn read_entry(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
) -> Result<Option<String>, ExtractError> {
    let entry = match archive.by_name(name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(ExtractError::Failed(format!("cannot read {name}: {e}"))),
    };
    // The sizes the archive declares may lie: what is read is capped the same way.
    let limit = unpack_limit(entry.compressed_size());
    if entry.size() > limit {
        return Err(too_much(name, Some(entry.size()), entry.compressed_size(), limit));
    }
    let packed = entry.compressed_size();
    let mut xml = String::new();
    entry
        .take(limit + 1)
        .read_to_string(&mut xml)
        .map_err(|e| ExtractError::Failed(format!("cannot read {name}: {e}")))?;
    if xml.len() as u64 > limit {
        return Err(too_much(name, None, packed, limit));
    }
    Ok(Some(xml))
}

/// How much a part packed into `packed` bytes may unpack to.
fn unpack_limit(packed: u64) -> u64 {
    packed
        .saturating_mul(MAX_UNPACK_RATIO)
        .clamp(RATIO_FREE_BYTES, MAX_XML_BYTES)
}

/// `size`: what the archive declares; None when it declared less than it held.
fn too_much(name: &str, size: Option<u64>, packed: u64, limit: u64) -> ExtractError {
    use crate::size::human_bytes;
    ExtractError::Failed(format!(
        "{name} unpacks to {} from {} packed, more than the {} Quire unpacks \
         (at most {MAX_UNPACK_RATIO} times the packed size, {} in all): not a real document (a zip bomb?)",
        size.map_or_else(|| format!("more than {}", human_bytes(limit)), human_bytes),
        human_bytes(packed),
        human_bytes(limit),
        human_bytes(MAX_XML_BYTES)
    ))
}

fn body_pages(xml: &str) -> Result<Vec<String>, ExtractError> {
    let mut reader = Reader::from_str(xml);
    let mut pages = Vec::new();
    let mut page = String::new();
    let mut in_text = false;
    loop {
        let event = reader.read_event().map_err(|e| {
            ExtractError::Failed(format!(
                "damaged word/document.xml at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        match event {
            Event::Start(e) if e.local_name().as_ref() == b"t" => in_text = true,
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"p" => page.push('\n'),
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                b"tab" => page.push('\t'),
                b"br" | b"cr" => {
                    let is_page_break = e
                        .attributes()
                        .flatten()
                        .any(|a| a.key.local_name().as_ref() == b"type" && a.value.as_ref() == b"page");
                    if is_page_break {
                        pages.push(std::mem::take(&mut page));
                    } else {
                        page.push('\n');
                    }
                }
                b"lastRenderedPageBreak" => pages.push(std::mem::take(&mut page)),
                _ => {}
            },
            Event::Text(t) if in_text => {
                let text = t
                    .decode()
                    .map_err(|e| ExtractError::Failed(format!("damaged text in word/document.xml: {e}")))?;
                page.push_str(&text);
            }
            Event::GeneralRef(r) if in_text => {
                page.push_str(&resolve_reference(&String::from_utf8_lossy(&r)));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    pages.push(page);
    Ok(pages.iter().map(|p| tidy_whitespace(p)).collect())
}

fn resolve_reference(name: &str) -> String {
    match name {
        "amp" => "&".into(),
        "lt" => "<".into(),
        "gt" => ">".into(),
        "quot" => "\"".into(),
        "apos" => "'".into(),
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(hex, 16).ok()
            } else {
                name.strip_prefix('#').and_then(|d| d.parse().ok())
            };
            code.and_then(char::from_u32)
                .map(String::from)
                .unwrap_or_default()
        }
    }
}

fn core_title(xml: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    let mut in_title = false;
    let mut title = String::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == b"title" => in_title = true,
            Event::End(e) if e.local_name().as_ref() == b"title" => break,
            Event::Text(t) if in_title => title.push_str(&t.decode().ok()?),
            Event::GeneralRef(r) if in_title => {
                title.push_str(&resolve_reference(&String::from_utf8_lossy(&r)))
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let title = title.trim();
    (!title.is_empty()).then(|| title.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_breaks_and_entities_are_read() {
        let xml = r#"<w:document xmlns:w="x"><w:body>
            <w:p><w:r><w:t>Fish &amp; chips</w:t></w:r><w:r><w:tab/><w:t xml:space="preserve"> menu</w:t></w:r></w:p>
            <w:p><w:r><w:br w:type="page"/><w:t>Second page</w:t></w:r></w:p>
        </w:body></w:document>"#;
        let pages = body_pages(xml).unwrap();
        assert_eq!(
            pages,
            vec!["Fish & chips\t menu".to_string(), "Second page".to_string()]
        );
    }

    #[test]
    fn a_part_that_unpacks_far_beyond_its_packed_size_is_refused() {
        use std::io::Write;
        // 64 MB of one repeated paragraph packs into a few hundred KB.
        let paragraph = "<w:p><w:r><w:t>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</w:t></w:r></w:p>";
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("word/document.xml", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"<w:document><w:body>").unwrap();
        for _ in 0..(64 << 20) / paragraph.len() {
            zip.write_all(paragraph.as_bytes()).unwrap();
        }
        zip.write_all(b"</w:body></w:document>").unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        assert!(bytes.len() < 1 << 20, "{}", bytes.len());
        let message = extract(&bytes).unwrap_err().to_string();
        assert!(
            message.contains("word/document.xml unpacks to 64.0 MB") && message.contains("zip bomb"),
            "{message}"
        );
        // Within the ratio a large part is read.
        assert_eq!(unpack_limit(1 << 20), 100 << 20);
        assert_eq!(unpack_limit(10), 16 << 20);
        assert_eq!(unpack_limit(u64::MAX), MAX_XML_BYTES);
    }

    #[test]
    fn a_zip_without_a_document_is_not_a_word_file() {
        let err = extract(b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").unwrap_err();
        assert!(err.to_string().contains("not a Word document"), "{err}");
    }
}
