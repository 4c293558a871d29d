//! The on-device generator: what every runtime shares (messages, timings,
//! reading a GGUF header, the loop guard) and [`Generator`], the one
//! interface answers, summaries and benchmarks use. The runtimes live beside it:
//! `llama.rs` (llama.cpp, feature `llama-cpp`) and `mistral.rs` (mistralrs,
//! feature `mistralrs`). Nothing here can reach a network: models are files on disk.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
#[cfg(feature = "generation")]
use std::time::Instant;

use candle_core::quantized::gguf_file::Content;
use serde::{Deserialize, Serialize};

#[cfg(feature = "generation")]
use crate::activity::GenerationActivity;
#[cfg(feature = "generation")]
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

#[cfg(all(
    feature = "generation",
    not(any(feature = "mistralrs", feature = "llama-cpp"))
))]
compile_error!("the `generation` feature needs a runtime: enable `llama-cpp` or `mistralrs`");

pub mod gpu;
#[cfg(feature = "llama-cpp")]
pub(crate) mod llama;
#[cfg(feature = "mistralrs")]
mod mistral;
#[cfg(feature = "generation")]
mod repeat;
mod special_tokens;
mod split;

pub use special_tokens::SpecialTokens;
pub use split::is_later_part;

/// The library that runs the chat model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Runtime {
    /// llama.cpp through llama-cpp-2: the faster one on CPU (see the README's measurements).
    #[serde(rename = "llama.cpp")]
    LlamaCpp,
    /// mistralrs on candle: pure Rust, Quire's CUDA and Metal path.
    #[serde(rename = "mistralrs")]
    Mistralrs,
}

impl Runtime {
    pub const ALL: [Runtime; 2] = [Runtime::LlamaCpp, Runtime::Mistralrs];

    pub fn name(self) -> &'static str {
        match self {
            Runtime::LlamaCpp => "llama.cpp",
            Runtime::Mistralrs => "mistralrs",
        }
    }

    /// The cargo feature that builds the runtime.
    pub fn cargo_feature(self) -> &'static str {
        match self {
            Runtime::LlamaCpp => "llama-cpp",
            Runtime::Mistralrs => "mistralrs",
        }
    }

    /// Whether this build of Quire carries the runtime.
    pub fn is_built(self) -> bool {
        match self {
            Runtime::LlamaCpp => cfg!(feature = "llama-cpp"),
            Runtime::Mistralrs => cfg!(feature = "mistralrs"),
        }
    }

    /// The runtimes this build carries, the default first.
    pub fn built() -> Vec<Runtime> {
        let default = Runtime::default();
        std::iter::once(default)
            .chain(Runtime::ALL.into_iter().filter(|r| *r != default))
            .filter(|r| r.is_built())
            .collect()
    }
}

impl Default for Runtime {
    /// llama.cpp on CPU, where it measured several times faster; mistralrs in GPU
    /// builds (`cuda`, `metal`), the only runtime Quire builds for them.
    fn default() -> Runtime {
        if cfg!(any(feature = "cuda", feature = "metal")) || !cfg!(feature = "llama-cpp") {
            Runtime::Mistralrs
        } else {
            Runtime::LlamaCpp
        }
    }
}

impl std::fmt::Display for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Runtime {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Runtime, String> {
        match s.to_ascii_lowercase().as_str() {
            "llama.cpp" | "llama-cpp" | "llamacpp" => Ok(Runtime::LlamaCpp),
            "mistralrs" | "mistral.rs" => Ok(Runtime::Mistralrs),
            _ => Err(format!("unknown runtime `{s}`: llama.cpp or mistralrs")),
        }
    }
}

/// How a model is loaded and run. The defaults are what measured fastest on a
/// laptop-class CPU; the benchmark varies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadOptions {
    pub runtime: Runtime,
    /// Working context (prompt + answer), in tokens; capped by what the model was trained for.
    pub context_tokens: usize,
    /// Compute threads; 0 means [`compute_threads`].
    pub threads: usize,
    /// Prompt tokens computed in one step (llama.cpp's micro-batch); 0 means the runtime's default.
    pub prompt_batch: usize,
    /// Flash attention (llama.cpp); None lets the runtime decide.
    pub flash_attention: Option<bool>,
    /// Put what fits of the model on a GPU when llama.cpp found one ([`gpu`]).
    pub gpu: bool,
}

