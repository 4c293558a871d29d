//! Real test documents, made at test time: PDFs (lopdf), DOCX files (zip), and
//! a library folder holding one file of each supported kind plus bad inputs.

#![allow(dead_code)]

/// Runs each scenario on each runtime, as its own test (a failure names both).
#[allow(unused_macros)] // only the test crates that run the model use it
macro_rules! on_each_runtime {
    ($($scenario:ident),* $(,)?) => {
        #[cfg(feature = "llama-cpp")]
        mod llama_cpp {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $scenario() {
                    super::$scenario(quire_engine::llm::Runtime::LlamaCpp).await
                }
            )*
        }
        #[cfg(feature = "mistralrs")]
        mod mistralrs {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $scenario() {
                    super::$scenario(quire_engine::llm::Runtime::Mistralrs).await
                }
            )*
        }
    };
}

use std::io::Write;
use std::path::{Path, PathBuf};

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};

/// A PDF with one page per entry; each page's text is written line by line in Helvetica.
pub fn pdf(pages: &[&str], title: &str) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for text in pages {
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 11.into()]),
            Operation::new("TL", vec![14.into()]),
            Operation::new("Td", vec![60.into(), 780.into()]),
        ];
        for line in text.lines() {
            operations.push(Operation::new("Tj", vec![Object::string_literal(line)]));
            operations.push(Operation::new("T*", vec![]));
        }
        operations.push(Operation::new("ET", vec![]));
        let content = Content { operations };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    let info_id = doc.add_object(dictionary! { "Title" => Object::string_literal(title) });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

/// A minimal but valid DOCX: one paragraph per entry, and a title in its core properties.
pub fn docx(paragraphs: &[&str], title: &str) -> Vec<u8> {
    let mut body = String::new();
    for p in paragraphs {
        body.push_str(&format!(
            "<w:p><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
            escape(p)
        ));
    }
    let files = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>"#.to_string(),
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>"#.to_string(),
        ),
        (
            "word/document.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
            ),
        ),
        (
            "docProps/core.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{}</dc:title></cp:coreProperties>"#,
                escape(title)
            ),
        ),
    ];
    zip_package(&files)
}

