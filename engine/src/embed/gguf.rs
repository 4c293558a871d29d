//! The llama.cpp runtime for embedding models in GGUF files (nomic-bert, bert,
//! and whatever else llama.cpp pools into sentence vectors), on the same
//! run-time CPU kernels as the generator (AVX-512, VNNI, AMX where present).
//!
//! Opening reads the metadata and the vocabulary only (a vocab-only model, for
//! tokenizing); the weights are read by a worker thread on the first embedding.
//! The worker owns the llama.cpp context for the model's life, so each call pays
//! for its tokens only.
//! Int8 (Q8_0) copies of models are made by [`super::int8`].

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

/// The longest text embedded, in tokens. Passages are far shorter (chunks aim for
/// 250 to 400 tokens); the cap keeps llama.cpp's buffers small, since every
/// sequence must fit one forward pass whole.
const MAX_SEQUENCE_TOKENS: usize = 1024;

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
    /// How the model pools a sentence vector, and so which windows of a long text count.
    pooling: super::WindowPooling,
    threads: usize,
    /// Put the model on a GPU when llama.cpp found one.
    gpu: bool,
    /// Started on the first embedding.
    worker: OnceLock<Worker>,
    starting: Mutex<()>,
}

/// The thread that owns the model and its context.
struct Worker {
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// One window to embed. Jobs are one window each, so that the texts of several callers
/// take turns: a question asked while indexing embeds a slice of passages waits for one
/// passage, not for the slice (seconds with nomic-embed-text).
struct Job {
    tokens: Vec<LlamaToken>,
    reply: mpsc::Sender<Result<Vec<f32>>>,
}

impl GgufEncoder {
    pub(super) fn open(path: &Path, threads: usize, gpu: bool) -> Result<GgufEncoder> {
        let problem = |message: String| Error::Model {
            path: path.to_path_buf(),
            message,
        };
        let header = crate::llm::read_gguf(path, problem)?;
        let number = |name: &str| header.model_number(name).map(|n| n as usize);
        let architecture = header
            .architecture()
            .ok_or_else(|| problem("the file names no architecture".into()))?;
        let Some(pooling) = number("pooling_type") else {
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
        let pooling = match pooling {
            2 => super::WindowPooling::First,
            3 => super::WindowPooling::Last,
            _ => super::WindowPooling::Mean,
        };
        let dimension =
            number("embedding_length").ok_or_else(|| problem("the file gives no embedding length".into()))?;
        let shape = ModelShape {
            layers: number("block_count").unwrap_or(0),
            hidden: dimension,
            intermediate: number("feed_forward_length").unwrap_or(0),
        };
        let gated = header.content.tensor_infos.contains_key("blk.0.ffn_gate.weight");
        let trained_context = number("context_length").unwrap_or(512);
        let file_type = header.number("general.file_type").map(|t| t as u32);

        let backend = crate::llm::llama::backend().map_err(|e| problem(e.to_string()))?;
        let vocabulary =
            LlamaModel::load_from_file(backend, path, &LlamaModelParams::default().with_vocab_only(true))
                .map_err(|e| problem(format!("llama.cpp could not read its vocabulary: {e}")))?;

        let path = path.to_path_buf();
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
            pooling,
            threads,
            gpu,
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

    /// `text` as the model reads it: with its special tokens ([CLS] … [SEP] for BERT
    /// vocabularies), in overlapping windows of at most `max_tokens` when it is longer,
    /// each with the special tokens the model was trained to see around a text.
    fn windows(&self, text: &str) -> Vec<Vec<LlamaToken>> {
        let vocab = self.vocabulary.vocab();
        let tokens = vocab.tokenize(text.as_bytes(), true, false);
        if tokens.is_empty() {
            // A vocabulary without special tokens gives nothing for an empty text; llama.cpp
            // pools no vector from no tokens, so the text is read as its start token.
            return vec![vec![vocab.bos()]];
        }
        if tokens.len() <= self.max_tokens {
            return vec![tokens];
        }
        let lead = usize::from(tokens.first().is_some_and(|&t| t == vocab.bos()));
        let tail = usize::from(
            tokens
                .last()
                .is_some_and(|&t| t == vocab.eos() || t == vocab.sep()),
        );
        let (opening, body, closing) = (
            &tokens[..lead],
            &tokens[lead..tokens.len() - tail],
            &tokens[tokens.len() - tail..],
        );
        let room = self.max_tokens.saturating_sub(lead + tail).max(1);
        let step = room.saturating_sub(super::WINDOW_OVERLAP.min(room / 4)).max(1);
        let mut windows = Vec::new();
        let mut start = 0;
        loop {
            let end = (start + room).min(body.len());
            windows.push([opening, &body[start..end], closing].concat());
            if end == body.len() {
                return windows;
            }
            start += step;
        }
    }

    pub(super) fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.windows(text).iter().map(Vec::len).sum())
    }

