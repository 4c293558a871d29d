//! Zip packages: the container of DOCX, PPTX, EPUB and OpenDocument files. Parts are
//! read as XML text within limits on what they unpack to, so that a zip bomb costs
//! nothing; the title comes from the package's metadata part.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::ExtractError;

/// The most XML read from one part of the archive. word/document.xml of a real
/// document is rarely over a few MB (a 1,000-page report: some 20 MB).
pub(super) const MAX_XML_BYTES: u64 = 128 * 1024 * 1024;
/// A part may unpack to at most this many times its packed size once it is larger
/// than [`RATIO_FREE_BYTES`]: XML packs some 5–20 times, a zip bomb a thousand
/// (1 MB that unpacked to 258 MB of text: 258 k passages, hours of embedding).
const MAX_UNPACK_RATIO: u64 = 100;
const RATIO_FREE_BYTES: u64 = 16 * 1024 * 1024;

/// The most text read from all the parts of one package together (a book of many
/// chapters, each within its own limit).
const MAX_PACKAGE_XML_BYTES: u64 = 2 * MAX_XML_BYTES;

/// An open zip package.
pub(super) struct Package<'a> {
    archive: zip::ZipArchive<Cursor<&'a [u8]>>,
    /// Text read from its parts so far.
    read_bytes: u64,
}

impl<'a> Package<'a> {
    /// Opens `bytes` as the package of a `kind` file (DOCX, EPUB…), named in the error.
    pub fn open(bytes: &'a [u8], kind: &str) -> Result<Package<'a>, ExtractError> {
        let archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
            ExtractError::Failed(format!(
                "not a valid {kind} file (the zip container is damaged: {e})"
            ))
        })?;
        Ok(Package {
            archive,
            read_bytes: 0,
        })
    }

    /// The part `name` as text; `None` when the package has no such part.
    pub fn read(&mut self, name: &str) -> Result<Option<String>, ExtractError> {
        let part = read_entry(&mut self.archive, name)?;
        self.read_bytes += part.as_ref().map_or(0, |p| p.len() as u64);
        if self.read_bytes > MAX_PACKAGE_XML_BYTES {
            return Err(ExtractError::Failed(format!(
                "its parts unpack to more than the {} Quire reads of one file",
                crate::size::human_bytes(MAX_PACKAGE_XML_BYTES)
            )));
        }
        Ok(part)
    }

    /// The title in the metadata part `name` (`dc:title`), if it has one.
    pub fn title(&mut self, name: &str) -> Option<String> {
        self.read(name).ok().flatten().and_then(|xml| core_title(&xml))
    }
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
pub(super) fn unpack_limit(packed: u64) -> u64 {
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

pub(super) fn resolve_reference(name: &str) -> String {
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

/// An attribute's value, entities unescaped (the parts are UTF-8 text).
fn attribute_value(attribute: &quick_xml::events::attributes::Attribute<'_>) -> Option<String> {
    quick_xml::escape::unescape(&String::from_utf8_lossy(&attribute.value))
        .ok()
        .map(|v| v.into_owned())
}

/// The value of `element`'s attribute `name` (any namespace), unescaped.
pub(super) fn attribute(element: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| attribute_value(&a))
}

/// The relationship an element points to (`r:id`): a slide, a worksheet.
pub(super) fn relationship_id(element: &BytesStart<'_>) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == b"id" && a.key.prefix().is_some_and(|p| p.as_ref() == b"r"))
        .and_then(|a| attribute_value(&a))
}

/// A relationships part: id → (type, target).
pub(super) fn relationships(xml: &str) -> HashMap<String, (String, String)> {
    let mut reader = Reader::from_str(xml);
    let mut found = HashMap::new();
    while let Ok(event) = reader.read_event() {
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Relationship" => {
                let mut values = HashMap::new();
                for attribute in e.attributes().flatten() {
                    if let Some(value) = attribute_value(&attribute) {
                        values.insert(attribute.key.local_name().as_ref().to_vec(), value);
                    }
                }
                if let (Some(id), Some(target)) = (values.remove(&b"Id"[..]), values.remove(&b"Target"[..])) {
                    found.insert(id, (values.remove(&b"Type"[..]).unwrap_or_default(), target));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    found
}

/// The package path of `target`, relative to the folder `base` (`../notesSlides/notesSlide1.xml`)
/// or from the package's root (`/ppt/slides/slide1.xml`); `..` never leaves the package.
pub(super) fn resolve(base: &str, target: &str) -> String {
    if let Some(absolute) = target.strip_prefix('/') {
        return absolute.to_string();
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_resolved_against_their_part() {
        assert_eq!(
            resolve("ppt/slides", "../notesSlides/notesSlide1.xml"),
            "ppt/notesSlides/notesSlide1.xml"
        );
        assert_eq!(resolve("ppt", "slides/slide2.xml"), "ppt/slides/slide2.xml");
        assert_eq!(resolve("ppt", "/ppt/slides/slide3.xml"), "ppt/slides/slide3.xml");
    }
}
