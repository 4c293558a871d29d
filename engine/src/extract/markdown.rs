//! Markdown: the text without its markup (so snippets read as prose), code blocks
//! kept, the first heading as the title.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::{tidy_whitespace, Document, ExtractError};

pub fn extract(source: &str) -> Result<Document, ExtractError> {
    let mut text = String::with_capacity(source.len());
    let mut title: Option<String> = None;
    let mut heading: Option<String> = None;
    for event in Parser::new_ext(source, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => {
                if let Some(h) = heading.take() {
                    if title.is_none() && !h.trim().is_empty() {
                        title = Some(h.trim().to_string());
                    }
                }
                text.push_str("\n\n");
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
                text.push_str(&t);
            }
            Event::SoftBreak | Event::HardBreak => text.push('\n'),
            Event::End(TagEnd::Paragraph | TagEnd::CodeBlock | TagEnd::Item | TagEnd::TableRow) => {
                text.push_str("\n\n")
            }
            Event::End(TagEnd::TableCell) => text.push('\t'),
            _ => {}
        }
    }
    Ok(Document::from_pages(title, [tidy_whitespace(&text)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_removed_and_the_first_heading_is_the_title() {
        let doc = extract("# Garden *plan*\n\nPlant **tomatoes** in `May`.\n\n- basil\n- mint\n").unwrap();
        assert_eq!(doc.title.as_deref(), Some("Garden plan"));
        assert_eq!(
            doc.pages[0].text,
            "Garden plan\n\nPlant tomatoes in May.\n\nbasil\n\nmint"
        );
    }
}
