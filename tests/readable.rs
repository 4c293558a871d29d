//! Every document readable: scanned pages and pictures read by OCR (Tesseract) and
//! cited by page, what a user is told when Tesseract is missing, and PDFs encrypted
//! with each standard security handler.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use lopdf::{dictionary, Stream};
use quire_engine::progress::NoProgress;
use quire_engine::retrieve::{SearchHit, SearchMode};
use quire_engine::{Engine, FileStatus};

const SCANNED_PHRASE: &str = "The heron colony nests in the alder carr every April";
const PHOTOGRAPHED_PHRASE: &str = "Water meter readings are due on the first Friday";
const RECEIPT_PHRASE: &str = "Received with thanks for twelve bags of seed potatoes";

fn tesseract_installed() -> bool {
    std::process::Command::new("tesseract")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A picture of a page holding `text`, as a scanner at 300 dpi makes it: a text PDF's
/// page drawn by Quire's own renderer, in shades of grey.
fn page_picture(text: &str) -> (u32, u32, Vec<u8>) {
    let png = quire_engine::page_image::draw_page_for_ocr(pdf(&[text], "page"), 1).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    let grey = pixels[..frame.buffer_size()]
        .chunks(channels)
        .map(|px| ((u32::from(px[0]) + u32::from(px[1]) + u32::from(px[2])) / 3) as u8)
        .collect();
    (frame.width, frame.height, grey)
}

/// The same picture as a PNG file.
fn page_picture_png(text: &str) -> Vec<u8> {
    let (width, height, grey) = page_picture(text);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&grey).unwrap();
    writer.finish().unwrap();
    out
}

/// A PDF of `text_pages` pages of text followed by `scanned_pages` pages that are
/// only pictures of text (no text layer), as a scanner writes them.
fn scanned_pdf(text_pages: &[&str], scanned_pages: &[&str]) -> Vec<u8> {
    let mut doc = lopdf::Document::load_mem(&pdf(text_pages, "Wetland report")).unwrap();
    let pages_id = doc
        .catalog()
        .unwrap()
        .get(b"Pages")
        .unwrap()
        .as_reference()
        .unwrap();
    for text in scanned_pages {
        let (width, height, grey) = page_picture(text);
        let mut image = Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Image",
                "Width" => width as i64,
                "Height" => height as i64,
                "ColorSpace" => "DeviceGray",
                "BitsPerComponent" => 8,
            },
            grey,
        );
        image.compress().unwrap();
        let image_id = doc.add_object(image);
        let content = doc.add_object(Stream::new(
            dictionary! {},
            b"q 595 0 0 842 0 0 cm /Scan Do Q".to_vec(),
        ));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content,
            "Resources" => dictionary! { "XObject" => dictionary! { "Scan" => image_id } },
        });
        let pages = doc.get_object_mut(pages_id).unwrap().as_dict_mut().unwrap();
        pages
            .get_mut(b"Kids")
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(page_id.into());
        let count = pages.get(b"Count").unwrap().as_i64().unwrap();
        pages.set("Count", count + 1);
    }
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

fn problem_of(status: &quire_engine::engine::LibraryStatus, name: &str) -> Option<(FileStatus, String)> {
    status
        .problems
        .iter()
        .find(|p| p.path.file_name().is_some_and(|n| n == name))
        .map(|p| (p.status, p.message.clone()))
}

async fn keyword(engine: &Engine, query: &str) -> Vec<SearchHit> {
    engine.search(query, SearchMode::Bm25, 5).await.unwrap()
}

