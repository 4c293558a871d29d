//! A PDF page drawn as an image with a passage marked on it, so that a reader sees
//! the cited words where they stand on the page (columns, tables, figures) rather
//! than in the extracted text alone. Drawing parses the file, so it runs where
//! extraction runs: in a helper process under its limits ([`crate::helper`]).
//!
//! The passage is found by the text the page draws: each glyph's Unicode value (from
//! the font's ToUnicode map or glyph name) and its box on the page. Only letters and
//! digits are compared, lowercased, so the extractor's spacing, hyphens and line
//! breaks do not matter. Words a page draws without Unicode values (some scanned or
//! old PDFs) cannot be found; the page is still drawn, with nothing marked.

use std::ops::Range;

use hayro::hayro_interpret::hayro_syntax::{LoadPdfError, Pdf};
use hayro::hayro_interpret::util::TransformExt;
use hayro::hayro_interpret::{InterpreterCache, InterpreterSettings};
use hayro::kurbo::{Affine, Rect};
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{PixmapSettings, RenderCache, RenderSettings};
use serde::{Serialize, Serializer};

use crate::drawn_text::{drawn_page, same_line, DrawnGlyph, DrawnPage};
use crate::extract::ocr::PAGE_DPI;
use crate::extract::ExtractError;

/// The widest image drawn, in pixels: sharp on a large high-density screen, and a
/// bound on the memory one page can ask for.
pub const MAX_WIDTH_PX: u32 = 2400;
/// The tallest image drawn (a page many times taller than wide is drawn narrower).
const MAX_HEIGHT_PX: u32 = 4 * MAX_WIDTH_PX;
/// The narrowest image worth drawing.
const MIN_WIDTH_PX: u32 = 100;

/// Passages are looked for whole, and if the page draws them otherwise (columns read
/// in another order, a sentence split by a figure), piece by piece of this many words.
const PIECE_WORDS: usize = 8;

/// A page drawn as an image, with where a passage lies on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct PageImage {
    pub page: u32,
    /// Pages the file has.
    pub pages: u32,
    /// The image's size in pixels.
    pub width: u32,
    pub height: u32,
    /// The image, as a `data:image/png;base64,…` URL for the window.
    #[serde(rename = "url", serialize_with = "png_data_url")]
    #[cfg_attr(feature = "typescript", ts(type = "string"))]
    pub png: Vec<u8>,
    /// Boxes around the passage's words, one per line they take.
    pub marks: Vec<MarkBox>,
    /// Whether a passage was asked for but none of its words were found on the page
    /// (the page draws text without Unicode values, or the file changed).
    pub not_found: bool,
}

/// A box on a page image, in fractions of the image's width and height (0 to 1), so
/// that it stays in place at any size the image is shown.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct MarkBox {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
}

fn png_data_url<S: Serializer>(png: &[u8], to: S) -> std::result::Result<S::Ok, S::Error> {
    use base64::Engine as _;
    let mut url = String::from("data:image/png;base64,");
    base64::engine::general_purpose::STANDARD.encode_string(png, &mut url);
    to.serialize_str(&url)
}

/// Draws page `page` (from 1) of the PDF `bytes` about `width_px` pixels wide, with
/// the words of `passage` marked; an error is the file's, in words for the reader.
pub fn render_pdf_page(
    bytes: Vec<u8>,
    page: u32,
    width_px: u32,
    passage: &str,
) -> Result<PageImage, ExtractError> {
    let pdf = Pdf::new(bytes).map_err(|e| {
        ExtractError::Failed(match e {
            LoadPdfError::Decryption(_) => "is encrypted; Quire cannot draw its pages".into(),
            LoadPdfError::Invalid => "is damaged: its pages cannot be drawn".into(),
        })
    })?;
    let pages = pdf.pages();
    let count = u32::try_from(pages.len()).unwrap_or(u32::MAX);
    let Some(drawn) = page.checked_sub(1).and_then(|i| pages.get(i as usize)) else {
        return Err(ExtractError::Failed(format!(
            "has no page {page} (it has {count})"
        )));
    };
    let (page_width, page_height) = drawn.render_dimensions();
    if !(page_width > 0.0 && page_height > 0.0) {
        return Err(ExtractError::Failed(format!("page {page} has no size to draw")));
    }
    let scale = drawing_scale(page_width, page_height, width_px);
    let pixmap = draw(drawn, scale);
    let (width, height) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
    if width == 0 || height == 0 {
        return Err(ExtractError::Failed(format!("page {page} is too small to draw")));
    }

    let marks = if passage.trim().is_empty() {
        Vec::new()
    } else {
        let transform = Affine::scale(f64::from(scale)) * drawn.initial_transform(true).to_kurbo();
        let target = Rect::new(0.0, 0.0, f64::from(width), f64::from(height));
        Marker::new(drawn_page(drawn, transform, target, &InterpreterCache::new()))
            .mark(passage)
            .into_iter()
            .map(|b| MarkBox {
                left: (b.x0 / f64::from(width)) as f32,
                top: (b.y0 / f64::from(height)) as f32,
                width: (b.width() / f64::from(width)) as f32,
                height: (b.height() / f64::from(height)) as f32,
            })
            .collect()
    };
    let png = pixmap
        .into_png()
        .map_err(|e| ExtractError::Failed(format!("page {page} could not be encoded as an image: {e}")))?;
    Ok(PageImage {
        page,
        pages: count,
        width,
        height,
        png,
        not_found: !passage.trim().is_empty() && marks.is_empty(),
        marks,
    })
}

