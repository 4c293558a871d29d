//! Sentence embeddings on the device, by one of two runtimes behind [`Embedder`]:
//!
//! - a folder (config.json, model.safetensors, tokenizer.json) is a BERT-family
//!   encoder run by candle ([`bert`]), all-MiniLM-L6-v2 by default;
//! - a `.gguf` file is run by llama.cpp ([`gguf`]) with its run-time CPU kernels,
//!   nomic-embed-text-v1.5 for one;
//! - with `embedder_int8`, either is run by llama.cpp from an int8 (Q8_0) copy made
//!   at first use ([`int8`]).
//!
//! Either way vectors are L2-normalised, so cosine similarity is a dot product,
//! and a model's weights are read when the first text is embedded, not when the
//! library opens: an app that starts, finds nothing new to index and waits for a
//! question holds none of them.
//!
//! What differs by model and is not in its files lives in [`ModelProfile`]: the
//! prefixes it was trained with and the similarity thresholds calibrated for it.

mod bert;
#[cfg(feature = "llama-cpp")]
mod gguf;
#[cfg(feature = "llama-cpp")]
mod int8;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::retrieve::{Feedback, Fusion};

/// Tokens embedded and the floating-point operations they cost.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct EmbeddingWork {
    pub tokens: u64,
    pub flops: f64,
}

/// What the cost of a forward pass depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModelShape {
    pub layers: usize,
    pub hidden: usize,
    pub intermediate: usize,
}

#[derive(Default)]
struct WorkCounter {
    tokens: AtomicU64,
    /// Σ length² over sequences, for attention's quadratic part.
    squared_lengths: AtomicU64,
}

impl WorkCounter {
    fn record(&self, lengths: &[u64]) {
        for &length in lengths {
            self.tokens.fetch_add(length, Ordering::Relaxed);
            self.squared_lengths.fetch_add(length * length, Ordering::Relaxed);
        }
    }

    /// Per layer and token: Q, K, V and output projections (4·h²) and the
    /// feed-forward (2·h·i, or 3·h·i for a gated one) multiply-adds; per sequence:
    /// scores and weighted values (2·L²·h). Two operations per multiply-add.
    fn snapshot(&self, shape: &ModelShape, gated: bool) -> EmbeddingWork {
        let tokens = self.tokens.load(Ordering::Relaxed);
        let squared = self.squared_lengths.load(Ordering::Relaxed) as f64;
        let (h, i) = (shape.hidden as f64, shape.intermediate as f64);
        let feed_forward = if gated { 3.0 } else { 2.0 } * h * i;
        let per_token = 4.0 * h * h + feed_forward;
        let flops = 2.0 * shape.layers as f64 * (tokens as f64 * per_token + 2.0 * squared * h);
        EmbeddingWork { tokens, flops }
    }
}

/// Tokens that neighbouring windows of a text longer than the model reads share, so
/// that a sentence cut by a window's end is seen whole by the next one.
const WINDOW_OVERLAP: usize = 32;

/// Which window of a long text speaks for it, as the model pools tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WindowPooling {
    /// Mean pooling: every window, weighted by its tokens (the mean over all the text's tokens).
    Mean,
    /// CLS pooling: the first window's.
    First,
    /// Last-token pooling: the last window's.
    Last,
}

/// One vector for a text embedded in windows, from each window's pooled vector (not yet
/// normalised) and token count. A text that fits the model is one window, and this is
/// its pooled vector.
///
/// Always L2-normalised, whatever the model's own pipeline ends with (many
/// sentence-transformers folders have no Normalize module): the vector store, the
/// evidence check and every threshold read a dot product as the cosine.
fn combine_windows(windows: &[(Vec<f32>, usize)], pooling: WindowPooling) -> Vec<f32> {
    let mut combined = match pooling {
        WindowPooling::First => windows.first().map(|w| w.0.clone()).unwrap_or_default(),
        WindowPooling::Last => windows.last().map(|w| w.0.clone()).unwrap_or_default(),
        WindowPooling::Mean => {
            let dimension = windows.first().map_or(0, |w| w.0.len());
            let total = windows.iter().map(|w| w.1).sum::<usize>().max(1) as f32;
            let mut sum = vec![0.0f32; dimension];
            for (vector, tokens) in windows {
                let weight = *tokens as f32 / total;
                for (s, v) in sum.iter_mut().zip(vector) {
                    *s += v * weight;
                }
            }
            sum
        }
    };
    let norm = combined.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    combined.iter_mut().for_each(|x| *x /= norm);
    combined
}

