//! A watched folder: files created, edited, renamed and deleted while Quire
//! watches are searchable (or gone) within seconds, without running `quire index`.

mod common;

use std::path::{Path, PathBuf};
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

/// The inotify watches this process holds, as the kernel lists them: (device, inode)
/// of each watched directory, from `/proc/self/fdinfo` of every inotify descriptor.
#[cfg(target_os = "linux")]
fn kernel_watches() -> Vec<(u64, u64)> {
    let mut watches = Vec::new();
    for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_inotify = std::fs::read_link(fd.path())
            .is_ok_and(|target| target.to_string_lossy() == "anon_inode:inotify");
        if !is_inotify {
            continue;
        }
        let info = Path::new("/proc/self/fdinfo").join(fd.file_name());
        // The descriptor may close between the two reads (another test's watcher).
        let Ok(info) = std::fs::read_to_string(info) else {
            continue;
        };
        for line in info.lines().filter(|l| l.starts_with("inotify wd:")) {
            let field = |name: &str| {
                let value = line.split(' ').find_map(|f| f.strip_prefix(name)).unwrap();
                u64::from_str_radix(value, 16).unwrap()
            };
            watches.push((field("sdev:"), field("ino:")));
        }
    }
    watches
}

/// A directory as the kernel names it in `kernel_watches`: the device in the kernel's
/// own encoding (major << 20 | minor), not the one `stat` gives.
#[cfg(target_os = "linux")]
fn kernel_identity(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).unwrap();
    let dev = meta.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    ((major << 20) | minor, meta.ino())
}

/// Every directory under `root`, itself included, links not followed.
#[cfg(target_os = "linux")]
fn all_directories(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_path_buf()];
    let mut at = 0;
    while at < dirs.len() {
        for entry in std::fs::read_dir(&dirs[at]).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            }
        }
        at += 1;
    }
    dirs
}

/// How many of `dirs` the kernel says this process watches.
#[cfg(target_os = "linux")]
fn watched_among(dirs: &[PathBuf]) -> usize {
    let watches = kernel_watches();
    dirs.iter()
        .filter(|dir| watches.contains(&kernel_identity(dir)))
        .count()
}

/// A watched folder costs one inotify watch per directory that indexing reads: a
/// link to a large tree (or to /usr) adds none, nor do ignored or hidden folders.
/// Directories made later are watched (a file written deep inside is found), also
/// after they are renamed.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn watching_follows_no_links_and_skips_what_indexing_skips() {
    let tmp = tempfile::tempdir().unwrap();
    // A /usr-like tree outside the folder: 300 directories.
    let big = tmp.path().join("big");
    for i in 0..20 {
        for j in 0..14 {
            std::fs::create_dir_all(big.join(format!("lib{i}/part{j}"))).unwrap();
        }
    }
    let root = tmp.path().join("notes");
    std::fs::create_dir_all(root.join("sub/a/b")).unwrap();
    std::fs::create_dir_all(root.join("build/out/deep")).unwrap();
    std::fs::create_dir_all(root.join(".cache/x")).unwrap();
    write(&root.join(".gitignore"), "build/\n");
    write(&root.join("kept.txt"), "The allotment rota starts in spring.");
    std::os::unix::fs::symlink(&big, root.join("big")).unwrap();
    if Path::new("/usr").is_dir() {
        std::os::unix::fs::symlink("/usr", root.join("usr")).unwrap();
    }
    let root = root.canonicalize().unwrap();
    let engine = Arc::new(Engine::open(config(&tmp.path().join("data"))).await.unwrap());
    engine.index_folder(&root, &NoProgress).await.unwrap();

    let stop = CancelToken::new();
    let reported = Arc::new(std::sync::Mutex::new(None));
    let watcher = {
        let (engine, stop, reported) = (engine.clone(), stop.clone(), reported.clone());
        tokio::spawn(async move {
            let note = move |update: &WatchUpdate| {
                if let WatchUpdate::Watching { directories, .. } = update {
                    *reported.lock().unwrap() = Some(*directories);
                }
            };
            engine.watch(&stop, &note).await
        })
    };
    let started = Instant::now();
    while reported.lock().unwrap().is_none() {
        assert!(started.elapsed() < WITHIN, "watching did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let read = ["", "sub", "sub/a", "sub/a/b"].map(|d| root.join(d));
    let skipped = ["build", "build/out", "build/out/deep", ".cache", ".cache/x"].map(|d| root.join(d));
    let mut linked = all_directories(&big);
    assert_eq!(linked.len(), 301);
    linked.push(PathBuf::from("/usr"));
    linked.retain(|dir| dir.is_dir());
    assert_eq!(watched_among(&linked), 0, "the linked trees are watched");
    assert_eq!(
        watched_among(&skipped),
        0,
        "ignored or hidden folders are watched"
    );
    assert_eq!(
        watched_among(&read),
        read.len(),
        "not every folder indexing reads is watched"
    );
    assert_eq!(
        *reported.lock().unwrap(),
        Some(read.len()),
        "reported directory count"
    );

    // A directory tree made while watching is watched once its creation settles.
    std::fs::create_dir_all(root.join("later/deeper")).unwrap();
    tokio::time::sleep(DEBOUNCE_AND_MORE).await;
    let later = [root.join("later"), root.join("later/deeper")];
    assert_eq!(watched_among(&later), 2, "new directories are not watched");
    write(
        &root.join("later/deeper/new.txt"),
        "The lighthouse ferry leaves at nine.",
    );
    until_found(&engine, "lighthouse ferry", &["new.txt"]).await;

    // Renamed, it is watched under its new name.
    std::fs::rename(root.join("later"), root.join("moved")).unwrap();
    tokio::time::sleep(DEBOUNCE_AND_MORE).await;
    write(
        &root.join("moved/deeper/other.txt"),
        "The glacier museum coach leaves at ten.",
    );
    until_found(&engine, "glacier museum coach", &["other.txt"]).await;

    stop.cancel();
    watcher.await.unwrap().unwrap();
    Arc::try_unwrap(engine).ok().unwrap().close().await.unwrap();
}
