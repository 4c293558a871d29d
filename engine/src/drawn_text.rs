//! The text a PDF page draws, glyph by glyph, as hayro's interpreter draws it: each
//! glyph's Unicode value (from the font's ToUnicode map, its CMap or glyph name) and
//! its box on the page. Two readers use it: extraction reads a page's text from it
//! where pdf-extract reads none or garbles it ([`crate::extract`]), and the passage
//! view marks a passage where it stands ([`crate::page_image`]).

use hayro::hayro_interpret::font::{Glyph, GlyphRun};
use hayro::hayro_interpret::hayro_cmap::BfString;
use hayro::hayro_interpret::hayro_syntax::page::Page;
use hayro::hayro_interpret::util::TransformExt;
use hayro::hayro_interpret::{
    interpret_page, BlendMode, ClipPath, Context, Device, DrawMode, DrawProps, Image, ImageDrawProps,
    InterpreterCache, InterpreterSettings, SoftMask,
};
use hayro::kurbo::{Affine, BezPath, Point, Rect};

/// Glyph boxes in text space span the em square from the descender to the ascender
/// line: these fractions of the font size (outlines are drawn at 1,000 units per em).
const GLYPH_BOTTOM: f64 = -200.0;
const GLYPH_TOP: f64 = 800.0;
/// A glyph whose font gives no advance is taken to be this wide (half an em).
const DEFAULT_ADVANCE: f64 = 500.0;
/// Glyphs noted on one page, at most: a real page draws a few thousand; a page whose
/// forms draw forms thousands of times over could ask for billions.
const MAX_GLYPHS: usize = 1_000_000;
/// A gap wider than this share of the font size between two glyphs on a line is a
/// space between words (a space is about a quarter of an em; kerning far less).
const WORD_GAP: f64 = 0.12;

/// One glyph a page draws.
#[derive(Debug, Clone)]
pub(crate) struct DrawnGlyph {
    /// The text it stands for; `None` when the font says nothing about that.
    pub text: Option<String>,
    /// Its box, from descender to ascender and over its advance.
    pub rect: Rect,
    /// Where its baseline starts.
    pub origin: Point,
}

/// What one page draws that reading cares about.
#[derive(Debug, Default)]
pub(crate) struct DrawnPage {
    /// Glyphs in drawing order (visible or not: an OCR layer is invisible text).
    pub glyphs: Vec<DrawnGlyph>,
    /// Images drawn (a scanned page is one image and no text).
    pub images: usize,
    /// Whether the page drew more than [`MAX_GLYPHS`] glyphs (the rest are not noted).
    pub incomplete: bool,
}

/// Interprets `page` as drawn by `transform` into `target` (device space, y down),
/// noting its glyphs and images without painting anything. `cache` keeps fonts
/// parsed for the next page of the same file.
pub(crate) fn drawn_page<'a>(
    page: &Page<'a>,
    transform: Affine,
    target: Rect,
    cache: &InterpreterCache<'a>,
) -> DrawnPage {
    let mut drawn = DrawnPage::default();
    let mut context = Context::new(
        transform,
        target,
        cache,
        page.xref(),
        InterpreterSettings::default(),
    );
    interpret_page(page, &mut context, &mut drawn);
    drawn
}

/// The page as drawn at one device unit per point (PDF user space, y down).
pub(crate) fn drawn_page_unscaled<'a>(page: &Page<'a>, cache: &InterpreterCache<'a>) -> DrawnPage {
    let (width, height) = page.render_dimensions();
    let target = Rect::new(0.0, 0.0, f64::from(width), f64::from(height));
    drawn_page(page, page.initial_transform(true).to_kurbo(), target, cache)
}

