//! Untrusted files cannot crash, stall or flood Quire. A folder of hostile files,
//! made here, beside good ones: `quire index` finishes within a bound, every good
//! file is found, every hostile one has its own status, and the next run leaves
//! them alone. A Quire killed while a helper holds a file leaves nothing that
//! crashes or stalls the next one, and a file it was stopped on twice is not read again.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use lopdf::{dictionary, Dictionary, Document, Object, ObjectId, Stream};
use quire_engine::progress::NoProgress;
use quire_engine::Engine;
use quire_engine::FileStatus;

// ---- Hostile PDFs, built with lopdf ----

/// A one-page PDF: `content` is the page's content stream, `xobjects` its named forms;
/// `build` adds objects before the page is made and returns the page's forms.
fn one_page_pdf(content: Stream, build: impl FnOnce(&mut Document) -> Dictionary) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let xobjects = build(&mut doc);
    let content_id = doc.add_object(content);
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => content_id,
        "Resources" => dictionary! {
            "Font" => dictionary! { "F1" => font_id },
            "XObject" => xobjects,
        },
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1 }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

fn form(content: &[u8], xobjects: Dictionary) -> Stream {
    Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Form",
            "BBox" => vec![0.into(), 0.into(), 100.into(), 100.into()],
            "Resources" => dictionary! { "XObject" => xobjects },
        },
        content.to_vec(),
    )
}

/// A form whose resources name itself, drawn by the page: drawing it never ends.
fn self_drawing_pdf() -> Vec<u8> {
    one_page_pdf(Stream::new(dictionary! {}, b"/X1 Do".to_vec()), |doc| {
        let id: ObjectId = doc.new_object_id();
        doc.objects
            .insert(id, Object::Stream(form(b"/X1 Do", dictionary! { "X1" => id })));
        dictionary! { "X1" => id }
    })
}

/// Forms that each draw the next one twice, `levels` deep: 2^levels drawings.
fn fan_out_pdf(levels: usize) -> Vec<u8> {
    one_page_pdf(Stream::new(dictionary! {}, b"/F Do".to_vec()), |doc| {
        let mut next = doc.add_object(form(b"0 0 m 1 1 l S", dictionary! {}));
        for _ in 0..levels {
            next = doc.add_object(form(b"/F Do /F Do", dictionary! { "F" => next }));
        }
        dictionary! { "F" => next }
    })
}

/// A page whose content is compressed twice (/Filter [/FlateDecode /FlateDecode]) and
/// unpacks to `size` bytes of zeros.
fn double_flate_pdf(size: u64) -> Vec<u8> {
    let inner = zlib(repeated_zeros(size), adler32_of_zeros(size));
    let outer = zlib(repeats_of_thirteen(&inner), adler32(&inner));
    let filters = vec![
        Object::Name(b"FlateDecode".to_vec()),
        Object::Name(b"FlateDecode".to_vec()),
    ];
    one_page_pdf(
        Stream::new(dictionary! { "Filter" => filters }, outer),
        |_| dictionary! {},
    )
}

/// Bits of a DEFLATE stream, least significant first; Huffman codes most significant first.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u64,
    count: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.count;
        self.count += count;
        while self.count >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.count -= 8;
        }
    }

    fn code(&mut self, code: u32, length: u32) {
        self.put(code.reverse_bits() >> (32 - length), length);
    }

    /// A literal byte in the fixed Huffman code.
    fn literal(&mut self, byte: u8) {
        match byte {
            0..=143 => self.code(0x30 + u32::from(byte), 8),
            _ => self.code(0x190 + u32::from(byte) - 144, 9),
        }
    }

    /// 258 bytes copied from 1 or 13 bytes back (length code 285; distance code 0, or 7 + 2 bits).
    fn copy_258(&mut self, distance: u32) {
        self.code(0xc5, 8);
        match distance {
            1 => self.code(0, 5),
            13 => {
                self.code(7, 5);
                self.put(0, 2);
            }
            _ => unreachable!("only distances 1 and 13 are written"),
        }
    }

    /// One final block with fixed codes: start, then `body`, then its end.
    fn block(body: impl FnOnce(&mut Bits)) -> Vec<u8> {
        let mut bits = Bits::default();
        bits.put(1, 1);
        bits.put(1, 2);
        body(&mut bits);
        bits.code(0, 7);
        if bits.count > 0 {
            bits.out.push(bits.acc as u8);
        }
        bits.out
    }
}

