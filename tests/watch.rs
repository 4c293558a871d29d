//! A watched folder: files created, edited, renamed and deleted while Quire
//! watches are searchable (or gone) within seconds, without running `quire index`.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use quire_engine::cancel::CancelToken;
use quire_engine::progress::NoProgress;
use quire_engine::retrieve::SearchMode;
use quire_engine::watch::WatchUpdate;
use quire_engine::Engine;

/// How long a change may take to reach the index.
const WITHIN: Duration = Duration::from_secs(5);

/// Waits until the files holding `phrase` are exactly `expected` (by name); returns how long it took.
async fn until_found(engine: &Engine, phrase: &str, expected: &[&str]) -> Duration {
    let started = Instant::now();
    loop {
        let hits = engine.search(phrase, SearchMode::Bm25, 10).await.unwrap();
        let mut names: Vec<String> = hits
            .iter()
            .map(|h| h.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.dedup();
        if names == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < WITHIN,
            "{phrase:?}: still {names:?} after {WITHIN:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_in_a_watched_folder_reach_the_index_within_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("notes");
    std::fs::create_dir_all(root.join("deep/er")).unwrap();
    write(&root.join("kept.txt"), "The allotment rota starts in spring.");
    let root = root.canonicalize().unwrap();
    let engine = Arc::new(Engine::open(config(&tmp.path().join("data"))).await.unwrap());
    engine.index_folder(&root, &NoProgress).await.unwrap();
    // A change made while nothing watched is reconciled when watching starts.
    write(&root.join("offline.txt"), "Minutes of the beekeeping society.");

    let stop = CancelToken::new();
    let batches = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (engine, stop, batches) = (engine.clone(), stop.clone(), batches.clone());
        tokio::spawn(async move {
            let count = move |update: &WatchUpdate| {
                if matches!(update, WatchUpdate::Indexed { .. }) {
                    batches.fetch_add(1, Ordering::SeqCst);
                }
            };
            engine.watch(&stop, &count).await
        })
    };
    until_found(&engine, "beekeeping society", &["offline.txt"]).await;

    write(
        &root.join("deep/er/new.md"),
        "# Trip\n\nThe ferry to the lighthouse island leaves at nine.",
    );
    let created = until_found(&engine, "lighthouse island ferry", &["new.md"]).await;

    write(
        &root.join("deep/er/new.md"),
        "# Trip\n\nThe coach to the glacier museum leaves at ten.",
    );
    let edited = until_found(&engine, "glacier museum coach", &["new.md"]).await;
    until_found(&engine, "lighthouse island ferry", &[]).await;

    std::fs::rename(root.join("deep/er/new.md"), root.join("trip.md")).unwrap();
    let renamed = until_found(&engine, "glacier museum coach", &["trip.md"]).await;

    std::fs::remove_file(root.join("trip.md")).unwrap();
    let deleted = until_found(&engine, "glacier museum coach", &[]).await;
    // Vectors follow the catalog: meaning search no longer returns the deleted file either.
    let by_meaning = engine
        .search("a bus trip to see ice", SearchMode::Vector, 10)
        .await
        .unwrap();
    assert!(by_meaning.iter().all(|h| !h.path.ends_with("trip.md")));
    until_found(&engine, "allotment rota", &["kept.txt"]).await;
    eprintln!("created {created:?}, edited {edited:?}, renamed {renamed:?}, deleted {deleted:?}");

    // Quiet folders stay quiet: indexing (which reads files and lists folders) triggers no batch of its own.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = batches.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        batches.load(Ordering::SeqCst),
        settled,
        "the watcher re-indexed with nothing changed"
    );

    stop.cancel();
    watcher.await.unwrap().unwrap();
    Arc::try_unwrap(engine).ok().unwrap().close().await.unwrap();
}

