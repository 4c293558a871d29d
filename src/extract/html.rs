//! HTML: the visible text only. Scripts, styles, templates and other invisible
//! parts are dropped; block elements become line breaks; the title comes from <title>.

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

pub fn extract(source: &str) -> Result<Document, ExtractError> {
    let html = Html::parse_document(source);
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
}
