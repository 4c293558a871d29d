//! The llama.cpp runtime, through llama-cpp-2 (llama.cpp built from source with the
//! same CPU features as the rest of Quire). One worker thread per model owns the
//! llama.cpp context, so the KV cache outlives a request: a prompt that starts like
//! the previous one (the next turn of a chat, the next section of a summary with the
//! same instructions) only computes its new tokens.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::{ChatMessage, LoadOptions, ModelInfo, RawGeneration, Reply, Role};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// Prompt tokens handed to llama.cpp per decode call (it splits them into micro-batches).
const DECODE_BATCH: usize = 512;

/// Pressure against repeats, as the mistralrs runtime applies it (OpenAI-style frequency penalty).
const FREQUENCY_PENALTY: f32 = 0.3;

/// llama.cpp's process-wide state: its CPU kernels loaded, initialised once, never freed.
pub(crate) fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // Its logs go through tracing like Quire's own (QUIRE_LOG=llama-cpp-2=info shows them).
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            load_cpu_kernels()?;
            super::gpu::load_cuda_module();
            let backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            tracing::info!(features = %cpu_features(), "llama.cpp CPU kernels loaded");
            Ok(backend)
        })
        .as_ref()
        .map_err(|e| Error::Generator {
            path: PathBuf::new(),
            message: format!("llama.cpp could not start: {e}"),
        })
}

/// llama.cpp's CPU kernels are built once per instruction-set level (libggml-cpu-haswell,
/// -skylakex, -zen4, -alderlake, …); each scores itself against this CPU and the best one
/// loads. They are looked for beside an installed Quire (`<prefix>/lib/quire`, where the
/// package puts them) and then in the directory this build wrote them to.
fn load_cpu_kernels() -> std::result::Result<(), String> {
    let candidates = kernel_dirs();
    let Some(dir) = candidates.iter().find(|dir| holds_cpu_kernels(dir)) else {
        let looked = candidates
            .iter()
            .map(|dir| dir.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(format!(
            "its CPU kernels ({}ggml-cpu-*{}) are missing; looked in: {looked}. \
             Reinstall Quire, or rebuild it",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ));
    };
    tracing::debug!(dir = %dir.display(), "loading llama.cpp's CPU kernels");
    cpu_kernels::load_best(dir);
    // SAFETY: a plain query of ggml's backend registry, filled by the call above.
    let cpu =
        unsafe { llama_cpp_sys_2::ggml_backend_dev_by_type(llama_cpp_sys_2::GGML_BACKEND_DEVICE_TYPE_CPU) };
    if cpu.is_null() {
        return Err(format!(
            "none of the CPU kernels in {} runs on this processor \
             (llama.cpp needs at least SSE4.2; this build of Quire needs AVX2)",
            dir.display()
        ));
    }
    Ok(())
}

/// Choosing among the CPU kernels: as ggml's own loader does (the variant that scores
/// best on this processor), except for the variants that use AMX tiles.
///
/// Their matrix products crash with an illegal instruction on every processor with AMX
/// (Xeon Sapphire Rapids and later) when llama.cpp is built by GCC 12, Debian 12's
/// compiler: it drops the stores that fill in the tile configuration before
/// `ldtilecfg`, so the first tile instruction faults (ggml-org/llama.cpp#26954). Every
/// model with int8 or 4-bit weights goes through them there. Without them, such a
/// processor runs the AVX-512 VNNI kernels (zen4's), as llama.cpp does on AMD's.
#[cfg(unix)]
mod cpu_kernels {
    use std::ffi::{c_int, CString};
    use std::path::{Path, PathBuf};

    /// Variants built with AMX (ggml's list of x86 variants: only this one).
    const AMX_VARIANTS: [&str; 1] = ["sapphirerapids"];

    /// Loads the best CPU kernel in `dir` that uses no AMX tiles, and the module
    /// GGML_BACKEND_PATH names, as ggml's loader would.
    pub(super) fn load_best(dir: &Path) {
        match best(dir) {
            Some((path, score)) => {
                tracing::debug!(module = %path.display(), score, "llama.cpp's CPU kernels chosen");
                load(&path);
            }
            None => tracing::warn!("no CPU kernel in {} runs on this processor", dir.display()),
        }
        if let Some(path) = std::env::var_os("GGML_BACKEND_PATH") {
            load(Path::new(&path));
        }
    }

    /// The CPU kernel in `dir` that scores best on this processor, leaving out AMX ones;
    /// None when none runs here.
    pub(super) fn best(dir: &Path) -> Option<(PathBuf, c_int)> {
        let prefix = format!("{}ggml-cpu-", std::env::consts::DLL_PREFIX);
        let mut best: Option<(PathBuf, c_int)> = None;
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let name = entry.file_name();
            let Some(variant) = name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|n| n.strip_suffix(std::env::consts::DLL_SUFFIX))
            else {
                continue;
            };
            if AMX_VARIANTS.contains(&variant) {
                continue;
            }
            let path = entry.path();
            let Some(score) = score(&path).filter(|&s| s > 0) else {
                continue;
            };
            if best.as_ref().is_none_or(|(_, top)| score > *top) {
                best = Some((path, score));
            }
        }
        best
    }

    /// The score a kernel module gives itself on this processor (0: it cannot run here),
    /// or None when it does not load.
    fn score(path: &Path) -> Option<c_int> {
        let c_path = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
        // SAFETY: the module is one of llama.cpp's CPU kernels, built with Quire; only its
        // `ggml_backend_score` (int (void), checking the processor's features) is called,
        // and the handle is closed at once, as ggml's own loader does.
        unsafe {
            let handle = libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            if handle.is_null() {
                return None;
            }
            let symbol = libc::dlsym(handle, c"ggml_backend_score".as_ptr());
            let score = (!symbol.is_null()).then(|| {
                let score_fn: unsafe extern "C" fn() -> c_int = std::mem::transmute(symbol);
                score_fn()
            });
            libc::dlclose(handle);
            score
        }
    }

    fn load(path: &Path) {
        let Ok(c_path) = CString::new(path.as_os_str().as_encoded_bytes()) else {
            return;
        };
        // SAFETY: ggml's loader, given a NUL-terminated path; it checks the module itself.
        let registered = unsafe { llama_cpp_sys_2::ggml_backend_load(c_path.as_ptr()) };
        if registered.is_null() {
            tracing::warn!("llama.cpp could not load {}", path.display());
        }
    }
}

