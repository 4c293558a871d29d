//! OpenDocument text (ODT) and presentations (ODP), from content.xml: paragraphs and
//! headings as lines; in a text document the page breaks the writing program recorded
//! (`text:soft-page-break`, and none in a document never laid out) start new pages;
//! in a presentation a slide is a page, its notes after its text. The title comes
//! from meta.xml. Spreadsheets (ODS) are read as spreadsheets ([`super::sheets`]).

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::package::{attribute, resolve_reference, Package};
use super::slides::NOTES_HEADING;
use super::{tidy_whitespace, Document, ExtractError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Presentation,
}

pub fn extract(bytes: &[u8], kind: Kind) -> Result<Document, ExtractError> {
    let name = match kind {
        Kind::Text => "OpenDocument text",
        Kind::Presentation => "OpenDocument presentation",
    };
    let mut package = Package::open(bytes, name)?;
    let content = package
        .read("content.xml")?
        .ok_or_else(|| ExtractError::Failed(format!("not an {name} (no content.xml inside)")))?;
    let pages = content_pages(&content, kind)?;
    if kind == Kind::Presentation && pages.is_empty() {
        return Err(ExtractError::Skipped("a presentation with no slides".into()));
    }
    Ok(Document::from_pages(package.title("meta.xml"), pages))
}

/// The pages of content.xml's text.
fn content_pages(xml: &str, kind: Kind) -> Result<Vec<String>, ExtractError> {
    let mut reader = Reader::from_str(xml);
    let mut pages = Vec::new();
    let mut page = String::new();
    // Depth inside paragraphs and headings (they nest: a note's paragraph in a paragraph).
    let mut in_paragraph = 0usize;
    // Slides begun.
    let mut slides = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| {
            ExtractError::Failed(format!(
                "damaged content.xml at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                b"p" | b"h" => in_paragraph += 1,
                b"page" if kind == Kind::Presentation => {
                    if slides > 0 {
                        pages.push(tidy_whitespace(&std::mem::take(&mut page)));
                    }
                    slides += 1;
                }
                b"notes" if kind == Kind::Presentation => page.push_str(&format!("\n\n{NOTES_HEADING}\n")),
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"p" | b"h" => {
                    in_paragraph = in_paragraph.saturating_sub(1);
                    page.push('\n');
                }
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                b"s" if in_paragraph > 0 => page.push_str(&" ".repeat(space_count(&e))),
                b"tab" if in_paragraph > 0 => page.push('\t'),
                b"line-break" if in_paragraph > 0 => page.push('\n'),
                b"soft-page-break" if kind == Kind::Text => {
                    pages.push(tidy_whitespace(&std::mem::take(&mut page)))
                }
                _ => {}
            },
            Event::Text(t) if in_paragraph > 0 => {
                let text = t
                    .decode()
                    .map_err(|e| ExtractError::Failed(format!("damaged text in content.xml: {e}")))?;
                page.push_str(&text);
            }
            Event::GeneralRef(r) if in_paragraph > 0 => {
                page.push_str(&resolve_reference(&String::from_utf8_lossy(&r)))
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if kind == Kind::Text || slides > 0 {
        pages.push(tidy_whitespace(&page));
    }
    Ok(pages)
}

/// `text:s` stands for `text:c` spaces (one when it does not say), at most a line's worth.
fn space_count(element: &BytesStart<'_>) -> usize {
    attribute(element, b"c")
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(1usize)
        .min(256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_spaces_and_page_breaks_are_read() {
        let xml = r#"<office:document-content xmlns:office="o" xmlns:text="t"><office:body><office:text>
            <text:h>Minutes</text:h>
            <text:p>Tea<text:s text:c="2"/>and <text:span>cake</text:span> &amp; more</text:p>
            <text:p><text:soft-page-break/>Second page</text:p>
        </office:text></office:body></office:document-content>"#;
        let pages = content_pages(xml, Kind::Text).unwrap();
        assert_eq!(
            pages,
            vec![
                "Minutes\nTea  and cake & more".to_string(),
                "Second page".to_string()
            ]
        );
    }

    #[test]
    fn each_slide_is_a_page_with_its_notes() {
        let xml = r#"<office:document-content xmlns:office="o" xmlns:draw="d" xmlns:text="t" xmlns:presentation="p">
            <office:body><office:presentation>
            <draw:page><draw:frame><draw:text-box><text:p>Welcome</text:p></draw:text-box></draw:frame>
              <presentation:notes><draw:frame><draw:text-box><text:p>Say hello</text:p></draw:text-box></draw:frame></presentation:notes>
            </draw:page>
            <draw:page><draw:frame><draw:text-box><text:p>Agenda</text:p></draw:text-box></draw:frame></draw:page>
            </office:presentation></office:body></office:document-content>"#;
        let pages = content_pages(xml, Kind::Presentation).unwrap();
        assert_eq!(
            pages,
            vec!["Welcome\n\nNotes:\nSay hello".to_string(), "Agenda".to_string()]
        );
    }
}
