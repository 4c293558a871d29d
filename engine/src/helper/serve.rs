//! The helper's side: a loop that reads a request (a file's name and bytes), extracts
//! and chunks it under the process's limits, and answers, one file at a time, until
//! Quire closes the pipe. Nothing a file contains reaches Quire but this answer.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use super::limits;
use super::protocol::{read_frame, write_frame, Chunked, FrameError, Reply, Request, Want, VERSION};
use crate::chunk::Chunker;
use crate::config::DEFAULT_EXTRACT_MEMORY_BYTES;
use crate::extract::{self, catch_parser_panic, format_of, Document, ExtractError, Format};
use crate::page_image::render_pdf_page;
use crate::size::human_bytes;

/// The argument that makes a program embedding the engine run as a helper.
pub const HELPER_ARG: &str = "__extract-helper";

/// Stack of the thread that extracts: parsers recurse on nested content, and a deep
/// but real document should not cost a crash.
const STACK_BYTES: usize = 64 * 1024 * 1024;

/// Titles are shown in lists and repeated with every passage: longer ones are cut.
const MAX_TITLE_CHARS: usize = 500;

/// Runs the extraction helper when this process was started as one (`<program>
/// __extract-helper <memory bytes>`) and returns its exit code; returns None for an
/// ordinary start. Every program that embeds the engine calls this first thing in
/// `main`: the engine starts its helpers from its own executable.
pub fn serve_if_requested() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(OsStr::new(HELPER_ARG)) {
        return None;
    }
    let memory_bytes = args
        .next()
        .and_then(|a| a.to_str().and_then(|a| a.parse().ok()))
        .unwrap_or(DEFAULT_EXTRACT_MEMORY_BYTES);
    Some(serve(memory_bytes))
}

fn serve(memory_bytes: u64) -> ExitCode {
    let protocol = match limits::take_stdout() {
        Ok(protocol) => protocol,
        Err(e) => {
            eprintln!("quire extraction helper: cannot take its output: {e}");
            return ExitCode::FAILURE;
        }
    };
    limits::exit_with_parent(memory_bytes);
    let worker = std::thread::Builder::new()
        .name("extract".into())
        .stack_size(STACK_BYTES)
        .spawn(move || answer_requests(protocol, memory_bytes));
    match worker.map(|w| w.join()) {
        Ok(Ok(code)) => code,
        _ => ExitCode::FAILURE,
    }
}

fn answer_requests(out: std::fs::File, memory_bytes: u64) -> ExitCode {
    limits::confine_self(memory_bytes);
    if send(&out, &Reply::Hello { version: VERSION }).is_err() {
        return ExitCode::FAILURE;
    }
    let mut input = std::io::stdin().lock();
    loop {
        let request = match read_frame(&mut input, u64::MAX) {
            Ok((kind, payload)) => Request::decode(kind, &payload),
            Err(FrameError::Closed) => return ExitCode::SUCCESS,
            Err(e) => Err(e),
        };
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                eprintln!("quire extraction helper: unreadable request: {e}");
                return ExitCode::FAILURE;
            }
        };
        limits::limit_cpu_for_next(request.cpu_secs);
        // Seconds go by on each page read by OCR: Quire hears of each one, and the
        // processor time allowed starts again as the wall-clock time does.
        let cpu_secs = request.cpu_secs;
        let working = || {
            limits::limit_cpu_for_next(cpu_secs);
            let _ = send(&out, &Reply::Working);
        };
        let reply = answer(request, &working);
        if send(&out, &reply).is_err() {
            return ExitCode::FAILURE;
        }
    }
}

fn send(mut out: &std::fs::File, reply: &Reply) -> std::io::Result<()> {
    let (kind, payload) = reply.encode();
    write_frame(&mut out, kind, &payload)?;
    out.flush()
}

