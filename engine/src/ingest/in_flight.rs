//! Which files are inside an extraction helper right now: one small file per
//! indexing worker in `<data dir>/extracting/`, written before a file goes to the
//! worker's helper and emptied when its answer is back. A non-empty one found when a
//! run starts (under the index lock, so no other run is writing them) names a file
//! that was being read when Quire stopped: the run records that in the catalog, and
//! a file Quire stopped on twice is not read again until it changes (a file cannot
//! take Quire down through its helper, but a machine short of memory, or a person
//! who kills a stalled Quire, can stop it while the same file is read, again and again).

use std::path::{Path, PathBuf};

use crate::store::catalog::{path_bytes, path_from_bytes};

/// One worker's record of the file its helper holds.
pub(crate) struct InFlight {
    record: PathBuf,
}

impl InFlight {
    pub fn slot(dir: &Path, worker: usize) -> InFlight {
        InFlight {
            record: dir.join(format!("worker-{worker}")),
        }
    }

    /// Notes that `file`, whose content has `hash`, is going to a helper. Not synced to
    /// disk: what a power cut loses is only a file nobody will blame.
    pub fn begin(&self, file: &Path, hash: &str) {
        let mut record = Vec::with_capacity(hash.len() + 256);
        record.extend_from_slice(hash.as_bytes());
        record.push(b'\n');
        record.extend_from_slice(&path_bytes(file));
        if let Err(e) = std::fs::write(&self.record, record) {
            tracing::debug!(
                "cannot note the file being extracted in {}: {e}",
                self.record.display()
            );
        }
    }

    /// Notes that the helper answered (or was stopped).
    pub fn end(&self) {
        let _ = std::fs::write(&self.record, b"");
    }
}

/// The files (path, hash) the records in `dir` name: those being read when the run
/// that wrote them stopped.
pub(crate) fn left_over(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let record = std::fs::read(entry.path()).ok()?;
            let split = record.iter().position(|&b| b == b'\n')?;
            let hash = std::str::from_utf8(&record[..split]).ok()?.to_string();
            let path = path_from_bytes(record[split + 1..].to_vec());
            (!hash.is_empty() && !path.as_os_str().is_empty()).then_some((path, hash))
        })
        .collect()
}

/// Empties `dir` of records (after they were taken into the catalog) and makes sure it exists.
pub(crate) fn reset(dir: &Path) -> std::io::Result<()> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_left_behind_names_the_file_and_an_ended_one_nothing() {
        let dir = tempfile::tempdir().unwrap();
        reset(dir.path()).unwrap();
        let first = InFlight::slot(dir.path(), 0);
        let second = InFlight::slot(dir.path(), 1);
        first.begin(Path::new("/library/a.pdf"), "abc123");
        second.begin(Path::new("/library/b\nc.txt"), "def456");
        first.end();
        assert_eq!(
            left_over(dir.path()),
            vec![(PathBuf::from("/library/b\nc.txt"), "def456".to_string())]
        );
        reset(dir.path()).unwrap();
        assert!(left_over(dir.path()).is_empty());
    }
}
