//! The engine on a real folder: every supported format is found by its own
//! words at the right page, bad files are reported one by one without costing
//! the rest, and re-indexing follows edits, deletions and renames without
//! extracting unchanged files again.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use quire_engine::ingest::IndexReport;
use quire_engine::progress::NoProgress;
use quire_engine::retrieve::{SearchHit, SearchMode};
use quire_engine::Engine;
use quire_engine::FileStatus;

async fn open(data: &Path) -> Engine {
    Engine::open(config(data)).await.unwrap()
}

/// Keyword search: these tests are about what gets indexed, so a word that is
/// not in the library must find nothing (a vector search always finds neighbours).
async fn keyword(engine: &Engine, query: &str, limit: usize) -> Vec<SearchHit> {
    engine.search(query, SearchMode::Bm25, limit).await.unwrap()
}

async fn top_path(engine: &Engine, query: &str) -> Option<(PathBuf, u32)> {
    let hits = keyword(engine, query, 5).await;
    hits.first().map(|h| (h.path.clone(), h.page))
}

/// A folder `notes` in `dir` with `count` short text files.
fn write_notes(dir: &Path, count: usize) -> PathBuf {
    let root = dir.join("notes");
    std::fs::create_dir_all(&root).unwrap();
    for n in 0..count {
        std::fs::write(root.join(format!("note-{n:03}.txt")), prose(n, 3)).unwrap();
    }
    root
}

fn names(paths: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn problem<'a>(report: &'a IndexReport, name: &str) -> &'a quire_engine::FileProblem {
    report
        .problems
        .iter()
        .find(|p| p.path.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("no problem recorded for {name}: {:#?}", report.problems))
}

