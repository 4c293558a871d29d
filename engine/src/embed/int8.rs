//! Int8 (Q8_0) copies of embedding models, which llama.cpp runs faster than their
//! F32 or F16 originals (its int8 matrix kernels use VNNI and AMX where present).
//!
//! A GGUF model is quantised by llama.cpp's own quantiser. A BERT folder
//! (safetensors) is first written out as an F32 GGUF file of llama.cpp's `bert`
//! architecture (its tensors renamed, its WordPiece vocabulary spelt as llama.cpp
//! spells it), then quantised the same way.
//!
//! The copy is made the first time it is needed, written under a temporary name and
//! renamed when whole (an interrupted run leaves nothing that looks finished), beside
//! the original, or in the cache folder when that one cannot be written to. Beside it,
//! `<copy>.source` records the hash of the original's content: a copy whose original
//! has changed since is made again. A file of the copy's name without that record is
//! not Quire's (a Q8_0 file the user downloaded): it is never replaced, and the copy
//! goes to the cache folder instead.

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device};

use super::bert::{BertEncoder, Pooling};
use super::source_record;
use crate::error::{Error, Result};

/// llama.cpp's `LLAMA_FTYPE_MOSTLY_Q8_0`, also GGUF's `general.file_type` for Q8_0.
const FILE_TYPE_Q8_0: u32 = 7;

/// GGUF file types of unquantised weights: F32, F16, BF16.
const UNQUANTISED: [u32; 3] = [0, 1, 32];

/// The int8 copy of the model at `model` (a GGUF file or a BERT folder), made now if
/// there is none for its current content. A GGUF file already quantised (Q8_0, or
/// smaller) is run as it is.
pub(super) fn int8_copy(model: &Path) -> Result<PathBuf> {
    let problem = |message: String| Error::Model {
        path: model.to_path_buf(),
        message,
    };
    let is_folder = model.is_dir();
    if !is_folder && gguf_file_type(model)?.is_some_and(|t| !UNQUANTISED.contains(&t)) {
        return Ok(model.to_path_buf());
    }
    let hash = content_hash(model, is_folder)?;
    let name = format!("{}.q8_0.gguf", base_name(model, is_folder));
    let mut places = Vec::new();
    if let Some(dir) = model.parent() {
        places.push(dir.to_path_buf());
    }
    if let Some(dirs) = directories::ProjectDirs::from("", "", "Quire") {
        places.push(dirs.cache_dir().join("models"));
    }
    for dir in &places {
        let copy = dir.join(&name);
        let recorded = std::fs::read_to_string(source_record(&copy));
        if copy.is_file() && recorded.is_ok_and(|recorded| recorded.trim() == hash) {
            return Ok(copy);
        }
    }
    let mut last_error = String::from("no folder to write it to");
    for dir in &places {
        match make_copy(model, is_folder, dir, &name, &hash) {
            Ok(copy) => return Ok(copy),
            Err(message) => {
                tracing::debug!("could not write the int8 copy in {}: {message}", dir.display());
                last_error = message;
            }
        }
    }
    Err(problem(format!(
        "could not make its int8 (Q8_0) copy: {last_error}"
    )))
}

/// The file type a GGUF file declares (`general.file_type`), if any.
fn gguf_file_type(path: &Path) -> Result<Option<u32>> {
    let problem = |message: String| Error::Model {
        path: path.to_path_buf(),
        message,
    };
    let header = crate::llm::read_gguf(path, problem)?;
    Ok(header
        .number("general.file_type")
        .and_then(|n| u32::try_from(n).ok()))
}

/// The name of the copy without its precision: "model.f16.gguf" → "model";
/// a folder keeps its name.
fn base_name(model: &Path, is_folder: bool) -> String {
    let name = if is_folder {
        model.file_name()
    } else {
        model.file_stem()
    }
    .map(|s| s.to_string_lossy().into_owned())
    .unwrap_or_default();
    if is_folder {
        return name;
    }
    name.rsplit_once('.')
        .filter(|(_, precision)| is_precision_name(precision))
        .map_or(name.clone(), |(base, _)| base.to_string())
}

