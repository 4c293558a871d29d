//! What Quire and its extraction helper say to each other over the helper's stdin
//! and stdout: length-prefixed frames (a kind byte, a little-endian u64 length, the
//! payload). Either side reads the other's frames as untrusted: every length is
//! checked against what is left and against a ceiling before anything is allocated,
//! and nothing malformed can panic; it is an error.

use std::io::{Read, Write};
use std::ops::Range;

use crate::chunk::Chunk;
use crate::extract::{Document, ExtractError, Ocr, OcrOptions, Page, PdfText, ReadOptions};
use crate::page_image::{MarkBox, PageImage};

/// Bumped whenever a frame changes: a helper of another version is not used.
pub const VERSION: u32 = 3;

/// What the helper is asked to make of a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Its pages (summaries).
    Pages,
    /// Its passages (indexing), cut with these sizes.
    Chunks {
        min_tokens: u32,
        max_tokens: u32,
        overlap_tokens: u32,
    },
    /// A PDF page drawn about `width_px` wide, with the words of `passage` marked.
    PageImage {
        page: u32,
        width_px: u32,
        passage: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The file's name: its extension says the format; a title may fall back to it.
    pub name: String,
    pub want: Want,
    /// Text per document, at most.
    pub max_text_bytes: u64,
    /// Passages per document, at most.
    pub max_chunks: u64,
    /// Processor seconds the helper may spend on this file.
    pub cpu_secs: u64,
    /// How the file is read (PDF readers, OCR).
    pub read: ReadOptions,
    pub bytes: Vec<u8>,
}

/// A document's passages, as the helper cut them.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunked {
    pub title: Option<String>,
    pub page_count: u32,
    /// Pages whose text is in pictures, left unread for want of OCR.
    pub pages_awaiting_ocr: u32,
    pub chunks: Vec<Chunk>,
    pub extract_secs: f64,
    pub chunk_secs: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Hello {
        version: u32,
    },
    Pages(Document),
    Chunks(Chunked),
    PageImage(PageImage),
    Refused(ExtractError),
    /// Not an answer: a page was read by OCR, so the file is still being worked on
    /// (each such page may take seconds; the wall-clock limit counts from the last).
    Working,
}

const HELLO: u8 = 0;
const WANT_PAGES: u8 = 1;
const WANT_CHUNKS: u8 = 2;
const WANT_PAGE_IMAGE: u8 = 3;
const PAGES: u8 = 10;
const CHUNKS: u8 = 11;
const SKIPPED: u8 = 12;
const FAILED: u8 = 13;
const PAGE_IMAGE: u8 = 14;
const NEEDS_OCR: u8 = 15;
const WORKING: u8 = 16;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the other side closed the pipe")]
    Closed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
}

/// Reads one frame: its kind and payload, refusing payloads over `ceiling` bytes.
pub fn read_frame(from: &mut impl Read, ceiling: u64) -> Result<(u8, Vec<u8>), FrameError> {
    let mut header = [0u8; 9];
    match from.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let mut length = [0u8; 8];
    length.copy_from_slice(&header[1..]);
    let length = u64::from_le_bytes(length);
    if length > ceiling {
        return Err(FrameError::Malformed("larger than allowed"));
    }
    let mut payload = Vec::new();
    from.take(length).read_to_end(&mut payload)?;
    if payload.len() as u64 != length {
        return Err(FrameError::Closed);
    }
    Ok((header[0], payload))
}

pub fn write_frame(to: &mut impl Write, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    to.write_all(&[kind])?;
    to.write_all(&(payload.len() as u64).to_le_bytes())?;
    to.write_all(payload)?;
    to.flush()
}

