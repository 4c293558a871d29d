//! RTF: the text a word processor shows. Groups that hold no body text (font and
//! colour tables, style sheets, metadata, pictures, field instructions, anything
//! marked `\*` as ignorable) are skipped; `\uN` escapes and `\'hh` bytes in the
//! document's code page (`\ansicpg`) are decoded; `\page` starts a new page.

use encoding_rs::{Encoding, WINDOWS_1252};

use super::{tidy_whitespace, Document, ExtractError};

/// Destinations whose content is not body text.
const SKIPPED_DESTINATIONS: &[&[u8]] = &[
    b"fonttbl",
    b"colortbl",
    b"stylesheet",
    b"listtable",
    b"listoverridetable",
    b"info",
    b"pict",
    b"object",
    b"themedata",
    b"colorschememapping",
    b"datastore",
    b"latentstyles",
    b"rsidtbl",
    b"generator",
    b"xmlnstbl",
    b"fldinst",
    b"header",
    b"headerl",
    b"headerr",
    b"headerf",
    b"footer",
    b"footerl",
    b"footerr",
    b"footerf",
];

/// Deeper groups than this are read as if flat (real documents nest a few dozen).
const MAX_DEPTH: usize = 1_000;

#[derive(Debug, Clone, Copy)]
struct Group {
    skipped: bool,
    /// Characters that stand in for each `\uN` (`\ucN`), skipped after it.
    unicode_skip: usize,
}

pub fn extract(bytes: &[u8]) -> Result<Document, ExtractError> {
    if !bytes.starts_with(b"{\\rtf") {
        return Err(ExtractError::Failed(
            "not an RTF document (no {\\rtf header)".into(),
        ));
    }
    let mut reader = RtfReader::new(bytes);
    reader.run();
    let pages: Vec<String> = reader.pages.iter().map(|p| tidy_whitespace(p)).collect();
    Ok(Document::from_pages(None, pages))
}

struct RtfReader<'a> {
    input: &'a [u8],
    at: usize,
    groups: Vec<Group>,
    group: Group,
    encoding: &'static Encoding,
    /// Bytes of text in the code page, not yet decoded.
    pending: Vec<u8>,
    page: String,
    pages: Vec<String>,
    /// Characters still to skip after a `\uN`.
    skip_chars: usize,
}

impl<'a> RtfReader<'a> {
    fn new(input: &'a [u8]) -> Self {
        RtfReader {
            input,
            at: 0,
            groups: Vec::new(),
            group: Group {
                skipped: false,
                unicode_skip: 1,
            },
            encoding: WINDOWS_1252,
            pending: Vec::new(),
            page: String::new(),
            pages: Vec::new(),
            skip_chars: 0,
        }
    }

    fn run(&mut self) {
        while let Some(&byte) = self.input.get(self.at) {
            self.at += 1;
            match byte {
                b'{' => {
                    if self.groups.len() < MAX_DEPTH {
                        self.groups.push(self.group);
                    }
                    // `{\*\name …}`: a destination a reader may ignore.
                    if self.input[self.at..].starts_with(b"\\*") {
                        self.group.skipped = true;
                    }
                }
                b'}' => {
                    self.flush();
                    if let Some(outer) = self.groups.pop() {
                        self.group = outer;
                    }
                    self.skip_chars = 0;
                }
                b'\\' => self.control(),
                b'\r' | b'\n' => {}
                _ => self.text_byte(byte),
            }
        }
        self.flush();
        self.pages.push(std::mem::take(&mut self.page));
    }

    fn text_byte(&mut self, byte: u8) {
        if self.skip_chars > 0 {
            self.skip_chars -= 1;
        } else if !self.group.skipped {
            self.pending.push(byte);
        }
    }

    fn push_text(&mut self, text: &str) {
        if !self.group.skipped {
            self.flush();
            self.page.push_str(text);
        }
    }

