//! The llama.cpp runtime for embedding models in GGUF files (nomic-bert, bert,
//! and whatever else llama.cpp pools into sentence vectors), on the same
//! run-time CPU kernels as the generator (AVX-512, VNNI, AMX where present).
//!
//! Opening reads the metadata and the vocabulary only (a vocab-only model, for
//! tokenizing); the weights are read by a worker thread on the first embedding.
//! The worker owns the llama.cpp context for the model's life, so each call pays
//! for its tokens only.
//!
//! With `int8`, a model stored at a higher precision is run as Q8_0: quantised by
//! llama.cpp's own quantiser the first time, written beside the original (or in the
//! cache folder when that one cannot be written to) and used from then on as long
//! as the original's hash matches the one recorded with it.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex, OnceLock};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use super::ModelShape;
use crate::error::{Error, Result};

/// Tokens per forward pass. llama.cpp attends across the whole batch (other
/// sequences masked out), so the attention part grows with the square of the batch:
/// 512 tokens keeps it near a tenth of the work for a 768-wide model.
const BATCH_TOKENS: usize = 512;
/// Sequences in one forward pass, at most.
const MAX_BATCH_SEQUENCES: usize = 64;
/// The longest text embedded, in tokens. Passages are far shorter (chunks aim for
/// 250 to 400 tokens); the cap keeps llama.cpp's buffers small, since every
/// sequence must fit one forward pass whole.
const MAX_SEQUENCE_TOKENS: usize = 1024;

/// llama.cpp's `LLAMA_FTYPE_MOSTLY_Q8_0`, also GGUF's `general.file_type` for Q8_0.
const FILE_TYPE_Q8_0: u32 = 7;

pub(super) struct GgufEncoder {
    /// The file that runs: the model itself, or its Q8_0 copy.
    path: PathBuf,
    /// The vocabulary, loaded without weights.
    vocabulary: LlamaModel,
    architecture: String,
    /// How the weights are stored ("F16", "Q8_0").
    precision: String,
    dimension: usize,
    max_tokens: usize,
    shape: ModelShape,
    /// Whether the feed-forward is gated (three matrices, as nomic-bert's SwiGLU).
    gated: bool,
    threads: usize,
    /// Started on the first embedding.
    worker: OnceLock<Worker>,
    starting: Mutex<()>,
}

/// The thread that owns the model and its context.
struct Worker {
    jobs: Mutex<mpsc::Sender<Job>>,
}

struct Job {
    sequences: Vec<Vec<LlamaToken>>,
    reply: mpsc::Sender<Result<Vec<Vec<f32>>>>,
}