#[tokio::test(flavor = "multi_thread")]
async fn indexes_every_format_reports_bad_files_and_follows_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = library(tmp.path()).canonicalize().unwrap();
    let engine = open(&tmp.path().join("data")).await;

    let report = engine.index_folder(&root, &NoProgress).await.unwrap();
    assert_eq!(
        names(&report.extracted),
        ["guide.md", "letter.docx", "notes.txt", "page.html", "survey.pdf"]
    );
    assert_eq!(report.failed, 1, "{:#?}", report.problems);
    assert_eq!(report.skipped, 3, "{:#?}", report.problems);

    // Bad inputs: each has its own, specific reason.
    let corrupt = problem(&report, "corrupt.pdf");
    assert_eq!(corrupt.status, FileStatus::Error);
    assert!(corrupt.message.contains("damaged"), "{}", corrupt.message);
    assert_eq!(problem(&report, "empty.txt").message, "empty file");
    let binary = problem(&report, "firmware.log");
    assert_eq!(binary.status, FileStatus::Skipped);
    assert!(binary.message.contains("binary"), "{}", binary.message);
    assert!(problem(&report, "song.mp3")
        .message
        .contains("unsupported file type"));

    // The phrase on page 3 of the PDF is found there.
    let hits = keyword(&engine, PDF_PAGE3_PHRASE, 5).await;
    let hit = &hits[0];
    assert_eq!(hit.path, root.join("survey.pdf"));
    assert_eq!(hit.page, 3);
    assert_eq!(hit.title.as_deref(), Some("Wetland survey"));
    assert!(!hit.snippet.highlights.is_empty());
    let marked = hit.snippet.marked("[", "]");
    assert!(
        marked.contains("[heron]") && marked.contains("[quarry]"),
        "{marked}"
    );
    assert!(hits.iter().skip(1).all(|h| h.score < hit.score));

    // Each format by its own words, stemmed ("feeding" finds "feed").
    assert_eq!(
        top_path(&engine, "sourdough starter feed").await,
        Some((root.join("notes.txt"), 1))
    );
    assert_eq!(
        top_path(&engine, MD_PHRASE).await,
        Some((root.join("sub/guide.md"), 1))
    );
    assert_eq!(
        top_path(&engine, HTML_PHRASE).await,
        Some((root.join("page.html"), 1))
    );
    assert_eq!(
        top_path(&engine, DOCX_PHRASE).await,
        Some((root.join("letter.docx"), 1))
    );
    // Script content, hidden files and ignored folders are not indexed.
    assert!(keyword(&engine, "zeppelin", 5).await.is_empty());
    assert!(keyword(&engine, "xylophone", 5).await.is_empty());

    // A second run with nothing changed does no work.
    let again = engine.index_folder(&root, &NoProgress).await.unwrap();
    assert!(again.extracted.is_empty(), "{:?}", again.extracted);
    // The damaged PDF is read again (errors are retried) but, its content being the same, not parsed again.
    assert_eq!(again.unchanged, 9, "unchanged files of {again:#?}");

    // Modify one, delete one, rename one.
    std::fs::write(
        root.join("notes.txt"),
        "Kitchen notes, rewritten: the pressure cooker gasket must be replaced.",
    )
    .unwrap();
    std::fs::remove_file(root.join("page.html")).unwrap();
    std::fs::rename(root.join("sub/guide.md"), root.join("handbook.md")).unwrap();
    let changed = engine.index_folder(&root, &NoProgress).await.unwrap();
    assert_eq!(
        names(&changed.extracted),
        ["notes.txt"],
        "only the modified file is extracted again"
    );
    assert_eq!(changed.renamed, 1);
    assert_eq!(changed.removed, 1);

    assert_eq!(
        top_path(&engine, "pressure cooker gasket").await,
        Some((root.join("notes.txt"), 1))
    );
    assert!(keyword(&engine, "sourdough starter", 5).await.is_empty());
    for mode in [SearchMode::Bm25, SearchMode::Vector, SearchMode::Hybrid] {
        let hits = engine.search(HTML_PHRASE, mode, 20).await.unwrap();
        assert!(
            hits.iter().all(|h| h.path != root.join("page.html")),
            "{mode:?}: the deleted file is gone"
        );
    }
    assert_eq!(
        top_path(&engine, MD_PHRASE).await,
        Some((root.join("handbook.md"), 1))
    );
    assert_eq!(
        top_path(&engine, PDF_PAGE3_PHRASE).await,
        Some((root.join("survey.pdf"), 3))
    );

    // Status lists the folder and the file in error with its message.
    let status = engine.status().await.unwrap();
    assert_eq!(status.folders.len(), 1);
    assert_eq!(status.folders[0].indexed, 4);
    assert_eq!(status.folders[0].errors, 1);
    let errors: Vec<_> = status
        .problems
        .iter()
        .filter(|p| p.status == FileStatus::Error)
        .collect();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].path.ends_with("corrupt.pdf"));
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_file_is_an_error_and_the_rest_is_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    if !permissions_apply(tmp.path()) {
        eprintln!("skipping only this case: running as root, which can read any file");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let root = library(tmp.path()).canonicalize().unwrap();
    let locked = root.join("locked.txt");
    std::fs::write(&locked, "a secret recipe").unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let engine = open(&tmp.path().join("data")).await;
    let report = engine.index_folder(&root, &NoProgress).await.unwrap();
    let locked_problem = problem(&report, "locked.txt");
    assert_eq!(locked_problem.status, FileStatus::Error);
    assert!(
        locked_problem.message.contains("permission denied"),
        "{}",
        locked_problem.message
    );
    assert_eq!(report.extracted.len(), 5);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o600)).unwrap();
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_survives_reopening_and_is_rebuilt_from_the_catalog_when_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let root = library(tmp.path()).canonicalize().unwrap();
    let data = tmp.path().join("data");
    let engine = open(&data).await;
    engine.index_folder(&root, &NoProgress).await.unwrap();
    let before = keyword(&engine, PDF_PAGE3_PHRASE, 10).await;
    engine.close().await.unwrap();

    let reopened = open(&data).await;
    let after = keyword(&reopened, PDF_PAGE3_PHRASE, 10).await;
    assert_eq!(
        before.iter().map(|h| (h.chunk_id, h.page)).collect::<Vec<_>>(),
        after.iter().map(|h| (h.chunk_id, h.page)).collect::<Vec<_>>()
    );
    reopened.close().await.unwrap();

    std::fs::remove_dir_all(data.join("lexical")).unwrap();
    let rebuilt = open(&data).await;
    assert_eq!(
        top_path(&rebuilt, PDF_PAGE3_PHRASE).await,
        Some((root.join("survey.pdf"), 3))
    );
    rebuilt.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn odd_queries_never_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let root = library(tmp.path()).canonicalize().unwrap();
    let engine = open(&tmp.path().join("data")).await;
    engine.index_folder(&root, &NoProgress).await.unwrap();
    for query in [
        "",
        "   ",
        "\"unbalanced",
        "title:",
        "AND OR NOT",
        "(((",
        "-",
        "heron:quarry",
        "*?~^",
        "😀",
    ] {
        for mode in [SearchMode::Bm25, SearchMode::Vector, SearchMode::Hybrid] {
            engine
                .search(query, mode, 5)
                .await
                .unwrap_or_else(|e| panic!("query {query:?} failed in {mode:?}: {e}"));
        }
    }
    assert_eq!(
        top_path(&engine, "\"flooded quarry\" -sourdough").await,
        Some((root.join("survey.pdf"), 3))
    );
    assert_eq!(
        top_path(&engine, "heron: quarry").await,
        Some((root.join("survey.pdf"), 3))
    );
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_folders_index_each_file_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = library(tmp.path()).canonicalize().unwrap();
    let engine = open(&tmp.path().join("data")).await;

    let inner = engine.index_folder(&root.join("sub"), &NoProgress).await.unwrap();
    assert_eq!(names(&inner.extracted), ["guide.md"]);
    // The outer folder takes the inner one over: its file is not extracted again.
    let outer = engine.index_folder(&root, &NoProgress).await.unwrap();
    assert_eq!(
        names(&outer.extracted),
        ["letter.docx", "notes.txt", "page.html", "survey.pdf"]
    );
    assert_eq!(engine.folders().await.unwrap().len(), 1);
    // Naming the inner folder again updates the outer one, with nothing to do.
    let again = engine.index_folder(&root.join("sub"), &NoProgress).await.unwrap();
    assert!(again.extracted.is_empty(), "{:?}", again.extracted);
    assert_eq!(keyword(&engine, MD_PHRASE, 10).await.len(), 1);
    engine.close().await.unwrap();
}