/// Extracts (and chunks) one file, within the request's caps on text and passages,
/// or draws one of its pages.
pub(super) fn answer(request: Request, working: &dyn Fn()) -> Reply {
    if let Want::PageImage {
        page,
        width_px,
        passage,
    } = &request.want
    {
        return draw_page(&request.name, request.bytes, *page, *width_px, passage);
    }
    let Request {
        name,
        want,
        max_text_bytes,
        max_chunks,
        read,
        bytes,
        ..
    } = request;
    let started = Instant::now();
    let extracted = extract::extract_with(Path::new(&name), &bytes, &read, working);
    drop(bytes);
    let mut document = match extracted {
        Ok(document) => document,
        Err(refused) => return Reply::Refused(refused),
    };
    let extract_secs = started.elapsed().as_secs_f64();
    cut_title(&mut document);
    let text_bytes: u64 = document.pages.iter().map(|p| p.text.len() as u64).sum();
    if text_bytes > max_text_bytes {
        return Reply::Refused(ExtractError::Failed(format!(
            "holds more than {} of text; Quire indexes at most that much of one file \
             (max_text_bytes in config.toml); it is not read again until it changes",
            human_bytes(max_text_bytes)
        )));
    }
    let Want::Chunks {
        min_tokens,
        max_tokens,
        overlap_tokens,
    } = want
    else {
        return Reply::Pages(document);
    };
    let started = Instant::now();
    let chunker = Chunker::with_sizes(min_tokens as usize, max_tokens as usize, overlap_tokens as usize);
    let chunks = match catch_parser_panic(|| Ok(chunker.chunk(&document))) {
        Ok(chunks) => chunks,
        Err(refused) => return Reply::Refused(refused),
    };
    if chunks.len() as u64 > max_chunks {
        return Reply::Refused(ExtractError::Failed(format!(
            "makes more than {max_chunks} passages; Quire indexes at most that many of one file \
             (max_chunks_per_file in config.toml); it is not read again until it changes"
        )));
    }
    Reply::Chunks(Chunked {
        title: document.title,
        pages_awaiting_ocr: document.pages_awaiting_ocr,
        page_count: u32::try_from(document.pages.len()).unwrap_or(u32::MAX),
        chunks,
        extract_secs,
        chunk_secs: started.elapsed().as_secs_f64(),
    })
}

fn draw_page(name: &str, bytes: Vec<u8>, page: u32, width_px: u32, passage: &str) -> Reply {
    if !matches!(format_of(Path::new(name)), Ok(Format::Pdf)) {
        return Reply::Refused(ExtractError::Skipped(
            "only PDF pages are drawn; its text is shown instead".into(),
        ));
    }
    match catch_parser_panic(|| render_pdf_page(bytes, page, width_px, passage)) {
        Ok(image) => Reply::PageImage(image),
        Err(refused) => Reply::Refused(refused),
    }
}

fn cut_title(document: &mut Document) {
    if let Some(title) = &mut document.title {
        if let Some((at, _)) = title.char_indices().nth(MAX_TITLE_CHARS) {
            title.truncate(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::ReadOptions;

    fn request(name: &str, bytes: &[u8], want: Want) -> Request {
        Request {
            name: name.into(),
            want,
            max_text_bytes: 1_000,
            max_chunks: 3,
            cpu_secs: 10,
            read: ReadOptions::default(),
            bytes: bytes.to_vec(),
        }
    }

    const CHUNKS: Want = Want::Chunks {
        min_tokens: 10,
        max_tokens: 20,
        overlap_tokens: 0,
    };

    #[test]
    fn a_file_is_extracted_and_chunked_within_its_caps() {
        let text = "Boiler service in October. ".repeat(4);
        match answer(request("notes.txt", text.as_bytes(), CHUNKS), &|| {}) {
            Reply::Chunks(chunked) => {
                assert_eq!(chunked.page_count, 1);
                assert!(!chunked.chunks.is_empty());
                assert!(chunked.chunks[0].text.starts_with("Boiler"));
            }
            other => panic!("{other:?}"),
        }
        match answer(request("notes.txt", text.as_bytes(), Want::Pages), &|| {}) {
            Reply::Pages(document) => assert_eq!(document.pages[0].text, text),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn too_much_text_or_too_many_passages_is_the_files_error() {
        let long = "word ".repeat(300);
        match answer(request("long.txt", long.as_bytes(), CHUNKS), &|| {}) {
            Reply::Refused(ExtractError::Failed(message)) => {
                assert!(message.contains("more than 1000 B of text"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        let many = "word ".repeat(150);
        match answer(request("many.txt", many.as_bytes(), CHUNKS), &|| {}) {
            Reply::Refused(ExtractError::Failed(message)) => {
                assert!(message.contains("more than 3 passages"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            answer(request("song.mp3", b"ID3", CHUNKS), &|| {}),
            Reply::Refused(ExtractError::Skipped(_))
        ));
    }
}