impl LoadOptions {
    pub fn new(runtime: Runtime, context_tokens: usize) -> LoadOptions {
        LoadOptions {
            runtime,
            context_tokens,
            threads: 0,
            prompt_batch: 0,
            flash_attention: None,
            gpu: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
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

/// Timings of one generation, as the user feels them. JSON gives the durations in
/// seconds, as `time_to_first_token_secs` and `total_secs`.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    /// Prompt tokens whose work the runtime kept from an earlier prompt that began the
    /// same way (a chat's earlier turns), so they cost nothing; 0 when it cannot say.
    pub reused_prompt_tokens: usize,
    pub generated_tokens: usize,
    /// From the request to the first streamed text.
    #[serde(
        rename = "time_to_first_token_secs",
        serialize_with = "crate::serde_secs::secs"
    )]
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub time_to_first_token: Duration,
    #[serde(rename = "total_secs", serialize_with = "crate::serde_secs::secs")]
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
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
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ModelInfo {
    #[serde(serialize_with = "crate::serde_path::lossy")]
    pub path: PathBuf,
    pub name: String,
    pub architecture: String,
    /// Size of the model's files (every part of a split model).
    pub bytes: u64,
    /// Weights in all tensors.
    pub parameters: u64,
    /// How the weights are stored ("Q4_K_M", "F16"), as the file says.
    pub quantization: Option<String>,
    /// The context length the model was trained for.
    pub trained_context: Option<usize>,
    /// The token that ends a reply (`tokenizer.ggml.eos_token_id`).
    pub end_token: Option<u32>,
    /// The chat template stored in the file (`tokenizer.chat_template`).
    #[serde(skip)]
    #[cfg_attr(feature = "typescript", ts(skip))]
    pub chat_template: String,
    /// The vocabulary's special tokens, whose text is neutralised in every message.
    #[serde(skip)]
    #[cfg_attr(feature = "typescript", ts(skip))]
    pub special_tokens: SpecialTokens,
    /// The model's files: the file itself, or every part of a split model, first to last.
    #[serde(skip)]
    #[cfg_attr(feature = "typescript", ts(skip))]
    pub parts: Vec<PathBuf>,
}

/// The name of a GGUF `general.file_type` (llama.cpp's `llama_ftype`).
pub(crate) fn file_type_name(file_type: u32) -> Option<&'static str> {
    Some(match file_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        _ => return None,
    })
}

/// Reads a GGUF file's header and metadata; a file that is not GGUF, is damaged
/// or carries no chat template is a clear error, before any loading.
pub fn inspect(path: &Path) -> Result<ModelInfo> {
    let fail = |message: String| Error::Generator {
        path: path.to_path_buf(),
        message,
    };
    let header = read_gguf(path, fail)?;
    let text = |key: &str| header.text(key);
    let architecture = header
        .architecture()
        .ok_or_else(|| fail("the file names no architecture".into()))?;
    let Some(chat_template) = text("tokenizer.chat_template") else {
        return Err(fail(
            "the file carries no chat template (tokenizer.chat_template)".into(),
        ));
    };
    let trained_context = header.model_number("context_length").map(|n| n as usize);
    let name = text("general.name").unwrap_or_else(|| split::model_stem(path));
    let end_token = header
        .number("tokenizer.ggml.eos_token_id")
        .and_then(|n| u32::try_from(n).ok());
    let quantization = header
        .number("general.file_type")
        .and_then(|n| u32::try_from(n).ok())
        .and_then(file_type_name)
        .map(String::from);
    Ok(ModelInfo {
        path: path.to_path_buf(),
        name,
        architecture,
        bytes: header.bytes,
        parameters: header.parameters,
        quantization,
        trained_context,
        end_token,
        chat_template,
        special_tokens: SpecialTokens::from_gguf(&header.content),
        parts: header.parts,
    })
}

/// A GGUF model's metadata and tensor list (not its weights), from its (first) file, and
/// what all its files hold together.
pub(crate) struct GgufHeader {
    pub content: Content,
    /// The size of its files.
    pub bytes: u64,
    /// Weights in all tensors of all its files.
    pub parameters: u64,
    /// Its files: the one read, or every part of a split model ([`split::parts`]).
    pub parts: Vec<PathBuf>,
}

