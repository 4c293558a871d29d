//! End to end: the real app in a real WebKitGTK window under Xvfb, driven
//! through tauri-driver and WebKitWebDriver like a person would. It adds a
//! folder, waits for indexing, asks a question and sees the answer stream in
//! with a citation chip, opens the citation, summarises a file handed to the
//! window, and opens the quick-ask box with the global shortcut. Screenshots are
//! saved under the test's target folder (see the end of the output).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Kills a helper process when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Driver {
    base: String,
    session: String,
}

impl Driver {
    fn request(method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let response = match body {
            Some(body) => agent.post(url).send_json(body),
            None if method == "DELETE" => agent.delete(url).call(),
            None => agent.get(url).call(),
        };
        let mut response = response.map_err(|e| e.to_string())?;
        let ok = response.status().is_success();
        let value: Value = response.body_mut().read_json().map_err(|e| e.to_string())?;
        if ok {
            Ok(value["value"].clone())
        } else {
            Err(value["value"].to_string())
        }
    }

    fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        Driver::request(
            "POST",
            &format!("{}/session/{}{path}", self.base, self.session),
            Some(body),
        )
    }

    fn get(&self, path: &str) -> Result<Value, String> {
        Driver::request(
            "GET",
            &format!("{}/session/{}{path}", self.base, self.session),
            None,
        )
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        self.post("/elements", json!({ "using": "css selector", "value": css }))
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e[ELEMENT].as_str().map(String::from))
            .collect()
    }

    fn text(&self, element: &str) -> String {
        self.get(&format!("/element/{element}/text"))
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }

    fn click(&self, css: &str) {
        let element = self.wait(&format!("{css} to appear"), 30, || {
            self.find_all(css).into_iter().next()
        });
        self.post(&format!("/element/{element}/click"), json!({}))
            .unwrap();
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.wait(&format!("{css} to appear"), 30, || {
            self.find_all(css).into_iter().next()
        });
        self.post(&format!("/element/{element}/value"), json!({ "text": text }))
            .unwrap();
    }

    /// The text of every element matching `css`, joined.
    fn texts(&self, css: &str) -> String {
        self.find_all(css)
            .iter()
            .map(|e| self.text(e))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn wait<T>(&self, what: &str, seconds: u64, mut check: impl FnMut() -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(found) = check() {
                return found;
            }
            assert!(
                started.elapsed() < Duration::from_secs(seconds),
                "waited {seconds} s for {what}; the window shows:\n{}",
                self.texts("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, path: &Path) {
        // Let the page paint what it just changed: two animation frames, then a moment.
        let _ = self.post(
            "/execute/async",
            json!({ "script": "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));", "args": [] }),
        );
        std::thread::sleep(Duration::from_millis(400));
        let data = self.get("/screenshot").unwrap();
        std::fs::write(path, base64_decode(data.as_str().unwrap())).unwrap();
        eprintln!("screenshot: {}", path.display());
    }
}

/// Standard base64 (what WebDriver screenshots are), without another dependency.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    digits
        .chunks(4)
        .flat_map(|chunk| {
            let n = chunk.iter().fold(0u32, |acc, &d| (acc << 6) | u32::from(d)) << (6 * (4 - chunk.len()));
            let bytes = n.to_be_bytes();
            bytes[1..chunk.len()].to_vec()
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tool(name: &str) -> Option<PathBuf> {
    let home_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin").join(name));
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .chain(home_bin)
        .find(|p| p.is_file())
}

#[test]
fn a_person_adds_a_folder_asks_opens_a_citation_and_summarises_a_file() {
    let (Some(tauri_driver), Some(xvfb), Some(xdotool)) =
        (tool("tauri-driver"), tool("Xvfb"), tool("xdotool"))
    else {
        panic!("the window test needs tauri-driver, Xvfb and xdotool; scripts/test.sh installs them");
    };
    let tmp = tempfile::tempdir().unwrap();
    let folder = common::household(tmp.path()).canonicalize().unwrap();
    // The manual alone answers the question; the small test model then has only it to cite.
    std::fs::remove_file(folder.join("bread.txt")).unwrap();
    std::fs::remove_file(folder.join("travel.md")).unwrap();
    // Enough files that indexing takes a moment to watch.
    for n in 0..400 {
        std::fs::write(folder.join(format!("note-{n:03}.txt")), common::prose(n, 40)).unwrap();
    }
    let dropped = tmp.path().join("dropped-minutes.md");
    std::fs::write(
        &dropped,
        "# Residents' meeting\n\nThe residents agreed to repaint the stairwell in June.\n\nThe bike shed gets a new lock paid from the reserve fund.",
    )
    .unwrap();
    // The system's PDF viewer, as far as Quire can tell: it records how it was asked to open.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let opened = tmp.path().join("opened.txt");
    let viewer = bin.join("evince");
    std::fs::write(
        &viewer,
        format!("#!/bin/sh\necho \"$@\" > '{}'\n", opened.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&viewer, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let display = format!(":{}", 90 + std::process::id() % 100);
    let _xvfb = Process(
        Command::new(xvfb)
            .args([
                display.as_str(),
                "-screen",
                "0",
                "1280x860x24",
                "-nolisten",
                "tcp",
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(800));
    let port = free_port();
    let native_port = free_port();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let _driver = Process(
        Command::new(tauri_driver)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("DISPLAY", &display)
            .env("PATH", &path)
            .env("QUIRE_DATA_DIR", tmp.path().join("data"))
            .env("QUIRE_MODELS_DIR", common::models_dir())
            .env("QUIRE_MODEL", common::small_generator())
            .env("XDG_CONFIG_HOME", tmp.path().join("config"))
            .env("XDG_DATA_HOME", tmp.path().join("xdg-data"))
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let app = env!("CARGO_BIN_EXE_quire-desktop");
    let capabilities = json!({ "capabilities": { "alwaysMatch": { "tauri:options": {
        "application": app,
        "args": [folder, dropped],
    } } } });
    let started = Instant::now();
    let session = loop {
        match Driver::request("POST", &format!("{base}/session"), Some(capabilities.clone())) {
            Ok(value) => break value["sessionId"].as_str().unwrap().to_string(),
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(300));
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    };
    let driver = Driver { base, session };

    driver.wait("the window to be ready", 60, || {
        driver.find_all("body[data-ready]").first().cloned()
    });
    // The file given on the command line is queued for a summary (the window shows it).
    driver.wait("the file to be queued", 30, || {
        driver.find_all(".summary").first().cloned()
    });
    // The library: the folder given on the command line is indexed, with progress.
    driver.click("#tab-library");
    driver.wait("indexing progress", 60, || {
        let text = driver.texts("#view-library:not([hidden]) #progress:not([hidden]) #progress-text");
        // A rate shows once the first files are in: a bar that has started moving.
        (text.contains("Indexing") && text.contains("files/s")).then_some(())
    });
    driver.screenshot(&shots.join("library-indexing.png"));
    driver.wait("the folder to be indexed", 240, || {
        let rows = driver.texts("#folders tr");
        (rows.contains(&*folder.to_string_lossy()) && rows.contains("401")).then_some(())
    });

    // The file handed to the window is summarised, with page-cited bullets.
    driver.click("#tab-summaries");
    driver.wait("a summary of the dropped file", 300, || {
        let cards = driver.texts(".summary");
        (cards.contains("dropped-minutes") || cards.contains("Residents")).then_some(())?;
        (!driver.find_all(".summary .bullets li").is_empty()).then_some(())
    });
    assert!(driver.texts(".summary .chip").contains("p. 1"));

    // A question: the answer streams in, then carries a citation chip.
    driver.click("#tab-chat");
    driver.type_into(
        "#question",
        "How often must the boiler be serviced, and what does it cost?\u{E007}",
    );
    // Checked sentences stream in as they are confirmed; a reply with nothing checkable (the
    // small test model's, often) is replaced at its end by the quoted passage, all at once.
    let partial = driver.wait("the answer to start streaming or arrive", 300, || {
        let streaming = driver.texts(".streaming .answer-text");
        if !streaming.trim().is_empty() {
            return Some(streaming);
        }
        let finished = driver.texts(".message.assistant .answer-text");
        (!finished.trim().is_empty()).then_some(finished)
    });
    let chips = driver.wait("a citation chip", 300, || {
        let chips = driver.texts(".message.assistant .chip");
        (!chips.is_empty()).then_some(chips)
    });
    let answer = driver.texts(".message.assistant .answer-text");
    assert!(
        answer.starts_with(partial.trim_end_matches('▍').trim()),
        "streamed {partial:?}, final {answer:?}"
    );
    // "[1] maintenance.pdf, p. 2": the first chip, and the page it cites.
    let first = chips.lines().next().unwrap_or_default().to_string();
    assert!(first.contains("maintenance.pdf, p. "), "{chips}");
    let page: u32 = first
        .rsplit("p. ")
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap();
    driver.click(".message.assistant .chip");
    let quote = driver.wait("the quoted passage", 10, || {
        let quote = driver.texts(".quote blockquote");
        (!quote.is_empty()).then_some(quote)
    });
    assert!(!quote.trim().is_empty());
    driver.screenshot(&shots.join("cited-answer.png"));
    driver.click(".quote .open-source");
    let how = driver.wait("the viewer to be started", 10, || {
        std::fs::read_to_string(&opened).ok()
    });
    assert!(
        how.contains(&format!("--page-label={page}")) && how.contains("maintenance.pdf"),
        "{how}"
    );

    // The global shortcut opens the quick-ask box.
    let _ = Command::new(xdotool)
        .args(["key", "--clearmodifiers", "ctrl+shift+space"])
        .env("DISPLAY", &display)
        .status();
    let visible = |driver: &Driver| {
        driver
            .post(
                "/execute/sync",
                json!({ "script": "return document.visibilityState", "args": [] }),
            )
            .ok()
            .is_some_and(|v| v == "visible")
    };
    driver.wait("the quick-ask window to show", 20, || {
        let handles = driver.get("/window/handles").ok()?.as_array()?.clone();
        handles.into_iter().find(|handle| {
            driver.post("/window", json!({ "handle": handle })).is_ok()
                && !driver.find_all("#quick-question").is_empty()
                && visible(&driver)
        })
    });
    driver.type_into("#quick-question", "When should the gutters be cleared?\u{E007}");
    driver.wait("a cited quick answer", 300, || {
        (!driver.find_all("#quick-answer .chip").is_empty()).then_some(())
    });
    driver.screenshot(&shots.join("quick-ask.png"));
    let _ = Driver::request(
        "DELETE",
        &format!("{}/session/{}", driver.base, driver.session),
        None,
    );
}