impl DrawnPage {
    /// The page's text: glyphs in drawing order, a line break where the baseline
    /// moves to another line, a space where a gap on a line is as wide as one.
    pub fn text(&self) -> String {
        let mut text = String::new();
        let mut previous: Option<&DrawnGlyph> = None;
        for glyph in &self.glyphs {
            let Some(glyph_text) = glyph.text.as_deref() else {
                continue;
            };
            if let Some(previous) = previous {
                let size = previous.rect.height().max(glyph.rect.height());
                if !same_line(previous, glyph) {
                    text.push('\n');
                } else if glyph.origin.x - previous.rect.x1 > WORD_GAP * size
                    && !text.ends_with(char::is_whitespace)
                    && !glyph_text.starts_with(char::is_whitespace)
                {
                    text.push(' ');
                }
            }
            text.push_str(glyph_text);
            previous = Some(glyph);
        }
        text
    }

    /// Glyphs that draw something other than white space (with or without text).
    pub fn inked_glyphs(&self) -> usize {
        self.glyphs
            .iter()
            .filter(|g| {
                !g.text
                    .as_deref()
                    .is_some_and(|t| t.chars().all(char::is_whitespace))
            })
            .count()
    }

    fn note(&mut self, unicode: Option<BfString>, transform: Affine, advance: f64) {
        if self.glyphs.len() == MAX_GLYPHS {
            self.incomplete = true;
            return;
        }
        let corners = [
            Point::new(0.0, GLYPH_BOTTOM),
            Point::new(advance, GLYPH_BOTTOM),
            Point::new(0.0, GLYPH_TOP),
            Point::new(advance, GLYPH_TOP),
        ]
        .map(|p| transform * p);
        let mut rect = Rect::from_points(corners[0], corners[1]);
        for corner in &corners[2..] {
            rect = rect.union_pt(*corner);
        }
        if !rect.is_finite() {
            return;
        }
        let text = match unicode {
            Some(BfString::Char(c)) => Some(c.to_string()),
            Some(BfString::String(s)) => Some(s),
            None => None,
        };
        self.glyphs.push(DrawnGlyph {
            text,
            rect,
            origin: transform * Point::ORIGIN,
        });
    }
}

/// Whether `next` continues the line `previous` is on: its baseline within half a
/// glyph's height, and not far back to the left (a new column or line).
pub(crate) fn same_line(previous: &DrawnGlyph, next: &DrawnGlyph) -> bool {
    let height = previous.rect.height().max(next.rect.height());
    (previous.origin.y - next.origin.y).abs() < height / 2.0
        && next.origin.x >= previous.origin.x - height
        && next.origin.x - previous.rect.x1 < 3.0 * height
}

impl<'a> Device<'a> for DrawnPage {
    fn draw_glyph_run(&mut self, run: &GlyphRun<'_, 'a>, props: DrawProps<'a>, _: &DrawMode) {
        let glyphs = run.glyphs();
        for (i, glyph) in glyphs.iter().enumerate() {
            let transform = props.transform * glyph.transform();
            // The advance, in glyph units: the font's, or the distance to the next glyph.
            let advance = match &**glyph {
                Glyph::Outline(outline) => outline.advance_width(),
                Glyph::Type3(type3) => type3.advance_width(),
            }
            .map(f64::from)
            .filter(|a| *a > 0.0)
            .or_else(|| {
                let next = glyphs.get(i + 1)?;
                let to_next = glyph.transform().inverse() * (next.transform() * Point::ORIGIN);
                (to_next.x > 0.0).then_some(to_next.x)
            })
            .unwrap_or(DEFAULT_ADVANCE);
            self.note(glyph.as_unicode(), transform, advance);
        }
    }

    fn draw_image(&mut self, _: Image<'a, '_>, _: ImageDrawProps<'a>) {
        self.images += 1;
    }

    fn draw_path(&mut self, _: &BezPath, _: DrawProps<'a>, _: &DrawMode) {}
    fn push_clip_path(&mut self, _: &ClipPath) {}
    fn push_transparency_group(&mut self, _: f32, _: Option<SoftMask<'a>>, _: BlendMode) {}
    fn pop_clip(&mut self) {}
    fn pop_transparency_group(&mut self) {}
}