/// Pausing stops a run after the files it is reading, keeps them, and resuming
/// carries on with the rest: no file is read twice and none is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_paused_run_keeps_its_work_and_resuming_carries_on() {
    // More than a batch plus what reading runs ahead of embedding, so that a pause
    // after the first batch leaves files unread.
    const FILES: usize = 400;
    let tmp = tempfile::tempdir().unwrap();
    let root = write_notes(tmp.path(), FILES);
    let engine = open(&tmp.path().join("data")).await;
    let pause_after_some = |progress: &quire_engine::progress::Progress| {
        if progress.phase == quire_engine::progress::Phase::Indexing && progress.done > 0 {
            engine.pause_indexing();
        }
    };
    let first = engine.index_folder(&root, &pause_after_some).await.unwrap();
    assert!(first.paused);
    let done_first = first.extracted.len();
    assert!(
        (20..FILES).contains(&done_first),
        "{done_first} files before the pause"
    );
    let indexed = engine.status().await.unwrap().folders[0].indexed;
    assert_eq!(
        indexed as usize, done_first,
        "what was read before the pause is kept"
    );

    // While paused, a run takes nothing.
    let idle = engine.index_folder(&root, &NoProgress).await.unwrap();
    assert!(idle.paused && idle.extracted.is_empty());

    engine.resume_indexing();
    let rest = engine.index_folder(&root, &NoProgress).await.unwrap();
    assert!(!rest.paused);
    assert_eq!(
        rest.extracted.len(),
        FILES - done_first,
        "only the files not read yet"
    );
    assert!(rest.extracted.iter().all(|p| !first.extracted.contains(p)));
    assert_eq!(engine.status().await.unwrap().folders[0].indexed as usize, FILES);
    engine.close().await.unwrap();
}

