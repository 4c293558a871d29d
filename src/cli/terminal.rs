//! What reaches the terminal from documents. File names, titles, snippets, quotes and
//! answers (which repeat what documents say) may hold escape sequences and other
//! control characters that would drive the terminal: move the cursor, rewrite lines
//! already shown, retitle the window, reorder text. Each is shown as U+FFFD instead.

use std::borrow::Cow;
use std::path::Path;

use quire_engine::retrieve::Snippet;

/// `text` with every control character but line breaks and tabs, and every
/// bidirectional override, replaced by U+FFFD.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if is_unprintable(c) {
                    char::REPLACEMENT_CHARACTER
                } else {
                    c
                }
            })
            .collect(),
    )
}

/// A path as [`printable`] text.
pub fn printable_path(path: &Path) -> String {
    printable(&path.display().to_string()).into_owned()
}

/// The snippet with each match wrapped in `open` … `close` (our own ANSI codes or
/// asterisks), its text made [`printable`] first.
pub fn marked_snippet(snippet: &Snippet, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(snippet.text.len() + 16 * snippet.highlights.len());
    for (piece, highlighted) in snippet.pieces() {
        if highlighted {
            out.push_str(open);
            out.push_str(&printable(piece));
            out.push_str(close);
        } else {
            out.push_str(&printable(piece));
        }
    }
    out
}

fn is_unprintable(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        // Bidirectional embeddings, overrides and isolates: they reorder what follows them.
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_shown_not_obeyed() {
        assert_eq!(
            printable("report\x1b]0;owned\x07.pdf\r\n\tpage\u{9b}2\u{202e}fdp"),
            "report\u{fffd}]0;owned\u{fffd}.pdf\u{fffd}\n\tpage\u{fffd}2\u{fffd}fdp"
        );
        assert!(matches!(printable("plain text, ünïcode"), Cow::Borrowed(_)));
    }

    #[test]
    fn snippets_keep_their_marks_around_cleaned_text() {
        let snippet = Snippet {
            text: "a \x1b[2Jboiler\x1b[0m service".into(),
            highlights: vec![6..12, 17..24],
        };
        assert_eq!(
            marked_snippet(&snippet, "**", "**"),
            "a \u{fffd}[2J**boiler**\u{fffd}[0m **service**"
        );
    }
}