/// What a model needs that its files do not say: the text it was trained to see
/// before queries and passages, and where its cosine similarities mean "related".
/// Thresholds are cosine values, and every model spreads them differently, so they
/// are calibrated per model (README, "When Quire abstains") and kept here rather
/// than in one global setting.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelProfile {
    pub query_prefix: &'static str,
    pub passage_prefix: &'static str,
    /// Below this similarity between a question and its best passage, Quire abstains.
    pub abstain_below: f32,
    /// Below this similarity between a question and the sources' best sentence, Quire declines.
    pub evidence_below: f32,
    /// How hybrid search weighs this model's ranking against the keyword ranking.
    pub fusion: Fusion,
    /// Whether, and how, hybrid search moves the query towards its best passages and searches again.
    pub feedback: Option<Feedback>,
}

impl ModelProfile {
    /// all-MiniLM-L6-v2 and any model Quire knows nothing about: no prefixes, the
    /// thresholds calibrated for MiniLM (README, "Answers you can check"), RRF with k = 10 and
    /// BM25 weighing 1.5 ([`Fusion::TUNED`]), and the query moved towards its two best
    /// passages ([`Feedback::TUNED`]).
    pub const PLAIN: ModelProfile = ModelProfile {
        query_prefix: "",
        passage_prefix: "",
        abstain_below: 0.25,
        evidence_below: 0.45,
        fusion: Fusion::TUNED,
        feedback: Some(Feedback::TUNED),
    };

    /// nomic-embed-text (v1, v1.5): trained with task prefixes. Its similarities sit far
    /// higher than MiniLM's (an unrelated library's best passage: median 0.49 against
    /// 0.11). `abstain_below`: `quire eval nfcorpus --abstention-against examples/library`
    /// (int8), where it answers as many answerable queries as MiniLM's 0.25 does (92.6 %)
    /// and abstains on 98.1 % of the unanswerable ones (best balanced accuracy: 0.58).
    /// `evidence_below`: MiniLM's 0.45 carried over by quantile (the share of NFCorpus
    /// queries whose best passage falls below it, 32 %), then checked on answers as MiniLM's
    /// was chosen (`quire eval --answers squad11-dev13` with the check off, 100 answerable
    /// questions, int8): it declines 8 % of them, within the 10 % budget whose highest
    /// threshold is 0.69 (9 %; 0.70 declines 12 %), and none it declines was answered right.
    /// Fusion and feedback: as for MiniLM ([`Fusion::TUNED`], [`Feedback::TUNED`]); swept
    /// together on NFCorpus, the same fusion is the best of 15 for both embedders (the
    /// keyword weight of 0.6 nomic once had made up for titles scored on their own).
    const NOMIC: ModelProfile = ModelProfile {
        query_prefix: "search_query: ",
        passage_prefix: "search_document: ",
        abstain_below: 0.60,
        evidence_below: 0.68,
        fusion: Fusion::TUNED,
        feedback: Some(Feedback::TUNED),
    };

