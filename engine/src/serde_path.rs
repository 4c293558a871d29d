//! Paths in JSON output: as text, with bytes that are not UTF-8 replaced, so a
//! strange file name never makes serialization fail.

use std::path::Path;

use serde::Serializer;

pub fn lossy<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

pub fn lossy_list<S: Serializer>(paths: &[std::path::PathBuf], serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(paths.len()))?;
    for path in paths {
        seq.serialize_element(&path.to_string_lossy())?;
    }
    seq.end()
}