/// While an answer or a summary is being generated, indexing leaves the cores to it:
/// no file is read or committed until the generation ends; then the run carries on.
#[tokio::test(flavor = "multi_thread")]
async fn indexing_steps_aside_while_an_answer_is_generated() {
    const FILES: usize = 40;
    let tmp = tempfile::tempdir().unwrap();
    let root = write_notes(tmp.path(), FILES);
    let engine = std::sync::Arc::new(open(&tmp.path().join("data")).await);
    let answer = engine.generation_activity().begin();
    let run = {
        let engine = engine.clone();
        let root = root.clone();
        tokio::spawn(async move { engine.index_folder(&root, &NoProgress).await })
    };
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(!run.is_finished(), "indexing waits for the answer");
    let status = engine.status().await.unwrap();
    let indexed: u64 = status.folders.iter().map(|f| f.indexed).sum();
    assert_eq!(indexed, 0, "no file indexed while the answer is written");

    drop(answer);
    let report = run.await.unwrap().unwrap();
    assert!(!report.paused);
    assert_eq!(report.extracted.len(), FILES);
    assert_eq!(engine.status().await.unwrap().folders[0].indexed as usize, FILES);
    let engine = std::sync::Arc::into_inner(engine).expect("the run has ended");
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cited_page_reads_in_context_with_the_passage_marked() {
    use quire_engine::passage::Mark;
    let tmp = tempfile::tempdir().unwrap();
    let root = household(tmp.path()).canonicalize().unwrap();
    let engine = open(&tmp.path().join("data")).await;
    engine.index_folder(&root, &NoProgress).await.unwrap();
    let manual = root.join("maintenance.pdf");
    assert_eq!(
        engine.file_status(&manual).await.unwrap(),
        Some(FileStatus::Indexed)
    );

    // A quote (as a citation keeps it, whatever its line breaks) is marked on its page,
    // and the page around it is there too.
    let quote = "The gas boiler must be serviced every October\nby a registered heating engineer.";
    let page = engine.page_text(&manual, 2, Mark::Quote(quote)).await.unwrap();
    assert_eq!((page.page, page.pages), (2, 4));
    assert_eq!(page.title.as_deref(), Some("Home maintenance manual"));
    let marked = &page.text[page.highlight.clone().expect("the quote is found")];
    assert_eq!(
        marked.split_whitespace().collect::<Vec<_>>().join(" "),
        quote.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    assert!(page.text.contains("Boiler service.") && page.text.contains("service certificate"));

    // A search hit's span marks its passage on its page.
    let hit = keyword(&engine, "gutters November", 1).await.remove(0);
    let page = engine
        .page_text(&hit.path, hit.page, Mark::Span(hit.span.clone()))
        .await
        .unwrap();
    assert!(page.text[page.highlight.expect("the hit is found")].contains("Clear the gutters"));

    // A quote the page no longer holds is reported as not found, not marked elsewhere.
    let page = engine
        .page_text(&manual, 2, Mark::Quote("The boiler is serviced by the tenant."))
        .await
        .unwrap();
    assert_eq!(page.highlight, None);
    // Only indexed files, and only pages they have.
    let outside = tmp.path().join("elsewhere.txt");
    std::fs::write(&outside, "not in the library").unwrap();
    assert!(engine.page_text(&outside, 1, Mark::Nothing).await.is_err());
    assert_eq!(engine.file_status(&outside).await.unwrap(), None);
    let error = engine
        .page_text(&manual, 9, Mark::Nothing)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("has no text on page 9 (it has 4)"), "{error}");
    engine.close().await.unwrap();
}

/// The decoded PNG: width, height and RGBA pixels.
fn decode_png(png: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(frame.color_type, png::ColorType::Rgba);
    pixels.truncate(frame.buffer_size());
    (frame.width, frame.height, pixels)
}

/// Dark pixels (ink) in a box given in fractions of the image.
fn ink_in(image: &(u32, u32, Vec<u8>), left: f32, top: f32, width: f32, height: f32) -> usize {
    let (w, h, pixels) = image;
    let x0 = (left * *w as f32) as u32;
    let y0 = (top * *h as f32) as u32;
    let x1 = (((left + width) * *w as f32) as u32).min(*w);
    let y1 = (((top + height) * *h as f32) as u32).min(*h);
    let mut ink = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            let at = ((y * w + x) * 4) as usize;
            if pixels[at] < 128 && pixels[at + 1] < 128 && pixels[at + 2] < 128 {
                ink += 1;
            }
        }
    }
    ink
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cited_pdf_page_is_drawn_with_the_passage_marked_where_it_stands() {
    let tmp = tempfile::tempdir().unwrap();
    let root = household(tmp.path()).canonicalize().unwrap();
    let engine = open(&tmp.path().join("data")).await;
    engine.index_folder(&root, &NoProgress).await.unwrap();
    let manual = root.join("maintenance.pdf");

    // The manual's pages are A4 (595 x 842 points); its lines start 60 points from the
    // left, the first baseline 780 points up, then one every 14 points.
    let baseline = |line: u32| (842.0 - (780.0 - 14.0 * line as f32)) / 842.0;
    let image = engine
        .page_image(
            &manual,
            2,
            900,
            "The gas boiler must be serviced every October\nby a registered heating engineer.",
        )
        .await
        .unwrap();
    assert_eq!((image.page, image.pages), (2, 4));
    assert_eq!(image.width, 900);
    assert_eq!(image.height, (842.0f32 * 900.0 / 595.0) as u32);
    assert!(!image.not_found);
    let pixels = decode_png(&image.png);
    assert_eq!((pixels.0, pixels.1), (image.width, image.height));
    // One line marked: the second of the page, from its left margin across most of it.
    assert_eq!(image.marks.len(), 1, "{:?}", image.marks);
    let mark = image.marks[0];
    assert!(
        mark.top < baseline(1) && baseline(1) < mark.top + mark.height,
        "{mark:?}"
    );
    assert!(mark.height < 14.0 / 842.0, "{mark:?} is taller than a line");
    assert!((mark.left - 60.0 / 595.0).abs() < 0.01, "{mark:?}");
    assert!(mark.width > 0.5 && mark.left + mark.width <= 1.0, "{mark:?}");
    // The page is drawn: the marked words are ink on the image, the margin is blank.
    assert!(ink_in(&pixels, mark.left, mark.top, mark.width, mark.height) > 500);
    assert_eq!(ink_in(&pixels, 0.0, 0.0, 0.08, 1.0), 0);

    // A passage over two lines is marked line by line.
    let image = engine
        .page_image(
            &manual,
            2,
            600,
            "takes about one hour. Keep the service certificate",
        )
        .await
        .unwrap();
    assert_eq!(image.marks.len(), 2, "{:?}", image.marks);
    for (mark, line) in image.marks.iter().zip([2, 3]) {
        assert!(
            mark.top < baseline(line) && baseline(line) < mark.top + mark.height,
            "{mark:?}"
        );
    }
    // The second line's words start at the margin; the first line's do not.
    assert!(image.marks[0].left > 0.3 && (image.marks[1].left - 60.0 / 595.0).abs() < 0.01);

    // Words not on the page mark nothing and say so; no passage asks for no mark.
    let image = engine
        .page_image(&manual, 2, 600, "The boiler is serviced by the tenant.")
        .await
        .unwrap();
    assert!(image.marks.is_empty() && image.not_found);
    let image = engine.page_image(&manual, 3, 600, "").await.unwrap();
    assert!(image.marks.is_empty() && !image.not_found);

    // Only PDFs in the library, and only pages they have, each with the reason.
    let error = engine
        .page_image(&manual, 9, 600, "")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cannot be drawn: has no page 9 (it has 4)"),
        "{error}"
    );
    let error = engine
        .page_image(&root.join("bread.txt"), 1, 600, "")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("only PDF pages are drawn"), "{error}");
    let outside = tmp.path().join("elsewhere.pdf");
    std::fs::write(&outside, pdf(&["Not in the library."], "Elsewhere")).unwrap();
    let error = engine
        .page_image(&outside, 1, 600, "")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not an indexed file of the library"), "{error}");
    // A file damaged since it was indexed is the file's error, not Quire's.
    std::fs::write(&manual, b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%%EOF").unwrap();
    let error = engine
        .page_image(&manual, 2, 600, "")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("cannot be drawn"), "{error}");
    engine.close().await.unwrap();
}
