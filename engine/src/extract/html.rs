//! HTML: the visible text only. Scripts, styles, templates and other invisible
//! parts are dropped; block elements become line breaks; the title comes from <title>.
//! Nesting is capped before parsing: the parser's work per element grows with the
//! depth of the elements open around it (400 KB of nested `<div>` took 13 s).

use std::borrow::Cow;
use std::collections::HashMap;

use ego_tree::iter::Edge;
use scraper::{Html, Node};

use super::{tidy_whitespace, Document, ExtractError};

/// Elements whose content is never shown as text.
const INVISIBLE: &[&str] = &[
    "head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "canvas",
];

/// Elements that start a new line of text.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

/// Elements nested deeper than this lose their tags (their text stays). Browsers
/// stop at 512; real pages stay far below.
const MAX_DEPTH: usize = 256;

/// Elements that never have content (no end tag).
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
    "wbr",
];

/// Elements the parser closes by itself when the next one starts (`<p>`, `<li>` … left
/// open by hand-written HTML): not counted as nesting.
const SELF_CLOSING: &[&str] = &[
    "p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option", "optgroup", "rb", "rt",
    "rp", "caption", "colgroup",
];

/// Elements whose content is text, not markup, up to their end tag.
const RAW_TEXT: &[&str] = &[
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "plaintext",
];

pub fn extract(source: &str) -> Result<Document, ExtractError> {
    let source = cap_nesting(source);
    let html = Html::parse_document(&source);
    let mut text = String::new();
    let mut title = String::new();
    // Depth inside invisible elements, and inside <title> (which lives in the invisible <head>).
    let mut hidden = 0usize;
    let mut in_title = 0usize;
    // An explicit walk, not recursion: deeply nested markup must not overflow the stack.
    for edge in html.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(e) => {
                    let name = e.name();
                    if name == "title" {
                        in_title += 1;
                    }
                    if INVISIBLE.contains(&name) {
                        hidden += 1;
                    } else if hidden == 0 && BLOCKS.contains(&name) {
                        text.push('\n');
                    }
                }
                Node::Text(t) => {
                    if in_title > 0 {
                        title.push_str(t);
                    } else if hidden == 0 {
                        push_collapsed(&mut text, t);
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(e) = node.value() {
                    let name = e.name();
                    if name == "title" {
                        in_title = in_title.saturating_sub(1);
                    }
                    if INVISIBLE.contains(&name) {
                        hidden = hidden.saturating_sub(1);
                    } else if hidden == 0 && BLOCKS.contains(&name) {
                        text.push('\n');
                    }
                }
            }
        }
    }
    let lines: String = text.lines().map(|l| format!("{}\n", l.trim())).collect();
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(Document::from_pages(
        (!title.is_empty()).then_some(title),
        [tidy_whitespace(&lines)],
    ))
}

/// `source` with the tags of elements nested deeper than [`MAX_DEPTH`] replaced by a
/// space, start and end tags alike, so that the parser never holds more open
/// elements than that. One linear pass over the tags, as a parser reads them;
/// markup that nests no deeper comes back untouched.
fn cap_nesting(source: &str) -> Cow<'_, str> {
    let bytes = source.as_bytes();
    let mut open: Vec<String> = Vec::new();
    // End tags still to drop, by element name, for start tags that were dropped.
    let mut dropped: HashMap<String, usize> = HashMap::new();
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = source[at..].find('<') {
        let lt = at + found;
        let rest = &bytes[lt..];
        if rest.starts_with(b"<!--") {
            at = source[lt + 4..]
                .find("-->")
                .map_or(source.len(), |e| lt + 4 + e + 3);
            continue;
        }
        if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            at = source[lt..].find('>').map_or(source.len(), |e| lt + e + 1);
            continue;
        }
        let closing = rest.get(1) == Some(&b'/');
        let name_start = lt + 1 + usize::from(closing);
        if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
            at = lt + 1;
            continue;
        }
        let name_end = bytes[name_start..]
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b':'))
            .map_or(source.len(), |n| name_start + n);
        let name = source[name_start..name_end].to_ascii_lowercase();
        let tag_end = tag_end(bytes, name_end);
        at = tag_end;
        let drop_tag = if closing {
            match dropped.get_mut(&name) {
                Some(count) if *count > 0 => {
                    *count -= 1;
                    true
                }
                _ => {
                    if let Some(index) = open.iter().rposition(|n| *n == name) {
                        open.truncate(index);
                    }
                    false
                }
            }
        } else if VOID.contains(&name.as_str())
            || SELF_CLOSING.contains(&name.as_str())
            // Never dropped: their content would become visible text.
            || RAW_TEXT.contains(&name.as_str())
            || bytes[..tag_end].ends_with(b"/>")
        {
            false
        } else if open.len() >= MAX_DEPTH {
            *dropped.entry(name.clone()).or_default() += 1;
            true
        } else {
            open.push(name.clone());
            false
        };
        if drop_tag {
            out.push_str(&source[copied..lt]);
            out.push(' ');
            copied = tag_end;
        }
        if !closing && RAW_TEXT.contains(&name.as_str()) {
            // Its content is not markup: go on at its end tag.
            at = raw_text_end(source, at, &name);
        }
    }
    if copied == 0 {
        return Cow::Borrowed(source);
    }
    out.push_str(&source[copied..]);
    Cow::Owned(out)
}