impl GgufHeader {
    /// A text value of the metadata.
    pub fn text(&self, key: &str) -> Option<String> {
        self.content
            .metadata
            .get(key)
            .and_then(|v| v.to_string().ok())
            .cloned()
    }

    /// A whole number of the metadata, however wide the file stores it.
    pub fn number(&self, key: &str) -> Option<u64> {
        metadata_number(&self.content, key)
    }

    /// `general.architecture` ("qwen2", "nomic-bert").
    pub fn architecture(&self) -> Option<String> {
        self.text("general.architecture")
    }

    /// A number the architecture's keys give ("block_count" → `<architecture>.block_count`).
    pub fn model_number(&self, name: &str) -> Option<u64> {
        self.number(&format!("{}.{name}", self.architecture()?))
    }
}

/// Reads a GGUF model's header, and of a split model the headers of its other parts;
/// `fail` words the error for a file that is missing, a folder, not GGUF or damaged, and
/// for a split model's part that is missing or chosen in place of its first.
pub(crate) fn read_gguf(path: &Path, fail: impl Fn(String) -> Error) -> Result<GgufHeader> {
    use std::io::{Read, Seek};
    if path.is_dir() {
        return Err(fail("is a folder; point at the .gguf file inside it".into()));
    }
    let mut file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => fail("no such file".into()),
        _ => Error::io(path, e),
    })?;
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
        return Err(fail(
            "not a GGUF model file (it does not start with the GGUF signature)".into(),
        ));
    }
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    let content = Content::read(&mut file).map_err(|e| fail(format!("damaged GGUF file: {e}")))?;
    let mut bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut parameters = weights_in(&content);
    let parts = split::parts(path, &content).map_err(&fail)?;
    for (number, part) in (1..).zip(&parts).skip(1) {
        let mut file = std::fs::File::open(part).map_err(|e| Error::io(part, e))?;
        let part_content = Content::read(&mut file)
            .map_err(|e| fail(format!("its part {} is damaged: {e}", part.display())))?;
        split::check_part(part, number, parts.len(), &part_content).map_err(&fail)?;
        parameters += weights_in(&part_content);
        bytes += file.metadata().map(|m| m.len()).unwrap_or(0);
    }
    Ok(GgufHeader {
        content,
        bytes,
        parameters,
        parts,
    })
}

/// A whole, non-negative number of a GGUF header's metadata, however wide the file stores it.
fn metadata_number(content: &Content, key: &str) -> Option<u64> {
    content.metadata.get(key).and_then(|v| {
        v.to_u64()
            .ok()
            .or_else(|| v.to_i32().ok().and_then(|n| u64::try_from(n).ok()))
            .or_else(|| v.to_i64().ok().and_then(|n| u64::try_from(n).ok()))
    })
}

/// Weights in all the tensors a GGUF header lists.
fn weights_in(content: &Content) -> u64 {
    content
        .tensor_infos
        .values()
        .map(|t| t.shape.elem_count() as u64)
        .sum()
}

/// Threads set by [`set_compute_threads`]; 0 until then.
static COMPUTE_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets how many threads model and embedding kernels use, for the whole process.
/// candle and mistralrs read RAYON_NUM_THREADS when their pools start, so this
/// must run before the first model is loaded; later calls change nothing there
/// (llama.cpp takes its thread count per model).
pub fn set_compute_threads(threads: usize) {
    if threads == 0 {
        return;
    }
    COMPUTE_THREADS.store(threads, Ordering::Relaxed);
    // SAFETY (of intent): called at start-up, before any other thread reads the environment.
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
}

/// Threads for model kernels: what [`set_compute_threads`] set, else one per core.
pub fn compute_threads() -> usize {
    match COMPUTE_THREADS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    }
}

/// How a reply ends.
#[cfg(feature = "generation")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// When the model is done, at `max_tokens`, or when it starts looping.
    Answer,
    /// At exactly `max_tokens` (benchmarks).
    Exactly,
}

/// What a runtime reports of one generation; [`Generator::generate`] adds the rest.
#[cfg(feature = "generation")]
struct RawGeneration {
    /// None when the runtime stopped before it could say (then counted here).
    prompt_tokens: Option<usize>,
    reused_prompt_tokens: usize,
    generated_tokens: usize,
    truncated: bool,
}