/// A zip package holding `files` (name, content), in that order.
pub fn zip_package<S: AsRef<str>>(files: &[(&str, S)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, content) in files {
        zip.start_file(*name, options).unwrap();
        zip.write_all(content.as_ref().as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// An EPUB book: one XHTML chapter per entry, in spine order (listed in the manifest
/// in reverse, as the spine, not the manifest, gives the order).
pub fn epub(chapters: &[&str], title: &str) -> Vec<u8> {
    let mut files: Vec<(String, String)> = vec![
        ("mimetype".into(), "application/epub+zip".into()),
        (
            "META-INF/container.xml".into(),
            r#"<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#.into(),
        ),
    ];
    let manifest: String = (0..chapters.len())
        .rev()
        .map(|i| {
            format!(r#"<item id="c{i}" href="text/chapter%20{i}.xhtml" media-type="application/xhtml+xml"/>"#)
        })
        .collect();
    let spine: String = (0..chapters.len())
        .map(|i| format!(r#"<itemref idref="c{i}"/>"#))
        .collect();
    files.push((
        "OEBPS/content.opf".into(),
        format!(
            r#"<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{}</dc:title></metadata><manifest>{manifest}<item id="css" href="style.css" media-type="text/css"/></manifest><spine>{spine}</spine></package>"#,
            escape(title)
        ),
    ));
    for (i, chapter) in chapters.iter().enumerate() {
        files.push((
            format!("OEBPS/text/chapter {i}.xhtml"),
            format!(
                r#"<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>Chapter {i}</title></head><body><p>{}</p></body></html>"#,
                escape(chapter)
            ),
        ));
    }
    let files: Vec<(&str, String)> = files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    zip_package(&files)
}

fn drawing_paragraphs(text: &str) -> String {
    text.lines()
        .map(|line| format!("<a:p><a:r><a:t>{}</a:t></a:r></a:p>", escape(line)))
        .collect()
}

/// A PowerPoint file: a slide per entry (its text, and its speaker notes if any).
pub fn pptx(slides: &[(&str, Option<&str>)], title: &str) -> Vec<u8> {
    const A: &str = r#"xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;
    let mut files: Vec<(String, String)> = Vec::new();
    let ids: String = (0..slides.len())
        .map(|i| format!(r#"<p:sldId id="{}" r:id="rId{}"/>"#, 256 + i, i + 10))
        .collect();
    files.push((
        "ppt/presentation.xml".into(),
        format!(r#"<p:presentation {A}><p:sldIdLst>{ids}</p:sldIdLst></p:presentation>"#),
    ));
    let rels: String = (0..slides.len())
        .map(|i| format!(r#"<Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide{}.xml"/>"#, i + 10, i + 1))
        .collect();
    files.push(("ppt/_rels/presentation.xml.rels".into(), format!(r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#)));
    for (i, (text, notes)) in slides.iter().enumerate() {
        let n = i + 1;
        files.push((
            format!("ppt/slides/slide{n}.xml"),
            format!(r#"<p:sld {A}><p:cSld><p:spTree><p:sp><p:txBody>{}</p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#, drawing_paragraphs(text)),
        ));
        if let Some(notes) = notes {
            files.push((
                format!("ppt/slides/_rels/slide{n}.xml.rels"),
                format!(r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide" Target="../notesSlides/notesSlide{n}.xml"/></Relationships>"#),
            ));
            files.push((
                format!("ppt/notesSlides/notesSlide{n}.xml"),
                format!(r#"<p:notes {A}><p:cSld><p:spTree><p:sp><p:txBody>{}</p:txBody></p:sp></p:spTree></p:cSld></p:notes>"#, drawing_paragraphs(notes)),
            ));
        }
    }
    files.push((
        "docProps/core.xml".into(),
        format!(r#"<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{}</dc:title></cp:coreProperties>"#, escape(title)),
    ));
    let files: Vec<(&str, String)> = files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    zip_package(&files)
}

/// An Excel workbook: a sheet per entry (name, rows of cells); text cells go through
/// the shared-string table, numbers are stored as numbers.
pub fn xlsx(sheets: &[(&str, &[&[&str]])]) -> Vec<u8> {
    let mut shared: Vec<String> = Vec::new();
    let mut files: Vec<(String, String)> = Vec::new();
    let mut listed = String::new();
    let mut rels = String::new();
    for (i, (name, rows)) in sheets.iter().enumerate() {
        let n = i + 1;
        listed.push_str(&format!(
            r#"<sheet name="{}" sheetId="{n}" r:id="rId{n}"/>"#,
            escape(name)
        ));
        rels.push_str(&format!(r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>"#));
        let mut data = String::new();
        for row in rows.iter() {
            data.push_str("<row>");
            for cell in row.iter() {
                if cell.parse::<f64>().is_ok() {
                    data.push_str(&format!("<c><v>{cell}</v></c>"));
                } else {
                    shared.push(cell.to_string());
                    data.push_str(&format!(r#"<c t="s"><v>{}</v></c>"#, shared.len() - 1));
                }
            }
            data.push_str("</row>");
        }
        files.push((format!("xl/worksheets/sheet{n}.xml"), format!(r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#)));
    }
    files.push(("xl/workbook.xml".into(), format!(r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{listed}</sheets></workbook>"#)));
    files.push(("xl/_rels/workbook.xml.rels".into(), format!(r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#)));
    let strings: String = shared
        .iter()
        .map(|s| format!("<si><t>{}</t></si>", escape(s)))
        .collect();
    files.push((
        "xl/sharedStrings.xml".into(),
        format!(r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{strings}</sst>"#),
    ));
    let files: Vec<(&str, String)> = files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    zip_package(&files)
}

/// An OpenDocument file (`mimetype`: text, presentation or spreadsheet) whose body
/// (inside office:body) is `body`, and whose title is `title`.
pub fn opendocument(mimetype: &str, body: &str, title: &str) -> Vec<u8> {
    const NS: &str = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/""#;
    zip_package(&[
        ("mimetype", mimetype.to_string()),
        (
            "content.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content {NS}><office:body>{body}</office:body></office:document-content>"#
            ),
        ),
        (
            "meta.xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><office:document-meta {NS}><office:meta><dc:title>{}</dc:title></office:meta></office:document-meta>"#,
                escape(title)
            ),
        ),
    ])
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Filler prose so that documents have realistic length, different per seed.
pub fn prose(seed: usize, sentences: usize) -> String {
    const WORDS: &[&str] = &[
        "budget",
        "meeting",
        "schedule",
        "review",
        "project",
        "delivery",
        "team",
        "customer",
        "quality",
        "process",
        "report",
        "update",
        "plan",
        "office",
        "supplier",
        "contract",
        "invoice",
        "training",
        "policy",
        "feedback",
        "travel",
        "inventory",
        "market",
        "forecast",
    ];
    let mut out = String::new();
    for s in 0..sentences {
        let mut sentence = Vec::new();
        for w in 0..9 {
            sentence.push(WORDS[(seed * 31 + s * 7 + w * 13) % WORDS.len()]);
        }
        out.push_str(&format!("The {}.\n", sentence.join(" ")));
    }
    out
}

pub const PDF_PAGE3_PHRASE: &str = "heron nests beside the flooded quarry";
pub const TXT_PHRASE: &str = "sourdough starter needs feeding twice daily";
pub const MD_PHRASE: &str = "glacier retreat measurements from the northern valley";
pub const HTML_PHRASE: &str = "lighthouse keeper logbook entries";
pub const DOCX_PHRASE: &str = "tenancy agreement renewal clause";

/// A library folder: one good file of each kind, each with its own phrase, and bad inputs.
pub fn library(dir: &Path) -> PathBuf {
    let root = dir.join("library");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(root.join(name), bytes).unwrap();

    write(
        "notes.txt",
        format!("Kitchen notes.\n\nThe {TXT_PHRASE}.\n{}", prose(1, 5)).as_bytes(),
    );
    write(
        "sub/guide.md",
        format!(
            "# Field guide\n\nOur **{MD_PHRASE}** are below.\n\n{}",
            prose(2, 6)
        )
        .as_bytes(),
    );
    write(
        "page.html",
        format!(
            "<html><head><title>Coast history</title><script>var hidden = 'zeppelin';</script></head>\
             <body><h1>Coast</h1><p>The {HTML_PHRASE} survive.</p><p>{}</p></body></html>",
            prose(3, 4)
        )
        .as_bytes(),
    );
    let pages: Vec<String> = (1..=5)
        .map(|n| {
            if n == 3 {
                format!(
                    "Page three of the survey.\nA {PDF_PAGE3_PHRASE} was seen.\n{}",
                    prose(10 + n, 4)
                )
            } else {
                format!("Page {n} of the survey.\n{}", prose(10 + n, 4))
            }
        })
        .collect();
    let pages: Vec<&str> = pages.iter().map(String::as_str).collect();
    write("survey.pdf", &pdf(&pages, "Wetland survey"));
    write(
        "letter.docx",
        &docx(
            &[
                "Dear tenant,",
                &format!("Please read the {DOCX_PHRASE} carefully."),
                &prose(4, 3),
            ],
            "Letter",
        ),
    );

    // Bad inputs: each must end as a per-file error or skip, costing nothing else.
    let mut corrupt = pdf(&["This PDF will be cut short."], "Broken");
    corrupt.truncate(corrupt.len() / 3);
    write("corrupt.pdf", &corrupt);
    write("empty.txt", b"");
    write(
        "firmware.log",
        &[
            0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef,
        ],
    );
    write("song.mp3", b"ID3\x04\0\0\0\0\0\x0f");
    // Ignored and hidden files are not even looked at.
    write(".hidden.txt", b"hidden words xylophone");
    write(".gitignore", b"ignored/\n");
    std::fs::create_dir_all(root.join("ignored")).unwrap();
    write("ignored/skip.txt", b"ignored words xylophone");
    root
}

/// Whether this process can be denied reading a file (root reads everything).
pub fn permissions_apply(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join("permission-probe");
    std::fs::write(&probe, b"x").unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o000)).unwrap();
    let denied = std::fs::read(&probe).is_err();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(&probe).unwrap();
    denied
}

/// Where the real models are: $QUIRE_MODELS_DIR, or the folder scripts/fetch-models.sh fills.
pub fn models_dir() -> PathBuf {
    let dir = std::env::var_os("QUIRE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache")
                });
            cache.join("quire").join("models")
        });
    assert!(
        dir.join("all-MiniLM-L6-v2").join("model.safetensors").is_file(),
        "the embedding model is not in {}; run scripts/fetch-models.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// A configuration for a test library in `data`, using the real models.
pub fn config(data: &Path) -> quire_engine::Config {
    let mut config = quire_engine::Config::with_data_dir(data);
    config.models_dir = models_dir();
    config.extract_helper = Some(extraction_helper());
    config
}

/// The program the engine starts to extract files: a test binary cannot be one, the
/// `quire` binary (in the desktop's tests, the app) is.
pub fn extraction_helper() -> PathBuf {
    let program = option_env!("CARGO_BIN_EXE_quire").or(option_env!("CARGO_BIN_EXE_quire-desktop"));
    PathBuf::from(program.expect("the quire or quire-desktop binary is built with the tests"))
}

/// The small chat model the answer tests use (scripts/fetch-models.sh smollm2).
pub fn small_generator() -> PathBuf {
    let path = models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "the test generator is not at {}; run scripts/fetch-models.sh smollm2 (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A configuration that answers with the small test model in a small context, so tests stay quick.
pub fn answering_config(data: &Path) -> quire_engine::Config {
    let mut config = config(data);
    config.generator = small_generator();
    config.context_tokens = 2048;
    config.answer_max_tokens = 160;
    config
}

/// A household folder: a 4-page maintenance manual (PDF) whose page 2 alone says
/// when and by whom the boiler is serviced, and a few unrelated documents.
pub fn household(dir: &Path) -> PathBuf {
    let root = dir.join("household");
    std::fs::create_dir_all(&root).unwrap();
    let manual = pdf(
        &[
            "Gutters and drains.\nClear the gutters every November after the leaves have fallen.\nCheck the drains for blockages after heavy rain.",
            "Boiler service.\nThe gas boiler must be serviced every October by a registered heating engineer.\nThe annual boiler service costs 85 pounds and takes about one hour.\nKeep the service certificate for the landlord.",
            "Windows and doors.\nOil the window hinges each spring.\nReplace worn draught strips on the front door before winter.",
            "Garden.\nMow the lawn weekly from April to September.\nPrune the apple tree in February while it is dormant.",
        ],
        "Home maintenance manual",
    );
    std::fs::write(root.join("maintenance.pdf"), manual).unwrap();
    std::fs::write(
        root.join("bread.txt"),
        "Sourdough bread needs an active starter, a long cold proof in the fridge overnight, and a very hot oven with steam for the first twenty minutes.",
    )
    .unwrap();
    std::fs::write(
        root.join("travel.md"),
        "# Travel policy\n\nEmployees book rail travel for journeys under four hours. Flights need approval from a department head, and hotels must be booked through the travel desk.",
    )
    .unwrap();
    root
}

/// The `quire` binary on the library in `data`, with the real models.
pub fn quire(data: &Path) -> std::process::Command {
    quire_under(&[], data)
}

/// The same, run by another program (`unshare -n`, `strace …`): `wrapper` is that
/// program's command line, and quire's follows it.
pub fn quire_under(wrapper: &[&std::ffi::OsStr], data: &Path) -> std::process::Command {
    // Set for the engine crate's tests; the desktop's tests share this file without it.
    let Some(binary) = option_env!("CARGO_BIN_EXE_quire") else {
        panic!("the quire binary is built only with the engine's own tests");
    };
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = std::process::Command::new(program);
            command.args(args).arg(binary);
            command
        }
        None => std::process::Command::new(binary),
    };
    command
        .arg("--data-dir")
        .arg(data)
        .env_remove("QUIRE_DATA_DIR")
        .env("QUIRE_MODELS_DIR", models_dir());
    command
}