/// Where the tag whose name ends at `from` ends: after its `>`, quoted attribute values skipped.
fn tag_end(bytes: &[u8], from: usize) -> usize {
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return i + 1,
            None => {}
        }
    }
    bytes.len()
}

/// Where the end tag `</name` of a raw-text element starts, looking from `from`.
fn raw_text_end(source: &str, from: usize, name: &str) -> usize {
    let mut at = from;
    while let Some(found) = source[at..].find("</") {
        let start = at + found;
        let candidate = source.as_bytes().get(start + 2..start + 2 + name.len());
        if candidate.is_some_and(|c| c.eq_ignore_ascii_case(name.as_bytes())) {
            return start;
        }
        at = start + 2;
    }
    source.len()
}

/// Appends text with runs of whitespace collapsed to one space, as a browser shows it.
fn push_collapsed(out: &mut String, text: &str) {
    let mut last_was_space = out.ends_with([' ', '\n']);
    for c in text.chars() {
        if c.is_whitespace() {
            if !last_was_space {
                out.push(' ');
                last_was_space = true;
            }
        } else {
            out.push(c);
            last_was_space = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_text_is_kept() {
        let doc = extract(
            "<html><head><title>Quarterly  report</title><style>p{color:red}</style></head>\
             <body><script>var secret = 1;</script><h1>Results</h1><p>Revenue   grew.</p>\
             <noscript>enable js</noscript><ul><li>one</li><li>two</li></ul></body></html>",
        )
        .unwrap();
        assert_eq!(doc.title.as_deref(), Some("Quarterly report"));
        assert_eq!(doc.pages[0].text, "Results\n\nRevenue grew.\n\none\n\ntwo");
        assert!(!doc.pages[0].text.contains("secret"));
        assert!(!doc.pages[0].text.contains("color"));
    }

    #[test]
    fn nesting_beyond_the_cap_loses_its_tags_and_keeps_its_text() {
        let depth = 80_000; // 400 KB of <div>
        let source = format!(
            "<html><body>{}<p>found at the bottom</p>{}<p>after</p></body></html>",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        );
        let capped = cap_nesting(&source);
        assert!(capped.matches("<div>").count() <= MAX_DEPTH);
        assert_eq!(capped.matches("<div>").count(), capped.matches("</div>").count());
        let doc = extract(&source).unwrap();
        assert_eq!(doc.pages[0].text, "found at the bottom\n\nafter");
        // Scripts deep down stay scripts.
        let hidden = format!(
            "{}<script>var hidden = 1;</script>shown",
            "<section>".repeat(depth)
        );
        assert_eq!(extract(&hidden).unwrap().pages[0].text, "shown");
    }

    #[test]
    fn ordinary_markup_is_parsed_as_written() {
        let source = "<ul><li>one<li>two</ul><p>a<p>b<script>if (a < b) { x = '</div>'; }</script>\
                      <!-- <div> --><div title='a > b'><br/><img src=x>c</div>";
        assert!(matches!(cap_nesting(source), Cow::Borrowed(_)));
        // Deep, but in self-closing and void elements only.
        let flat = "<p>x".repeat(MAX_DEPTH * 2) + &"<br>".repeat(MAX_DEPTH * 2);
        assert!(matches!(cap_nesting(&flat), Cow::Borrowed(_)));
    }
}