impl Request {
    pub fn encode(&self) -> (u8, Vec<u8>) {
        let mut out = Encoder::with_capacity(self.bytes.len() + self.name.len() + 64);
        out.text(&self.name);
        out.u64(self.max_text_bytes);
        out.u64(self.max_chunks);
        out.u64(self.cpu_secs);
        out.read_options(&self.read);
        let kind = match &self.want {
            Want::Pages => WANT_PAGES,
            Want::Chunks {
                min_tokens,
                max_tokens,
                overlap_tokens,
            } => {
                out.u32(*min_tokens);
                out.u32(*max_tokens);
                out.u32(*overlap_tokens);
                WANT_CHUNKS
            }
            Want::PageImage {
                page,
                width_px,
                passage,
            } => {
                out.u32(*page);
                out.u32(*width_px);
                out.text(passage);
                WANT_PAGE_IMAGE
            }
        };
        out.bytes(&self.bytes);
        (kind, out.0)
    }

    pub fn decode(kind: u8, payload: &[u8]) -> Result<Request, FrameError> {
        let mut input = Decoder(payload);
        let name = input.text()?;
        let max_text_bytes = input.u64()?;
        let max_chunks = input.u64()?;
        let cpu_secs = input.u64()?;
        let read = input.read_options()?;
        let want = match kind {
            WANT_PAGES => Want::Pages,
            WANT_CHUNKS => Want::Chunks {
                min_tokens: input.u32()?,
                max_tokens: input.u32()?,
                overlap_tokens: input.u32()?,
            },
            WANT_PAGE_IMAGE => Want::PageImage {
                page: input.u32()?,
                width_px: input.u32()?,
                passage: input.text()?,
            },
            _ => return Err(FrameError::Malformed("unknown request")),
        };
        let bytes = input.bytes()?.to_vec();
        input.end()?;
        Ok(Request {
            name,
            want,
            max_text_bytes,
            max_chunks,
            cpu_secs,
            read,
            bytes,
        })
    }
}

impl Reply {
    /// Whether a frame of this kind is [`Reply::Working`].
    pub fn is_working(kind: u8) -> bool {
        kind == WORKING
    }

    pub fn encode(&self) -> (u8, Vec<u8>) {
        let mut out = Encoder::with_capacity(64);
        let kind = match self {
            Reply::Hello { version } => {
                out.u32(*version);
                HELLO
            }
            Reply::Pages(document) => {
                out.optional_text(document.title.as_deref());
                out.u32(document.pages_awaiting_ocr);
                out.u64(document.pages.len() as u64);
                for page in &document.pages {
                    out.u32(page.number);
                    out.text(&page.text);
                    out.flag(page.read_by_ocr);
                }
                PAGES
            }
            Reply::Chunks(chunked) => {
                out.optional_text(chunked.title.as_deref());
                out.u32(chunked.page_count);
                out.u32(chunked.pages_awaiting_ocr);
                out.f64(chunked.extract_secs);
                out.f64(chunked.chunk_secs);
                out.u64(chunked.chunks.len() as u64);
                for chunk in &chunked.chunks {
                    out.u32(chunk.page);
                    out.u64(chunk.span.start as u64);
                    out.text(&chunk.text);
                    out.flag(chunk.read_by_ocr);
                }
                CHUNKS
            }
            Reply::PageImage(image) => {
                out.u32(image.page);
                out.u32(image.pages);
                out.u32(image.width);
                out.u32(image.height);
                out.bytes(&image.png);
                out.flag(image.not_found);
                out.u64(image.marks.len() as u64);
                for mark in &image.marks {
                    for side in [mark.left, mark.top, mark.width, mark.height] {
                        out.u32(side.to_bits());
                    }
                }
                PAGE_IMAGE
            }
            Reply::Refused(ExtractError::Skipped(message)) => {
                out.text(message);
                SKIPPED
            }
            Reply::Refused(ExtractError::Failed(message)) => {
                out.text(message);
                FAILED
            }
            Reply::Refused(ExtractError::NeedsOcr(message)) => {
                out.text(message);
                NEEDS_OCR
            }
            Reply::Working => WORKING,
        };
        (kind, out.0)
    }

