//! Extraction: one module per format, each turning a file's bytes into a
//! [`Document`] of numbered pages. Extractors never panic across this boundary: a
//! parser that panics becomes an error on that one file.

mod docx;
mod epub;
mod html;
mod markdown;
pub mod ocr;
mod opendocument;
mod package;
mod pdf;
mod rtf;
mod sheets;
mod slides;
mod text;

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

pub use ocr::{Ocr, OcrOptions};
pub use text::decode_text;

/// A document as Quire indexes it: its title (when the file names one) and its pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub title: Option<String>,
    pub pages: Vec<Page>,
    /// Pages whose text is in pictures and was not read, OCR being off or missing:
    /// the file is read again once OCR is there.
    pub pages_awaiting_ocr: u32,
}

/// One page of text. `number` counts from 1. Formats without pages have one page,
/// except that form feeds in plain text and page breaks in DOCX start new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub number: u32,
    pub text: String,
    /// Whether the text was read from an image by OCR (it may hold misread words).
    pub read_by_ocr: bool,
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
                read_by_ocr: false,
            })
            .collect();
        Document {
            title,
            pages,
            pages_awaiting_ocr: 0,
        }
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
    /// Text in images only, and no OCR to read it (Tesseract missing, or OCR off).
    /// Unlike a failure it is tried again at every run: installing Tesseract is enough.
    #[error("{0}")]
    NeedsOcr(String),
}

impl ExtractError {
    /// Why, in words for the user.
    pub fn into_message(self) -> String {
        match self {
            ExtractError::Skipped(message)
            | ExtractError::Failed(message)
            | ExtractError::NeedsOcr(message) => message,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pdf,
    Docx,
    Epub,
    /// PowerPoint.
    Pptx,
    /// OpenDocument text and presentations.
    Odt,
    Odp,
    /// Spreadsheets: Excel (2007 and later, and 97-2003) and OpenDocument.
    Xlsx,
    Xls,
    Ods,
    Rtf,
    Html,
    Markdown,
    /// Plain text and source code: anything that decodes as text.
    Text,
    /// A picture (a scan, a photo of a page): read by OCR.
    Image,
}

/// Extensions of formats that are certainly not text and that Quire has no extractor for.
const UNSUPPORTED_EXTENSIONS: &[&str] = &[
    "7z", "a", "avi", "bin", "bz2", "class", "dat", "db", "dll", "dmg", "dylib", "exe", "flac", "gz", "heic",
    "ico", "iso", "jar", "m4a", "mkv", "mov", "mp3", "mp4", "o", "obj", "ogg", "otf", "psd", "pyc", "rar",
    "rlib", "so", "sqlite", "tar", "tgz", "ttf", "wasm", "wav", "webm", "woff", "woff2", "xz", "zip", "zst",
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
        "epub" => Format::Epub,
        "pptx" => Format::Pptx,
        "odt" => Format::Odt,
        "odp" => Format::Odp,
        "xlsx" | "xlsm" => Format::Xlsx,
        "xls" => Format::Xls,
        "ods" => Format::Ods,
        "rtf" => Format::Rtf,
        // The binary formats of Office before 2007.
        e @ ("doc" | "ppt") => {
            return Err(ExtractError::Skipped(format!(
                "old Office format (.{e}); Quire reads the newer one: save it as .{e}x"
            )))
        }
        "html" | "htm" | "xhtml" => Format::Html,
        "md" | "markdown" | "mdown" | "mkd" => Format::Markdown,
        "png" | "jpg" | "jpeg" | "tif" | "tiff" | "webp" | "bmp" | "gif" => Format::Image,
        e if UNSUPPORTED_EXTENSIONS.contains(&e) => {
            return Err(ExtractError::Skipped(format!("unsupported file type (.{e})")))
        }
        _ => Format::Text,
    })
}

/// Pages of one file read by OCR, at most (seconds each: a 1,000-page scan takes most
/// of an hour on a small machine).
pub const MAX_OCR_PAGES: usize = 1_000;

/// Which of the PDF readers read a text layer (see `pdf`). Indexing takes the best
/// of both page by page; the extraction benchmark measures each alone beside that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PdfText {
    #[default]
    Best,
    /// pdf-extract alone (what Quire read before the second reader).
    FirstReader,
    /// hayro's drawn text alone.
    SecondReader,
}

/// How files are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    pub pdf_text: PdfText,
    /// Whether and how pages that are images are read.
    pub ocr: Ocr,
}

/// Extracts the document in `bytes`, which were read from `path` (used for its
/// extension and as a fallback title), with both PDF readers and OCR off.
pub fn extract(path: &Path, bytes: &[u8]) -> Result<Document, ExtractError> {
    extract_with(path, bytes, &ReadOptions::default(), &|| {})
}

/// Extracts the document in `bytes` as `options` say, calling `page_recognized`
/// after each page read by OCR (seconds each: the caller's sign of progress). Panics
/// inside parsers become errors.
pub fn extract_with(
    path: &Path,
    bytes: &[u8],
    options: &ReadOptions,
    page_recognized: &dyn Fn(),
) -> Result<Document, ExtractError> {
    let format = format_of(path)?;
    if bytes.is_empty() {
        return Err(ExtractError::Skipped("empty file".into()));
    }
    let document = catch_parser_panic(|| match format {
        Format::Pdf => pdf::extract(bytes, options, page_recognized),
        Format::Image => read_image(bytes, &options.ocr),
        Format::Docx => docx::extract(bytes),
        Format::Epub => epub::extract(bytes),
        Format::Pptx => slides::extract(bytes),
        Format::Odt => opendocument::extract(bytes, opendocument::Kind::Text),
        Format::Odp => opendocument::extract(bytes, opendocument::Kind::Presentation),
        Format::Xlsx => sheets::extract_xlsx(bytes),
        Format::Xls => sheets::extract_xls(bytes),
        Format::Ods => sheets::extract_ods(bytes),
        Format::Rtf => rtf::extract(bytes),
        Format::Html => html::extract(&decode_text(bytes)?),
        Format::Markdown => markdown::extract(&decode_text(bytes)?),
        Format::Text => text::extract(bytes),
    })?;
    if !document.has_text() {
        return Err(match format {
            Format::Pdf if document.pages_awaiting_ocr > 0 => {
                ExtractError::NeedsOcr(format!("no text layer: {}", options.ocr.not_read()))
            }
            Format::Pdf => {
                ExtractError::Skipped("no text: its pages hold none, nor any picture of text".into())
            }
            Format::Image => ExtractError::Skipped("no text in this picture".into()),
            _ => ExtractError::Skipped("no text in this file".into()),
        });
    }
    Ok(document)
}

/// A picture's text, read by OCR: one page.
fn read_image(bytes: &[u8], ocr: &Ocr) -> Result<Document, ExtractError> {
    let Ocr::On(options) = ocr else {
        return Err(ExtractError::NeedsOcr(ocr.not_read()));
    };
    if !ocr::is_image(bytes) {
        return Err(ExtractError::Failed(
            "not a picture Quire can read (its content is not PNG, JPEG, TIFF, WebP, BMP or GIF)".into(),
        ));
    }
    // A picture that says nothing of its resolution is taken as a 300-dpi scan.
    let text = ocr::recognize(bytes, ocr::PAGE_DPI, options)?;
    Ok(Document {
        title: None,
        pages: vec![Page {
            number: 1,
            text,
            read_by_ocr: true,
        }],
        pages_awaiting_ocr: 0,
    })
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
            extract(Path::new("song.MP3"), b"ID3").unwrap_err(),
            ExtractError::Skipped("unsupported file type (.mp3)".into())
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
