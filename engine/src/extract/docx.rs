//! DOCX: paragraph text from word/document.xml, the title from docProps/core.xml.
//! Explicit page breaks and the breaks Word records when it saves
//! (`w:lastRenderedPageBreak`) start new pages, so citations can name pages.

use quick_xml::events::Event;
use quick_xml::Reader;

use super::package::{resolve_reference, Package};
use super::{tidy_whitespace, Document, ExtractError};

pub fn extract(bytes: &[u8]) -> Result<Document, ExtractError> {
    let mut package = Package::open(bytes, "DOCX")?;
    let body = package
        .read("word/document.xml")?
        .ok_or_else(|| ExtractError::Failed("not a Word document (no word/document.xml inside)".into()))?;
    let pages = body_pages(&body)?;
    let title = package.title("docProps/core.xml");
    Ok(Document::from_pages(title, pages))
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
        use super::super::package::{unpack_limit, MAX_XML_BYTES};
        use std::io::{Cursor, Write};
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
