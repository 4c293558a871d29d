//! The on-device generator: a local GGUF chat model run by mistralrs, its chat
//! template taken from the file. Nothing here can reach a network: the model is
//! addressed by its folder on disk, no hub id and no token are ever passed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mistralrs::{GgufModelBuilder, RequestBuilder, Response, TextMessageRole, TokenSource};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

pub struct Generator {
    model: mistralrs::Model,
    info: ModelInfo,
    context_tokens: usize,
}

impl Generator {
    /// Loads the GGUF chat model at `path`; `context_tokens` caps the working
    /// context (prompt + answer) below what the model was trained for.
    pub async fn load(path: &Path, context_tokens: usize) -> Result<Generator> {
        let info = inspect(path)?;
        let fail = |message: String| Error::Generator {
            path: path.to_path_buf(),
            message,
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let dir = std::path::absolute(&dir).map_err(|e| Error::io(&dir, e))?;
        let file = path
            .file_name()
            .ok_or_else(|| fail("not a file name".into()))?
            .to_string_lossy()
            .into_owned();
        let builder = GgufModelBuilder::new(dir.to_string_lossy(), vec![file])
            .with_token_source(TokenSource::None)
            // One conversation at a time on a desktop; a few finished prompts are kept
            // so that a follow-up question reuses their KV cache.
            .with_max_num_seqs(1)
            .with_prefix_cache_n(Some(4));
        #[cfg(not(any(feature = "cuda", feature = "metal")))]
        let builder = builder.with_force_cpu();
        // mistralrs panics on some malformed files; a panic is a load error, not a crash.
        let model = tokio::spawn(builder.build())
            .await
            .map_err(|e| fail(format!("the model could not be loaded: {e}")))?
            .map_err(|e| fail(format!("the model could not be loaded: {e:#}")))?;
        let trained = model
            .max_sequence_length()
            .ok()
            .flatten()
            .or(info.trained_context)
            .unwrap_or(2048);
        Ok(Generator {
            model,
            info,
            context_tokens: context_tokens.min(trained).max(256),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Tokens the prompt and the answer may use together.
    pub fn context_tokens(&self) -> usize {
        self.context_tokens
    }

    /// Tokens of `messages` laid out by the model's chat template, ready for the answer.
    pub async fn count_prompt_tokens(&self, messages: &[ChatMessage]) -> Result<usize> {
        let ids = self
            .model
            .tokenize(
                either::Either::Left(text_messages(messages)),
                None,
                true,
                true,
                None,
            )
            .await
            .map_err(|e| self.error(format!("tokenizing failed: {e}")))?;
        Ok(ids.len())
    }

    /// Tokens of a piece of text alone.
    pub async fn count_tokens(&self, text: &str) -> Result<usize> {
        let ids = self
            .model
            .tokenize(either::Either::Right(text.to_string()), None, false, false, None)
            .await
            .map_err(|e| self.error(format!("tokenizing failed: {e}")))?;
        Ok(ids.len())
    }

    /// Generates a reply to `messages`, greedily (the same question gets the same
    /// answer), calling `on_text` with each piece as soon as it exists.
    pub async fn generate(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
        cancel: &Cancel,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Generation> {
        let request = RequestBuilder::from(text_messages(messages))
            .set_deterministic_sampler()
            .set_sampler_max_len(max_tokens)
            // Small models loop under greedy decoding without a little pressure against repeats.
            .set_sampler_frequency_penalty(0.3);
        let started = Instant::now();
        let mut stream = self
            .model
            .stream_chat_request(request)
            .await
            .map_err(|e| self.error(format!("generation could not start: {e}")))?;
        let mut text = String::new();
        let mut first: Option<Duration> = None;
        let mut truncated = false;
        let mut usage = None;
        let mut pieces = 0usize;
        let mut guard = RepeatGuard::default();
        'stream: while let Some(response) = stream.next().await {
            if cancel.is_cancelled() {
                // Dropping the stream makes mistralrs stop this sequence at its next token.
                return Err(Error::Cancelled);
            }
            match response {
                Response::Chunk(chunk) => {
                    for choice in &chunk.choices {
                        if let Some(piece) = choice.delta.content.as_deref().filter(|p| !p.is_empty()) {
                            first.get_or_insert_with(|| started.elapsed());
                            pieces += 1;
                            let (shown, looping) = guard.push(piece);
                            if !shown.is_empty() {
                                text.push_str(&shown);
                                on_text(&shown);
                            }
                            if looping {
                                tracing::debug!("stopped a generation that started repeating itself");
                                break 'stream;
                            }
                        }
                        if choice.finish_reason.as_deref() == Some("length") {
                            truncated = true;
                        }
                    }
                    if chunk.usage.is_some() {
                        usage = chunk.usage;
                        break;
                    }
                }
                Response::Done(done) => {
                    usage = Some(done.usage);
                    break;
                }
                Response::InternalError(e) | Response::ValidationError(e) => {
                    return Err(self.error(format!("generation failed: {e}")));
                }
                Response::ModelError(message, _) => {
                    return Err(self.error(format!("generation failed: {message}")));
                }
                _ => {}
            }
        }
        drop(stream);
        let rest = guard.finish();
        if !rest.is_empty() {
            text.push_str(&rest);
            on_text(&rest);
        }
        let total = started.elapsed();
        let time_to_first_token = first.unwrap_or(total);
        let (prompt_tokens, generated_tokens) = match usage {
            Some(usage) => (usage.prompt_tokens, usage.completion_tokens),
            // Stopped early: mistralrs sent no totals; each streamed piece is one token.
            None => (self.count_prompt_tokens(messages).await?, pieces),
        };
        let gen_secs = (total - time_to_first_token).as_secs_f64();
        let stats = GenerationStats {
            prompt_tokens,
            generated_tokens,
            time_to_first_token,
            total,
            prompt_tokens_per_sec: prompt_tokens as f64 / time_to_first_token.as_secs_f64().max(1e-9),
            // The first token comes with the prompt; the rest are timed from it.
            generated_tokens_per_sec: generated_tokens.saturating_sub(1) as f64 / gen_secs.max(1e-9),
        };
        Ok(Generation {
            text,
            stats,
            truncated,
        })
    }

    fn error(&self, message: String) -> Error {
        Error::Generator {
            path: self.info.path.clone(),
            message,
        }
    }
}

/// Stops a small model's greedy loop: a line that repeats an earlier line word
/// for word ends the generation. While the line being written could still turn
/// out to be such a repeat (it is the start of an earlier line) it is held back,
/// so nothing that is later dropped is ever shown.
#[derive(Default)]
struct RepeatGuard {
    lines: Vec<String>,
    /// The line being written, and how much of it is not shown yet.
    current: String,
    held: String,
    /// Words written so far (lowercase), and the one being written.
    words: Vec<String>,
    word: String,
}

/// A phrase of up to this many words said three times in a row is a loop.
const MAX_LOOP_PHRASE: usize = 12;

/// Lines shorter than this may repeat legitimately ("- Yes", a blank line).
const MIN_REPEATED_LINE: usize = 16;

impl RepeatGuard {
    /// What can be shown of `piece`, and whether the model is looping.
    fn push(&mut self, piece: &str) -> (String, bool) {
        let mut shown = String::new();
        for c in piece.chars() {
            self.current.push(c);
            self.held.push(c);
            if c.is_alphanumeric() {
                self.word.extend(c.to_lowercase());
            } else if !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                if self.phrase_loops() {
                    // Shown up to the loop's start is fine; the rest is dropped.
                    self.held.clear();
                    return (shown, true);
                }
            }
            if c == '\n' {
                let line = self.current.trim().to_string();
                if line.len() >= MIN_REPEATED_LINE && self.lines.contains(&line) {
                    return (shown, true);
                }
                self.lines.push(line);
                self.current.clear();
                shown.push_str(&std::mem::take(&mut self.held));
                continue;
            }
            let partial = self.current.trim_start();
            let may_repeat = !partial.is_empty()
                && self
                    .lines
                    .iter()
                    .any(|l| l.len() >= MIN_REPEATED_LINE && l.starts_with(partial));
            if !may_repeat {
                shown.push_str(&std::mem::take(&mut self.held));
            }
        }
        (shown, false)
    }

    /// Whether the last words are one phrase said three times running ("at a desk at a desk at a desk").
    fn phrase_loops(&self) -> bool {
        let words = &self.words;
        (2..=MAX_LOOP_PHRASE).any(|n| {
            words.len() >= 3 * n && {
                let end = words.len();
                let last = &words[end - n..];
                last == &words[end - 2 * n..end - n] && last == &words[end - 3 * n..end - 2 * n]
            }
        })
    }

    /// The held-back end of the last line when the model stops on its own.
    fn finish(&mut self) -> String {
        let line = self.current.trim();
        if line.len() >= MIN_REPEATED_LINE && self.lines.iter().any(|l| l == line) {
            // The last line repeats an earlier one and simply lacks its line break.
            self.held.clear();
        }
        std::mem::take(&mut self.held)
    }
}

fn text_messages(messages: &[ChatMessage]) -> mistralrs::TextMessages {
    messages
        .iter()
        .fold(mistralrs::TextMessages::new(), |acc, message| {
            let role = match message.role {
                Role::System => TextMessageRole::System,
                Role::User => TextMessageRole::User,
                Role::Assistant => TextMessageRole::Assistant,
            };
            acc.add_message(role, &message.content)
        })
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
    fn a_repeated_line_stops_the_generation_and_is_never_shown() {
        let mut guard = RepeatGuard::default();
        let mut shown = String::new();
        let mut looping = false;
        for piece in [
            "The gauge should read 1.5 bar.\n",
            "I could not find",
            " this.\n",
            "I could",
            " not find this.\n",
            "more",
        ] {
            let (out, stop) = guard.push(piece);
            shown.push_str(&out);
            if stop {
                looping = true;
                break;
            }
        }
        assert!(looping);
        assert_eq!(shown, "The gauge should read 1.5 bar.\nI could not find this.\n");
        // A line that only starts like an earlier one is shown once it differs.
        let mut guard = RepeatGuard::default();
        let (a, _) = guard.push("Sow tomatoes in March indoors.\nSow tomatoes");
        assert_eq!(a, "Sow tomatoes in March indoors.\n");
        let (b, stop) = guard.push(" outside in May.\n");
        assert_eq!((b.as_str(), stop), ("Sow tomatoes outside in May.\n", false));
        // A repeat as the very last line, with no line break, is dropped too.
        let (c, _) = guard.push("Sow tomatoes in March indoors.");
        assert_eq!((c.as_str(), guard.finish().as_str()), ("", ""));
    }

    #[test]
    fn a_phrase_said_three_times_running_stops_the_generation() {
        let mut guard = RepeatGuard::default();
        let (shown, stop) = guard.push("Ask at the front desk, at the front desk, at the front desk, at the");
        assert!(stop, "{shown}");
        let mut guard = RepeatGuard::default();
        let (_, stop) = guard.push("Water deeply, twice a week, twice in dry spells and once in wet ones. ");
        assert!(!stop);
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