/// A folder added to the library while Quire watches is watched too, and while
/// indexing is paused changes wait; on resume they are indexed.
#[tokio::test(flavor = "multi_thread")]
async fn the_watcher_follows_new_folders_and_waits_while_indexing_is_paused() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    let second = tmp.path().join("second");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    write(&first.join("a.txt"), "The orchard needs pruning in February.");
    write(&second.join("b.txt"), "The choir rehearses on Thursdays.");
    let (first, second) = (first.canonicalize().unwrap(), second.canonicalize().unwrap());
    let engine = Arc::new(Engine::open(config(&tmp.path().join("data"))).await.unwrap());
    engine.index_folder(&first, &NoProgress).await.unwrap();

    let stop = CancelToken::new();
    let watcher = {
        let (engine, stop) = (engine.clone(), stop.clone());
        tokio::spawn(async move { engine.watch(&stop, &|_: &WatchUpdate| {}).await })
    };
    until_found(&engine, "orchard pruning", &["a.txt"]).await;
    // Added by another part of the app (the desktop's "Add folder") while watching.
    engine.index_folder(&second, &NoProgress).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    write(
        &second.join("c.txt"),
        "The harbour ferry timetable changes in May.",
    );
    until_found(&engine, "harbour ferry timetable", &["c.txt"]).await;

    engine.pause_indexing();
    write(
        &first.join("d.txt"),
        "Lantern parade costumes are sewn in October.",
    );
    tokio::time::sleep(DEBOUNCE_AND_MORE).await;
    let hits = engine
        .search("lantern parade costumes", SearchMode::Bm25, 5)
        .await
        .unwrap();
    assert!(hits.is_empty(), "indexed while paused: {hits:?}");
    engine.resume_indexing();
    until_found(&engine, "lantern parade costumes", &["d.txt"]).await;

    stop.cancel();
    watcher.await.unwrap().unwrap();
    Arc::try_unwrap(engine).ok().unwrap().close().await.unwrap();
}

/// Longer than the debounce and a batch of indexing: a change would have landed by then.
const DEBOUNCE_AND_MORE: Duration = Duration::from_secs(3);

/// A folder removed from the library while Quire watches stays removed, however
/// busy it is: changes in it, queued before or after the removal, bring nothing back.
#[tokio::test(flavor = "multi_thread")]
async fn a_folder_removed_while_watching_stays_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let gone = tmp.path().join("gone");
    std::fs::create_dir_all(&kept).unwrap();
    std::fs::create_dir_all(&gone).unwrap();
    write(&kept.join("a.txt"), "The orchard needs pruning in February.");
    write(&gone.join("b.txt"), "The choir rehearses on Thursdays.");
    let (kept, gone) = (kept.canonicalize().unwrap(), gone.canonicalize().unwrap());
    let engine = Arc::new(Engine::open(config(&tmp.path().join("data"))).await.unwrap());
    engine.index_folder(&kept, &NoProgress).await.unwrap();
    engine.index_folder(&gone, &NoProgress).await.unwrap();

    let stop = CancelToken::new();
    let watcher = {
        let (engine, stop) = (engine.clone(), stop.clone());
        tokio::spawn(async move { engine.watch(&stop, &|_: &WatchUpdate| {}).await })
    };
    // Both watched: a change in the folder about to go is indexed.
    write(&gone.join("c.txt"), "The harbour ferry timetable changes in May.");
    until_found(&engine, "harbour ferry timetable", &["c.txt"]).await;

    // Changes keep coming while and after it is removed, for several debounce periods.
    write(
        &gone.join("d.txt"),
        "Lantern parade costumes are sewn in October.",
    );
    engine.remove_folder(&gone).await.unwrap();
    let busy_until = Instant::now() + 3 * DEBOUNCE_AND_MORE / 2;
    let mut n = 0;
    while Instant::now() < busy_until {
        n += 1;
        write(
            &gone.join(format!("busy{n}.txt")),
            &format!("Beekeeping society minutes, meeting {n}."),
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(DEBOUNCE_AND_MORE).await;

    let folders: Vec<_> = engine
        .folders()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(folders, vec![kept.clone()], "the removed folder came back");
    for phrase in [
        "choir rehearses Thursdays",
        "harbour ferry timetable",
        "lantern parade costumes",
        "beekeeping society minutes",
    ] {
        let hits = engine.search(phrase, SearchMode::Bm25, 5).await.unwrap();
        assert!(
            hits.is_empty(),
            "{phrase:?} found after its folder was removed: {hits:?}"
        );
    }
    // The watcher still works for the folder that stayed.
    write(&kept.join("e.txt"), "The allotment rota starts in spring.");
    until_found(&engine, "allotment rota", &["e.txt"]).await;

    stop.cancel();
    watcher.await.unwrap().unwrap();
    Arc::try_unwrap(engine).ok().unwrap().close().await.unwrap();
}