fn is_precision_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["f32", "f16", "bf16"].contains(&name.as_str())
        || (name.starts_with('q') && name[1..].starts_with(|c: char| c.is_ascii_digit()))
}

/// The BLAKE3 hash, in hex, of a file, or of the files of a model folder that
/// make the model.
fn content_hash(model: &Path, is_folder: bool) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    let files: Vec<PathBuf> = if is_folder {
        [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "1_Pooling/config.json",
        ]
        .iter()
        .map(|file| model.join(file))
        .filter(|path| path.is_file())
        .collect()
    } else {
        vec![model.to_path_buf()]
    };
    for path in files {
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        hasher.update_reader(file).map_err(|e| Error::io(&path, e))?;
    }
    Ok(hasher.finalize().to_hex().to_string())
}

fn make_copy(
    model: &Path,
    is_folder: bool,
    dir: &Path,
    name: &str,
    hash: &str,
) -> std::result::Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let copy = dir.join(name);
    // `exists` also finds the name in another case where names ignore case (macOS, Windows).
    if copy.exists() && !source_record(&copy).is_file() {
        return Err(format!(
            "{} is there and is not a copy Quire made; it is left as it is",
            copy.display()
        ));
    }
    let partial = dir.join(format!("{name}.partial"));
    tracing::info!(
        "making the int8 (Q8_0) copy of {} in {}",
        model.display(),
        dir.display()
    );
    let quantized = if is_folder {
        let full = dir.join(format!("{name}.f32.partial"));
        let written = write_bert_gguf(model, &full).and_then(|()| quantize(&full, &partial));
        let _ = std::fs::remove_file(&full);
        written
    } else {
        quantize(model, &partial)
    };
    if let Err(message) = quantized {
        let _ = std::fs::remove_file(&partial);
        return Err(message);
    }
    std::fs::rename(&partial, &copy).map_err(|e| e.to_string())?;
    std::fs::write(source_record(&copy), format!("{hash}\n")).map_err(|e| e.to_string())?;
    Ok(copy)
}

/// Quantises the GGUF file `from` to Q8_0 into `to` with llama.cpp's quantiser.
fn quantize(from: &Path, to: &Path) -> std::result::Result<(), String> {
    let c_path = |path: &Path| {
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| "a path holds a NUL byte".to_string())
    };
    let (from, to) = (c_path(from)?, c_path(to)?);
    crate::llm::llama::backend().map_err(|e| e.to_string())?;
    // SAFETY: plain C calls; both paths are NUL-terminated and outlive the call.
    let status = unsafe {
        let mut params = llama_cpp_sys_2::llama_model_quantize_default_params();
        params.ftype = FILE_TYPE_Q8_0 as llama_cpp_sys_2::llama_ftype;
        params.nthread = i32::try_from(crate::llm::compute_threads()).unwrap_or(1);
        llama_cpp_sys_2::llama_model_quantize(from.as_ptr(), to.as_ptr(), &params)
    };
    if status != 0 {
        return Err(format!(
            "llama.cpp's quantiser failed (status {status}); QUIRE_LOG=llama-cpp-2=info shows why"
        ));
    }
    Ok(())
}

