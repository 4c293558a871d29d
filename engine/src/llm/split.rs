//! Models split into parts by llama.cpp's `gguf-split`: `<name>-00001-of-00003.gguf` holds the
//! metadata (`split.count` parts in all) and some of the tensors, each later part the rest.
//! llama.cpp and mistralrs load a split model from its first part, and find the others beside
//! it by that naming; Quire sizes it (memory, GPU layers) and counts its weights over all parts.

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Content;

/// The file name a part has: llama.cpp's `llama_split_path` (`%s-%05d-of-%05d.gguf`).
fn part_name(stem: &str, number: u64, count: u64) -> String {
    format!("{stem}-{number:05}-of-{count:05}.gguf")
}

/// The number of a part and how many there are, from its file name alone
/// (`qwen-00002-of-00003.gguf` → (2, 3)); None for a file that is not named as a part.
fn numbered(path: &Path) -> Option<(&str, u64, u64)> {
    // Lower-case `.gguf`, as llama.cpp spells the names it looks for.
    let stem = path.file_name()?.to_str()?.strip_suffix(".gguf")?;
    let (rest, count) = stem.rsplit_once("-of-")?;
    let (stem, number) = rest.rsplit_once('-')?;
    let all_digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(number) || !all_digits(count) {
        return None;
    }
    Some((stem, number.parse().ok()?, count.parse().ok()?))
}

/// Whether `path` is named as the second or a later part of a split model: not a model to
/// offer on its own (loading starts from the first part). The name is read in any case:
/// llama.cpp finds only lower-case parts, but one spelt `.GGUF` is no model of its own either.
pub fn is_later_part(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    numbered(Path::new(&name.to_ascii_lowercase()))
        .is_some_and(|(_, number, count)| number > 1 && number <= count)
}

/// Every file of the model whose first file is `path` and whose header is `content`: `path`
/// alone for a whole model; for a split one, its parts in order. Err (what is wrong, for
/// the user) when `path` is a later part, or when a part is missing.
pub(crate) fn parts(path: &Path, content: &Content) -> Result<Vec<PathBuf>, String> {
    let number = |key: &str| super::metadata_number(content, key);
    let count = number("split.count").unwrap_or(1);
    if count <= 1 {
        return Ok(vec![path.to_path_buf()]);
    }
    let index = number("split.no").unwrap_or(0);
    let named = numbered(path).filter(|(_, _, named_count)| *named_count == count);
    if index > 0 {
        let first = named.map_or_else(
            || format!("part 1 of {count}"),
            |(stem, _, _)| part_name(stem, 1, count),
        );
        return Err(format!(
            "is part {} of {count} of a split model; choose its first part, {first}",
            index + 1
        ));
    }
    let Some((stem, 1, _)) = named else {
        return Err(format!(
            "is the first of {count} parts of a split model, but is not named \
             <name>-00001-of-{count:05}.gguf, so its other parts cannot be found"
        ));
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    let parts: Vec<PathBuf> = (1..=count).map(|n| dir.join(part_name(stem, n, count))).collect();
    if let Some(missing) = parts.iter().find(|part| !part.is_file()) {
        let name = missing
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        return Err(format!(
            "is split into {count} parts, and {name} is not beside it"
        ));
    }
    Ok(parts)
}

/// Checks that `part`, read as `content`, says it is part `number` of `count`: llama.cpp
/// would refuse a set mixed from two splits only when loading, in words of its own log.
pub(crate) fn check_part(part: &Path, number: usize, count: usize, content: &Content) -> Result<(), String> {
    let index = super::metadata_number(content, "split.no");
    let parts = super::metadata_number(content, "split.count");
    if index.map(|i| i + 1) == Some(number as u64) && parts == Some(count as u64) {
        return Ok(());
    }
    let name = part.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let says = match (index, parts) {
        (Some(index), Some(parts)) => format!("part {} of {parts}", index + 1),
        _ => "no part of a split model".into(),
    };
    Err(format!(
        "{name} does not belong with it: its header says {says}, where part {number} of {count} is wanted"
    ))
}

/// The model's name from its file: the file name without `.gguf`, and for a part without
/// `-00001-of-00003` too.
pub(crate) fn model_stem(path: &Path) -> String {
    match numbered(path) {
        Some((stem, _, _)) => stem.to_string(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_told_from_their_names() {
        let later = Path::new("/m/qwen2.5-7b-instruct-q4_k_m-00002-of-00003.gguf");
        assert!(is_later_part(later));
        assert_eq!(numbered(later), Some(("qwen2.5-7b-instruct-q4_k_m", 2, 3)));
        assert!(!is_later_part(Path::new("/m/qwen-00001-of-00003.gguf")));
        assert!(!is_later_part(Path::new("/m/qwen2.5-1.5b-q4_k_m.gguf")));
        assert!(!is_later_part(Path::new("/m/model-2-of-3.gguf")));
        assert!(is_later_part(Path::new("/m/MODEL-00003-of-00003.gguf")));
        assert!(is_later_part(Path::new("/m/MODEL-00003-of-00003.GGUF")));
        assert!(!is_later_part(Path::new("/m/MODEL-00001-of-00003.GGUF")));
        assert!(!is_later_part(Path::new("/m/gguf")));
        assert_eq!(model_stem(later), "qwen2.5-7b-instruct-q4_k_m");
        assert_eq!(
            model_stem(Path::new("/m/qwen2.5-1.5b-q4_k_m.gguf")),
            "qwen2.5-1.5b-q4_k_m"
        );
    }
}
