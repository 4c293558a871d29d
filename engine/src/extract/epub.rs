//! EPUB: the book's chapters in reading order (the package's spine), a chapter a
//! page, each read as HTML; the title from the package's metadata.

use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::package::{attribute, resolve, Package};
use super::{html, Document, ExtractError};

pub fn extract(bytes: &[u8]) -> Result<Document, ExtractError> {
    let mut package = Package::open(bytes, "EPUB")?;
    let container = package
        .read("META-INF/container.xml")?
        .ok_or_else(|| ExtractError::Failed("not an EPUB book (no META-INF/container.xml inside)".into()))?;
    let opf_path = first_attribute(&container, b"rootfile", b"full-path")
        .ok_or_else(|| ExtractError::Failed("damaged EPUB: its container names no package file".into()))?;
    let opf = package.read(&opf_path)?.ok_or_else(|| {
        ExtractError::Failed(format!("damaged EPUB: its package file {opf_path} is missing"))
    })?;
    let book = read_package(&opf)?;
    let base = opf_path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut chapters = Vec::with_capacity(book.spine.len());
    for id in &book.spine {
        let Some(href) = book.chapters.get(id) else {
            continue; // A spine entry the manifest lacks, or not XHTML.
        };
        let path = resolve_href(base, href);
        let Some(xhtml) = package.read(&path)? else {
            tracing::debug!(chapter = %path, "EPUB chapter missing from the package");
            continue;
        };
        // A chapter that cannot be read keeps its page, empty, so later ones keep theirs.
        let text = match html::extract(&xhtml) {
            Ok(chapter) => chapter
                .pages
                .into_iter()
                .map(|p| p.text)
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => {
                tracing::debug!(chapter = %path, "EPUB chapter unreadable: {e}");
                String::new()
            }
        };
        chapters.push(text);
    }
    if chapters.is_empty() {
        return Err(ExtractError::Failed(
            "damaged EPUB: none of its chapters is in the package".into(),
        ));
    }
    Ok(Document::from_pages(book.title, chapters))
}

/// What the package file (OPF) says: the title, the reading order, and where each
/// XHTML chapter is.
struct Book {
    title: Option<String>,
    /// Manifest ids in reading order.
    spine: Vec<String>,
    /// Manifest id → path of an XHTML chapter, relative to the package file.
    chapters: HashMap<String, String>,
}

fn read_package(opf: &str) -> Result<Book, ExtractError> {
    let mut reader = Reader::from_str(opf);
    let mut book = Book {
        title: None,
        spine: Vec::new(),
        chapters: HashMap::new(),
    };
    let mut in_title = false;
    let mut title = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| ExtractError::Failed(format!("damaged EPUB package file: {e}")))?;
        match event {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"title" if book.title.is_none() => in_title = true,
                b"item" => {
                    let media = attribute(&e, b"media-type").unwrap_or_default();
                    if media == "application/xhtml+xml" || media == "text/html" {
                        if let (Some(id), Some(href)) = (attribute(&e, b"id"), attribute(&e, b"href")) {
                            book.chapters.insert(id, href);
                        }
                    }
                }
                b"itemref" => {
                    // Non-linear items (notes, pop-ups) are read too: they are the book's text.
                    if let Some(id) = attribute(&e, b"idref") {
                        book.spine.push(id);
                    }
                }
                _ => {}
            },
            Event::Text(t) if in_title => title.push_str(&t.decode().unwrap_or_default()),
            Event::End(e) if in_title && e.local_name().as_ref() == b"title" => {
                in_title = false;
                let trimmed = title.trim();
                book.title = (!trimmed.is_empty()).then(|| trimmed.to_string());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(book)
}

/// The first `attribute` of an element named `element` in `xml`.
fn first_attribute(xml: &str, element: &[u8], name: &[u8]) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == element => {
                return attribute(&e, name);
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// The package path of `href` (percent-encoded, maybe with a fragment) relative to
/// the folder `base`.
fn resolve_href(base: &str, href: &str) -> String {
    resolve(base, &percent_decode(href.split('#').next().unwrap_or_default()))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chapter_paths_are_resolved_against_the_package_folder() {
        assert_eq!(
            resolve_href("OEBPS", "Text/ch%201.xhtml#start"),
            "OEBPS/Text/ch 1.xhtml"
        );
        assert_eq!(
            resolve_href("OEBPS/content", "../Text/ch2.xhtml"),
            "OEBPS/Text/ch2.xhtml"
        );
        assert_eq!(resolve_href("", "ch3.xhtml"), "ch3.xhtml");
        assert_eq!(resolve_href("a", "../../../escape.xhtml"), "escape.xhtml");
    }
}