/// Writes the BERT model in the folder `dir` as an F32 GGUF file of llama.cpp's `bert`
/// architecture: the metadata llama.cpp reads for it, the vocabulary, and the tensors
/// under llama.cpp's names (the pooler, which sentence embeddings do not use, left out).
fn write_bert_gguf(dir: &Path, out: &Path) -> std::result::Result<(), String> {
    let encoder = BertEncoder::open(dir).map_err(|e| e.to_string())?;
    let (config, pooling, tokenizer, weights) = encoder.layout();
    if encoder.architecture() != "bert" {
        return Err(format!(
            "only BERT models convert to llama.cpp's format, this one is `{}`",
            encoder.architecture()
        ));
    }
    if !matches!(
        config.hidden_act,
        candle_transformers::models::bert::HiddenAct::Gelu
    ) {
        return Err("only BERT models with GELU convert to llama.cpp's format".into());
    }
    let (tokens, token_types) = vocabulary(tokenizer)?;
    let special = |token: &str| tokenizer.token_to_id(token).map(Value::U32);

    let architecture = "bert";
    let key = |name: &str| format!("{architecture}.{name}");
    let mut metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(architecture.into())),
        ("general.name".into(), Value::String(base_name(dir, true))),
        ("general.file_type".into(), Value::U32(0)),
        (
            key("context_length"),
            Value::U32(config.max_position_embeddings as u32),
        ),
        (key("embedding_length"), Value::U32(config.hidden_size as u32)),
        (
            key("feed_forward_length"),
            Value::U32(config.intermediate_size as u32),
        ),
        (key("block_count"), Value::U32(config.num_hidden_layers as u32)),
        (
            key("attention.head_count"),
            Value::U32(config.num_attention_heads as u32),
        ),
        (
            key("attention.layer_norm_epsilon"),
            Value::F32(config.layer_norm_eps as f32),
        ),
        (key("attention.causal"), Value::Bool(false)),
        (
            key("pooling_type"),
            Value::U32(match pooling {
                Pooling::Mean => 1,
                Pooling::Cls => 2,
            }),
        ),
        ("tokenizer.ggml.model".into(), Value::String("bert".into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(token_types)),
        (
            "tokenizer.ggml.token_type_count".into(),
            Value::U32(config.type_vocab_size as u32),
        ),
    ];
    for (name, token) in [
        ("bos_token_id", "[CLS]"),
        ("eos_token_id", "[SEP]"),
        ("seperator_token_id", "[SEP]"),
        ("unknown_token_id", "[UNK]"),
        ("padding_token_id", "[PAD]"),
        ("mask_token_id", "[MASK]"),
    ] {
        if let Some(id) = special(token) {
            metadata.push((format!("tokenizer.ggml.{name}"), id));
        }
    }

    let bytes = std::fs::read(weights).map_err(|e| format!("{}: {e}", weights.display()))?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| e.to_string())?;
    drop(bytes);
    let mut renamed: Vec<(String, QTensor)> = Vec::new();
    for (name, tensor) in &tensors {
        let Some(gguf_name) = gguf_tensor_name(name) else {
            continue;
        };
        let tensor = tensor.to_dtype(DType::F32).map_err(|e| e.to_string())?;
        let tensor = QTensor::quantize(&tensor, GgmlDType::F32).map_err(|e| e.to_string())?;
        renamed.push((gguf_name, tensor));
    }
    renamed.sort_by(|a, b| a.0.cmp(&b.0));
    if !renamed.iter().any(|(name, _)| name == "token_embd.weight") {
        return Err("model.safetensors holds no word embeddings".into());
    }
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(&str, &QTensor)> = renamed.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).map_err(|e| e.to_string())?);
    candle_core::quantized::gguf_file::write(&mut file, &metadata, &tensors).map_err(|e| e.to_string())?;
    use std::io::Write;
    file.flush().map_err(|e| e.to_string())
}

/// The vocabulary as llama.cpp's BERT tokenizer wants it: in id order, a word's first
/// piece with U+2581 before it, a continuation piece without its "##", special tokens
/// ("[CLS]") as they are and marked as control tokens (type 3; others 1).
fn vocabulary(tokenizer: &tokenizers::Tokenizer) -> std::result::Result<(Vec<Value>, Vec<Value>), String> {
    let vocabulary = tokenizer.get_vocab(true);
    let mut by_id: Vec<Option<&str>> = vec![None; vocabulary.len()];
    for (token, &id) in &vocabulary {
        let slot = by_id.get_mut(id as usize).ok_or_else(|| {
            format!(
                "tokenizer.json: token id {id} is beyond its {} tokens",
                vocabulary.len()
            )
        })?;
        *slot = Some(token);
    }
    let special: std::collections::HashSet<u32> = tokenizer
        .get_added_tokens_decoder()
        .into_iter()
        .filter(|(_, token)| token.special)
        .map(|(id, _)| id)
        .collect();
    let mut tokens = Vec::with_capacity(by_id.len());
    let mut types = Vec::with_capacity(by_id.len());
    for (id, token) in by_id.into_iter().enumerate() {
        let token = token.ok_or_else(|| format!("tokenizer.json: no token has id {id}"))?;
        let is_special = special.contains(&(id as u32)) || (token.starts_with('[') && token.ends_with(']'));
        let spelt = if is_special {
            token.to_string()
        } else if let Some(rest) = token.strip_prefix("##") {
            rest.to_string()
        } else {
            format!("\u{2581}{token}")
        };
        tokens.push(Value::String(spelt));
        types.push(Value::I32(if is_special { 3 } else { 1 }));
    }
    Ok((tokens, types))
}

