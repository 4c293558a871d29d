//! PowerPoint (PPTX): a slide a page, in the presentation's order, with the speaker's
//! notes after the slide's own text; the title from docProps/core.xml.

use quick_xml::events::Event;
use quick_xml::Reader;

use super::package::{relationship_id, relationships, resolve, resolve_reference, Package};
use super::{tidy_whitespace, Document, ExtractError};

/// What precedes a slide's notes on its page.
pub(super) const NOTES_HEADING: &str = "Notes:";

pub fn extract(bytes: &[u8]) -> Result<Document, ExtractError> {
    let mut package = Package::open(bytes, "PowerPoint")?;
    let presentation = package.read("ppt/presentation.xml")?.ok_or_else(|| {
        ExtractError::Failed("not a PowerPoint presentation (no ppt/presentation.xml inside)".into())
    })?;
    let targets = relationships(
        &package
            .read("ppt/_rels/presentation.xml.rels")?
            .unwrap_or_default(),
    );
    let mut slides = Vec::new();
    for id in slide_relationship_ids(&presentation)? {
        let Some((_, target)) = targets.get(&id) else {
            continue;
        };
        let path = resolve("ppt", target);
        let Some(slide) = package.read(&path)? else {
            tracing::debug!(slide = %path, "slide missing from the presentation");
            continue;
        };
        let mut text = drawing_text(&slide, &path)?;
        if let Some(notes) = notes_of(&mut package, &path)? {
            if !notes.trim().is_empty() {
                text = format!("{text}\n\n{NOTES_HEADING}\n{notes}");
            }
        }
        slides.push(tidy_whitespace(&text));
    }
    if slides.is_empty() {
        return Err(ExtractError::Skipped("a presentation with no slides".into()));
    }
    Ok(Document::from_pages(package.title("docProps/core.xml"), slides))
}

/// The text of the notes page of the slide at `slide_path`, if it has one.
fn notes_of(package: &mut Package<'_>, slide_path: &str) -> Result<Option<String>, ExtractError> {
    let (folder, file) = slide_path.rsplit_once('/').unwrap_or(("", slide_path));
    let Some(rels) = package.read(&format!("{folder}/_rels/{file}.rels"))? else {
        return Ok(None);
    };
    let Some((_, target)) = relationships(&rels)
        .into_values()
        .find(|(kind, _)| kind.ends_with("/notesSlide"))
    else {
        return Ok(None);
    };
    let path = resolve(folder, &target);
    match package.read(&path)? {
        Some(notes) => Ok(Some(drawing_text(&notes, &path)?)),
        None => Ok(None),
    }
}

/// The relationship ids of the slides, in the presentation's order.
fn slide_relationship_ids(presentation: &str) -> Result<Vec<String>, ExtractError> {
    let mut reader = Reader::from_str(presentation);
    let mut ids = Vec::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| damaged("ppt/presentation.xml", &e))?
        {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"sldId" => {
                if let Some(id) = relationship_id(&e) {
                    ids.push(id);
                }
            }
            Event::Eof => return Ok(ids),
            _ => {}
        }
    }
}

/// The text of a DrawingML part (a slide, its notes): runs (`a:t`) in order, a line
/// per paragraph.
fn drawing_text(xml: &str, part: &str) -> Result<String, ExtractError> {
    let mut reader = Reader::from_str(xml);
    let mut text = String::new();
    let mut in_run = false;
    loop {
        match reader.read_event().map_err(|e| damaged(part, &e))? {
            Event::Start(e) if e.local_name().as_ref() == b"t" => in_run = true,
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_run = false,
                b"p" => text.push('\n'),
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                b"br" => text.push('\n'),
                b"tab" => text.push('\t'),
                _ => {}
            },
            Event::Text(t) if in_run => {
                text.push_str(&t.decode().map_err(|e| damaged(part, &e))?);
            }
            Event::GeneralRef(r) if in_run => text.push_str(&resolve_reference(&String::from_utf8_lossy(&r))),
            Event::Eof => return Ok(text),
            _ => {}
        }
    }
}

fn damaged(part: &str, error: &dyn std::fmt::Display) -> ExtractError {
    ExtractError::Failed(format!("damaged {part}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_paragraphs_and_entities_make_the_slide_text() {
        let xml = r#"<p:sld xmlns:a="a" xmlns:p="p"><p:cSld><p:spTree><p:sp><p:txBody>
            <a:p><a:r><a:t>Budget &amp; plan</a:t></a:r></a:p>
            <a:p><a:r><a:t>Q3</a:t></a:r><a:br/><a:r><a:t>Q4</a:t></a:r></a:p>
        </p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#;
        assert_eq!(drawing_text(xml, "slide").unwrap(), "Budget & plan\nQ3\nQ4\n");
    }
}