    pub fn decode(kind: u8, payload: &[u8]) -> Result<Reply, FrameError> {
        let mut input = Decoder(payload);
        let reply = match kind {
            HELLO => Reply::Hello {
                version: input.u32()?,
            },
            PAGES => {
                let title = input.optional_text()?;
                let pages_awaiting_ocr = input.u32()?;
                let count = input.count(4 + 8 + 1)?;
                let mut pages = Vec::with_capacity(count);
                for _ in 0..count {
                    pages.push(Page {
                        number: input.u32()?,
                        text: input.text()?,
                        read_by_ocr: input.flag()?,
                    });
                }
                Reply::Pages(Document {
                    title,
                    pages,
                    pages_awaiting_ocr,
                })
            }
            CHUNKS => {
                let title = input.optional_text()?;
                let page_count = input.u32()?;
                let pages_awaiting_ocr = input.u32()?;
                let extract_secs = input.f64()?;
                let chunk_secs = input.f64()?;
                let count = input.count(4 + 8 + 8 + 1)?;
                let mut chunks = Vec::with_capacity(count);
                for ordinal in 0..count {
                    let page = input.u32()?;
                    let start = usize::try_from(input.u64()?)
                        .map_err(|_| FrameError::Malformed("span out of range"))?;
                    let text = input.text()?;
                    let read_by_ocr = input.flag()?;
                    if page == 0 || page > page_count {
                        return Err(FrameError::Malformed("a passage on a page the document lacks"));
                    }
                    let span: Range<usize> = start..start.saturating_add(text.len());
                    chunks.push(Chunk {
                        ordinal: u32::try_from(ordinal).unwrap_or(u32::MAX),
                        page,
                        span,
                        text,
                        read_by_ocr,
                    });
                }
                Reply::Chunks(Chunked {
                    title,
                    page_count,
                    pages_awaiting_ocr,
                    chunks,
                    extract_secs,
                    chunk_secs,
                })
            }
            PAGE_IMAGE => {
                let page = input.u32()?;
                let pages = input.u32()?;
                let width = input.u32()?;
                let height = input.u32()?;
                let png = input.bytes()?.to_vec();
                let not_found = input.flag()?;
                let count = input.count(16)?;
                let mut marks = Vec::with_capacity(count);
                for _ in 0..count {
                    let mut side = || input.u32().map(f32::from_bits);
                    let mark = MarkBox {
                        left: side()?,
                        top: side()?,
                        width: side()?,
                        height: side()?,
                    };
                    // Marks are fractions of the image: anything else is not drawn.
                    if [mark.left, mark.top, mark.width, mark.height]
                        .iter()
                        .all(|v| v.is_finite() && (-0.01..=1.01).contains(v))
                    {
                        marks.push(mark);
                    }
                }
                if page == 0 || page > pages {
                    return Err(FrameError::Malformed("an image of a page the document lacks"));
                }
                Reply::PageImage(PageImage {
                    page,
                    pages,
                    width,
                    height,
                    png,
                    marks,
                    not_found,
                })
            }
            SKIPPED => Reply::Refused(ExtractError::Skipped(input.text()?)),
            FAILED => Reply::Refused(ExtractError::Failed(input.text()?)),
            NEEDS_OCR => Reply::Refused(ExtractError::NeedsOcr(input.text()?)),
            WORKING => Reply::Working,
            _ => return Err(FrameError::Malformed("unknown reply")),
        };
        input.end()?;
        Ok(reply)
    }
}

struct Encoder(Vec<u8>);

