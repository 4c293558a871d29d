//! The on-device generator: what every backend shares (messages, cancellation,
//! timings, reading a GGUF header, the loop guard). The mistralrs backend lives in
//! `mistral.rs`, behind the default `generation` feature. Nothing here can reach a
//! network: models are files on disk.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[cfg(feature = "generation")]
mod mistral;
#[cfg(feature = "generation")]
mod repeat;
#[cfg(feature = "generation")]
pub use mistral::Generator;

/// Architectures mistralrs 0.8 runs from GGUF (`general.architecture`).
const SUPPORTED_ARCHITECTURES: &[&str] = &[
    "llama",
    "mistral",
    "phi2",
    "phi3",
    "starcoder2",
    "qwen2",
    "qwen3",
    "qwen3moe",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
        }
    }
}

/// Stops a generation from another task or thread (a closed window, Ctrl-C).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Timings of one generation, as the user feels them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// From the request to the first streamed text.
    pub time_to_first_token: Duration,
    pub total: Duration,
    pub prompt_tokens_per_sec: f64,
    pub generated_tokens_per_sec: f64,
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    pub stats: GenerationStats,
    /// The model stopped because it reached `max_tokens`, not because it was done.
    pub truncated: bool,
}

/// What a GGUF file says about itself, read without loading its weights.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub path: PathBuf,
    pub name: String,
    pub architecture: String,
    /// The context length the model was trained for.
    pub trained_context: Option<usize>,
}

/// Reads a GGUF file's header and metadata; a file that is not GGUF or holds an
/// architecture mistralrs cannot run is a clear error, before any loading.
pub fn inspect(path: &Path) -> Result<ModelInfo> {
    let fail = |message: String| Error::Generator {
        path: path.to_path_buf(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => fail("no such file".into()),
        _ => Error::io(path, e),
    })?;
    if path.is_dir() {
        return Err(fail("is a folder; point at the .gguf file inside it".into()));
    }
    let mut magic = [0u8; 4];
    use std::io::Read;
    if file.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
        return Err(fail(
            "not a GGUF model file (it does not start with the GGUF signature)".into(),
        ));
    }
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    let content = candle_core::quantized::gguf_file::Content::read(&mut file)
        .map_err(|e| fail(format!("damaged GGUF file: {e}")))?;
    let text = |key: &str| {
        content
            .metadata
            .get(key)
            .and_then(|v| v.to_string().ok())
            .cloned()
    };
    let architecture =
        text("general.architecture").ok_or_else(|| fail("the file names no architecture".into()))?;
    if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
        return Err(fail(format!(
            "architecture `{architecture}` cannot run here; supported: {}",
            SUPPORTED_ARCHITECTURES.join(", ")
        )));
    }
    if !content.metadata.contains_key("tokenizer.chat_template") {
        return Err(fail(
            "the file carries no chat template (tokenizer.chat_template)".into(),
        ));
    }
    let trained_context = content
        .metadata
        .get(&format!("{architecture}.context_length"))
        .and_then(|v| v.to_u64().ok().or_else(|| v.to_u32().ok().map(u64::from)))
        .map(|n| n as usize);
    let name = text("general.name").unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    Ok(ModelInfo {
        path: path.to_path_buf(),
        name,
        architecture,
        trained_context,
    })
}

/// Sets how many threads model and embedding kernels use, for the whole process.
/// candle and mistralrs read RAYON_NUM_THREADS when their pools start, so this
/// must run before the first model is loaded; later calls change nothing.
pub fn set_compute_threads(threads: usize) {
    if threads == 0 {
        return;
    }
    // SAFETY (of intent): called at start-up, before any other thread reads the environment.
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_gguf_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.gguf");
        std::fs::write(&path, b"PK\x03\x04 this is a zip archive").unwrap();
        let message = inspect(&path).unwrap_err().to_string();
        assert!(message.contains("not a GGUF model file"), "{message}");
        let missing = inspect(&dir.path().join("absent.gguf")).unwrap_err().to_string();
        assert!(missing.contains("no such file"), "{missing}");
    }

    #[test]
    fn a_truncated_gguf_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.gguf");
        std::fs::write(&path, b"GGUF\x03\x00\x00\x00\xff").unwrap();
        let message = inspect(&path).unwrap_err().to_string();
        assert!(message.contains("damaged GGUF file"), "{message}");
    }
}
