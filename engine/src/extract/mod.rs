//! Extraction: one module per format, each turning a file's bytes into a
//! [`Document`] of numbered pages. Extractors never panic across this boundary: a
//! parser that panics becomes an error on that one file.

mod docx;
mod html;
mod markdown;
mod pdf;
mod text;

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

pub use text::decode_text;

/// A document as Quire indexes it: its title (when the file names one) and its pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub title: Option<String>,
    pub pages: Vec<Page>,
}

/// One page of text. `number` counts from 1. Formats without pages have one page,
/// except that form feeds in plain text and page breaks in DOCX start new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub number: u32,
    pub text: String,
}

impl Document {
    /// Pages from texts in order, numbered from 1.
    pub fn from_pages(title: Option<String>, texts: impl IntoIterator<Item = String>) -> Self {
        let pages = texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| Page {
                number: u32::try_from(i + 1).unwrap_or(u32::MAX),
                text,
            })
            .collect();
        Document { title, pages }
    }

    pub fn has_text(&self) -> bool {
        self.pages.iter().any(|p| !p.text.trim().is_empty())
    }
}

/// Why a file yields no document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// Not something Quire indexes (binary, empty, unsupported type). Not a fault.
    #[error("{0}")]
    Skipped(String),
    /// Something Quire should index but cannot read: damaged, encrypted, undecodable.
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pdf,
    Docx,
    Html,
    Markdown,
    /// Plain text and source code: anything that decodes as text.
    Text,
}

/// Extensions of formats that are certainly not text and that Quire has no extractor for.
const UNSUPPORTED_EXTENSIONS: &[&str] = &[
    "7z", "a", "avi", "bin", "bmp", "bz2", "class", "dat", "db", "dll", "dmg", "doc", "dylib", "epub", "exe",
    "flac", "gif", "gz", "heic", "ico", "iso", "jar", "jpeg", "jpg", "m4a", "mkv", "mov", "mp3", "mp4", "o",
    "obj", "odp", "ods", "odt", "ogg", "otf", "png", "ppt", "pptx", "psd", "pyc", "rar", "rlib", "so",
    "sqlite", "tar", "tgz", "tif", "tiff", "ttf", "wasm", "wav", "webm", "webp", "woff", "woff2", "xls",
    "xlsx", "xz", "zip", "zst",
];

/// The format a path's extension announces, or why it is not indexed at all.
pub fn format_of(path: &Path) -> Result<Format, ExtractError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "pdf" => Format::Pdf,
        "docx" => Format::Docx,
        "html" | "htm" | "xhtml" => Format::Html,
        "md" | "markdown" | "mdown" | "mkd" => Format::Markdown,
        e if UNSUPPORTED_EXTENSIONS.contains(&e) => {
            return Err(ExtractError::Skipped(format!("unsupported file type (.{e})")))
        }
        _ => Format::Text,
    })
}

/// Extracts the document in `bytes`, which were read from `path` (used for its
/// extension and as a fallback title). Panics inside parsers become errors.
pub fn extract(path: &Path, bytes: &[u8]) -> Result<Document, ExtractError> {
    let format = format_of(path)?;
    if bytes.is_empty() {
        return Err(ExtractError::Skipped("empty file".into()));
    }
    let document = catch_parser_panic(|| match format {
        Format::Pdf => pdf::extract(bytes),
        Format::Docx => docx::extract(bytes),
        Format::Html => html::extract(&decode_text(bytes)?),
        Format::Markdown => markdown::extract(&decode_text(bytes)?),
        Format::Text => text::extract(bytes),
    })?;
    if !document.has_text() {
        return Err(match format {
            Format::Pdf => ExtractError::Failed(
                "no text layer (a scanned PDF? Quire does not read text from images)".into(),
            ),
            _ => ExtractError::Skipped("no text in this file".into()),
        });
    }
    Ok(document)
}

/// Runs a parser, turning a panic into a per-file error. The panic message is
/// logged instead of being printed over the user's terminal.
pub(crate) fn catch_parser_panic<T>(
    parse: impl FnOnce() -> Result<T, ExtractError>,
) -> Result<T, ExtractError> {
    quiet_panics::install();
    let _guard = quiet_panics::Guard::enter();
    match panic::catch_unwind(AssertUnwindSafe(parse)) {
        Ok(result) => result,
        Err(payload) => {
            let reason = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            Err(ExtractError::Failed(format!(
                "the parser crashed on this file ({reason}); it may be damaged"
            )))
        }
    }
}

mod quiet_panics {
    //! Third-party parsers panic on malformed input. Those panics are caught, so
    //! their messages go to the log, not to stderr; every other panic prints as usual.
    use std::cell::Cell;
    use std::sync::Once;

    thread_local! {
        static IN_PARSER: Cell<u32> = const { Cell::new(0) };
    }

    pub fn install() {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if IN_PARSER.with(|depth| depth.get()) > 0 {
                    tracing::debug!("parser panicked: {info}");
                } else {
                    previous(info);
                }
            }));
        });
    }

    pub struct Guard;

    impl Guard {
        pub fn enter() -> Guard {
            IN_PARSER.with(|depth| depth.set(depth.get() + 1));
            Guard
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            IN_PARSER.with(|depth| depth.set(depth.get().saturating_sub(1)));
        }
    }
}

/// Collapses runs of blank lines and trailing spaces left by markup removal.
pub(crate) fn tidy_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_lines = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank_lines += 1;
            if blank_lines > 1 {
                continue;
            }
            if !out.is_empty() {
                out.push('\n');
            }
        } else {
            blank_lines = 0;
            out.push_str(line);
            out.push('\n');
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_and_empty_files_are_skipped_with_a_reason() {
        assert_eq!(
            extract(Path::new("photo.JPG"), b"\xff\xd8\xff").unwrap_err(),
            ExtractError::Skipped("unsupported file type (.jpg)".into())
        );
        assert_eq!(
            extract(Path::new("notes.txt"), b"").unwrap_err(),
            ExtractError::Skipped("empty file".into())
        );
    }

    #[test]
    fn a_panicking_parser_becomes_a_file_error() {
        let result: Result<(), _> = catch_parser_panic(|| panic!("index out of bounds"));
        let message = result.unwrap_err().to_string();
        assert!(message.contains("parser crashed"), "{message}");
        assert!(message.contains("index out of bounds"), "{message}");
    }

    #[test]
    fn tidy_whitespace_keeps_paragraphs_and_drops_blank_runs() {
        assert_eq!(tidy_whitespace("a  \n\n\n\n b\n\n"), "a\n\n b");
    }
}
