//! The `quire` command as a person uses it: index, search, status, eval, and
//! what happens when two indexers meet.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn run(command: &mut Command) -> Output {
    command.output().expect("quire runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn index_search_and_status_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = library(tmp.path()).canonicalize().unwrap();
    let data = tmp.path().join("data");

    let indexed = run(quire(&data).arg("index").arg(&root));
    assert!(indexed.status.success(), "{}", stderr(&indexed));
    let summary = stdout(&indexed);
    assert!(summary.contains("9 files found: 5 indexed"), "{summary}");
    assert!(
        summary.contains("corrupt.pdf: damaged"),
        "errors are listed with their reason: {summary}"
    );

    let found = run(quire(&data).args(["search", "--json", "--limit", "3", PDF_PAGE3_PHRASE]));
    assert!(found.status.success(), "{}", stderr(&found));
    let hits: serde_json::Value = serde_json::from_slice(&found.stdout).unwrap();
    assert_eq!(hits[0]["path"], root.join("survey.pdf").to_str().unwrap());
    assert_eq!(hits[0]["page"], 3);
    assert!(hits[0]["snippet"]["text"].as_str().unwrap().contains("heron"));

    let human = run(quire(&data).args(["search", "--mode", "bm25", "flooded quarry"]));
    let text = stdout(&human);
    assert!(text.contains("survey.pdf  (page 3)"), "{text}");
    assert!(
        text.contains("**quarry**"),
        "matches are marked when not on a terminal: {text}"
    );

    let nothing = run(quire(&data).args(["search", "\"(unbalanced AND"]));
    assert!(nothing.status.success(), "{}", stderr(&nothing));

    let status = run(quire(&data).arg("status"));
    let text = stdout(&status);
    assert!(text.contains("5 indexed, 3 skipped, 1 errors"), "{text}");
    assert!(
        text.contains("Files in error:") && text.contains("corrupt.pdf"),
        "{text}"
    );

    // With no folder named, `index` updates every folder of the library.
    std::fs::write(root.join("new.txt"), "A note about the orchard irrigation pump.").unwrap();
    let updated = run(quire(&data).arg("index"));
    assert!(
        stdout(&updated).contains("1 indexed, 9 unchanged"),
        "{}",
        stdout(&updated)
    );
    let hits = stdout(&run(quire(&data).args(["search", "orchard irrigation"])));
    assert!(hits.contains("new.txt"), "{hits}");
}

#[test]
fn bad_arguments_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let missing = run(quire(&data).args(["index", "/no/such/folder"]));
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("/no/such/folder"),
        "{}",
        stderr(&missing)
    );

    let file = tmp.path().join("file.txt");
    std::fs::write(&file, "text").unwrap();
    let not_folder = run(quire(&data).arg("index").arg(&file));
    assert!(
        stderr(&not_folder).contains("is not a folder"),
        "{}",
        stderr(&not_folder)
    );

    let empty = run(quire(&data).arg("index"));
    assert!(stderr(&empty).contains("no folders yet"), "{}", stderr(&empty));
}

#[test]
fn a_second_indexer_on_the_same_library_fails_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("many");
    std::fs::create_dir_all(&root).unwrap();
    // Enough work that the first indexer is still running when the second starts.
    for i in 0..100 {
        std::fs::write(root.join(format!("note-{i:04}.txt")), prose(i, 20)).unwrap();
    }
    let data = tmp.path().join("data");
    let mut first = quire(&data)
        .arg("index")
        .arg(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The lock file names its holder once the lock is taken.
    let lock = data.join("index.lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&lock).unwrap_or_default().trim() != first.id().to_string() {
        assert!(Instant::now() < deadline, "the first indexer never took the lock");
        std::thread::sleep(Duration::from_millis(5));
    }

    let started = Instant::now();
    let second = run(quire(&data).arg("index").arg(&root));
    let waited = started.elapsed();
    let finished_first = first.wait().unwrap();

    assert!(!second.status.success(), "the second indexer must not run");
    let message = stderr(&second);
    assert!(
        message.contains("another Quire process") && message.contains(&format!("pid {}", first.id())),
        "{message}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "it failed at once, not after waiting: {waited:?}"
    );
    assert!(finished_first.success(), "the first indexer finishes its work");
}