#[cfg(feature = "generation")]
enum Backend {
    #[cfg(feature = "llama-cpp")]
    LlamaCpp(llama::LlamaCppModel),
    #[cfg(feature = "mistralrs")]
    Mistralrs(mistral::MistralModel),
}

/// The chat model, whichever runtime runs it: token counting with the model's own
/// tokenizer and chat template, and streamed, cancellable, greedy generation.
#[cfg(feature = "generation")]
pub struct Generator {
    backend: Backend,
    info: ModelInfo,
    options: LoadOptions,
    context_tokens: usize,
    /// Told of each generation, so that indexing can step aside meanwhile.
    activity: Option<GenerationActivity>,
}

#[cfg(feature = "generation")]
impl Generator {
    /// Loads the GGUF chat model at `path` with `options.runtime`; a runtime this
    /// build lacks, a file that is not a GGUF chat model or one the runtime cannot
    /// run is a clear [`Error::Generator`].
    pub async fn load(path: &Path, options: &LoadOptions) -> Result<Generator> {
        let info = inspect(path)?;
        let fail = |message: String| Error::Generator {
            path: path.to_path_buf(),
            message,
        };
        let mut options = options.clone();
        if options.threads == 0 {
            options.threads = compute_threads();
        }
        // The working context is settled here, once: what was asked, within what the file
        // says the model was trained for. Runtimes size their caches to it.
        options.context_tokens = options
            .context_tokens
            .min(info.trained_context.unwrap_or(usize::MAX))
            .max(256);
        let (backend, trained) = match options.runtime {
            #[cfg(feature = "llama-cpp")]
            Runtime::LlamaCpp => {
                let model = llama::LlamaCppModel::load(&info, &options).await?;
                (Backend::LlamaCpp(model), None)
            }
            #[cfg(feature = "mistralrs")]
            Runtime::Mistralrs => {
                let model = mistral::MistralModel::load(&info, &options).await?;
                let trained = model.trained_context();
                (Backend::Mistralrs(model), trained)
            }
            #[allow(unreachable_patterns)]
            other => {
                return Err(fail(format!(
                    "this build of Quire has no {other} runtime (cargo feature `{}`); it has: {}",
                    other.cargo_feature(),
                    Runtime::built()
                        .iter()
                        .map(|r| r.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        };
        // mistralrs may know a smaller limit than the file's metadata.
        let trained = trained.or(info.trained_context).unwrap_or(2048);
        Ok(Generator {
            backend,
            info,
            context_tokens: options.context_tokens.min(trained),
            options,
            activity: None,
        })
    }

    /// Reports each generation to `activity`, which the engine's indexer watches to
    /// leave the cores to it (crate::activity).
    pub fn with_activity(mut self, activity: GenerationActivity) -> Generator {
        self.activity = Some(activity);
        self
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn runtime(&self) -> Runtime {
        self.options.runtime
    }

    /// Where the model runs: "CUDA0 (NVIDIA H200), 28 of 28 layers", or "CPU".
    pub fn runs_on(&self) -> String {
        match &self.backend {
            #[cfg(feature = "llama-cpp")]
            Backend::LlamaCpp(model) => model.runs_on(),
            #[cfg(feature = "mistralrs")]
            Backend::Mistralrs(_) => {
                if cfg!(any(feature = "cuda", feature = "metal")) {
                    "mistralrs's GPU build".into()
                } else {
                    "CPU".into()
                }
            }
        }
    }

    /// The instruction sets of the CPU kernels chosen for this processor at start
    /// ("AVX2 AVX512 AVX512_VNNI …"), for a runtime that chooses them at run time
    /// (llama.cpp); `None` for one compiled for a single level (mistralrs: x86-64-v3).
    pub fn cpu_kernels(&self) -> Option<String> {
        match &self.backend {
            #[cfg(feature = "llama-cpp")]
            Backend::LlamaCpp(_) => Some(llama::cpu_features()),
            #[cfg(feature = "mistralrs")]
            Backend::Mistralrs(_) => None,
        }
    }

    /// Tokens the prompt and the answer may use together.
    pub fn context_tokens(&self) -> usize {
        self.context_tokens
    }

    /// Tokens of `messages` laid out by the model's chat template, ready for the answer.
    pub async fn count_prompt_tokens(&self, messages: &[ChatMessage]) -> Result<usize> {
        Ok(self.prompt_tokens(messages).await?.len())
    }

    /// The token ids the runtime computes from `messages` (their text neutralised, laid
    /// out by the chat template, ready for the answer): the prompt the model reads.
    pub async fn prompt_tokens(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        let messages = self.neutralised(messages);
        match &self.backend {
            #[cfg(feature = "llama-cpp")]
            Backend::LlamaCpp(model) => model.prompt_token_ids(&messages),
            #[cfg(feature = "mistralrs")]
            Backend::Mistralrs(model) => model.prompt_token_ids(&messages).await,
        }
    }

    /// The messages with no text that the tokenizer would read as a special token:
    /// only the chat template lays out turns and roles.
    fn neutralised<'a>(&self, messages: &'a [ChatMessage]) -> std::borrow::Cow<'a, [ChatMessage]> {
        let special = &self.info.special_tokens;
        let changed = |m: &ChatMessage| matches!(special.neutralise(&m.content), std::borrow::Cow::Owned(_));
        if !messages.iter().any(changed) {
            return std::borrow::Cow::Borrowed(messages);
        }
        std::borrow::Cow::Owned(
            messages
                .iter()
                .map(|m| ChatMessage::new(m.role, special.neutralise(&m.content)))
                .collect(),
        )
    }

    /// Tokens of a piece of text alone.
    pub async fn count_tokens(&self, text: &str) -> Result<usize> {
        match &self.backend {
            #[cfg(feature = "llama-cpp")]
            Backend::LlamaCpp(model) => Ok(model.count_tokens(text)),
            #[cfg(feature = "mistralrs")]
            Backend::Mistralrs(model) => model.count_tokens(text).await,
        }
    }

    /// Generates a reply to `messages`, greedily (the same question gets the same
    /// answer), calling `on_text` with each piece as soon as it exists. A greedy
    /// loop is cut at its start ([`repeat::RepeatGuard`]); `cancel` stops it at the
    /// next token with [`Error::Cancelled`].
    pub async fn generate(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
        cancel: &CancelToken,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Generation> {
        self.run(messages, max_tokens, Reply::Answer, cancel, on_text)
            .await
    }

    /// For benchmarks: exactly `tokens` tokens after `messages`, as llama-bench times
    /// them: the end of the reply is not allowed and no loop is cut.
    pub async fn generate_exactly(&self, messages: &[ChatMessage], tokens: usize) -> Result<Generation> {
        self.run(messages, tokens, Reply::Exactly, &CancelToken::new(), &mut |_| {})
            .await
    }

    async fn run(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
        reply: Reply,
        cancel: &CancelToken,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Generation> {
        let _active = self.activity.as_ref().map(GenerationActivity::begin);
        let messages = &*self.neutralised(messages);
        let started = Instant::now();
        let mut text = String::new();
        let mut first: Option<Duration> = None;
        let mut guard = repeat::RepeatGuard::default();
        let mut on_piece = |piece: &str| {
            first.get_or_insert_with(|| started.elapsed());
            if reply == Reply::Exactly {
                text.push_str(piece);
                return true;
            }
            let (shown, looping) = guard.push(piece);
            if !shown.is_empty() {
                text.push_str(&shown);
                on_text(&shown);
            }
            if looping {
                tracing::debug!("stopped a generation that started repeating itself");
            }
            !looping
        };
        let raw = match &self.backend {
            #[cfg(feature = "llama-cpp")]
            Backend::LlamaCpp(model) => {
                model
                    .generate(messages, max_tokens, reply, cancel, &mut on_piece)
                    .await?
            }
            #[cfg(feature = "mistralrs")]
            Backend::Mistralrs(model) => {
                model
                    .generate(messages, max_tokens, reply, cancel, &mut on_piece)
                    .await?
            }
        };
        let rest = guard.finish();
        if !rest.is_empty() {
            text.push_str(&rest);
            on_text(&rest);
        }
        let total = started.elapsed();
        let time_to_first_token = first.unwrap_or(total);
        let prompt_tokens = match raw.prompt_tokens {
            Some(n) => n,
            None => self.count_prompt_tokens(messages).await?,
        };
        let generated_tokens = raw.generated_tokens;
        let gen_secs = (total - time_to_first_token).as_secs_f64();
        let stats = GenerationStats {
            prompt_tokens,
            reused_prompt_tokens: raw.reused_prompt_tokens,
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
            truncated: raw.truncated,
        })
    }
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