    /// Decodes the bytes of text read so far in the document's code page.
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let (text, _, _) = self.encoding.decode(&self.pending);
            self.page.push_str(&text);
            self.pending.clear();
        }
    }

    fn control(&mut self) {
        let Some(&first) = self.input.get(self.at) else {
            return;
        };
        if !first.is_ascii_alphabetic() {
            self.at += 1;
            match first {
                b'\'' => {
                    let hex = self
                        .input
                        .get(self.at..self.at + 2)
                        .and_then(|h| std::str::from_utf8(h).ok());
                    if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        self.at += 2;
                        self.text_byte(byte);
                    }
                }
                b'\\' | b'{' | b'}' => self.text_byte(first),
                b'~' => self.push_text("\u{a0}"),
                b'_' => self.push_text("\u{2011}"),
                b'\r' | b'\n' => self.push_text("\n"),
                _ => {} // `\-` (optional hyphen), `\*` (read at the group's start), others.
            }
            return;
        }
        let start = self.at;
        while self.input.get(self.at).is_some_and(u8::is_ascii_alphabetic) {
            self.at += 1;
        }
        let word = &self.input[start..self.at];
        let number_start = self.at;
        if self.input.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        while self.input.get(self.at).is_some_and(u8::is_ascii_digit) && self.at - number_start < 11 {
            self.at += 1;
        }
        let parameter = std::str::from_utf8(&self.input[number_start..self.at])
            .ok()
            .and_then(|n| n.parse::<i64>().ok());
        // One space ends a control word and is not text.
        if self.input.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
        self.control_word(word, parameter);
    }

    fn control_word(&mut self, word: &[u8], parameter: Option<i64>) {
        match word {
            b"par" | b"line" | b"sect" | b"row" => self.push_text("\n"),
            b"tab" | b"cell" => self.push_text("\t"),
            b"page" if !self.group.skipped => {
                self.flush();
                self.pages.push(std::mem::take(&mut self.page));
            }
            b"emdash" => self.push_text("—"),
            b"endash" => self.push_text("–"),
            b"bullet" => self.push_text("•"),
            b"lquote" => self.push_text("‘"),
            b"rquote" => self.push_text("’"),
            b"ldblquote" => self.push_text("“"),
            b"rdblquote" => self.push_text("”"),
            b"u" => {
                if let Some(code) = parameter {
                    // Negative values stand for code points above 32767.
                    let code = if code < 0 { code + 65_536 } else { code };
                    let c = u32::try_from(code)
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or('\u{fffd}');
                    self.push_text(c.encode_utf8(&mut [0; 4]));
                    self.skip_chars = self.group.unicode_skip;
                }
            }
            b"uc" => {
                self.group.unicode_skip = parameter
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(1)
                    .min(16)
            }
            b"ansicpg" => {
                if let Some(encoding) = parameter.and_then(code_page) {
                    self.flush();
                    self.encoding = encoding;
                }
            }
            b"bin" => {
                // Raw bytes follow (a picture's): never text.
                let length = parameter.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
                self.at = self.at.saturating_add(length).min(self.input.len());
            }
            word if SKIPPED_DESTINATIONS.contains(&word) => self.group.skipped = true,
            _ => {}
        }
    }
}

/// The encoding of a Windows or Mac code page number, where encoding_rs knows it.
fn code_page(number: i64) -> Option<&'static Encoding> {
    let label = match number {
        874 => "windows-874".to_string(),
        932 => "shift_jis".into(),
        936 => "gbk".into(),
        949 => "euc-kr".into(),
        950 => "big5".into(),
        866 => "ibm866".into(),
        1250..=1258 => format!("windows-{number}"),
        10000 => "macintosh".into(),
        _ => return None,
    };
    Encoding::for_label(label.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(rtf: &str) -> Vec<String> {
        extract(rtf.as_bytes())
            .unwrap()
            .pages
            .into_iter()
            .map(|p| p.text)
            .collect()
    }

    #[test]
    fn body_text_is_read_and_tables_of_fonts_and_pictures_are_not() {
        let rtf = r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Times New Roman;}}{\colortbl;\red0\green0\blue0;}
{\*\generator Writer;}{\info{\title Minutes}}\pard\f0 Caf\'e9 opening hours\par
{\pict\pngblip 89504e47}Second line with \u8364?5 and a \{brace\}\par}";
        assert_eq!(
            text(rtf),
            vec!["Café opening hours\nSecond line with €5 and a {brace}".to_string()]
        );
    }

    #[test]
    fn page_breaks_unicode_skips_and_code_pages_are_honoured() {
        let rtf = r"{\rtf1\ansi\ansicpg1251\uc2 \'cf\'f0\'e8\'e2\'e5\'f2\par\page Next \u1046\'3f\'3f page}";
        assert_eq!(text(rtf), vec!["Привет".to_string(), "Next Ж page".to_string()]);
    }

    #[test]
    fn what_is_not_rtf_is_refused() {
        assert!(extract(b"plain words").is_err());
        // Unbalanced groups and a truncated escape are read as far as they go.
        assert_eq!(text(r"{\rtf1 {{{open \'"), vec!["open".to_string()]);
    }
}
