//! Finding the files of a folder: .gitignore / .ignore rules are respected,
//! hidden files and folders are skipped, symbolic links are not followed. Links,
//! named pipes, sockets and devices are listed too, so that they get a status
//! saying why they are not read; only regular files are ever opened.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::store::catalog::FileStamp;

#[derive(Debug, Clone)]
pub struct FoundFile {
    pub path: PathBuf,
    pub stamp: FileStamp,
    pub kind: EntryKind,
    /// Which file it was, so that the one opened later can be checked to be the same.
    pub identity: Option<FileIdentity>,
}

/// What sits at a path, as the walk saw it (links not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Link,
    /// A named pipe, a socket or a device: never opened (a pipe would block the reader).
    Special(&'static str),
}

/// A file's identity on its file system (device and inode), where the OS gives one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    #[cfg(unix)]
    pub fn of(meta: &std::fs::Metadata) -> Option<FileIdentity> {
        use std::os::unix::fs::MetadataExt;
        Some(FileIdentity {
            device: meta.dev(),
            inode: meta.ino(),
        })
    }

    /// Windows gives a file index only through an unstable API: no identity there;
    /// opening without following links still holds.
    #[cfg(not(unix))]
    pub fn of(_meta: &std::fs::Metadata) -> Option<FileIdentity> {
        None
    }
}

impl EntryKind {
    /// What it is, in words: "a symbolic link", "a named pipe"…
    pub fn description(self) -> &'static str {
        match self {
            EntryKind::File => "a regular file",
            EntryKind::Link => "a symbolic link",
            EntryKind::Special(what) => what,
        }
    }

    pub fn of(file_type: std::fs::FileType) -> Option<EntryKind> {
        if file_type.is_dir() {
            None
        } else if file_type.is_file() {
            Some(EntryKind::File)
        } else if file_type.is_symlink() {
            Some(EntryKind::Link)
        } else {
            Some(EntryKind::Special(special_name(file_type)))
        }
    }
}

#[cfg(unix)]
fn special_name(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "a named pipe"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_name(_file_type: std::fs::FileType) -> &'static str {
    "a special file"
}

/// A part of the folder that could not be walked (an unreadable subfolder).
#[derive(Debug, Clone)]
pub struct WalkProblem {
    pub path: PathBuf,
    pub message: String,
}

/// Lists the files under `root`, leaving out `exclude` (Quire's own data, when it
/// lives inside an indexed folder).
pub fn walk(root: &Path, exclude: &Path) -> (Vec<FoundFile>, Vec<WalkProblem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for entry in walker(root).build() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let path = error_path(&err).unwrap_or_else(|| root.to_path_buf());
                problems.push(WalkProblem {
                    path,
                    message: err.to_string(),
                });
                continue;
            }
        };
        let Some(kind) = entry.file_type().and_then(EntryKind::of) else {
            continue;
        };
        if entry.path().starts_with(exclude) {
            continue;
        }
        // Not following links, the metadata is the entry's own (a link's, not its target's).
        match entry.metadata() {
            Ok(meta) => files.push(FoundFile {
                path: entry.into_path(),
                stamp: stamp_of(&meta),
                kind,
                identity: FileIdentity::of(&meta),
            }),
            // Vanished between listing and stat: it is simply not there.
            Err(err) if is_not_found(&err) => {}
            Err(err) => problems.push(WalkProblem {
                path: entry.into_path(),
                message: err.to_string(),
            }),
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    (files, problems)
}

/// The walk indexing does, shared with the watcher so that it watches exactly the
/// folders indexing reads: ignore files respected, hidden entries skipped, links not followed.
fn walker(root: &Path) -> ignore::WalkBuilder {
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .hidden(true)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .ignore(true)
        .parents(true)
        .require_git(false)
        .follow_links(false);
    builder
}

/// The directories under `root` (itself included) that indexing walks into, down
/// to `max_depth` below it (`None`: all), leaving out `exclude`. A link to a
/// directory is not one: it is never followed. Unreadable parts are skipped.
pub fn directories(root: &Path, exclude: &Path, max_depth: Option<usize>) -> Vec<PathBuf> {
    walker(root)
        .max_depth(max_depth)
        .build()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_some_and(|t| t.is_dir()))
        .map(ignore::DirEntry::into_path)
        .filter(|path| !path.starts_with(exclude))
        .collect()
}

/// Size and modification time: what tells a changed file from an unchanged one.
pub(crate) fn stamp_of(meta: &std::fs::Metadata) -> FileStamp {
    FileStamp {
        size: meta.len(),
        mtime_ns: meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
    }
}

fn error_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => error_path(err),
        _ => None,
    }
}

fn is_not_found(err: &ignore::Error) -> bool {
    err.io_error()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
}