fn repeated_zeros(size: u64) -> Vec<u8> {
    Bits::block(|bits| {
        bits.literal(0);
        let mut written = 1;
        while written + 258 <= size {
            bits.copy_258(1);
            written += 258;
        }
        for _ in written..size {
            bits.literal(0);
        }
    })
}

/// `data`, which repeats itself every 13 bytes after a short start, deflated.
fn repeats_of_thirteen(data: &[u8]) -> Vec<u8> {
    Bits::block(|bits| {
        let mut at = 0;
        while at < data.len() {
            if at >= 13 && at + 258 <= data.len() && data[at..at + 258] == data[at - 13..at + 245] {
                bits.copy_258(13);
                at += 258;
            } else {
                bits.literal(data[at]);
                at += 1;
            }
        }
    })
}

fn zlib(deflated: Vec<u8>, adler: u32) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    out.extend(deflated);
    out.extend(adler.to_be_bytes());
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn adler32_of_zeros(size: u64) -> u32 {
    ((size % 65521) as u32) << 16 | 1
}

/// A Word document whose text part unpacks to `megabytes` MB from a few hundred KB.
fn docx_bomb(megabytes: usize) -> Vec<u8> {
    let paragraph = "<w:p><w:r><w:t>all work and no play makes a dull document</w:t></w:r></w:p>";
    let block = paragraph.repeat((1 << 20) / paragraph.len());
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .large_file(true)
        .compression_level(Some(9));
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(b"<w:document xmlns:w=\"w\"><w:body>").unwrap();
    for _ in 0..megabytes {
        zip.write_all(block.as_bytes()).unwrap();
    }
    zip.write_all(b"</w:body></w:document>").unwrap();
    zip.finish().unwrap().into_inner()
}

/// A line of base64-like characters, no space or line break in it.
fn one_line(bytes: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(ALPHABET[(state % 64) as usize])
        })
        .collect()
}

// ---- Running quire ----