impl Encoder {
    fn with_capacity(capacity: usize) -> Encoder {
        Encoder(Vec::with_capacity(capacity))
    }

    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn f64(&mut self, value: f64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn text(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    fn optional_text(&mut self, text: Option<&str>) {
        match text {
            Some(text) => {
                self.0.push(1);
                self.text(text);
            }
            None => self.0.push(0),
        }
    }

    fn flag(&mut self, flag: bool) {
        self.0.push(u8::from(flag));
    }

    fn read_options(&mut self, read: &ReadOptions) {
        self.0.push(match read.pdf_text {
            PdfText::Best => 0,
            PdfText::FirstReader => 1,
            PdfText::SecondReader => 2,
        });
        match &read.ocr {
            Ocr::Off => self.0.push(0),
            Ocr::Missing => self.0.push(1),
            Ocr::On(options) => {
                self.0.push(2);
                self.text(&options.program.to_string_lossy());
                self.u64(options.languages.len() as u64);
                for language in &options.languages {
                    self.text(language);
                }
            }
        }
    }
}

struct Decoder<'a>(&'a [u8]);

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if n > self.0.len() {
            return Err(FrameError::Malformed("shorter than it says"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, FrameError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, FrameError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], FrameError> {
        let length =
            usize::try_from(self.u64()?).map_err(|_| FrameError::Malformed("length out of range"))?;
        self.take(length)
    }

    fn text(&mut self) -> Result<String, FrameError> {
        std::str::from_utf8(self.bytes()?)
            .map(str::to_string)
            .map_err(|_| FrameError::Malformed("text that is not UTF-8"))
    }

    fn optional_text(&mut self) -> Result<Option<String>, FrameError> {
        match self.take(1)?[0] {
            0 => Ok(None),
            1 => Ok(Some(self.text()?)),
            _ => Err(FrameError::Malformed("bad flag")),
        }
    }

    fn flag(&mut self) -> Result<bool, FrameError> {
        match self.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(FrameError::Malformed("bad flag")),
        }
    }

    fn read_options(&mut self) -> Result<ReadOptions, FrameError> {
        let pdf_text = match self.take(1)?[0] {
            0 => PdfText::Best,
            1 => PdfText::FirstReader,
            2 => PdfText::SecondReader,
            _ => return Err(FrameError::Malformed("unknown PDF reader")),
        };
        let ocr = match self.take(1)?[0] {
            0 => Ocr::Off,
            1 => Ocr::Missing,
            2 => {
                let program = self.text()?.into();
                let count = self.count(8)?;
                let languages = (0..count).map(|_| self.text()).collect::<Result<_, _>>()?;
                Ocr::On(OcrOptions { program, languages })
            }
            _ => return Err(FrameError::Malformed("unknown OCR setting")),
        };
        Ok(ReadOptions { pdf_text, ocr })
    }

    /// A count of items of at least `item_bytes` each: no more than the payload can hold.
    fn count(&mut self, item_bytes: usize) -> Result<usize, FrameError> {
        let count = usize::try_from(self.u64()?).map_err(|_| FrameError::Malformed("count out of range"))?;
        if count > self.0.len() / item_bytes {
            return Err(FrameError::Malformed("more items than bytes"));
        }
        Ok(count)
    }

    fn end(&self) -> Result<(), FrameError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Malformed("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let request = Request {
            name: "report.pdf".into(),
            want: Want::Chunks {
                min_tokens: 250,
                max_tokens: 400,
                overlap_tokens: 50,
            },
            max_text_bytes: 20 << 20,
            max_chunks: 20_000,
            cpu_secs: 61,
            read: ReadOptions {
                pdf_text: PdfText::SecondReader,
                ocr: Ocr::On(OcrOptions {
                    program: "/usr/bin/tesseract".into(),
                    languages: vec!["eng".into(), "deu".into()],
                }),
            },
            bytes: b"%PDF-1.7 ...".to_vec(),
        };
        let (kind, payload) = request.encode();
        assert_eq!(Request::decode(kind, &payload).unwrap(), request);
        let drawing = Request {
            want: Want::PageImage {
                page: 3,
                width_px: 1200,
                passage: "the boiler".into(),
            },
            ..request
        };
        let (kind, payload) = drawing.encode();
        assert_eq!(Request::decode(kind, &payload).unwrap(), drawing);

        let chunked = Reply::Chunks(Chunked {
            title: Some("Report".into()),
            page_count: 2,
            pages_awaiting_ocr: 1,
            chunks: vec![
                Chunk {
                    ordinal: 0,
                    page: 1,
                    span: 0..5,
                    text: "Hello".into(),
                    read_by_ocr: false,
                },
                Chunk {
                    ordinal: 1,
                    page: 2,
                    span: 3..8,
                    text: "world".into(),
                    read_by_ocr: true,
                },
            ],
            extract_secs: 0.25,
            chunk_secs: 0.5,
        });
        let mut scanned = Document::from_pages(None, ["one".to_string(), "two".to_string()]);
        scanned.pages[1].read_by_ocr = true;
        scanned.pages_awaiting_ocr = 3;
        for reply in [
            chunked,
            Reply::Hello { version: VERSION },
            Reply::Pages(scanned),
            Reply::Refused(ExtractError::Failed("damaged".into())),
            Reply::Refused(ExtractError::NeedsOcr("install Tesseract".into())),
            Reply::Working,
            Reply::PageImage(PageImage {
                page: 2,
                pages: 3,
                width: 800,
                height: 1131,
                png: b"\x89PNG...".to_vec(),
                marks: vec![MarkBox {
                    left: 0.1,
                    top: 0.25,
                    width: 0.5,
                    height: 0.02,
                }],
                not_found: false,
            }),
        ] {
            let (kind, payload) = reply.encode();
            assert_eq!(Reply::decode(kind, &payload).unwrap(), reply);
        }
    }

