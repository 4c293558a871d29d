//! Finding the files of a folder: .gitignore / .ignore rules are respected,
//! hidden files and folders are skipped, symbolic links are not followed.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::store::catalog::FileStamp;

#[derive(Debug, Clone)]
pub struct FoundFile {
    pub path: PathBuf,
    pub stamp: FileStamp,
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
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .ignore(true)
        .parents(true)
        .require_git(false)
        .follow_links(false)
        .build();
    for entry in walker {
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
        if !entry.file_type().is_some_and(|t| t.is_file()) || entry.path().starts_with(exclude) {
            continue;
        }
        match entry.metadata() {
            Ok(meta) => files.push(FoundFile {
                path: entry.into_path(),
                stamp: stamp_of(&meta),
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