    /// The profile of the model at `path` (a folder or a GGUF file), from its
    /// metadata alone; one that cannot be read gets the plain profile.
    pub fn of_model(path: &Path) -> &'static ModelProfile {
        let architecture = if path.is_dir() {
            bert::BertEncoder::architecture_of(path)
        } else {
            crate::llm::read_gguf(path, Error::Embedding)
                .ok()
                .and_then(|header| header.architecture())
        };
        Self::for_architecture(architecture.as_deref().unwrap_or_default())
    }

    /// The profile of a model by its architecture (GGUF `general.architecture`, or
    /// config.json's `model_type`).
    pub fn for_architecture(architecture: &str) -> &'static ModelProfile {
        match architecture {
            "nomic-bert" | "nomic_bert" => &Self::NOMIC,
            _ => &Self::PLAIN,
        }
    }
}

/// The runtime that runs a model.
enum Encoder {
    // Boxed: the tokenizer makes the candle runtime some 2 KB, the llama.cpp one 176 bytes.
    Bert(Box<bert::BertEncoder>),
    #[cfg(feature = "llama-cpp")]
    Gguf(gguf::GgufEncoder),
}

pub struct Embedder {
    encoder: Encoder,
    profile: &'static ModelProfile,
    query_prefix: String,
    passage_prefix: String,
    /// Identifies the model for the vectors made with it: its file or folder name,
    /// precision, dimension and prefixes. Vectors of another identity are not comparable.
    identity: String,
    work: WorkCounter,
}

/// An embedding model and how it runs: what config.toml keeps (`embedder`,
/// `embedder_int8`) and the settings offer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct EmbedderChoice {
    /// A model folder or GGUF file.
    #[cfg_attr(feature = "typescript", ts(type = "string"))]
    pub model: std::path::PathBuf,
    /// Run from its int8 (Q8_0) copy on llama.cpp.
    pub int8: bool,
}

/// How an embedding model is loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedderOptions {
    /// Put before queries and passages; `None`: what the model's profile says.
    pub query_prefix: Option<String>,
    pub passage_prefix: Option<String>,
    /// Run the model quantised to int8 (Q8_0) on llama.cpp, from a copy made at first
    /// use and cached beside it (a BERT folder converted to GGUF on the way). A Q8_0
    /// file is run as it is.
    pub int8: bool,
    /// Threads for llama.cpp; 0: one per core.
    pub threads: usize,
    /// Run on a GPU when llama.cpp found one (GGUF and int8 models).
    pub gpu: bool,
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        EmbedderOptions {
            query_prefix: None,
            passage_prefix: None,
            int8: false,
            threads: 0,
            gpu: true,
        }
    }
}

impl Embedder {
    /// Whether `path` is an embedding model Quire can run: a folder with a BERT
    /// model's files, or a GGUF file of a model that pools a sentence vector (not a
    /// chat model). The int8 copies Quire makes are not models of their own: they are
    /// offered as their original run in int8. [`Embedder::load`] says what is wrong with
    /// one that does not load.
    pub fn is_model(path: &Path) -> bool {
        bert::BertEncoder::is_model_folder(path)
            || (is_gguf_file(path) && gguf_pools_sentences(path) && !is_int8_copy(path))
    }