fn scans_folder(dir: &Path) -> PathBuf {
    let root = dir.join("scans");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("wetland.pdf"),
        scanned_pdf(
            &["Wetland report, typed page one: transects and water levels."],
            &[SCANNED_PHRASE],
        ),
    )
    .unwrap();
    std::fs::write(root.join("notice.png"), page_picture_png(PHOTOGRAPHED_PHRASE)).unwrap();
    std::fs::write(root.join("receipt.pdf"), scanned_pdf(&[], &[RECEIPT_PHRASE])).unwrap();
    std::fs::write(root.join("typed.txt"), "Typed notes about the sluice gate.\n").unwrap();
    root.canonicalize().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scanned_page_and_a_picture_are_read_by_ocr_and_cited_by_page() {
    if !tesseract_installed() {
        eprintln!("skipped: Tesseract is not installed (scripts/setup.sh installs tesseract-ocr)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = scans_folder(tmp.path());
    let engine = Engine::open(config(&tmp.path().join("data"))).await.unwrap();
    let report = engine.index_folder(&root, &NoProgress).await.unwrap();
    assert_eq!(report.failed, 0, "{:#?}", report.problems);

    let hits = keyword(&engine, "heron colony alder carr").await;
    let hit = hits.first().expect("the scanned page's words are found");
    assert_eq!(hit.path, root.join("wetland.pdf"));
    assert_eq!(hit.page, 2, "the scanned page is cited, not the typed one");
    assert!(hit.passage.contains("heron colony"), "{}", hit.passage);
    assert!(hit.read_by_ocr, "a passage read from an image says so");

    let hits = keyword(&engine, "water meter readings Friday").await;
    let hit = hits.first().expect("the picture's words are found");
    assert_eq!(hit.path, root.join("notice.png"));
    assert_eq!(hit.page, 1);
    assert!(hit.read_by_ocr);

    // The typed page is read from its text layer, and says nothing of OCR.
    let hits = keyword(&engine, "transects water levels").await;
    assert_eq!((hits[0].page, hits[0].read_by_ocr), (1, false));
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_tesseract_a_scan_says_what_to_install_and_is_read_once_it_is_there() {
    let tmp = tempfile::tempdir().unwrap();
    let root = scans_folder(tmp.path());
    let data = tmp.path().join("data");
    let mut without = config(&data);
    without.ocr_program = PathBuf::from("/nonexistent/tesseract");
    let engine = Engine::open(without).await.unwrap();
    engine.index_folder(&root, &NoProgress).await.unwrap();
    let status = engine.status().await.unwrap();
    // A picture is skipped (a folder of photos is no folder of errors), a scanned PDF
    // is an error; both say what to install.
    let (picture, message) = problem_of(&status, "notice.png").expect("the picture has a status");
    assert_eq!(picture, FileStatus::Skipped);
    assert!(message.contains("install Tesseract"), "{message}");
    let (scan, message) = problem_of(&status, "receipt.pdf").expect("the scan has a status");
    assert_eq!(scan, FileStatus::Error);
    assert!(
        message.starts_with("no text layer") && message.contains("install Tesseract"),
        "{message}"
    );
    // The scan's typed page is indexed; its scanned page waits for OCR, and says so.
    let waiting: Vec<_> = status
        .awaiting_ocr
        .iter()
        .map(|w| {
            (
                w.path.file_name().unwrap().to_string_lossy().into_owned(),
                w.pages,
            )
        })
        .collect();
    assert_eq!(waiting, [("wetland.pdf".to_string(), 1)]);
    assert!(!keyword(&engine, "transects water levels").await.is_empty());
    assert!(keyword(&engine, "heron colony").await.is_empty());
    assert!(
        !keyword(&engine, "sluice gate").await.is_empty(),
        "everything else is indexed"
    );
    // Nothing is read again while OCR is still missing.
    let again = engine.index_folder(&root, &NoProgress).await.unwrap();
    assert!(again.extracted.is_empty(), "{:?}", again.extracted);
    engine.close().await.unwrap();

    if !tesseract_installed() {
        eprintln!("skipped the second half: Tesseract is not installed (scripts/setup.sh installs it)");
        return;
    }
    // Tesseract is there now: the next run reads the pictures without being asked to,
    // the picture file and the scan's scanned page alike; the rest is not read again.
    let engine = Engine::open(config(&data)).await.unwrap();
    let report = engine.index_folder(&root, &NoProgress).await.unwrap();
    let mut read_again: Vec<_> = report
        .extracted
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    read_again.sort();
    assert_eq!(read_again, ["notice.png", "receipt.pdf", "wetland.pdf"]);
    let status = engine.status().await.unwrap();
    assert_eq!(problem_of(&status, "notice.png"), None);
    assert!(!keyword(&engine, "water meter readings").await.is_empty());
    assert!(!keyword(&engine, "seed potatoes").await.is_empty());
    let hits = keyword(&engine, "heron colony alder").await;
    assert_eq!((hits[0].page, hits[0].read_by_ocr), (2, true));
    // Nothing waits any more: a third run reads nothing.
    let report = engine.index_folder(&root, &NoProgress).await.unwrap();
    assert!(report.extracted.is_empty(), "{:?}", report.extracted);
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pdf_encrypted_with_a_password_says_so_and_one_without_is_read() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/encrypted");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("encrypted");
    std::fs::create_dir_all(&root).unwrap();
    let mut locked = Vec::new();
    let mut open = Vec::new();
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".pdf") {
            continue;
        }
        std::fs::copy(&path, root.join(&name)).unwrap();
        if name.starts_with("user-") {
            locked.push(name)
        } else {
            open.push(name)
        }
    }
    // RC4 40 and 128 bits, AES 128 and 256 bits; the locked ones also without an ID.
    assert_eq!((locked.len(), open.len()), (8, 4));

    let engine = Engine::open(config(&tmp.path().join("data"))).await.unwrap();
    engine.index_folder(&root, &NoProgress).await.unwrap();
    let status = engine.status().await.unwrap();
    for name in &locked {
        let (status, message) = problem_of(&status, name).unwrap_or_else(|| panic!("{name} has a status"));
        assert_eq!(status, FileStatus::Error, "{name}");
        assert_eq!(
            message, "password-protected PDF; Quire cannot read it without the password",
            "{name}"
        );
    }
    let hits = engine
        .search("boiler serviced Heatwise", SearchMode::Bm25, 20)
        .await
        .unwrap();
    for name in &open {
        assert!(
            problem_of(&status, name).is_none(),
            "{name}: {:?}",
            problem_of(&status, name)
        );
        assert!(
            hits.iter()
                .any(|h| h.path.file_name().is_some_and(|n| n == name.as_str()) && h.page == 1),
            "{name} is read: {hits:#?}"
        );
    }
    engine.close().await.unwrap();
}

/// The page (slide, chapter, sheet) on which `query` is found, in the file `name`.
async fn found_on(engine: &Engine, query: &str, name: &str) -> Option<(u32, Option<String>)> {
    engine
        .search(query, SearchMode::Bm25, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|h| h.path.file_name().is_some_and(|n| n == name))
        .map(|h| (h.page, h.title))
}

#[tokio::test(flavor = "multi_thread")]
async fn books_slides_spreadsheets_and_office_documents_are_read_with_their_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("formats");
    std::fs::create_dir_all(&root).unwrap();
    let write = |name: &str, bytes: Vec<u8>| std::fs::write(root.join(name), bytes).unwrap();
    write(
        "novel.epub",
        epub(
            &[
                "Chapter one: the lighthouse keeper wakes.",
                "Chapter two: a storm over the estuary.",
                "Chapter three: the keeper rows to the sandbar.",
            ],
            "The Lighthouse",
        ),
    );
    write(
        "briefing.pptx",
        pptx(
            &[
                ("Quarterly briefing", None),
                (
                    "Budget overview\nMarketing spend falls",
                    Some("Mention the kiosk refit overrun"),
                ),
            ],
            "Briefing",
        ),
    );
    write(
        "accounts.xlsx",
        xlsx(&[
            ("Summary", &[&["Year", "Total"], &["2025", "1200"]]),
            (
                "Invoices",
                &[&["Customer", "Amount"], &["Pemberton Joinery", "340.50"]],
            ),
        ]),
    );
    write(
        "minutes.odt",
        opendocument(
            "application/vnd.oasis.opendocument.text",
            r#"<office:text><text:h>Allotment committee</text:h><text:p>Water butts to be ordered.</text:p><text:p><text:soft-page-break/>Compost rota agreed for spring.</text:p></office:text>"#,
            "Committee minutes",
        ),
    );
    write(
        "talk.odp",
        opendocument(
            "application/vnd.oasis.opendocument.presentation",
            r#"<office:presentation><draw:page><draw:frame><draw:text-box><text:p>Welcome</text:p></draw:text-box></draw:frame></draw:page><draw:page><draw:frame><draw:text-box><text:p>Beekeeping basics</text:p></draw:text-box></draw:frame><presentation:notes><draw:frame><draw:text-box><text:p>Bring the smoker and veil</text:p></draw:text-box></draw:frame></presentation:notes></draw:page></office:presentation>"#,
            "Talk",
        ),
    );
    write(
        "rota.ods",
        opendocument(
            "application/vnd.oasis.opendocument.spreadsheet",
            r#"<office:spreadsheet><table:table table:name="January"><table:table-row><table:table-cell><text:p>Monday</text:p></table:table-cell><table:table-cell><text:p>Ravi</text:p></table:table-cell></table:table-row></table:table><table:table table:name="February"><table:table-row><table:table-cell><text:p>Tuesday</text:p></table:table-cell><table:table-cell><text:p>Gwendolyn</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet>"#,
            "Rota",
        ),
    );
    write(
        "letter.rtf",
        br"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Arial;}}\f0 Dear neighbour,\par the hedge is overgrown.\page Second page: the caf\'e9 opens on Sunday.\par}".to_vec(),
    );
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spreadsheets");
    write(
        "ledger.xls",
        std::fs::read(fixtures.join("accounts.xls")).unwrap(),
    );
    write("minutes.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1".to_vec());

    let engine = Engine::open(config(&tmp.path().join("data"))).await.unwrap();
    let report = engine.index_folder(&root, &NoProgress).await.unwrap();
    assert_eq!(report.failed, 0, "{:#?}", report.problems);

    // A chapter a page, in the spine's order (the manifest lists them backwards).
    assert_eq!(
        found_on(&engine, "keeper rows sandbar", "novel.epub").await,
        Some((3, Some("The Lighthouse".into())))
    );
    // A slide a page; its speaker notes on the slide's page.
    assert_eq!(
        found_on(&engine, "marketing spend", "briefing.pptx")
            .await
            .map(|f| f.0),
        Some(2)
    );
    assert_eq!(
        found_on(&engine, "kiosk refit overrun", "briefing.pptx")
            .await
            .map(|f| f.0),
        Some(2)
    );
    // A sheet a page, found by its name or its cells.
    assert_eq!(
        found_on(&engine, "Pemberton Joinery", "accounts.xlsx")
            .await
            .map(|f| f.0),
        Some(2)
    );
    assert_eq!(
        found_on(&engine, "invoices", "accounts.xlsx").await.map(|f| f.0),
        Some(2)
    );
    assert_eq!(
        found_on(&engine, "compost rota", "minutes.odt").await,
        Some((2, Some("Committee minutes".into())))
    );
    assert_eq!(
        found_on(&engine, "smoker veil", "talk.odp").await.map(|f| f.0),
        Some(2)
    );
    assert_eq!(
        found_on(&engine, "Gwendolyn", "rota.ods").await.map(|f| f.0),
        Some(2)
    );
    assert_eq!(
        found_on(&engine, "café opens Sunday", "letter.rtf")
            .await
            .map(|f| f.0),
        Some(2)
    );
    assert_eq!(
        found_on(&engine, "hedge overgrown", "letter.rtf")
            .await
            .map(|f| f.0),
        Some(1)
    );

    // Excel 97-2003 too (written by xlwt), a sheet a page, its code page decoded.
    assert_eq!(
        found_on(&engine, "Pemberton Joinery", "ledger.xls")
            .await
            .map(|f| f.0),
        Some(2)
    );
    assert_eq!(
        found_on(&engine, "Café Brûlé", "ledger.xls").await.map(|f| f.0),
        Some(2)
    );
    assert_eq!(
        found_on(&engine, "summary", "ledger.xls").await.map(|f| f.0),
        Some(1)
    );

    // The old binary Word and PowerPoint formats are named, with what to do.
    let status = engine.status().await.unwrap();
    let (status, message) = problem_of(&status, "minutes.doc").unwrap();
    assert_eq!(status, FileStatus::Skipped);
    assert!(message.contains("save it as .docx"), "{message}");
    engine.close().await.unwrap();
}