/// Elsewhere ggml's loader chooses.
#[cfg(not(unix))]
mod cpu_kernels {
    pub(super) fn load_best(dir: &std::path::Path) {
        if dir.to_str().is_some() {
            llama_cpp_2::llama_backend::load_backends_from_path(dir);
        }
    }
}

fn kernel_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(prefix) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(PathBuf::from))
    {
        dirs.push(prefix.join("lib").join("quire"));
    }
    if let Some(built) = llama_cpp_sys_2::BACKENDS_DIR {
        dirs.push(PathBuf::from(built));
    }
    dirs
}

fn holds_cpu_kernels(dir: &std::path::Path) -> bool {
    let prefix = format!("{}ggml-cpu", std::env::consts::DLL_PREFIX);
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(std::env::consts::DLL_SUFFIX)
        })
    })
}

/// The instruction-set features of the CPU kernels llama.cpp loaded ("AVX2 AVX512 AVX512_VNNI
/// …"), or an empty string before the first model is loaded.
pub(super) fn cpu_features() -> String {
    // SAFETY: returns a pointer to a static, NUL-terminated buffer that llama.cpp owns.
    let info = unsafe { std::ffi::CStr::from_ptr(llama_cpp_sys_2::llama_print_system_info()) };
    simd_features(&info.to_string_lossy())
}

/// From llama.cpp's "CPU : SSE3 = 1 | AVX2 = 1 | … | OPENMP = 1 | REPACK = 1 |": the
/// instruction-set features that are on (not the build options such as OPENMP).
fn simd_features(system_info: &str) -> String {
    const BUILD_OPTIONS: [&str; 4] = ["LLAMAFILE", "OPENMP", "REPACK", "KLEIDIAI"];
    let cpu = system_info
        .split("CPU :")
        .nth(1)
        .map(|rest| rest.split(" : ").next().unwrap_or(rest))
        .unwrap_or_default();
    cpu.split('|')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let name = name.trim();
            (value.trim() == "1" && !BUILD_OPTIONS.contains(&name)).then_some(name)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) struct LlamaCppModel {
    model: Arc<LlamaModel>,
    template: LlamaChatTemplate,
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
    /// The part of the model on a GPU, if any.
    offload: Option<super::gpu::OffloadPlan>,
}

/// One generation, run by the worker.
struct Job {
    prompt: Vec<LlamaToken>,
    max_tokens: usize,
    reply: Reply,
    cancel: CancelToken,
    /// Set by the caller when it wants no more text (the loop guard stopped it).
    enough: Arc<AtomicBool>,
    events: tokio::sync::mpsc::UnboundedSender<Event>,
}

enum Event {
    Text(String),
    Done(Result<RawGeneration>),
}