/// `page` drawn on white at `scale` pixels per point.
fn draw(page: &hayro::hayro_interpret::hayro_syntax::page::Page<'_>, scale: f32) -> hayro::vello_cpu::Pixmap {
    hayro::render(
        page,
        &RenderCache::new(),
        &InterpreterSettings::default(),
        &RenderSettings::default(),
        &PixmapSettings {
            x_scale: scale,
            y_scale: scale,
            bg_color: WHITE,
        },
    )
}

/// Page `page` (from 1) of the PDF `bytes` drawn as Quire draws a page for OCR: a
/// PNG at 300 dpi (less for a page larger than A3).
pub fn draw_page_for_ocr(bytes: Vec<u8>, page: u32) -> Result<Vec<u8>, ExtractError> {
    let pdf = Pdf::new(bytes).map_err(|_| ExtractError::Failed("cannot be opened to draw".into()))?;
    let pages = pdf.pages();
    let drawn = page
        .checked_sub(1)
        .and_then(|i| pages.get(i as usize))
        .ok_or_else(|| ExtractError::Failed(format!("has no page {page}")))?;
    draw_for_ocr(drawn).ok_or_else(|| ExtractError::Failed(format!("page {page} has no size to draw")))
}

/// The longest side of a page drawn for OCR, in pixels (an A3 page at 300 dpi is 4,961).
const OCR_MAX_SIDE_PX: u32 = 5_000;

/// `page` drawn for OCR: a PNG at [`PAGE_DPI`] dots per inch, or less where a side
/// would pass [`OCR_MAX_SIDE_PX`]; `None` for a page with no size.
pub(crate) fn draw_for_ocr(page: &hayro::hayro_interpret::hayro_syntax::page::Page<'_>) -> Option<Vec<u8>> {
    let (width, height) = page.render_dimensions();
    if !(width > 0.0 && height > 0.0) {
        return None;
    }
    let scale = (PAGE_DPI as f32 / 72.0).min(OCR_MAX_SIDE_PX as f32 / width.max(height));
    draw(page, scale).into_png().ok()
}

/// Pixels per PDF point for an image about `width_px` wide, within the size limits.
fn drawing_scale(page_width: f32, page_height: f32, width_px: u32) -> f32 {
    let width_px = width_px.clamp(MIN_WIDTH_PX, MAX_WIDTH_PX) as f32;
    let scale = width_px / page_width;
    // Neither side may pass the limits (nor the u16 a pixmap's side is).
    scale
        .min(MAX_HEIGHT_PX as f32 / page_height)
        .min(MAX_WIDTH_PX as f32 / page_width)
}

/// One character drawn on the page and the glyph that drew it.
struct DrawnChar {
    /// Lowercased letter or digit.
    character: char,
    glyph: usize,
}

/// Finds a passage among the glyphs a page draws.
struct Marker {
    glyphs: Vec<DrawnGlyph>,
    chars: Vec<DrawnChar>,
}

impl Marker {
    fn new(drawn: DrawnPage) -> Marker {
        let chars = drawn
            .glyphs
            .iter()
            .enumerate()
            .flat_map(|(glyph, g)| {
                g.text
                    .iter()
                    .flat_map(|t| comparable(t).collect::<Vec<_>>())
                    .map(move |character| DrawnChar { character, glyph })
            })
            .collect();
        Marker {
            glyphs: drawn.glyphs,
            chars,
        }
    }

    /// Boxes around the words of `passage` on the page, merged into one per line.
    fn mark(&self, passage: &str) -> Vec<Rect> {
        let haystack: String = self.chars.iter().map(|c| c.character).collect();
        // Byte offset in `haystack` → index in `chars`.
        let mut char_at = Vec::with_capacity(haystack.len());
        for (i, c) in self.chars.iter().enumerate() {
            char_at.extend(std::iter::repeat_n(i, c.character.len_utf8()));
        }
        let mut glyphs: Vec<usize> = Vec::new();
        let mut take = |found: Range<usize>| {
            if let (Some(&first), Some(&last)) = (char_at.get(found.start), char_at.get(found.end - 1)) {
                let (first, last) = (self.chars[first].glyph, self.chars[last].glyph);
                glyphs.extend(first..=last);
            }
        };
        let whole: String = comparable(passage).collect();
        if whole.is_empty() {
            return Vec::new();
        }
        if let Some(at) = haystack.find(&whole) {
            take(at..at + whole.len());
        } else {
            let words: Vec<&str> = passage.split_whitespace().collect();
            for piece in words.chunks(PIECE_WORDS) {
                let piece: String = piece.iter().flat_map(|w| comparable(w)).collect();
                // Too short a piece would be found anywhere.
                if piece.chars().count() < 12 {
                    continue;
                }
                if let Some(at) = haystack.find(&piece) {
                    take(at..at + piece.len());
                }
            }
        }
        glyphs.sort_unstable();
        glyphs.dedup();
        self.lines(&glyphs)
    }

    /// The boxes of `glyphs` (in drawing order), merged while they stay on one line.
    fn lines(&self, glyphs: &[usize]) -> Vec<Rect> {
        let mut lines: Vec<(Rect, &DrawnGlyph)> = Vec::new();
        for &glyph in glyphs {
            let current = &self.glyphs[glyph];
            match lines.last_mut() {
                Some((line, last)) if same_line(last, current) => {
                    *line = line.union(current.rect);
                    *last = current;
                }
                _ => lines.push((current.rect, current)),
            }
        }
        lines.into_iter().map(|(line, _)| line).collect()
    }
}

/// The letters and digits of `text`, lowercased: what is compared between the
/// extracted text and the text the page draws.
fn comparable(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
}