#[test]
fn eval_scores_a_beir_benchmark_and_writes_a_trec_run() {
    let tmp = tempfile::tempdir().unwrap();
    let bench = tmp.path().join("tiny");
    std::fs::create_dir_all(bench.join("qrels")).unwrap();
    std::fs::write(
        bench.join("corpus.jsonl"),
        [
            r#"{"_id": "d1", "title": "Green tea", "text": "Green tea contains catechins that may lower blood pressure."}"#,
            r#"{"_id": "d2", "title": "Running", "text": "Marathon training plans build endurance over sixteen weeks."}"#,
            r#"{"_id": "d3", "title": "Sleep", "text": "Adults need seven to nine hours of sleep each night."}"#,
            r#"{"_id": "d4", "title": "Coffee", "text": "Coffee and tea both contain caffeine, which affects sleep."}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    std::fs::write(
        bench.join("queries.jsonl"),
        [
            r#"{"_id": "q1", "text": "does green tea lower blood pressure?"}"#,
            r#"{"_id": "q2", "text": "marathon endurance training"}"#,
            r#"{"_id": "q3", "text": "not judged, not scored"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    std::fs::write(
        bench.join("qrels/test.tsv"),
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td4\t1\nq2\td2\t1\n",
    )
    .unwrap();

    let run_file = tmp.path().join("run.txt");
    let eval = |mode: &str| {
        let output = run(quire(&tmp.path().join("data"))
            .env("XDG_CACHE_HOME", tmp.path().join("cache"))
            .args(["eval", "--mode", mode, "--json", "--run-out"])
            .arg(&run_file)
            .arg(&bench));
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let report = eval("all");
    assert_eq!(report["queries"], 2);
    assert_eq!(report["documents"], 4);
    assert_eq!(report["index_reused"], false);
    let modes: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mode"].as_str().unwrap())
        .collect();
    assert_eq!(
        modes,
        ["bm25", "vector", "hybrid-without-feedback", "hybrid", "app"]
    );
    for result in report["results"].as_array().unwrap() {
        // q1 ranks d1 (grade 2) first and d4 (grade 1) second; q2 ranks d2 first.
        assert_eq!(result["ndcg_at_10"], 1.0, "{report}");
        assert_eq!(result["recall_at_100"], 1.0, "{report}");
    }
    assert!(tmp.path().join("run.txt.hybrid").is_file());

    // A second evaluation reuses the index, and writes the single run file asked for.
    let again = eval("bm25");
    assert_eq!(again["index_reused"], true, "{again}");
    let trec = std::fs::read_to_string(&run_file).unwrap();
    let first: Vec<&str> = trec.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(first[..4], ["q1", "Q0", "d1", "1"]);
    assert_eq!(first[5], "quire-bm25");
    assert!(!trec.contains("q3"));
}

/// Whether this process may make a network namespace (root, or user namespaces allowed).
fn can_unshare_network() -> bool {
    Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// `--runtime` values for every generation runtime this build has.
fn runtimes() -> Vec<String> {
    quire_engine::llm::Runtime::built()
        .iter()
        .map(|r| r.name().to_string())
        .collect()
}

#[test]
fn index_and_ask_work_with_no_network_at_all() {
    if !can_unshare_network() {
        eprintln!("skipped: `unshare -n` is not permitted here (needs root or user namespaces)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = household(tmp.path()).canonicalize().unwrap();
    let data = tmp.path().join("data");
    // The same command a person runs, inside a network namespace with no interface but a downed loopback.
    let offline = |args: &[&std::ffi::OsStr]| {
        let mut command = quire_under(&["unshare".as_ref(), "-n".as_ref()], &data);
        run(command.arg("--model").arg(small_generator()).args(args))
    };
    let indexed = offline(&["index".as_ref(), root.as_os_str()]);
    assert!(indexed.status.success(), "{}", stderr(&indexed));
    for runtime in runtimes() {
        let asked = offline(&[
            "--runtime".as_ref(),
            runtime.as_ref(),
            "ask".as_ref(),
            "When must the gas boiler be serviced, and by whom?".as_ref(),
        ]);
        assert!(asked.status.success(), "{runtime}: {}", stderr(&asked));
        let out = stdout(&asked);
        assert!(out.contains("Sources:"), "{runtime}: {out}");
        assert!(out.contains("maintenance.pdf, page 2"), "{runtime}: {out}");
    }
}

#[test]
fn index_and_ask_connect_to_nothing_but_local_sockets() {
    if !Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipped: strace is not installed (scripts/setup.sh installs it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = household(tmp.path()).canonicalize().unwrap();
    let data = tmp.path().join("data");
    let log = tmp.path().join("connect.log");
    // Every connect() of the process, its threads and the processes it starts, as the kernel saw it.
    let traced = |args: &[&std::ffi::OsStr]| {
        let strace = [
            "strace",
            "-f",
            "-qq",
            "--seccomp-bpf",
            "-e",
            "trace=connect",
            "-o",
        ];
        let mut wrapper: Vec<&std::ffi::OsStr> = strace.iter().map(|a| a.as_ref()).collect();
        wrapper.push(log.as_os_str());
        let mut command = quire_under(&wrapper, &data);
        let output = run(command.arg("--model").arg(small_generator()).args(args));
        assert!(output.status.success(), "{}", stderr(&output));
        std::fs::read_to_string(&log).unwrap()
    };
    let mut calls = traced(&["index".as_ref(), root.as_os_str()]);
    for runtime in runtimes() {
        calls.push_str(&traced(&[
            "--runtime".as_ref(),
            runtime.as_ref(),
            "ask".as_ref(),
            "When must the gas boiler be serviced?".as_ref(),
        ]));
    }
    let outward: Vec<&str> = calls
        .lines()
        .filter(|l| l.contains("connect(") && !l.contains("AF_UNIX"))
        .collect();
    assert!(
        outward.is_empty(),
        "connections that are not local sockets:\n{}",
        outward.join("\n")
    );
}

/// Thirty forum posts that repeat the question without answering it: in the whole library
/// they outrank the manual page that does answer it.
fn forum_repeating(question: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let forum = dir.join("forum");
    std::fs::create_dir_all(&forum).unwrap();
    for i in 1..=30 {
        let post = format!(
            "Forum thread {i}. {question} Reply {i}: I keep asking the same thing, {}",
            question.to_lowercase()
        );
        std::fs::write(forum.join(format!("thread-{i:02}.txt")), post).unwrap();
    }
    forum
}

#[test]
fn ask_in_a_folder_finds_its_answer_however_the_rest_of_the_library_ranks() {
    let tmp = tempfile::tempdir().unwrap();
    let question = "When must the gas boiler be serviced, and by whom?";
    let household = household(tmp.path()).canonicalize().unwrap();
    let forum = forum_repeating(question, tmp.path()).canonicalize().unwrap();
    let data = tmp.path().join("data");
    for folder in [&household, &forum] {
        let indexed = run(quire(&data).arg("index").arg(folder));
        assert!(indexed.status.success(), "{}", stderr(&indexed));
    }

    // What makes this a real test: across the library, the answer is not among the
    // 24 passages an answer starts from.
    let top = run(quire(&data).args(["search", "--json", "--limit", "24", question]));
    let hits: serde_json::Value = serde_json::from_slice(&top.stdout).unwrap();
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 24);
    assert!(
        hits.iter()
            .all(|h| h["path"].as_str().unwrap().starts_with(forum.to_str().unwrap())),
        "the forum should fill the library's top 24: {hits:#?}"
    );

    let in_folder = run(quire(&data)
        .args(["search", "--json", "--limit", "3", "--folder"])
        .arg(&household)
        .arg(question));
    let hits: serde_json::Value = serde_json::from_slice(&in_folder.stdout).unwrap();
    assert_eq!(
        hits[0]["path"],
        household.join("maintenance.pdf").to_str().unwrap()
    );
    assert_eq!(hits[0]["page"], 2);

    let asked = run(quire(&data)
        .arg("--model")
        .arg(small_generator())
        .args(["ask", "--folder"])
        .arg(&household)
        .arg(question));
    assert!(asked.status.success(), "{}", stderr(&asked));
    let out = stdout(&asked);
    assert!(out.contains("Sources:"), "an answer, not an abstention: {out}");
    assert!(out.contains("maintenance.pdf, page 2"), "{out}");
    assert!(!out.contains("thread-"), "nothing from outside the folder: {out}");
}

#[test]
fn search_by_file_type_and_an_unknown_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let household = household(tmp.path()).canonicalize().unwrap();
    let data = tmp.path().join("data");
    let indexed = run(quire(&data).arg("index").arg(&household));
    assert!(indexed.status.success(), "{}", stderr(&indexed));

    let markdown =
        run(quire(&data).args(["search", "--json", "--type", "md", "travel booking and the oven"]));
    let hits: serde_json::Value = serde_json::from_slice(&markdown.stdout).unwrap();
    let paths: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, [household.join("travel.md").to_str().unwrap()]);
    let two = run(quire(&data).args([
        "search",
        "--json",
        "--type",
        "md,TXT",
        "travel booking and the oven",
    ]));
    let hits: serde_json::Value = serde_json::from_slice(&two.stdout).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 2, "{hits:#?}");

    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let outside = run(quire(&data)
        .args(["search", "--folder"])
        .arg(&elsewhere)
        .arg("boiler"));
    assert!(!outside.status.success());
    let message = stderr(&outside);
    assert!(
        message.contains("is not in the library") && message.contains("quire index"),
        "{message}"
    );
}
