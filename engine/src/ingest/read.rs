//! Reading a file the walk listed, safely: opened without following a link and
//! without blocking (a named pipe swapped in would never answer), then checked to
//! be a regular file and the very file the walk saw. A folder on the way that was
//! swapped for a link elsewhere shows up as another file, and is not read.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::walk::{self, EntryKind, FileIdentity};
use crate::error::Error;
use crate::store::catalog::FileStamp;

/// Times a file is read again when it changed while it was being read.
const READ_ATTEMPTS: usize = 3;

/// Why a listed file was not read.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// Gone since it was listed.
    Vanished,
    /// Not a regular file (any more): a link, a pipe, a socket or a device.
    NotRegular(EntryKind),
    /// Another file than the one listed is at the path now (saved anew, or a folder
    /// on its way replaced); the next run reads what is there then.
    Replaced,
    TooLarge(u64),
    Io(std::io::Error),
}

/// Opens `path` for reading as the regular file with `expected` identity (when known).
pub(crate) fn open_regular(path: &Path, expected: Option<FileIdentity>) -> Result<File, ReadFailure> {
    let file = open_no_follow(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => ReadFailure::Vanished,
        _ if is_link_refusal(&err) => ReadFailure::NotRegular(EntryKind::Link),
        _ => ReadFailure::Io(err),
    })?;
    let meta = file.metadata().map_err(ReadFailure::Io)?;
    match EntryKind::of(meta.file_type()) {
        Some(EntryKind::File) => {}
        Some(other) => return Err(ReadFailure::NotRegular(other)),
        None => return Err(ReadFailure::NotRegular(EntryKind::Special("a folder"))),
    }
    if expected.is_some() && FileIdentity::of(&meta) != expected {
        return Err(ReadFailure::Replaced);
    }
    Ok(file)
}

/// The bytes of the regular file a user named at `path` (a link is followed once,
/// here; the walk never follows one), at most `limit`. What keeps it from being read
/// is worded by `unreadable` (summaries and page images say what they could not do).
pub(crate) fn read_regular(
    path: &Path,
    limit: u64,
    unreadable: impl Fn(String) -> Error,
) -> crate::error::Result<Vec<u8>> {
    let real = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let metadata = std::fs::symlink_metadata(&real).map_err(|e| Error::io(path, e))?;
    if metadata.is_dir() {
        return Err(unreadable("it is a folder; give one file at a time".into()));
    }
    let too_large = || {
        unreadable(format!(
            "larger than max_file_bytes ({limit} bytes); raise it in config.toml"
        ))
    };
    if metadata.len() > limit {
        return Err(too_large());
    }
    match read_settled(&real, FileIdentity::of(&metadata), limit) {
        Ok((bytes, _)) => Ok(bytes),
        Err(ReadFailure::TooLarge(_)) => Err(too_large()),
        Err(ReadFailure::NotRegular(kind)) => {
            Err(unreadable(format!("{}, not a regular file", kind.description())))
        }
        Err(ReadFailure::Vanished) | Err(ReadFailure::Replaced) => {
            Err(unreadable("it changed while Quire opened it; try again".into()))
        }
        Err(ReadFailure::Io(e)) => Err(Error::io(path, e)),
    }
}

/// Reads a whole regular file (see [`open_regular`]), refusing to read past `limit`
/// (it may have grown since it was listed), together with the stamp of the content
/// read. A file that changes while it is read (an editor saving in place) is read
/// again; if it never holds still, its stamp is marked unsettled so that the next
/// run reads it once more.
pub(crate) fn read_settled(
    path: &Path,
    expected: Option<FileIdentity>,
    limit: u64,
) -> Result<(Vec<u8>, FileStamp), ReadFailure> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut file = open_regular(path, expected)?;
        let before = walk::stamp_of(&file.metadata().map_err(ReadFailure::Io)?);
        let mut bytes = Vec::new();
        (&mut file)
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(ReadFailure::Io)?;
        if bytes.len() as u64 > limit {
            return Err(ReadFailure::TooLarge(bytes.len() as u64));
        }
        let after = walk::stamp_of(&file.metadata().map_err(ReadFailure::Io)?);
        if before == after && after.size == bytes.len() as u64 {
            return Ok((bytes, after));
        }
        if attempt == READ_ATTEMPTS {
            tracing::debug!("{} kept changing while it was read", path.display());
            return Ok((bytes, FileStamp::unsettled(after.size)));
        }
    }
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(unix)]
fn is_link_refusal(err: &std::io::Error) -> bool {
    // O_NOFOLLOW on a link: ELOOP on Linux and macOS, EMLINK on the BSDs.
    matches!(err.raw_os_error(), Some(libc::ELOOP) | Some(libc::EMLINK))
}

#[cfg(windows)]
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    /// FILE_FLAG_OPEN_REPARSE_POINT: open a link (or junction) itself, not what it points to;
    /// its metadata then says it is a link and it is refused.
    const OPEN_REPARSE_POINT: u32 = 0x0020_0000;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OPEN_REPARSE_POINT)
        .open(path)
}

#[cfg(windows)]
fn is_link_refusal(_err: &std::io::Error) -> bool {
    false
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn links_pipes_and_swapped_files_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("notes.txt");
        let outside = dir.path().join("secret.txt");
        std::fs::write(&inside, "garden notes").unwrap();
        std::fs::write(&outside, "the secret").unwrap();
        let identity = FileIdentity::of(&std::fs::symlink_metadata(&inside).unwrap());
        let (bytes, stamp) = read_settled(&inside, identity, 1 << 20).unwrap();
        assert_eq!(bytes, b"garden notes");
        assert_eq!(stamp.size, 12);
        // A second name keeps the listed file's inode from being reused by the files below.
        std::fs::hard_link(&inside, dir.path().join("listed.txt")).unwrap();

        // Swapped for a link to a file elsewhere after it was listed.
        std::fs::remove_file(&inside).unwrap();
        std::os::unix::fs::symlink(&outside, &inside).unwrap();
        assert!(matches!(
            read_settled(&inside, identity, 1 << 20),
            Err(ReadFailure::NotRegular(EntryKind::Link))
        ));
        // Swapped for another regular file.
        std::fs::remove_file(&inside).unwrap();
        std::fs::write(&inside, "other notes").unwrap();
        assert!(matches!(
            read_settled(&inside, identity, 1 << 20),
            Err(ReadFailure::Replaced)
        ));
        // A named pipe with no writer: refused at once, not waited on.
        let pipe = dir.path().join("pipe.txt");
        let status = std::process::Command::new("mkfifo").arg(&pipe).status().unwrap();
        assert!(status.success());
        assert!(matches!(
            read_settled(&pipe, None, 1 << 20),
            Err(ReadFailure::NotRegular(EntryKind::Special("a named pipe")))
        ));
        assert!(matches!(
            read_settled(&dir.path().join("gone.txt"), None, 1),
            Err(ReadFailure::Vanished)
        ));
    }
}