impl LlamaCppModel {
    pub(super) async fn load(info: &ModelInfo, options: &LoadOptions) -> Result<LlamaCppModel> {
        let path = info.path.clone();
        let options = options.clone();
        let architecture = info.architecture.clone();
        // Reading the weights takes seconds; keep it off the async threads.
        tokio::task::spawn_blocking(move || Self::load_blocking(path, architecture, options))
            .await
            .map_err(|e| Error::Generator {
                path: info.path.clone(),
                message: format!("the model could not be loaded: {e}"),
            })?
    }

    fn load_blocking(path: PathBuf, architecture: String, options: LoadOptions) -> Result<LlamaCppModel> {
        // Started first: it finds the GPUs the model may go on.
        backend()?;
        super::gpu::start_model(&path, options.context_tokens, options.gpu, |params, offload| {
            Self::start(&path, &architecture, &options, params, offload)
        })
    }

    /// Loads the model with `params` and starts its worker (which makes the context).
    fn start(
        path: &std::path::Path,
        architecture: &str,
        options: &LoadOptions,
        params: llama_cpp_2::model::params::LlamaModelParams,
        offload: Option<super::gpu::OffloadPlan>,
    ) -> Result<LlamaCppModel> {
        let fail = |message: String| Error::Generator {
            path: path.to_path_buf(),
            message,
        };
        let backend = backend()?;
        // Read, not mapped: llama.cpp repacks most weights into its own buffers for the CPU
        // kernels, and a mapping would keep the file's copy resident too (1.5B model: peak
        // 1.5 GB read vs 2.2 GB mapped).
        let params = params.with_use_mmap(false);
        let model = LlamaModel::load_from_file(backend, path, &params).map_err(|e| {
            fail(format!(
                "llama.cpp could not load the model (architecture `{architecture}`): {e}; \
                 QUIRE_LOG=llama-cpp-2=info shows llama.cpp's reason"
            ))
        })?;
        let template = model
            .chat_template(None)
            .map_err(|e| fail(format!("the model's chat template is unusable: {e}")))?;
        // The template must be one llama.cpp knows; try it once now rather than on the first question.
        let probe = [LlamaChatMessage::new("user".into(), "hello".into())
            .map_err(|e| fail(format!("chat template check failed: {e}")))?];
        model.apply_chat_template(&template, &probe, true).map_err(|e| {
            fail(format!(
                "llama.cpp does not know this model's chat template ({e}); the mistralrs runtime may run it"
            ))
        })?;
        let model = Arc::new(model);
        // `Generator::load` has settled the context size.
        let mut params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(options.context_tokens as u32))
            .with_n_batch(DECODE_BATCH as u32)
            .with_n_threads(options.threads as i32)
            .with_n_threads_batch(options.threads as i32);
        if options.prompt_batch > 0 {
            params = params.with_n_ubatch(options.prompt_batch.min(DECODE_BATCH) as u32);
        }
        if let Some(on) = options.flash_attention {
            params = params.with_flash_attention_policy(i32::from(on));
        }
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let worker_model = model.clone();
        let worker_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("quire-llama".into())
            .spawn(move || serve(&worker_model, backend, params, &worker_path, queue, ready_tx))
            .map_err(|e| fail(format!("cannot start the model thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| fail("the model thread stopped while starting".into()))??;
        Ok(LlamaCppModel {
            model,
            template,
            path: path.to_path_buf(),
            jobs,
            offload,
        })
    }

    pub(super) fn prompt_token_ids(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        Ok(self
            .prompt_tokens(messages)?
            .into_iter()
            .map(|t| u32::try_from(t.0).unwrap_or(u32::MAX))
            .collect())
    }

    pub(super) fn runs_on(&self) -> String {
        match &self.offload {
            Some(plan) => format!("{}, {} of {} layers", plan.device, plan.layers, plan.total_layers),
            None => "CPU".into(),
        }
    }

    pub(super) fn count_tokens(&self, text: &str) -> usize {
        self.model.vocab().tokenize(text.as_bytes(), false, false).len()
    }

    /// `messages` laid out by the model's chat template, ending where the answer starts, as
    /// tokens. The messages come neutralised (`Generator::neutralised`): special tokens in
    /// the templated text are the template's own.
    fn prompt_tokens(&self, messages: &[ChatMessage]) -> Result<Vec<LlamaToken>> {
        let chat = messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                // A NUL byte cannot cross into C; it carries no meaning in a prompt.
                LlamaChatMessage::new(role.into(), m.content.replace('\0', ""))
                    .map_err(|e| self.error(format!("message rejected: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let text = self
            .model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(|e| self.error(format!("applying the chat template failed: {e}")))?;
        tracing::trace!(prompt = %text, "llama.cpp prompt");
        // The template writes the special tokens itself (parse them); BOS is added when the model wants it.
        Ok(self.model.vocab().tokenize(text.as_bytes(), true, true))
    }

    pub(super) async fn generate(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
        reply: Reply,
        cancel: &CancelToken,
        on_piece: &mut (dyn FnMut(&str) -> bool + Send),
    ) -> Result<RawGeneration> {
        let prompt = self.prompt_tokens(messages)?;
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
        let enough = Arc::new(AtomicBool::new(false));
        self.jobs
            .send(Job {
                prompt,
                max_tokens,
                reply,
                cancel: cancel.clone(),
                enough: enough.clone(),
                events,
            })
            .map_err(|_| self.error("the model thread has stopped".into()))?;
        while let Some(event) = received.recv().await {
            match event {
                Event::Text(piece) => {
                    if !enough.load(Ordering::Relaxed) && !on_piece(&piece) {
                        enough.store(true, Ordering::Relaxed);
                    }
                }
                Event::Done(result) => return result,
            }
        }
        Err(self.error("the model thread stopped during a generation".into()))
    }

    fn error(&self, message: String) -> Error {
        Error::Generator {
            path: self.path.clone(),
            message,
        }
    }
}

/// The worker: owns the context (and with it the KV cache) for the model's life,
/// runs jobs one at a time, and ends when the model is dropped.
fn serve(
    model: &LlamaModel,
    backend: &LlamaBackend,
    params: LlamaContextParams,
    path: &std::path::Path,
    queue: mpsc::Receiver<Job>,
    ready: mpsc::Sender<Result<()>>,
) {
    let mut context = match model.new_context(backend, params) {
        Ok(context) => context,
        Err(e) => {
            let _ = ready.send(Err(Error::Generator {
                path: path.to_path_buf(),
                message: format!("llama.cpp could not make a context for the model: {e}"),
            }));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    // The tokens whose keys and values are in the cache, in order.
    let mut cached: Vec<LlamaToken> = Vec::new();
    for job in queue {
        let result = run(model, &mut context, &mut cached, &job).map_err(|message| match message {
            Stop::Cancelled => Error::Cancelled,
            Stop::Failed(message) => Error::Generator {
                path: path.to_path_buf(),
                message,
            },
        });
        if result.is_err() {
            // A failed or cut decode may leave the cache half written: start clean next time.
            context.clear_kv_cache();
            cached.clear();
        }
        let _ = job.events.send(Event::Done(result));
    }
}

enum Stop {
    Cancelled,
    Failed(String),
}

fn run(
    model: &LlamaModel,
    context: &mut LlamaContext<'_>,
    cached: &mut Vec<LlamaToken>,
    job: &Job,
) -> std::result::Result<RawGeneration, Stop> {
    let n_ctx = context.n_ctx() as usize;
    let prompt = &job.prompt;
    if prompt.is_empty() {
        return Err(Stop::Failed("the prompt is empty".into()));
    }
    if prompt.len() >= n_ctx {
        return Err(Stop::Failed(format!(
            "the prompt has {} tokens; the context holds {n_ctx}",
            prompt.len()
        )));
    }
    // Reuse the cached prefix; at least the last prompt token is computed again, for its logits.
    let mut reused = cached
        .iter()
        .zip(prompt)
        .take_while(|(a, b)| a == b)
        .count()
        .min(prompt.len() - 1);
    let removed = context
        .clear_kv_cache_seq(Some(0), Some(reused as u32), None)
        .unwrap_or(false);
    if !removed {
        context.clear_kv_cache();
        reused = 0;
    }
    cached.truncate(reused);
    tracing::debug!(
        prompt = prompt.len(),
        reused,
        "llama.cpp prompt ({} tokens from the cache)",
        reused
    );

    let mut batch = LlamaBatch::new(DECODE_BATCH, 1);
    let rest = &prompt[reused..];
    for (index, piece) in rest.chunks(DECODE_BATCH).enumerate() {
        if job.cancel.is_cancelled() {
            return Err(Stop::Cancelled);
        }
        let last_piece = (index + 1) * DECODE_BATCH >= rest.len();
        feed(context, &mut batch, cached, piece, last_piece, "on the prompt")?;
    }

    let vocab = model.vocab();
    let mut sampler = LlamaSampler::chain_simple([
        LlamaSampler::penalties(
            model.n_vocab(),
            job.max_tokens.min(i32::MAX as usize) as i32,
            1.0,
            FREQUENCY_PENALTY,
            0.0,
        ),
        LlamaSampler::greedy(),
    ]);
    let mut utf8 = Utf8Stream::default();
    let mut generated = 0usize;
    let mut truncated = false;
    loop {
        if job.cancel.is_cancelled() {
            return Err(Stop::Cancelled);
        }
        let token = sampler.sample(context, batch.n_tokens() - 1);
        // (A benchmark decodes it like any token, as llama-bench does.)
        if vocab.is_eog(token) && job.reply == Reply::Answer {
            break;
        }
        generated += 1;
        let text = utf8.push(&vocab.token_to_piece(token, false, None));
        if !text.is_empty() && job.events.send(Event::Text(text)).is_err() {
            // The caller is gone (its task was dropped): nobody reads the rest.
            return Err(Stop::Cancelled);
        }
        if job.enough.load(Ordering::Relaxed) {
            break;
        }
        if generated >= job.max_tokens || cached.len() + 1 >= n_ctx {
            truncated = true;
            break;
        }
        feed(context, &mut batch, cached, &[token], true, "while writing")?;
    }
    let tail = utf8.finish();
    if !tail.is_empty() {
        let _ = job.events.send(Event::Text(tail));
    }
    Ok(RawGeneration {
        prompt_tokens: Some(prompt.len()),
        reused_prompt_tokens: reused,
        generated_tokens: generated,
        truncated,
    })
}

/// Runs `tokens` through the model after the `cached` ones and appends them there; only the
/// last token's logits are kept, and only when `wants_logits` (the next token is sampled from them).
fn feed(
    context: &mut LlamaContext<'_>,
    batch: &mut LlamaBatch,
    cached: &mut Vec<LlamaToken>,
    tokens: &[LlamaToken],
    wants_logits: bool,
    stage: &str,
) -> std::result::Result<(), Stop> {
    batch.clear();
    for (i, token) in tokens.iter().enumerate() {
        let position = (cached.len() + i) as i32;
        batch
            .add(*token, position, &[0], wants_logits && i + 1 == tokens.len())
            .map_err(|e| Stop::Failed(format!("llama.cpp batch {stage}: {e}")))?;
    }
    context
        .decode(batch)
        .map_err(|e| Stop::Failed(format!("llama.cpp failed {stage}: {e}")))?;
    cached.extend_from_slice(tokens);
    Ok(())
}

/// Turns token bytes into text: a character split across tokens is held until complete.
#[derive(Default)]
struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut text = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(valid) => {
                    text.push_str(valid);
                    self.pending.clear();
                    return text;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    text.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match e.error_len() {
                        // An incomplete character at the end: wait for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return text;
                        }
                        // Bytes that can never be UTF-8: shown as U+FFFD, as a lossy decode would.
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::{simd_features, Utf8Stream};

    #[test]
    fn models_run_on_the_best_kernels_that_use_no_amx_tiles() {
        super::backend().unwrap();
        let features = super::cpu_features();
        // This build of Quire needs AVX2; on a processor with AMX (where its tiles would crash)
        // the AVX-512 kernels run instead.
        assert!(features.split(' ').any(|f| f == "AVX2"), "{features}");
        assert!(!features.contains("AMX"), "{features}");
        #[cfg(unix)]
        {
            let dir = std::path::Path::new(llama_cpp_sys_2::BACKENDS_DIR.unwrap());
            let (chosen, score) = super::cpu_kernels::best(dir).unwrap();
            assert!(score > 0 && !chosen.to_string_lossy().contains("sapphirerapids"));
        }
    }

    #[test]
    fn the_loaded_kernels_are_named_by_their_instruction_sets() {
        let info = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | \
                    BMI2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | LLAMAFILE = 1 | OPENMP = 1 | \
                    REPACK = 1 | CUDA : ARCHS = 890 | ";
        assert_eq!(
            simd_features(info),
            "SSE3 SSSE3 AVX AVX2 F16C FMA BMI2 AVX512 AVX512_VNNI"
        );
        assert_eq!(simd_features(""), "");
    }

    #[test]
    fn a_character_split_across_tokens_is_shown_whole() {
        let mut stream = Utf8Stream::default();
        let euro = "€".as_bytes();
        assert_eq!(stream.push(b"5 "), "5 ");
        assert_eq!(stream.push(&euro[..1]), "");
        assert_eq!(stream.push(&euro[1..]), "€");
        assert_eq!(stream.push(&[0xff, b'a']), "\u{fffd}a");
        assert_eq!(stream.push(&euro[..2]), "");
        assert_eq!(stream.finish(), "\u{fffd}");
    }
}