    #[test]
    fn malformed_frames_are_errors_not_panics_or_huge_allocations() {
        let (kind, payload) = Reply::Pages(Document::from_pages(None, ["text".to_string()])).encode();
        for cut in 0..payload.len() {
            assert!(Reply::decode(kind, &payload[..cut]).is_err(), "cut at {cut}");
        }
        // A count of 2^60 pages in a few bytes.
        let mut lying = vec![0u8];
        lying.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(Reply::decode(PAGES, &lying).is_err());
        // A passage on page 3 of a 1-page document.
        let mut out = Encoder::with_capacity(64);
        out.optional_text(None);
        out.u32(1);
        out.f64(0.0);
        out.f64(0.0);
        out.u64(1);
        out.u32(3);
        out.u64(0);
        out.text("x");
        assert!(Reply::decode(CHUNKS, &out.0).is_err());
        // A page image of a page the document lacks, and marks off the image.
        let image = PageImage {
            page: 4,
            pages: 3,
            width: 10,
            height: 10,
            png: Vec::new(),
            marks: Vec::new(),
            not_found: true,
        };
        let (kind, payload) = Reply::PageImage(image.clone()).encode();
        assert!(Reply::decode(kind, &payload).is_err());
        let off = MarkBox {
            left: f32::NAN,
            top: 7.0,
            width: 0.1,
            height: 0.1,
        };
        let (kind, payload) = Reply::PageImage(PageImage {
            page: 1,
            marks: vec![off],
            ..image
        })
        .encode();
        match Reply::decode(kind, &payload).unwrap() {
            Reply::PageImage(image) => assert!(image.marks.is_empty()),
            other => panic!("{other:?}"),
        }
        // A frame larger than allowed is refused before it is read.
        let mut frame = Vec::new();
        write_frame(&mut frame, PAGES, &[0u8; 100]).unwrap();
        assert!(matches!(
            read_frame(&mut frame.as_slice(), 99),
            Err(FrameError::Malformed(_))
        ));
        assert_eq!(read_frame(&mut frame.as_slice(), 100).unwrap().1.len(), 100);
        assert!(matches!(read_frame(&mut &b""[..], 100), Err(FrameError::Closed)));
    }
}