    /// One vector per text, and the tokens each took.
    pub(super) fn embed(&self, texts: Vec<String>) -> Result<(Vec<Vec<f32>>, Vec<u64>)> {
        let mut text_of_window = Vec::with_capacity(texts.len());
        let mut sequences: Vec<Vec<LlamaToken>> = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            let windows = self.windows(text);
            text_of_window.extend(std::iter::repeat_n(index, windows.len()));
            sequences.extend(windows);
        }
        let mut lengths = vec![0u64; texts.len()];
        for (sequence, &text) in sequences.iter().zip(&text_of_window) {
            lengths[text] += sequence.len() as u64;
        }
        let window_lengths: Vec<usize> = sequences.iter().map(Vec::len).collect();
        let worker = self.worker()?;
        let (reply, answer) = mpsc::channel();
        let mut pooled = Vec::with_capacity(sequences.len());
        for tokens in sequences {
            // The next window is sent once this one is back: another caller's job, sent
            // meanwhile, comes first.
            let sent = worker
                .jobs
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .send(Job {
                    tokens,
                    reply: reply.clone(),
                });
            if sent.is_err() {
                return Err(Error::Embedding("the embedding thread has stopped".into()));
            }
            pooled.push(
                answer
                    .recv()
                    .map_err(|_| Error::Embedding("the embedding thread stopped while embedding".into()))??,
            );
        }
        let mut windows: Vec<Vec<(Vec<f32>, usize)>> = vec![Vec::new(); texts.len()];
        for ((vector, length), &text) in pooled.into_iter().zip(window_lengths).zip(&text_of_window) {
            windows[text].push((vector, length));
        }
        let vectors = windows
            .iter()
            .map(|windows| super::combine_windows(windows, self.pooling))
            .collect();
        Ok((vectors, lengths))
    }

    /// The worker, started (and the weights read) on first use.
    fn worker(&self) -> Result<&Worker> {
        super::made_once(&self.worker, &self.starting, || self.start_worker())
    }

    fn start_worker(&self) -> Result<Worker> {
        let problem = |message: String| Error::Model {
            path: self.path.clone(),
            message,
        };
        // Started first: it finds the GPUs the model may go on.
        crate::llm::llama::backend().map_err(|e| problem(e.to_string()))?;
        crate::llm::gpu::start_model(&self.path, self.max_tokens, self.gpu, |params, offload| {
            if let Some(plan) = &offload {
                tracing::info!(device = %plan.device, layers = plan.layers, "embedding on the GPU");
            }
            self.start_worker_with(params)
        })
    }

    /// Loads the model with `params` and starts the worker (which makes the context).
    fn start_worker_with(&self, params: LlamaModelParams) -> Result<Worker> {
        let problem = |message: String| Error::Model {
            path: self.path.clone(),
            message,
        };
        let backend = crate::llm::llama::backend().map_err(|e| problem(e.to_string()))?;
        // Read, not mapped: the CPU kernels repack most weights into their own buffers.
        let params = params.with_use_mmap(false);
        let model = LlamaModel::load_from_file(backend, &self.path, &params).map_err(|e| {
            problem(format!(
                "llama.cpp could not load the model (architecture `{}`): {e}; \
                 QUIRE_LOG=llama-cpp-2=info shows llama.cpp's reason",
                self.architecture
            ))
        })?;
        let window = self.max_tokens as u32;
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
            .with_n_seq_max(1)
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
    let mut batch = LlamaBatch::new(context.n_batch() as usize, 1);
    while let Ok(job) = queue.recv() {
        let result = embed_one(&mut context, &mut batch, &job.tokens);
        let _ = job.reply.send(result);
    }
}

/// The pooled vector (not normalised) of one window of tokens, in a forward pass of its own.
///
/// One text per forward pass: a text's vector must not depend on what it happens to
/// be embedded with (llama.cpp attends across a whole batch, other texts masked out,
/// and its sums then run in another order), or a library indexed after an interruption
/// would rank differently from one indexed in one go. Measured on 100 NFCorpus
/// documents (2 cores, MiniLM int8): 21.8 passages/s one at a time, 22.4 in batches of
/// 256 tokens, 20.7 of 512, 16.8 of 2,048.
fn embed_one(
    context: &mut llama_cpp_2::context::LlamaContext<'_>,
    batch: &mut LlamaBatch,
    tokens: &[LlamaToken],
) -> Result<Vec<f32>> {
    let failed = |what: String| Error::Embedding(format!("llama.cpp {what}"));
    batch.clear();
    // `windows` keeps every sequence within the model's window; this keeps llama.cpp's
    // own check (an abort, not an error) from ever firing.
    let tokens = &tokens[..tokens.len().min(context.n_batch() as usize)];
    batch
        .add_sequence(tokens, 0, true)
        .map_err(|e| failed(format!("batch: {e}")))?;
    let decoded = context
        .decode(batch)
        .map_err(|e| failed(format!("could not embed: {e}")));
    let vector = decoded.and_then(|()| {
        context
            .embeddings_seq_ith(0)
            .map(<[f32]>::to_vec)
            .map_err(|e| failed(format!("gave no sentence vector: {e}")))
    });
    context.clear_kv_cache();
    vector
}