    /// Loads the model at `path`: a folder runs on candle, a `.gguf` file on llama.cpp.
    pub fn load(path: &Path, options: &EmbedderOptions) -> Result<Embedder> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (encoder, architecture, precision) = if options.int8 && (path.is_dir() || is_gguf_file(path)) {
            if path.is_dir() {
                // What is wrong with the folder, in its own words, before any conversion.
                bert::BertEncoder::open(path)?;
            }
            open_int8(path, options)?
        } else if path.is_dir() || !is_gguf_file(path) {
            let encoder = bert::BertEncoder::open(path)?;
            let architecture = encoder.architecture().to_string();
            (Encoder::Bert(Box::new(encoder)), architecture, "f32".to_string())
        } else {
            open_gguf(path, options)?
        };
        let profile = ModelProfile::for_architecture(&architecture);
        let query_prefix = options
            .query_prefix
            .clone()
            .unwrap_or_else(|| profile.query_prefix.into());
        let passage_prefix = options
            .passage_prefix
            .clone()
            .unwrap_or_else(|| profile.passage_prefix.into());
        let mut embedder = Embedder {
            encoder,
            profile,
            identity: String::new(),
            query_prefix,
            passage_prefix,
            work: WorkCounter::default(),
        };
        // The F32 BERT folder keeps the identity it always had, so existing vectors stay current.
        let precision = if precision == "f32" {
            String::new()
        } else {
            format!("/{precision}")
        };
        embedder.identity = format!(
            "{name}{precision}/{}/{}/{}",
            embedder.dimension(),
            embedder.query_prefix,
            embedder.passage_prefix
        );
        Ok(embedder)
    }

    pub fn dimension(&self) -> usize {
        match &self.encoder {
            Encoder::Bert(e) => e.dimension(),
            #[cfg(feature = "llama-cpp")]
            Encoder::Gguf(e) => e.dimension(),
        }
    }

    /// The most tokens the model reads at once; a longer text is embedded in overlapping
    /// windows of this many, combined as the model pools.
    pub fn max_tokens(&self) -> usize {
        match &self.encoder {
            Encoder::Bert(e) => e.max_tokens(),
            #[cfg(feature = "llama-cpp")]
            Encoder::Gguf(e) => e.max_tokens(),
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The model's prefixes and calibrated thresholds.
    pub fn profile(&self) -> &'static ModelProfile {
        self.profile
    }

    /// Counts the tokens the model reads for `text` (a text longer than
    /// [`Embedder::max_tokens`] is read in overlapping windows, some tokens twice).
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        match &self.encoder {
            Encoder::Bert(e) => e.count_tokens(text),
            #[cfg(feature = "llama-cpp")]
            Encoder::Gguf(e) => e.count_tokens(text),
        }
    }

    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>> {
        let mut vectors = self.embed_texts(vec![format!("{}{query}", self.query_prefix)])?;
        vectors
            .pop()
            .ok_or_else(|| Error::Embedding("it returned no vector".into()))
    }

    /// Embeds passages on a blocking thread, off the async runtime.
    pub async fn embed_passages_blocking(self: &Arc<Self>, passages: Vec<String>) -> Result<Vec<Vec<f32>>> {
        if passages.is_empty() {
            return Ok(Vec::new());
        }
        let embedder = self.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
            embedder.embed_passages(&refs)
        })
        .await?
    }

    pub fn embed_passages(&self, passages: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_texts(
            passages
                .iter()
                .map(|p| format!("{}{p}", self.passage_prefix))
                .collect(),
        )
    }

    fn embed_texts(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        let (vectors, lengths) = match &self.encoder {
            Encoder::Bert(e) => e.embed(texts)?,
            #[cfg(feature = "llama-cpp")]
            Encoder::Gguf(e) => e.embed(texts)?,
        };
        self.work.record(&lengths);
        Ok(vectors)
    }

    /// Useful work done so far: tokens embedded and the floating-point
    /// operations they took (padding not counted).
    pub fn work(&self) -> EmbeddingWork {
        match &self.encoder {
            Encoder::Bert(e) => self.work.snapshot(&e.shape(), false),
            #[cfg(feature = "llama-cpp")]
            Encoder::Gguf(e) => self.work.snapshot(&e.shape(), e.gated()),
        }
    }
}

/// The value in `cell`, made by `make` the first time it is asked for. `making` lets one
/// caller make it at a time, so that a costly value (a model's weights) is made once.
fn made_once<'a, T>(
    cell: &'a std::sync::OnceLock<T>,
    making: &std::sync::Mutex<()>,
    make: impl FnOnce() -> Result<T>,
) -> Result<&'a T> {
    if let Some(value) = cell.get() {
        return Ok(value);
    }
    let _making = making.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(value) = cell.get() {
        return Ok(value);
    }
    let value = make()?;
    Ok(cell.get_or_init(|| value))
}

