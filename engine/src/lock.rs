//! One indexer per data directory: an exclusive lock on a file in it, held for
//! as long as a run writes. A second run fails at once instead of waiting.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::error::{Error, Result};

pub struct IndexLock {
    file: File,
}

impl IndexLock {
    pub fn acquire(path: &Path, data_dir: &Path) -> Result<IndexLock> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Error::Busy {
                    data_dir: data_dir.to_path_buf(),
                    pid: holder.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(path, e)),
        }
        // Who holds it, for the message another process shows.
        file.set_len(0).map_err(|e| Error::io(path, e))?;
        file.rewind().map_err(|e| Error::io(path, e))?;
        write!(file, "{}", std::process::id()).map_err(|e| Error::io(path, e))?;
        file.flush().map_err(|e| Error::io(path, e))?;
        Ok(IndexLock { file })
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}
