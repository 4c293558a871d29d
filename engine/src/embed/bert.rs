//! The candle runtime: a BERT-family encoder (candle 0.10, the same candle line the
//! generator runtime uses) loaded from a local folder (config.json, model.safetensors,
//! tokenizer.json). Texts are tokenized, sorted by length and run in padded batches;
//! token vectors are pooled as the model's sentence-transformers config says (mean or
//! CLS) and L2-normalised. Matrix work uses every core.
//!
//! The weights (some 90 MB for MiniLM) are read when the first text is embedded,
//! not when the library opens (see [`super`]). Opening checks that they can be read.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use rayon::prelude::*;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationParams};

use super::ModelShape;
use crate::error::{Error, Result};

/// Tokens per forward pass: batches hold as many sequences as fit, so short
/// texts go through many at a time. Small batches run side by side on all
/// cores; measured on 200 NFCorpus documents (2 cores), 8192 → 1024 tokens took
/// embedding from 0.80 to 0.93 of the matrix-product FLOP rate and peak memory
/// from 1.4 GB to 350 MB.
const BATCH_TOKENS: usize = 1024;
const MAX_BATCH_SEQUENCES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pooling {
    Mean,
    Cls,
}

pub(super) struct BertEncoder {
    /// Loaded from `weights` on first use (see the module's note).
    model: std::sync::OnceLock<BertModel>,
    /// One load at a time: two threads embedding at once must not read the weights twice.
    loading: std::sync::Mutex<()>,
    weights: PathBuf,
    config: BertConfig,
    tokenizer: Tokenizer,
    device: Device,
    dimension: usize,
    max_tokens: usize,
    pooling: Pooling,
    shape: ModelShape,
    /// config.json's `model_type` ("bert", "nomic_bert"…).
    architecture: String,
}

#[derive(Deserialize)]
struct ModelType {
    model_type: Option<String>,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
}

/// The files an embedding model's folder holds.
const MODEL_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

impl BertEncoder {
    /// Whether `dir` holds a BERT model's files ([`BertEncoder::open`] says what is
    /// wrong with one that does not load).
    pub(super) fn is_model_folder(dir: &Path) -> bool {
        MODEL_FILES.iter().all(|file| dir.join(file).is_file())
    }

