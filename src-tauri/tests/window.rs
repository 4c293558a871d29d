//! End to end: the real app in a real WebKitGTK window under Xvfb, driven
//! through tauri-driver and WebKitWebDriver like a person would. It adds a
//! folder, waits for indexing, is asked before a folder is removed (and keeps it
//! on Cancel), asks a question and sees the answer stream in as Markdown with an
//! inline citation, opens the cited page in the passage view with the quote
//! marked and then in the system viewer, is asked before a chat is deleted,
//! searches the library (Ctrl+K), switches the chat model in the settings and
//! sees the next answer written by it, summarises a file handed to the window,
//! and opens the quick-ask box with the global shortcut. Screenshots of each view,
//! light and dark, are saved under the test's target folder (see the output).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Kills a helper process when the test ends, however it ends, and the processes it
/// started (tauri-driver starts WebKitWebDriver, which would outlive it and hold the
/// test's output open).
struct Process(Child);

impl Process {
    fn start(command: &mut Command) -> Process {
        Process(command.spawn().unwrap())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let parent = self.0.id().to_string();
        let _ = Command::new("pkill").args(["-KILL", "-P", &parent]).status();
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

    /// Runs `script` in the page with `args`; its return value.
    fn script(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .unwrap_or(Value::Null)
    }

    /// Sets a <select> as a person choosing an option would (the change event follows).
    fn choose(&self, css: &str, value: &str) {
        self.script(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1]; \
             s.dispatchEvent(new Event('change', { bubbles: true })); return s.value;",
            json!([css, value]),
        );
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

/// The system dialog titled `title` (asked from Rust), once it shows: its X window id.
/// How many boxes mark the passage on the drawn page, once its image has loaded.
fn drawn_marks(driver: &Driver) -> Option<u64> {
    driver
        .script(
            "const img = document.querySelector('#passage:not([hidden]) #passage-image:not([hidden]) img');
             return img && img.complete && img.naturalWidth > 0
                 ? document.querySelectorAll('#passage-sheet .page-mark').length : 0;",
            json!([]),
        )
        .as_u64()
        .filter(|marks| *marks > 0)
}

fn wait_for_dialog(xdotool: &Path, display: &str, title: &str) -> String {
    let started = Instant::now();
    loop {
        let found = Command::new(xdotool)
            .args(["search", "--onlyvisible", "--name", title])
            .env("DISPLAY", display)
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|out| out.lines().next().map(String::from));
        if let Some(window) = found {
            return window;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no dialog titled {title:?} appeared"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Answers the dialog `window` with Escape (Cancel) and waits for it to go.
fn cancel_dialog(xdotool: &Path, display: &str, window: &str, title: &str) {
    answer_dialog(xdotool, display, window, title, "Escape");
}

/// Presses `key` in the dialog `window` (Escape: cancel; Return: its default, the
/// action asked about) and waits for it to go.
fn answer_dialog(xdotool: &Path, display: &str, window: &str, title: &str, key: &str) {
    let _ = Command::new(xdotool)
        .args(["windowfocus", "--sync", window, "key", "--clearmodifiers", key])
        .env("DISPLAY", display)
        .status();
    let started = Instant::now();
    while Command::new(xdotool)
        .args(["search", "--onlyvisible", "--name", title])
        .env("DISPLAY", display)
        .output()
        .is_ok_and(|o| !o.stdout.is_empty())
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the dialog {title:?} stayed after {key}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
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
    // The models folder: the real embedder and test model, and a second chat model to
    // switch to in the settings (the same weights under another name: the answer says
    // which file wrote it).
    let models = tmp.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::os::unix::fs::symlink(
        common::models_dir().join("all-MiniLM-L6-v2"),
        models.join("all-MiniLM-L6-v2"),
    )
    .unwrap();
    let first_model = models.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    std::fs::copy(common::small_generator(), &first_model).unwrap();
    let second_model = models.join("second-model.gguf");
    std::fs::copy(common::small_generator(), &second_model).unwrap();
    // A second embedding model to change to: the same one under another name.
    let second_embedder = models.join("minilm-second");
    std::os::unix::fs::symlink(common::models_dir().join("all-MiniLM-L6-v2"), &second_embedder).unwrap();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let display = format!(":{}", 90 + std::process::id() % 100);
    let _xvfb = Process::start(
        Command::new(xvfb)
            .args([
                display.as_str(),
                "-screen",
                "0",
                "1280x860x24",
                "-nolisten",
                "tcp",
            ])
            .stderr(Stdio::null()),
    );
    std::thread::sleep(Duration::from_millis(800));
    let port = free_port();
    let native_port = free_port();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let _driver = Process::start(
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
            .env("QUIRE_MODELS_DIR", &models)
            .env("QUIRE_MODEL", &first_model)
            .env("XDG_CONFIG_HOME", tmp.path().join("config"))
            .env("XDG_DATA_HOME", tmp.path().join("xdg-data")),
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
    driver.wait("the progress bar to go when the run ends", 60, || {
        let shown = driver.script(
            "return getComputedStyle(document.getElementById('progress')).display",
            json!([]),
        );
        (shown == "none").then_some(())
    });
    driver.screenshot(&shots.join("library-light.png"));

    // Remove asks first; Cancel keeps the folder and everything indexed from it.
    driver.click("#folders button");
    let dialog = wait_for_dialog(&xdotool, &display, "Remove folder?");
    cancel_dialog(&xdotool, &display, &dialog, "Remove folder?");
    std::thread::sleep(Duration::from_secs(2));
    let rows = driver.texts("#folders tr");
    assert!(
        rows.contains(&*folder.to_string_lossy()) && rows.contains("401"),
        "the folder went although the user cancelled: {rows}"
    );

    // The file handed to the window is summarised, with page-cited bullets.
    driver.click("#tab-summaries");
    driver.wait("a summary of the dropped file", 300, || {
        let cards = driver.texts(".summary");
        (cards.contains("dropped-minutes") || cards.contains("Residents")).then_some(())?;
        (!driver.find_all(".summary .bullets li").is_empty()).then_some(())
    });
    assert!(driver.texts(".summary .chip").contains("p. 1"));
    driver.screenshot(&shots.join("summaries-light.png"));

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
    // The answer is rendered as Markdown (paragraphs, lists, emphasis as elements,
    // never as raw asterisks), with its citations inline where the claims are.
    let rendered = driver.script(
        "const a = [...document.querySelectorAll('.message.assistant .answer-text.markdown')].pop(); \
         return a ? { blocks: a.querySelectorAll('p, ul, ol, li, h3, pre, table').length, text: a.textContent } : null;",
        json!([]),
    );
    assert!(
        rendered["blocks"].as_u64().unwrap_or(0) > 0
            && !rendered["text"].as_str().unwrap_or("**").contains("**"),
        "the answer is not rendered as Markdown: {rendered}"
    );
    // "[1] maintenance.pdf, p. 2": the first chip, and the page it cites.
    let first = chips.lines().next().unwrap_or_default().to_string();
    assert!(first.contains("maintenance.pdf, p. "), "{chips}");
    let page: u32 = first
        .rsplit("p. ")
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap();
    // Clicking the inline [n] opens the cited page beside the chat, the quote marked.
    driver.click(".message.assistant .answer-text .cite");
    // A PDF's page is shown as drawn, the quote's lines marked on it…
    driver.wait("the cited page drawn with the quote marked", 30, || {
        drawn_marks(&driver)
    });
    driver.screenshot(&shots.join("passage-light.png"));
    // …and its text, the quote marked there too, is a click away.
    driver.click("#passage-as-text");
    let marked = driver.wait("the cited passage marked on its page", 20, || {
        let marked = driver.texts("#passage:not([hidden]) #passage-text mark");
        (!marked.trim().is_empty()).then_some(marked)
    });
    let where_ = driver.texts("#passage-where");
    assert!(where_.contains(&format!("page {page} of")), "{where_}");
    assert!(driver.texts("#passage-title").contains("maintenance.pdf"));
    let page_text = driver.texts("#passage-text");
    assert!(
        page_text.len() > marked.len(),
        "the page around the quote is shown too"
    );
    driver.screenshot(&shots.join("passage-text-light.png"));
    driver.click("#passage-open");
    let how = driver.wait("the viewer to be started", 10, || {
        std::fs::read_to_string(&opened).ok()
    });
    assert!(
        how.contains(&format!("--page-label={page}")) && how.contains("maintenance.pdf"),
        "{how}"
    );
    driver.click("#passage-close");

    // Delete asks first; Cancel keeps the conversation.
    let chats = driver.find_all("#chat-list li").len();
    assert!(chats > 0);
    driver.click("#delete-chat");
    let dialog = wait_for_dialog(&xdotool, &display, "Delete conversation?");
    cancel_dialog(&xdotool, &display, &dialog, "Delete conversation?");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        driver.find_all("#chat-list li").len(),
        chats,
        "the chat went although the user cancelled: {}",
        driver.texts("#chat-list")
    );
    assert!(
        !driver.texts("#messages").trim().is_empty(),
        "the conversation is still shown"
    );
    driver.screenshot(&shots.join("chat-light.png"));

    // Ctrl+K searches the library; a hit opens on its page in the passage view.
    driver.type_into("#question", "\u{E009}k\u{E000}");
    driver.wait("the search view", 10, || {
        driver.find_all("#view-search:not([hidden])").first().cloned()
    });
    driver.type_into("#search-query", "gutters cleared");
    driver.wait("a search hit from the manual", 60, || {
        driver
            .texts("#search-results .hit")
            .contains("maintenance.pdf")
            .then_some(())
    });
    driver.screenshot(&shots.join("search-light.png"));
    driver.click("#search-results .hit");
    driver.wait("the hit on its page", 20, || {
        let marked = driver.texts("#passage:not([hidden]) #passage-text mark");
        (!marked.trim().is_empty()).then_some(())
    });
    driver.click("#passage-close");

    // Settings: another chat model, applied without a restart, writes the next answer.
    driver.click("#tab-settings");
    driver.wait("the model in use described from its header", 20, || {
        let card = driver.texts("#model-card");
        (card.contains("llama") && card.contains("Q4_1")).then_some(())
    });
    driver.screenshot(&shots.join("settings-light.png"));
    driver.choose("#model", &second_model.to_string_lossy());
    driver.click("#save-answer-settings");
    driver.wait("the settings to be saved", 30, || {
        driver
            .texts("#answer-settings-status")
            .contains("Saved")
            .then_some(())
    });
    let saved = std::fs::read_to_string(tmp.path().join("data").join("config.toml")).unwrap();
    assert!(saved.contains("second-model.gguf"), "{saved}");
    driver.click("#tab-chat");
    driver.type_into("#question", "\u{E009}n\u{E000}");
    driver.type_into("#question", "When should the gutters be cleared?\u{E007}");
    driver.wait("an answer written by the newly chosen model", 300, || {
        let by = driver.texts(".message.assistant .written-by");
        by.contains("second-model.gguf").then_some(())
    });

    // Another embedding model asks first, then embeds the library again in the
    // background; when it is done the settings name it and search finds by meaning.
    driver.click("#tab-settings");
    driver.wait("the embedding models listed", 20, || {
        let listed = driver.texts("#embedder");
        // Each model as it is and, on llama.cpp, from its int8 copy.
        (listed.contains("minilm-second") && listed.contains("minilm-second, int8")).then_some(())
    });
    driver.choose("#embedder", &second_embedder.to_string_lossy());
    driver.click("#embedder-form button[type=submit]");
    let dialog = wait_for_dialog(&xdotool, &display, "Change the embedding model?");
    answer_dialog(
        &xdotool,
        &display,
        &dialog,
        "Change the embedding model?",
        "Return",
    );
    // A guard against a hang, not a speed target: 1,200 passages take two minutes on a slow 2-core machine.
    driver.wait("the library embedded with the new model", 600, || {
        let said = driver.texts("#status");
        said.contains("uses minilm-second now").then_some(())
    });
    let saved = std::fs::read_to_string(tmp.path().join("data").join("config.toml")).unwrap();
    assert!(saved.contains("minilm-second"), "{saved}");
    driver.wait("the settings to name the new embedding model", 20, || {
        driver
            .texts("#embedder-info")
            .contains("minilm-second")
            .then_some(())
    });

    // Dark: every view again.
    driver.click("#tab-settings");
    driver.choose("#theme", "dark");
    driver.wait("the dark theme", 10, || {
        let theme = driver.script("return document.documentElement.dataset.theme || ''", json!([]));
        (theme == "dark").then_some(())
    });
    driver.screenshot(&shots.join("settings-dark.png"));
    for view in ["chat", "library", "search", "summaries"] {
        driver.click(&format!("#tab-{view}"));
        driver.screenshot(&shots.join(format!("{view}-dark.png")));
    }
    driver.click("#tab-chat");
    driver.click(".message.assistant .chip");
    driver.wait("the cited passage, dark", 20, || {
        (!driver
            .texts("#passage:not([hidden]) #passage-text mark")
            .trim()
            .is_empty())
        .then_some(())
    });
    driver.screenshot(&shots.join("passage-text-dark.png"));
    driver.click("#passage-as-page");
    driver.wait("the cited page drawn, dark", 30, || drawn_marks(&driver));
    driver.screenshot(&shots.join("passage-dark.png"));
    driver.click("#passage-close");

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
    // The quick box may ask and open sources, and nothing more: what only the main
    // window may do is refused to it, whatever its page says.
    for (command, args) in [
        ("remove_folder", json!({ "path": folder })),
        ("delete_chat", json!({ "id": 1 })),
        ("save_engine_settings", json!({ "answers": {} })),
        ("library_status", json!({})),
    ] {
        let refusal = driver
            .post(
                "/execute/async",
                json!({
                    "script": "const done = arguments[2]; window.__TAURI_INTERNALS__.invoke(arguments[0], arguments[1]).then(() => done('allowed'), (e) => done(String(e && e.message || e)));",
                    "args": [command, args],
                }),
            )
            .unwrap();
        let refusal = refusal.as_str().unwrap_or_default();
        assert!(
            refusal.contains("not allowed"),
            "the quick window could call {command}: {refusal}"
        );
    }
    let _ = Driver::request(
        "DELETE",
        &format!("{}/session/{}", driver.base, driver.session),
        None,
    );
}