/// Whether `path` is a file that starts with the GGUF signature.
fn is_gguf_file(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    path.is_file()
        && std::fs::File::open(path).is_ok_and(|mut file| file.read_exact(&mut magic).is_ok())
        && &magic == b"GGUF"
}

/// Whether `path` is an int8 copy Quire made (it has the record of its original beside it).
fn is_int8_copy(path: &Path) -> bool {
    source_record(path).is_file()
}

/// Where the hash of the original an int8 copy was made from is recorded.
fn source_record(copy: &Path) -> std::path::PathBuf {
    let mut name = copy.as_os_str().to_owned();
    name.push(".source");
    std::path::PathBuf::from(name)
}

/// Whether the GGUF file at `path` says how it pools token vectors into a sentence
/// vector, as embedding models do and chat models do not.
fn gguf_pools_sentences(path: &Path) -> bool {
    crate::llm::read_gguf(path, Error::Embedding)
        .is_ok_and(|header| header.model_number("pooling_type").is_some())
}

#[cfg(feature = "llama-cpp")]
fn open_gguf(path: &Path, options: &EmbedderOptions) -> Result<(Encoder, String, String)> {
    let encoder = gguf::GgufEncoder::open(path, options.threads, options.gpu)?;
    let (architecture, precision) = (
        encoder.architecture().to_string(),
        encoder.precision().to_lowercase(),
    );
    Ok((Encoder::Gguf(encoder), architecture, precision))
}

#[cfg(feature = "llama-cpp")]
fn open_int8(path: &Path, options: &EmbedderOptions) -> Result<(Encoder, String, String)> {
    open_gguf(&int8::int8_copy(path)?, options)
}

#[cfg(not(feature = "llama-cpp"))]
fn open_gguf(path: &Path, _options: &EmbedderOptions) -> Result<(Encoder, String, String)> {
    Err(without_llama_cpp(path, "a GGUF embedding model"))
}

#[cfg(not(feature = "llama-cpp"))]
fn open_int8(path: &Path, _options: &EmbedderOptions) -> Result<(Encoder, String, String)> {
    Err(without_llama_cpp(path, "an int8 embedder (embedder_int8)"))
}

#[cfg(not(feature = "llama-cpp"))]
fn without_llama_cpp(path: &Path, what: &str) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        message: format!(
            "{what} needs the llama.cpp runtime, which this build of Quire lacks \
             (build with the `llama-cpp` feature)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_of_a_long_text_combine_by_their_tokens() {
        // Three tokens in the first window, one in the second: 3 : 1, as a unit vector.
        let windows = [(vec![2.0, 0.0], 3), (vec![0.0, 2.0], 1)];
        let mean = combine_windows(&windows, WindowPooling::Mean);
        assert!((mean[0] / mean[1] - 3.0).abs() < 1e-5, "{mean:?}");
        assert!((mean[0].hypot(mean[1]) - 1.0).abs() < 1e-6, "{mean:?}");
        assert_eq!(combine_windows(&windows, WindowPooling::First), vec![1.0, 0.0]);
        assert_eq!(combine_windows(&windows, WindowPooling::Last), vec![0.0, 1.0]);
    }

    #[test]
    fn nomic_models_get_their_task_prefixes_and_others_none() {
        assert_eq!(
            ModelProfile::for_architecture("nomic-bert").query_prefix,
            "search_query: "
        );
        assert_eq!(
            ModelProfile::for_architecture("nomic-bert").passage_prefix,
            "search_document: "
        );
        assert_eq!(ModelProfile::for_architecture("bert").query_prefix, "");
    }

    #[test]
    fn a_file_that_is_neither_folder_nor_gguf_is_no_model() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("weights.bin");
        std::fs::write(&file, b"not a model").unwrap();
        assert!(!Embedder::is_model(&file));
        assert!(!Embedder::is_model(dir.path()));
        std::fs::write(&file, b"GGUF\x03\x00\x00\x00").unwrap();
        assert!(!Embedder::is_model(&file), "a damaged GGUF file is no model");
    }
}