impl GgufEncoder {
    pub(super) fn open(path: &Path, int8: bool, threads: usize) -> Result<GgufEncoder> {
        let problem = |message: String| Error::Model {
            path: path.to_path_buf(),
            message,
        };
        let (content, _) = crate::llm::read_gguf(path, problem)?;
        let metadata = |key: &str| content.metadata.get(key);
        let number = |key: &str| {
            metadata(key).and_then(|v| {
                v.to_u32()
                    .ok()
                    .map(u64::from)
                    .or_else(|| v.to_u64().ok())
                    .map(|n| n as usize)
            })
        };
        let architecture = metadata("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .ok_or_else(|| problem("the file names no architecture".into()))?;
        let Some(pooling) = number(&format!("{architecture}.pooling_type")) else {
            return Err(problem(format!(
                "it is not an embedding model (no {architecture}.pooling_type): a chat model goes in `generator`"
            )));
        };
        // llama.cpp's pooling types: 1 mean, 2 CLS, 3 last; 0 (none) and 4 (rank) give no sentence vector.
        if !(1..=3).contains(&pooling) {
            return Err(problem(format!(
                "its pooling ({pooling}) gives no sentence vector; Quire needs mean, CLS or last-token pooling"
            )));
        }
        let dimension = number(&format!("{architecture}.embedding_length"))
            .ok_or_else(|| problem("the file gives no embedding length".into()))?;
        let shape = ModelShape {
            layers: number(&format!("{architecture}.block_count")).unwrap_or(0),
            hidden: dimension,
            intermediate: number(&format!("{architecture}.feed_forward_length")).unwrap_or(0),
        };
        let gated = content.tensor_infos.contains_key("blk.0.ffn_gate.weight");
        let trained_context = number(&format!("{architecture}.context_length")).unwrap_or(512);
        let file_type = number("general.file_type").map(|t| t as u32);

        let backend = crate::llm::llama::backend().map_err(|e| problem(e.to_string()))?;
        let vocabulary =
            LlamaModel::load_from_file(backend, path, &LlamaModelParams::default().with_vocab_only(true))
                .map_err(|e| problem(format!("llama.cpp could not read its vocabulary: {e}")))?;

        let (path, file_type) = if int8 && file_type != Some(FILE_TYPE_Q8_0) {
            (quantized_copy(path)?, Some(FILE_TYPE_Q8_0))
        } else {
            (path.to_path_buf(), file_type)
        };
        let precision = file_type
            .and_then(crate::llm::file_type_name)
            .unwrap_or("unknown")
            .to_string();
        Ok(GgufEncoder {
            path,
            vocabulary,
            architecture,
            precision,
            dimension,
            max_tokens: trained_context.min(MAX_SEQUENCE_TOKENS),
            shape,
            gated,
            threads,
            worker: OnceLock::new(),
            starting: Mutex::new(()),
        })
    }

    pub(super) fn architecture(&self) -> &str {
        &self.architecture
    }

    pub(super) fn precision(&self) -> &str {
        &self.precision
    }

    pub(super) fn dimension(&self) -> usize {
        self.dimension
    }

    pub(super) fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    pub(super) fn shape(&self) -> ModelShape {
        self.shape
    }

    pub(super) fn gated(&self) -> bool {
        self.gated
    }

    /// `text` as the model reads it: with its special tokens ([CLS] … [SEP] for
    /// BERT vocabularies), cut to the longest text the model takes.
    fn tokens(&self, text: &str) -> Vec<LlamaToken> {
        let mut tokens = self.vocabulary.vocab().tokenize(text.as_bytes(), true, false);
        if tokens.len() > self.max_tokens {
            // Keep the closing special token (BERT's [SEP]) as the model was trained with it.
            let last = tokens.last().copied().filter(|t| self.is_special(*t));
            tokens.truncate(self.max_tokens - usize::from(last.is_some()));
            tokens.extend(last);
        }
        tokens
    }

    fn is_special(&self, token: LlamaToken) -> bool {
        let vocab = self.vocabulary.vocab();
        token == vocab.eos() || token == vocab.sep()
    }

    pub(super) fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.tokens(text).len())
    }

    /// One vector per text, and the tokens each took.
    pub(super) fn embed(&self, texts: Vec<String>) -> Result<(Vec<Vec<f32>>, Vec<u64>)> {
        let sequences: Vec<Vec<LlamaToken>> = texts.iter().map(|text| self.tokens(text)).collect();
        let lengths = sequences.iter().map(|s| s.len() as u64).collect();
        let (reply, answer) = mpsc::channel();
        let worker = self.worker()?;
        let sent = worker
            .jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .send(Job { sequences, reply });
        if sent.is_err() {
            return Err(Error::Embedding("the embedding thread has stopped".into()));
        }
        let vectors = answer
            .recv()
            .map_err(|_| Error::Embedding("the embedding thread stopped while embedding".into()))??;
        Ok((vectors, lengths))
    }

    /// The worker, started (and the weights read) on first use.
    fn worker(&self) -> Result<&Worker> {
        if let Some(worker) = self.worker.get() {
            return Ok(worker);
        }
        let _starting = self
            .starting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(worker) = self.worker.get() {
            return Ok(worker);
        }
        let worker = self.start_worker()?;
        Ok(self.worker.get_or_init(|| worker))
    }

    fn start_worker(&self) -> Result<Worker> {
        let problem = |message: String| Error::Model {
            path: self.path.clone(),
            message,
        };
        let backend = crate::llm::llama::backend().map_err(|e| problem(e.to_string()))?;
        // Read, not mapped: the CPU kernels repack most weights into their own buffers.
        let params = LlamaModelParams::default().with_use_mmap(false);
        let model = LlamaModel::load_from_file(backend, &self.path, &params).map_err(|e| {
            problem(format!(
                "llama.cpp could not load the model (architecture `{}`): {e}; \
                 QUIRE_LOG=llama-cpp-2=info shows llama.cpp's reason",
                self.architecture
            ))
        })?;
        let window = BATCH_TOKENS.max(self.max_tokens) as u32;
        let threads = match self.threads {
            0 => crate::llm::compute_threads(),
            n => n,
        };
        let threads = i32::try_from(threads).unwrap_or(1);
        let context = LlamaContextParams::default()
            .with_embeddings(true)
            .with_n_ctx(NonZeroU32::new(window))
            .with_n_batch(window)
            .with_n_ubatch(window)
            .with_n_seq_max(MAX_BATCH_SEQUENCES as u32)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let path = self.path.clone();
        std::thread::Builder::new()
            .name("quire-embed".into())
            .spawn(move || serve(model, backend, context, path, queue, ready_tx))
            .map_err(|e| problem(format!("cannot start the embedding thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| problem("the embedding thread stopped while starting".into()))??;
        tracing::debug!("embedding model loaded from {}", self.path.display());
        Ok(Worker {
            jobs: Mutex::new(jobs),
        })
    }
}

/// The worker: owns the model and its context, embeds jobs one at a time, and ends
/// when the encoder (holding the job queue) is dropped.
fn serve(
    model: LlamaModel,
    backend: &llama_cpp_2::llama_backend::LlamaBackend,
    params: LlamaContextParams,
    path: PathBuf,
    queue: mpsc::Receiver<Job>,
    ready: mpsc::Sender<Result<()>>,
) {
    let mut context = match model.new_context(backend, params) {
        Ok(context) => context,
        Err(e) => {
            let _ = ready.send(Err(Error::Model {
                path,
                message: format!("llama.cpp could not make a context for the model: {e}"),
            }));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut batch = LlamaBatch::new(context.n_batch() as usize, MAX_BATCH_SEQUENCES as i32);
    while let Ok(job) = queue.recv() {
        let result = embed_all(&mut context, &mut batch, &job.sequences);
        let _ = job.reply.send(result);
    }
}

/// Embeds `sequences` in batches of similar lengths; vectors come back in their order, L2-normalised.
fn embed_all(
    context: &mut llama_cpp_2::context::LlamaContext<'_>,
    batch: &mut LlamaBatch,
    sequences: &[Vec<LlamaToken>],
) -> Result<Vec<Vec<f32>>> {
    let failed = |what: String| Error::Embedding(format!("llama.cpp {what}"));
    let window = context.n_batch() as usize;
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    // Longest first, so that the texts of a batch are alike in length.
    order.sort_by_key(|&i| std::cmp::Reverse(sequences[i].len()));
    let mut vectors = vec![Vec::new(); sequences.len()];
    let mut start = 0;
    while start < order.len() {
        batch.clear();
        let mut members = Vec::new();
        let mut used = 0;
        for &i in &order[start..] {
            // An empty text still gets a vector of its special tokens; `tokens` caps the length.
            let tokens = &sequences[i][..sequences[i].len().min(window)];
            let fits = used + tokens.len() <= BATCH_TOKENS.max(tokens.len()) && used + tokens.len() <= window;
            if !members.is_empty() && (!fits || members.len() == MAX_BATCH_SEQUENCES) {
                break;
            }
            batch
                .add_sequence(tokens, members.len() as i32, true)
                .map_err(|e| failed(format!("batch: {e}")))?;
            used += tokens.len();
            members.push(i);
        }
        context
            .decode(batch)
            .map_err(|e| failed(format!("could not embed: {e}")))?;
        for (sequence, &i) in members.iter().enumerate() {
            let vector = context
                .embeddings_seq_ith(sequence as i32)
                .map_err(|e| failed(format!("gave no sentence vector: {e}")))?;
            vectors[i] = normalized(vector);
        }
        context.clear_kv_cache();
        start += members.len();
    }
    Ok(vectors)
}

fn normalized(vector: &[f32]) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    vector.iter().map(|x| x / norm).collect()
}

/// The Q8_0 copy of the model at `original`, made now if there is none for its
/// current content. It is written under a temporary name and renamed when whole,
/// so an interrupted quantisation leaves nothing that looks finished.
fn quantized_copy(original: &Path) -> Result<PathBuf> {
    let problem = |message: String| Error::Model {
        path: original.to_path_buf(),
        message,
    };
    let hash = file_hash(original)?;
    let stem = original
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // "model.f16.gguf" → "model.q8_0.gguf"
    let base = stem
        .rsplit_once('.')
        .filter(|(_, precision)| is_precision_name(precision))
        .map_or(stem.as_str(), |(base, _)| base)
        .to_string();
    let name = format!("{base}.q8_0.gguf");
    let mut places = Vec::new();
    if let Some(dir) = original.parent() {
        places.push(dir.to_path_buf());
    }
    if let Some(dirs) = directories::ProjectDirs::from("", "", "Quire") {
        places.push(dirs.cache_dir().join("models"));
    }
    for dir in &places {
        let copy = dir.join(&name);
        if std::fs::read_to_string(source_record(&copy)).is_ok_and(|recorded| recorded.trim() == hash)
            && copy.is_file()
        {
            return Ok(copy);
        }
    }
    let mut last_error = String::from("no folder to write it to");
    for dir in &places {
        match quantize_into(original, dir, &name, &hash) {
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

fn is_precision_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["f32", "f16", "bf16"].contains(&name.as_str()) || name.starts_with('q')
}

/// Where the hash of the original a quantised copy was made from is recorded.
fn source_record(copy: &Path) -> PathBuf {
    let mut name = copy.as_os_str().to_owned();
    name.push(".source");
    PathBuf::from(name)
}

fn quantize_into(
    original: &Path,
    dir: &Path,
    name: &str,
    hash: &str,
) -> std::result::Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let copy = dir.join(name);
    let partial = dir.join(format!("{name}.partial"));
    let c_path = |path: &Path| {
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| "a path holds a NUL byte".to_string())
    };
    let (from, to) = (c_path(original)?, c_path(&partial)?);
    crate::llm::llama::backend().map_err(|e| e.to_string())?;
    tracing::info!(
        "making the int8 (Q8_0) copy of {} in {}",
        original.display(),
        dir.display()
    );
    // SAFETY: plain C calls; both paths are NUL-terminated and outlive the call.
    let status = unsafe {
        let mut params = llama_cpp_sys_2::llama_model_quantize_default_params();
        params.ftype = FILE_TYPE_Q8_0 as llama_cpp_sys_2::llama_ftype;
        params.nthread = i32::try_from(crate::llm::compute_threads()).unwrap_or(1);
        llama_cpp_sys_2::llama_model_quantize(from.as_ptr(), to.as_ptr(), &params)
    };
    if status != 0 {
        let _ = std::fs::remove_file(&partial);
        return Err(format!(
            "llama.cpp's quantiser failed (status {status}); QUIRE_LOG=llama-cpp-2=info shows why"
        ));
    }
    std::fs::rename(&partial, &copy).map_err(|e| e.to_string())?;
    std::fs::write(source_record(&copy), format!("{hash}\n")).map_err(|e| e.to_string())?;
    Ok(copy)
}

/// The BLAKE3 hash of a file's content, in hex.
fn file_hash(path: &Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    hasher.update_reader(file).map_err(|e| Error::io(path, e))?;
    Ok(hasher.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_suffixes_are_recognised_in_file_names() {
        assert!(is_precision_name("f16"));
        assert!(is_precision_name("Q4_K_M"));
        assert!(!is_precision_name("v1"));
    }
}