/// llama.cpp's name for a tensor of a Hugging Face BERT checkpoint (with or without
/// the `bert.` prefix); `None` for what sentence embeddings do not use.
fn gguf_tensor_name(name: &str) -> Option<String> {
    let name = name.strip_prefix("bert.").unwrap_or(name);
    let (stem, kind) = name.rsplit_once('.')?;
    if !matches!(kind, "weight" | "bias") {
        return None;
    }
    let mapped = match stem {
        "embeddings.word_embeddings" => "token_embd".to_string(),
        "embeddings.position_embeddings" => "position_embd".to_string(),
        "embeddings.token_type_embeddings" => "token_types".to_string(),
        "embeddings.LayerNorm" => "token_embd_norm".to_string(),
        _ => {
            let rest = stem.strip_prefix("encoder.layer.")?;
            let (layer, part) = rest.split_once('.')?;
            let layer: usize = layer.parse().ok()?;
            let part = match part {
                "attention.self.query" => "attn_q",
                "attention.self.key" => "attn_k",
                "attention.self.value" => "attn_v",
                "attention.output.dense" => "attn_output",
                "attention.output.LayerNorm" => "attn_output_norm",
                "intermediate.dense" => "ffn_up",
                "output.dense" => "ffn_down",
                "output.LayerNorm" => "layer_output_norm",
                _ => return None,
            };
            format!("blk.{layer}.{part}")
        }
    };
    Some(format!("{mapped}.{kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_the_copys_name_that_quire_did_not_make_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("model.q8_0.gguf");
        std::fs::write(&theirs, b"the user's own download").unwrap();
        let original = dir.path().join("model.f16.gguf");
        std::fs::write(&original, b"GGUF").unwrap();
        let refused = make_copy(&original, false, dir.path(), "model.q8_0.gguf", "hash").unwrap_err();
        assert!(refused.contains("not a copy Quire made"), "{refused}");
        assert_eq!(std::fs::read(&theirs).unwrap(), b"the user's own download");
        assert!(!source_record(&theirs).exists());
    }

    #[test]
    fn copies_are_named_after_the_model_without_its_precision() {
        assert_eq!(
            base_name(Path::new("/m/nomic-embed-text-v1.5.f16.gguf"), false),
            "nomic-embed-text-v1.5"
        );
        assert_eq!(base_name(Path::new("/m/model.Q4_K_M.gguf"), false), "model");
        assert_eq!(
            base_name(Path::new("/m/nomic-embed-text-v1.5.gguf"), false),
            "nomic-embed-text-v1.5"
        );
        assert_eq!(
            base_name(Path::new("/m/all-MiniLM-L6-v2"), true),
            "all-MiniLM-L6-v2"
        );
    }

    #[test]
    fn bert_tensors_get_llama_cpp_names() {
        assert_eq!(
            gguf_tensor_name("encoder.layer.5.attention.self.query.bias").as_deref(),
            Some("blk.5.attn_q.bias")
        );
        assert_eq!(
            gguf_tensor_name("bert.embeddings.LayerNorm.weight").as_deref(),
            Some("token_embd_norm.weight")
        );
        assert_eq!(gguf_tensor_name("pooler.dense.weight"), None);
    }
}