    /// Opens the model in `dir`: its configuration and tokenizer now, its weights on first use.
    pub(super) fn open(dir: &Path) -> Result<BertEncoder> {
        let problem = |message: String| Error::Model {
            path: dir.to_path_buf(),
            message,
        };
        if !dir.is_dir() {
            return Err(problem("the embedding model folder does not exist".into()));
        }
        for required in MODEL_FILES {
            if !dir.join(required).is_file() {
                return Err(problem(format!(
                    "{required} is missing from the embedding model folder"
                )));
            }
        }
        let config_text = read(&dir.join("config.json"))?;
        let config: BertConfig = serde_json::from_slice(&config_text)
            .map_err(|e| problem(format!("config.json is not a BERT configuration: {e}")))?;
        let architecture = model_type(&config_text).unwrap_or_else(|| "bert".into());
        let device = Device::Cpu;
        let weights = dir.join("model.safetensors");
        check_safetensors_header(&weights)
            .map_err(|e| problem(format!("model.safetensors cannot be read: {e}")))?;

        let sentence_config: Option<SentenceBertConfig> =
            read_optional_json(&dir.join("sentence_bert_config.json"))?;
        let max_tokens = sentence_config
            .and_then(|c| c.max_seq_length)
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);
        let pooling = match read_optional_json::<PoolingConfig>(&dir.join("1_Pooling").join("config.json"))? {
            Some(p) if p.pooling_mode_cls_token => Pooling::Cls,
            _ => Pooling::Mean,
        };

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| problem(format!("tokenizer.json cannot be read: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                // Beyond `max_length`, windows overlapping by this much.
                stride: super::WINDOW_OVERLAP.min(max_tokens / 4),
                ..TruncationParams::default()
            }))
            .map_err(|e| problem(format!("tokenizer.json: {e}")))?;

        Ok(BertEncoder {
            model: std::sync::OnceLock::new(),
            loading: std::sync::Mutex::new(()),
            weights,
            config: config.clone(),
            tokenizer,
            device,
            dimension: config.hidden_size,
            max_tokens,
            pooling,
            architecture,
            shape: ModelShape {
                layers: config.num_hidden_layers,
                hidden: config.hidden_size,
                intermediate: config.intermediate_size,
            },
        })
    }

    pub(super) fn dimension(&self) -> usize {
        self.dimension
    }

    /// The encoder, read from its weights the first time it is needed.
    fn model(&self) -> Result<&BertModel> {
        super::made_once(&self.model, &self.loading, || self.load_weights())
    }

    fn load_weights(&self) -> Result<BertModel> {
        let problem = |message: String| Error::Model {
            path: self.weights.parent().map(Path::to_path_buf).unwrap_or_default(),
            message,
        };
        let bytes = std::fs::read(&self.weights)
            .map_err(|e| problem(format!("model.safetensors cannot be read: {e}")))?;
        let vars = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &self.device)
            .map_err(|e| problem(format!("model.safetensors cannot be read: {e}")))?;
        let model = BertModel::load(vars, &self.config)
            .map_err(|e| problem(format!("the weights do not fit a BERT model: {e}")))?;
        tracing::debug!("embedding model loaded from {}", self.weights.display());
        Ok(model)
    }

    pub(super) fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// config.json's `model_type` in the folder `dir`, if it can be read.
    pub(super) fn architecture_of(dir: &Path) -> Option<String> {
        model_type(&std::fs::read(dir.join("config.json")).ok()?)
    }

    pub(super) fn architecture(&self) -> &str {
        &self.architecture
    }

    /// What the folder's files say of the model, for writing it out in another format.
    pub(super) fn layout(&self) -> (&BertConfig, Pooling, &Tokenizer, &Path) {
        (&self.config, self.pooling, &self.tokenizer, &self.weights)
    }

    pub(super) fn shape(&self) -> ModelShape {
        self.shape
    }

    /// Counts the tokens the model reads for `text`, over all its windows.
    pub(super) fn count_tokens(&self, text: &str) -> Result<usize> {
        let encoding = self.tokenizer.encode(text, true).map_err(tokenizer_error)?;
        Ok(encoding.len() + encoding.get_overflowing().iter().map(|o| o.len()).sum::<usize>())
    }

    /// One vector per text, and the tokens each text took (padding not counted).
    /// A text longer than the model reads is embedded in overlapping windows, combined
    /// as the model pools ([`super::combine_windows`]): every token is seen.
    pub(super) fn embed(&self, texts: Vec<String>) -> Result<(Vec<Vec<f32>>, Vec<u64>)> {
        let count = texts.len();
        let mut text_of_window = Vec::with_capacity(count);
        let mut encodings = Vec::with_capacity(count);
        for (text, mut encoding) in self
            .tokenizer
            .encode_batch(texts, true)
            .map_err(tokenizer_error)?
            .into_iter()
            .enumerate()
        {
            let overflowing = encoding.take_overflowing();
            text_of_window.extend(std::iter::repeat_n(text, 1 + overflowing.len()));
            encodings.push(encoding);
            encodings.extend(overflowing);
        }
        // Longest first: similar lengths share a batch, so little is padding.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].len()));
        let mut batches: Vec<&[usize]> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let longest = encodings[order[start]].len().max(1);
            let fit = (BATCH_TOKENS / longest).clamp(1, MAX_BATCH_SEQUENCES);
            let end = (start + fit).min(order.len());
            batches.push(&order[start..end]);
            start = end;
        }
        let model = self.model()?;
        // Batches run side by side: candle parallelises its matrix products but
        // runs element-wise work (GELU, softmax, layer norm) on one thread, so
        // one batch at a time leaves cores idle.
        let results: Vec<candle_core::Result<Vec<Vec<f32>>>> = batches
            .par_iter()
            .map(|batch| {
                let ids: Vec<&[u32]> = batch.iter().map(|&i| encodings[i].get_ids()).collect();
                self.forward(model, &ids)
            })
            .collect();
        let mut pooled = vec![Vec::new(); encodings.len()];
        for (batch, result) in batches.iter().zip(results) {
            for (&i, vector) in batch.iter().zip(result.map_err(model_error)?) {
                pooled[i] = vector;
            }
        }
        let mut windows: Vec<Vec<(Vec<f32>, usize)>> = vec![Vec::new(); count];
        let mut lengths = vec![0u64; count];
        for ((vector, encoding), &text) in pooled.into_iter().zip(&encodings).zip(&text_of_window) {
            windows[text].push((vector, encoding.len()));
            lengths[text] += encoding.len() as u64;
        }
        let pooling = match self.pooling {
            Pooling::Mean => super::WindowPooling::Mean,
            Pooling::Cls => super::WindowPooling::First,
        };
        let vectors = windows
            .iter()
            .map(|windows| super::combine_windows(windows, pooling))
            .collect();
        Ok((vectors, lengths))
    }

    fn forward(&self, model: &BertModel, sequences: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let width = sequences.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(sequences.len() * width);
        let mut mask = Vec::with_capacity(sequences.len() * width);
        for sequence in sequences {
            ids.extend_from_slice(sequence);
            ids.extend(std::iter::repeat_n(0u32, width - sequence.len()));
            mask.extend(std::iter::repeat_n(1u32, sequence.len()));
            mask.extend(std::iter::repeat_n(0u32, width - sequence.len()));
        }
        let shape = (sequences.len(), width);
        let ids = Tensor::from_vec(ids, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let token_types = ids.zeros_like()?;
        let hidden = model.forward(&ids, &token_types, Some(&mask))?;
        let pooled = match self.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
                let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
                summed.broadcast_div(&counts)?
            }
        };
        // Normalised once a text's windows are combined.
        pooled.to_vec2::<f32>()
    }
}

/// Checks that `path` starts as a safetensors file does: an 8-byte length and a JSON
/// header of that length naming tensors. Reads the header only, not the weights.
fn check_safetensors_header(path: &Path) -> std::result::Result<(), String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    let mut length = [0u8; 8];
    file.read_exact(&mut length)
        .map_err(|_| "too short for a safetensors file".to_string())?;
    let length = u64::from_le_bytes(length);
    // The format caps its header at 100 MB.
    if length == 0 || length > 100_000_000 || length + 8 > size {
        return Err(format!(
            "its header length ({length} bytes) does not fit the file"
        ));
    }
    let mut header = vec![0u8; usize::try_from(length).map_err(|e| e.to_string())?];
    file.read_exact(&mut header).map_err(|e| e.to_string())?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| format!("its header is not JSON: {e}"))?;
    if !header.keys().any(|name| name != "__metadata__") {
        return Err("it holds no tensors".into());
    }
    Ok(())
}

fn model_type(config_json: &[u8]) -> Option<String> {
    serde_json::from_slice::<ModelType>(config_json).ok()?.model_type
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn read_optional_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Model {
                path: PathBuf::from(path),
                message: format!("not valid JSON: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn tokenizer_error(err: tokenizers::Error) -> Error {
    Error::Embedding(format!("tokenizing failed: {err}"))
}

fn model_error(err: candle_core::Error) -> Error {
    Error::Embedding(err.to_string())
}