fn run(command: &mut std::process::Command) -> Output {
    command.output().expect("quire runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_config(data: &Path, settings: &str) {
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(data.join("config.toml"), settings).unwrap();
}

/// The status and message `quire status --json` gives the file named `name`.
fn status_of(status: &serde_json::Value, name: &str) -> Option<(String, String)> {
    status["problems"].as_array().unwrap().iter().find_map(|p| {
        let path = p["path"].as_str()?;
        Path::new(path).file_name().is_some_and(|n| n == name).then(|| {
            (
                p["status"].as_str().unwrap_or_default().to_string(),
                p["message"].as_str().unwrap_or_default().to_string(),
            )
        })
    })
}

/// Waits until the helper of `quire`'s one worker holds `name`: the helper runs and the
/// worker's record in `data/extracting` (rewritten by this run once it started) names it.
fn wait_until_held(data: &Path, name: &str, quire: &mut Child) {
    let record = data.join("extracting").join("worker-0");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let held = std::fs::read(&record).unwrap_or_default();
        if text(&held).contains(name) && !helpers_of(quire.id()).is_empty() {
            return;
        }
        assert!(
            quire.try_wait().unwrap().is_none(),
            "quire ended before it read {name}"
        );
        assert!(Instant::now() < deadline, "no helper took {name}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The extraction helpers `parent` started (Linux: from /proc).
fn helpers_of(parent: u32) -> Vec<u32> {
    let mut helpers = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        // The fields after the command name (which may hold spaces): state, then ppid.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(parent) && text(&cmdline).contains("__extract-helper") {
            helpers.push(pid);
        }
    }
    helpers
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaped).
fn has_ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// Kills `quire` while its helper holds `name`, and checks that the helper ends with it.
fn kill_while_held(data: &Path, root: &Path, name: &str) {
    let mut quire = quire(data)
        .arg("index")
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_held(data, name, &mut quire);
    let helpers = helpers_of(quire.id());
    assert_eq!(helpers.len(), 1, "one worker, one helper: {helpers:?}");
    quire.kill().unwrap(); // SIGKILL: no destructor runs, no pipe is closed politely.
    quire.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !has_ended(helpers[0]) {
        assert!(Instant::now() < deadline, "the helper outlived Quire by 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- The tests ----

const GOOD_TXT: &str = "the beekeeper checks the hives every saturday morning";
const GOOD_MD: &str = "cider pressing schedule for the autumn harvest";
const GOOD_PDF: &str = "harbour dues are paid at the pilot office";
const LONG_LINE_WORD: &str = "zanzibarquill";
const NASTY_NAME: &str = "minutes-\u{1b}]0;owned\u{7}.txt";
const NASTY_TEXT: &str = "Quarterly figures for the lighthouse trust\u{1b}[2J\u{1b}[31m were wiped";
const SECRET: &str = "the password of the outside vault is swordfish";

/// The per-file time limit the hostile library is indexed with.
const EXTRACT_TIMEOUT_SECS: u64 = 10;

#[test]
fn hostile_files_get_their_own_status_and_cost_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("downloads");
    std::fs::create_dir_all(&root).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(root.join(name), bytes).unwrap();

    // One worker reads the files in name order, so the swap below happens while the
    // first file holds it, after the walk and before the swapped file is read.
    write("a-fan-out.pdf", &fan_out_pdf(40));
    write("b-self-drawing.pdf", &self_drawing_pdf());
    write("c-double-flate.pdf", &double_flate_pdf(4 << 30));
    write("d-bomb.docx", &docx_bomb(250));
    let depth = 36_000; // 400 KB of <div>
    write(
        "e-nested.html",
        format!(
            "<html><body>{}<p>the deepest paragraph mentions a periwinkle</p>{}</body></html>",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        )
        .as_bytes(),
    );
    write("f-one-line.txt", one_line(2 << 20).as_bytes());
    let status = std::process::Command::new("mkfifo")
        .arg(root.join("g-pipe.txt"))
        .status()
        .unwrap();
    assert!(status.success());
    write("good.txt", format!("Notes. {GOOD_TXT}.\n").as_bytes());
    write("good.md", format!("# Farm\n\nThe {GOOD_MD}.\n").as_bytes());
    write("good.pdf", &pdf(&[&format!("Port rules: {GOOD_PDF}.")], "Port"));
    write(
        "long-line.txt",
        format!("{} {LONG_LINE_WORD}\n", one_line(64 << 10)).as_bytes(),
    );
    write(NASTY_NAME, NASTY_TEXT.as_bytes());
    write("z-swapped.txt", b"An ordinary note about the garden shed.");
    let outside = tmp.path().join("vault.txt");
    std::fs::write(&outside, SECRET).unwrap();
    let root = root.canonicalize().unwrap();
    for bomb in ["c-double-flate.pdf", "d-bomb.docx"] {
        let bytes = std::fs::metadata(root.join(bomb)).unwrap().len();
        assert!(bytes < 1 << 20, "{bomb} is {bytes} bytes: bombs are small");
    }

    let data = tmp.path().join("data");
    write_config(
        &data,
        &format!(
            "extract_threads = 1\nextract_timeout_secs = {EXTRACT_TIMEOUT_SECS}\nmax_text_bytes = 1048576\n"
        ),
    );
    let started = Instant::now();
    let mut indexing = quire(&data)
        .arg("index")
        .arg(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_held(&data, "a-fan-out.pdf", &mut indexing);
    std::fs::remove_file(root.join("z-swapped.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("z-swapped.txt")).unwrap();
    let indexed = indexing.wait_with_output().unwrap();
    let took = started.elapsed();
    assert!(indexed.status.success(), "{}", text(&indexed.stderr));
    // No file may hold indexing up for longer than its own time limit (plus a new helper
    // and its embedding): past that, one file stalled the rest. A bound from the limits,
    // not from this machine's speed, which a shared machine halves.
    let files = std::fs::read_dir(&root).unwrap().count() as u32;
    let worst = Duration::from_secs(EXTRACT_TIMEOUT_SECS + 5) * files;
    assert!(
        took < worst,
        "indexing {files} files took {took:?}, over {worst:?}"
    );

    // Every good file is found, the oddly named one too.
    for phrase in [
        GOOD_TXT,
        GOOD_MD,
        GOOD_PDF,
        LONG_LINE_WORD,
        "lighthouse trust wiped",
    ] {
        let found = run(quire(&data).args(["search", "--json", "--mode", "bm25", phrase]));
        let hits: serde_json::Value = serde_json::from_slice(&found.stdout).unwrap();
        assert!(
            !hits.as_array().unwrap().is_empty(),
            "{phrase}: {}",
            text(&found.stderr)
        );
    }
    // Nothing from outside the folder got in through the swapped file.
    let leaked = run(quire(&data).args(["search", "--json", "--mode", "bm25", "swordfish vault"]));
    assert_eq!(text(&leaked.stdout).trim(), "[]");
    // The nested HTML is read, with the nesting capped; its text is there.
    let deep = run(quire(&data).args(["search", "--json", "--mode", "bm25", "periwinkle"]));
    assert!(
        text(&deep.stdout).contains("e-nested.html"),
        "{}",
        text(&deep.stdout)
    );

    // Every hostile file has its own status, saying what it did.
    let status = run(quire(&data).args(["status", "--json"]));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let expect = |name: &str, state: &str, words: &[&str]| {
        let (got, message) =
            status_of(&status, name).unwrap_or_else(|| panic!("no status for {name}: {status:#}"));
        assert_eq!(got, state, "{name}: {message}");
        for word in words {
            assert!(message.contains(word), "{name}: {message}");
        }
    };
    expect("a-fan-out.pdf", "error", &["took longer than 10 s"]);
    expect("b-self-drawing.pdf", "error", &["crashed", "nests without end"]);
    expect(
        "c-double-flate.pdf",
        "error",
        &["needed more than 2.0 GB of memory"],
    );
    expect(
        "d-bomb.docx",
        "error",
        &["word/document.xml unpacks to", "zip bomb"],
    );
    expect("f-one-line.txt", "error", &["more than 1.0 MB of text"]);
    expect("g-pipe.txt", "skipped", &["a named pipe", "not a regular file"]);
    expect("z-swapped.txt", "skipped", &["a symbolic link"]);
    assert!(status_of(&status, "e-nested.html").is_none(), "{status:#}");

    // What the terminal is shown carries no escape sequence from a name or a text.
    for args in [
        vec!["search", "--mode", "bm25", "lighthouse trust"],
        vec!["status", "--verbose"],
    ] {
        let shown = run(quire(&data).args(&args));
        assert!(
            !shown.stdout.iter().any(|&b| b == 0x1b || b == 0x07),
            "{args:?}: {:?}",
            text(&shown.stdout)
        );
    }

    // The next run reads none of them again (nor anything else: nothing changed).
    let again = run(quire(&data).arg("index"));
    let summary = text(&again.stdout);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        summary.contains(" 0 indexed,") && summary.contains(" 0 skipped, 0 failed"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quire_killed_while_a_helper_holds_a_file_leaves_nothing_that_stalls_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("inbox");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("a-fan-out.pdf"), fan_out_pdf(40)).unwrap();
    std::fs::write(root.join("b-fan-out.pdf"), fan_out_pdf(41)).unwrap();
    std::fs::write(root.join("good.txt"), format!("{GOOD_TXT}.\n")).unwrap();
    let root = root.canonicalize().unwrap();
    let data = tmp.path().join("data");
    // Long enough that the helper is still on the file when Quire is killed.
    write_config(&data, "extract_threads = 1\nextract_timeout_secs = 600\n");

    // Stopped twice while reading a: a is not read again. Then once while reading b.
    kill_while_held(&data, &root, "a-fan-out.pdf");
    kill_while_held(&data, &root, "a-fan-out.pdf");
    kill_while_held(&data, &root, "b-fan-out.pdf");

    // The next Quire opens and indexes at once: a is refused unread, b (stopped on
    // once) is read again and given up after the timeout, the good file is found.
    let started = Instant::now();
    let mut config = config(&data);
    config.extract_threads = 1;
    config.extract_timeout_secs = 3;
    let engine = Engine::open(config).await.unwrap();
    let report = engine.index_folder(&root, &NoProgress).await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "the next run took {took:?}");
    let status = engine.status().await.unwrap();
    let message = |name: &str| {
        let problem = status
            .problems
            .iter()
            .find(|p| p.path.ends_with(name))
            .unwrap_or_else(|| panic!("no status for {name}: {:#?}", status.problems));
        assert_eq!(problem.status, FileStatus::Error);
        problem.message.clone()
    };
    assert!(message("a-fan-out.pdf").contains("Quire stopped twice"));
    assert!(message("b-fan-out.pdf").contains("took longer than 3 s"));
    assert_eq!(report.extracted, vec![root.join("good.txt")]);
    let hits = engine
        .search(GOOD_TXT, quire_engine::retrieve::SearchMode::Bm25, 3)
        .await
        .unwrap();
    assert!(hits[0].path.ends_with("good.txt"));
    // And nothing is left over for the run after.
    assert!(std::fs::read_dir(data.join("extracting"))
        .unwrap()
        .flatten()
        .all(|e| std::fs::read(e.path()).unwrap().is_empty()));
    engine.close().await.unwrap();
}
