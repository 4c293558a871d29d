//! Crash safety: `quire index` killed with SIGKILL at 20 random moments while it
//! indexes a few hundred files, reopened each time, then allowed to finish,
//! holds the same files, passages and vectors as a library indexed without
//! interruption, and ranks every search the same.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const FILES: usize = 300;
const KILLS: usize = 20;

const WORDS: &[&str] = &[
    "harbour", "orchard", "lantern", "granite", "meadow", "violin", "compass", "glacier", "saffron",
    "quarry", "beacon", "thistle", "canal", "falcon", "cedar", "pottery", "tundra", "wharf", "cobalt",
    "juniper",
];

fn corpus(root: &Path) {
    for i in 0..FILES {
        let (a, b, c) = (WORDS[i % 20], WORDS[(i / 20) % 20], WORDS[(i * 7 + 3) % 20]);
        let dir = root.join(format!("part{}", i % 5));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("note-{i:03}.txt")),
            format!(
                "Note {i} about the {a} and the {b}. The {c} survey code is zq{i:03}x.\n{}",
                prose(i, 6)
            ),
        )
        .unwrap();
    }
}

fn index(data: &Path, root: &Path) -> Duration {
    let started = Instant::now();
    let output = quire(data).arg("index").arg(root).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed()
}

/// Every hit (path, page, score to 4 decimals), in rank order with ties put in path order:
/// equal scores may come back in either order from two indexes built in different orders.
fn search(data: &Path, mode: &str, query: &str) -> Vec<(String, u32, String)> {
    let output: Output = quire(data)
        .args(["search", "--json", "--limit", "300", "--mode", mode, query])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let hits: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut hits: Vec<(String, u32, String)> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["path"].as_str().unwrap().to_string(),
                h["page"].as_u64().unwrap() as u32,
                format!("{:.4}", h["score"].as_f64().unwrap()),
            )
        })
        .collect();
    hits.sort_by(|a, b| {
        let score = |s: &str| s.parse::<f64>().unwrap();
        score(&b.2).total_cmp(&score(&a.2)).then_with(|| a.0.cmp(&b.0))
    });
    hits
}

fn status(data: &Path) -> serde_json::Value {
    let output = quire(data).args(["status", "--json"]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A small deterministic generator (xorshift), so a failure can be replayed from its seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[test]
fn killed_indexing_resumes_and_ends_as_if_never_interrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("notes");
    corpus(&root);
    let root = root.canonicalize().unwrap();

    let reference = tmp.path().join("reference");
    let full = index(&reference, &root);

    let seed = std::env::var("QUIRE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe_u64);
    eprintln!("seed {seed} (QUIRE_CRASH_SEED replays it); an uninterrupted index took {full:?}");
    let mut random = Random(seed);
    let crashed = tmp.path().join("crashed");
    let mut killed = 0;
    for _ in 0..KILLS {
        let mut child = quire(&crashed)
            .arg("index")
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Each run gets a random share of about a tenth of the work (start-up included), so the
        // twenty kills land all along the way: while opening, extracting, embedding, committing.
        let slice = full.as_millis() as u64 / 10;
        std::thread::sleep(Duration::from_millis(100 + random.below(slice + 400)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no destructor, no flush, no goodbye.
            killed += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        killed >= KILLS / 2,
        "only {killed} of {KILLS} runs were killed mid-way"
    );
    index(&crashed, &root);

    let (expected, actual) = (status(&reference), status(&crashed));
    let summary = |s: &serde_json::Value| {
        let folder = &s["folders"][0];
        (
            folder["indexed"].clone(),
            folder["chunks"].clone(),
            s["vectors"].clone(),
        )
    };
    assert_eq!(
        summary(&actual),
        summary(&expected),
        "files, passages and vectors"
    );
    for i in (0..FILES).step_by(23) {
        let code = format!("zq{i:03}x");
        assert_eq!(
            search(&crashed, "bm25", &code),
            search(&reference, "bm25", &code),
            "{code}"
        );
    }
    // Every ranking is the same.
    for query in [
        "granite quarry survey",
        "orchard lantern",
        "a note about boats in a port",
        "zq079x juniper",
    ] {
        for mode in ["bm25", "vector", "hybrid"] {
            assert_eq!(
                search(&crashed, mode, query),
                search(&reference, mode, query),
                "{mode}: {query}"
            );
        }
    }
}
