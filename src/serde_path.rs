//! Paths in JSON output: as text, with bytes that are not UTF-8 replaced, so a
//! strange file name never makes serialization fail.

use std::path::Path;

use serde::Serializer;

pub fn lossy<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}
