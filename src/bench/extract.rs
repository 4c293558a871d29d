//! `quire bench extract`: how well Quire reads a folder of PDFs, against poppler's
//! `pdftotext` (Debian poppler-utils, used here only). Each PDF is read three ways
//! side by side in one run, in extraction helpers as indexing reads it: by the first
//! reader alone (pdf-extract, what Quire read before the second reader), the second
//! alone (hayro), and the best of both page by page (what Quire reads now). Then
//! OCR is measured on clean renders of text pages: Tesseract's characters against
//! the page's text layer.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use quire_engine::config::Config;
use quire_engine::extract::{ocr, Ocr, PdfText, ReadOptions};
use quire_engine::helper::{Extractor, HelperSettings};
use quire_engine::page_image::draw_page_for_ocr;

/// Text within this share of poppler's (in characters other than white space) counts
/// as read as well as poppler reads it.
const WITHIN: f64 = 0.10;
/// PDFs where poppler reads fewer characters than this have no text layer to compare.
const TEXT_LAYER_CHARS: usize = 50;
/// Pages of one PDF that OCR is measured on, at most (so that no one file dominates).
const OCR_PAGES_PER_FILE: usize = 5;
/// Seconds poppler may take on one file.
const POPPLER_SECS: &str = "60";

#[derive(Debug, Clone, Serialize)]
pub struct ExtractBench {
    #[serde(serialize_with = "quire_engine::serde_path::lossy")]
    pub folder: PathBuf,
    pub pdfs: usize,
    /// PDFs poppler reads at least `TEXT_LAYER_CHARS` characters from.
    pub with_text_layer: usize,
    pub readers: Vec<ReaderResult>,
    pub ocr: Option<OcrResult>,
    pub files: Vec<FileResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReaderResult {
    pub reader: PdfText,
    /// PDFs read (not refused).
    pub read: usize,
    /// PDFs with a text layer that this reader refused.
    pub refused_with_text_layer: usize,
    /// PDFs with a text layer read within 10 % of poppler's characters.
    pub within_10_percent: usize,
    pub within_share: f64,
    /// PDFs read whose page count is poppler's.
    pub pages_right: usize,
    pub pages: u64,
    pub secs: f64,
    pub ms_per_page: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OcrResult {
    pub pages: usize,
    /// Of the non-space characters of the text layers, the share Tesseract read right
    /// (1 − edit distance / length), in reading order: a page Tesseract reads in another
    /// order than the text layer's (columns, captions) counts as misread.
    pub character_accuracy: f64,
    /// Of the text layers' words, the share Tesseract read exactly, in any order
    /// (ISRI's order-independent word accuracy).
    pub word_accuracy: f64,
    pub worst_page_accuracy: f64,
    pub secs_per_page: f64,
    pub languages: Vec<String>,
    /// Each page measured: its file and its character accuracy.
    pub measured: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    pub name: String,
    pub poppler_pages: Option<u32>,
    pub poppler_chars: Option<usize>,
    /// Per reader: characters read, pages, or why refused.
    pub readings: Vec<Reading>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Reading {
    Read { chars: usize, pages: u32 },
    Refused { refused: String },
}

/// Reads every PDF in `folder` with each reader, compares with poppler, and measures
/// OCR on up to `ocr_pages` pages of PDFs read well.
pub fn extract(folder: &Path, config: &Config, ocr_pages: usize) -> Result<ExtractBench> {
    check_poppler()?;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("cannot list {}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")))
        .collect();
    paths.sort();
    if paths.is_empty() {
        bail!("{} holds no PDF", folder.display());
    }
    let readers = [PdfText::FirstReader, PdfText::SecondReader, PdfText::Best];
    let mut files: Vec<FileResult> = paths
        .iter()
        .map(|path| FileResult {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            poppler_pages: poppler_pages(path),
            poppler_chars: poppler_text(path, None).map(|t| non_space_chars(&t)),
            readings: Vec::new(),
        })
        .collect();
    let mut results = Vec::new();
    for reader in readers {
        let mut settings = HelperSettings::from_config(config)?;
        settings.read = ReadOptions {
            pdf_text: reader,
            ocr: Ocr::Off,
        };
        let mut extractor = Extractor::new(settings);
        let started = Instant::now();
        for (path, file) in paths.iter().zip(files.iter_mut()) {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            file.readings.push(match extractor.document(&file.name, bytes)? {
                Ok(document) => Reading::Read {
                    chars: document.pages.iter().map(|p| non_space_chars(&p.text)).sum(),
                    pages: u32::try_from(document.pages.len()).unwrap_or(u32::MAX),
                },
                Err(refused) => Reading::Refused {
                    refused: refused.into_message(),
                },
            });
        }
        results.push(summarize(reader, &files, started.elapsed().as_secs_f64()));
    }
    let ocr = (ocr_pages > 0)
        .then(|| measure_ocr(&paths, &files, config, ocr_pages))
        .transpose()?;
    Ok(ExtractBench {
        folder: folder.to_path_buf(),
        pdfs: files.len(),
        with_text_layer: files.iter().filter(|f| has_text_layer(f)).count(),
        readers: results,
        ocr,
        files,
    })
}

fn has_text_layer(file: &FileResult) -> bool {
    file.poppler_chars.is_some_and(|c| c >= TEXT_LAYER_CHARS)
}

fn within(chars: usize, reference: usize) -> bool {
    (chars as f64 - reference as f64).abs() <= WITHIN * reference as f64
}

fn summarize(reader: PdfText, files: &[FileResult], secs: f64) -> ReaderResult {
    let index = files.first().map_or(0, |f| f.readings.len().saturating_sub(1));
    let (mut read, mut refused_with_text_layer, mut within_count, mut pages_right, mut pages) =
        (0, 0, 0, 0, 0u64);
    for file in files {
        match &file.readings[index] {
            Reading::Read { chars, pages: count } => {
                read += 1;
                pages += u64::from(*count);
                if file.poppler_pages == Some(*count) {
                    pages_right += 1;
                }
                if has_text_layer(file) && file.poppler_chars.is_some_and(|p| within(*chars, p)) {
                    within_count += 1;
                }
            }
            Reading::Refused { .. } => {
                if has_text_layer(file) {
                    refused_with_text_layer += 1;
                }
            }
        }
    }
    let with_text = files.iter().filter(|f| has_text_layer(f)).count().max(1);
    ReaderResult {
        reader,
        read,
        refused_with_text_layer,
        within_10_percent: within_count,
        within_share: within_count as f64 / with_text as f64,
        pages_right,
        pages,
        secs,
        ms_per_page: 1000.0 * secs / pages.max(1) as f64,
    }
}

/// OCR of clean renders: pages of body text (up to [`OCR_PAGES_PER_FILE`] a file) of
/// the PDFs every reader read well (within 10 % of poppler), up to `limit` pages.
fn measure_ocr(paths: &[PathBuf], files: &[FileResult], config: &Config, limit: usize) -> Result<OcrResult> {
    let Ocr::On(options) = config.ocr() else {
        bail!("the OCR measurement needs Tesseract (apt install tesseract-ocr), with ocr on in config.toml");
    };
    let (mut errors, mut reference_chars, mut secs) = (0usize, 0usize, 0.0);
    let (mut words_found, mut reference_word_count) = (0usize, 0usize);
    let mut measured = Vec::new();
    // The same page in several files (a paper and its annotated copies) is measured once.
    let mut seen = std::collections::HashSet::new();
    for (path, file) in paths.iter().zip(files) {
        let read_well = file.readings.iter().all(|r| match r {
            Reading::Read { chars, .. } => file.poppler_chars.is_some_and(|p| within(*chars, p)),
            Reading::Refused { .. } => false,
        });
        if !read_well {
            continue;
        }
        let bytes = std::fs::read(path)?;
        let mut taken = 0;
        for page in 1..=file.poppler_pages.unwrap_or(0) {
            if measured.len() == limit || taken == OCR_PAGES_PER_FILE {
                break;
            }
            let Some(reference) = poppler_text(path, Some(page)).filter(|t| is_prose(t)) else {
                continue;
            };
            if !seen.insert(reference.clone()) {
                continue;
            }
            let started = Instant::now();
            let Ok(png) = draw_page_for_ocr(bytes.clone(), page) else {
                continue;
            };
            let text = ocr::recognize(&png, ocr::PAGE_DPI, &options)
                .map_err(|e| anyhow::anyhow!("{} page {page}: {e}", file.name))?;
            secs += started.elapsed().as_secs_f64();
            let reference_words = words(&reference);
            words_found += words_in_common(&words(&text), &reference_words);
            reference_word_count += reference_words.len();
            let reference: Vec<char> = reference.chars().filter(|c| !c.is_whitespace()).collect();
            let read: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
            let distance = edit_distance(&read, &reference);
            measured.push((
                format!("{} p{page}", file.name),
                1.0 - distance as f64 / reference.len() as f64,
            ));
            errors += distance;
            reference_chars += reference.len();
            taken += 1;
        }
    }
    if measured.is_empty() {
        bail!("no PDF here has a page of body text read well enough to measure OCR on");
    }
    let pages = measured.len();
    Ok(OcrResult {
        pages,
        character_accuracy: 1.0 - errors as f64 / reference_chars as f64,
        word_accuracy: words_found as f64 / reference_word_count.max(1) as f64,
        worst_page_accuracy: measured.iter().map(|(_, a)| *a).fold(1.0, f64::min),
        secs_per_page: secs / pages as f64,
        languages: options.languages,
        measured,
    })
}

/// Whether a page's text is body text, which is what OCR is measured on: at least a
/// paragraph's worth, lines of prose length (not a table, a form or a figure's labels),
/// in the Latin script English data reads.
fn is_prose(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let chars: usize = lines.iter().map(|l| l.chars().count()).sum();
    chars >= 400 && chars / lines.len().max(1) >= 40 && text.is_ascii()
}

/// Words as compared for word accuracy: letters and digits, lowercased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// How many of `reference`'s words `read` has, each counted as often as both have it.
fn words_in_common(read: &[String], reference: &[String]) -> usize {
    let mut left: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for word in read {
        *left.entry(word).or_default() += 1;
    }
    reference
        .iter()
        .filter(|word| match left.get_mut(word.as_str()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
        .count()
}

/// Levenshtein distance: insertions, deletions and substitutions.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

fn non_space_chars(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

fn check_poppler() -> Result<()> {
    let found = Command::new("pdftotext")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        bail!("the comparison needs poppler's pdftotext and pdfinfo: apt install poppler-utils");
    }
    Ok(())
}

/// Poppler's text of the file (or of one page), `None` when it reads nothing.
fn poppler_text(path: &Path, page: Option<u32>) -> Option<String> {
    let mut command = Command::new("timeout");
    command.args([POPPLER_SECS, "pdftotext", "-q"]);
    if let Some(page) = page {
        command.args(["-f", &page.to_string(), "-l", &page.to_string()]);
    }
    let output = command.arg(path).arg("-").stderr(Stdio::null()).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn poppler_pages(path: &Path) -> Option<u32> {
    let output = Command::new("timeout")
        .args([POPPLER_SECS, "pdfinfo"])
        .arg(path)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_each_kind_of_edit() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(edit_distance(&chars("kitten"), &chars("sitting")), 3);
        assert_eq!(edit_distance(&chars(""), &chars("abc")), 3);
        assert_eq!(edit_distance(&chars("same"), &chars("same")), 0);
    }
}
