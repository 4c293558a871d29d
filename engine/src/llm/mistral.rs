//! The mistralrs runtime: a local GGUF chat model run by mistralrs, its chat
//! template taken from the file. The model is addressed by its folder on disk;
//! no hub id and no token are ever passed.

use std::path::Path;

use mistralrs::{GgufModelBuilder, RequestBuilder, Response, TextMessageRole, TokenSource};

use super::{ChatMessage, LoadOptions, ModelInfo, RawGeneration, Reply, Role};
use crate::cancel::CancelToken;
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

pub(super) struct MistralModel {
    model: mistralrs::Model,
    path: std::path::PathBuf,
    end_token: Option<u32>,
}

impl MistralModel {
    /// mistralrs takes its threads from RAYON_NUM_THREADS (see `set_compute_threads`)
    /// and picks its own prompt batching, so only the file comes from `_options`.
    pub(super) async fn load(info: &ModelInfo, _options: &LoadOptions) -> Result<MistralModel> {
        let path = info.path.as_path();
        let fail = |message: String| Error::Generator {
            path: path.to_path_buf(),
            message,
        };
        if mistralrs_core::reasoning_parsers::harmony::is_harmony_template(&info.chat_template) {
            // mistralrs would fetch the Harmony tokenizer from the internet at the first answer.
            return Err(fail(
                "its chat template is OpenAI's Harmony format, for which mistralrs downloads a tokenizer \
                 from the internet; Quire never goes online, so run this model on llama.cpp \
                 (runtime = \"llama.cpp\" in config.toml, or --runtime llama.cpp)"
                    .into(),
            ));
        }
        if !SUPPORTED_ARCHITECTURES.contains(&info.architecture.as_str()) {
            return Err(fail(format!(
                "architecture `{}` cannot run on mistralrs; it runs: {}",
                info.architecture,
                SUPPORTED_ARCHITECTURES.join(", ")
            )));
        }
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let dir = std::path::absolute(&dir).map_err(|e| Error::io(&dir, e))?;
        // Every part of a split model, each named as it sits beside the first.
        let files = info
            .parts
            .iter()
            .map(|part| {
                part.file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .ok_or_else(|| fail("not a file name".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        let builder = GgufModelBuilder::new(dir.to_string_lossy(), files)
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
        Ok(MistralModel {
            model,
            path: path.to_path_buf(),
            end_token: info.end_token,
        })
    }

    pub(super) fn trained_context(&self) -> Option<usize> {
        self.model.max_sequence_length().ok().flatten()
    }

    /// The prompt's token ids as mistralrs lays out and tokenizes `messages` for a request.
    pub(super) async fn prompt_token_ids(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
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
        Ok(ids)
    }

    pub(super) async fn count_tokens(&self, text: &str) -> Result<usize> {
        let ids = self
            .model
            .tokenize(either::Either::Right(text.to_string()), None, false, false, None)
            .await
            .map_err(|e| self.error(format!("tokenizing failed: {e}")))?;
        Ok(ids.len())
    }

    /// Streams the reply's pieces to `on_piece` until the model is done, `max_tokens`
    /// are written, `on_piece` returns false or `cancel` is set.
    pub(super) async fn generate(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
        reply: Reply,
        cancel: &CancelToken,
        on_piece: &mut (dyn FnMut(&str) -> bool + Send),
    ) -> Result<RawGeneration> {
        let mut request = RequestBuilder::from(text_messages(messages))
            .set_deterministic_sampler()
            .set_sampler_max_len(max_tokens)
            // Small models loop under greedy decoding without a little pressure against repeats.
            .set_sampler_frequency_penalty(0.3);
        if let (Reply::Exactly, Some(end)) = (reply, self.end_token) {
            // A benchmark writes every token it asked for: the end token is never picked.
            request = request.set_sampler_logits_bias([(end, -1000.0)].into_iter().collect());
        }
        let mut stream = self
            .model
            .stream_chat_request(request)
            .await
            .map_err(|e| self.error(format!("generation could not start: {e}")))?;
        let mut truncated = false;
        let mut usage = None;
        let mut pieces = 0usize;
        'stream: while let Some(response) = stream.next().await {
            if cancel.is_cancelled() {
                // Dropping the stream makes mistralrs stop this sequence at its next token.
                return Err(Error::Cancelled);
            }
            match response {
                Response::Chunk(chunk) => {
                    for choice in &chunk.choices {
                        if let Some(piece) = choice.delta.content.as_deref().filter(|p| !p.is_empty()) {
                            pieces += 1;
                            if !on_piece(piece) {
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
        Ok(match usage {
            Some(usage) => RawGeneration {
                prompt_tokens: Some(usage.prompt_tokens),
                // mistralrs's prefix cache does not say what it reused.
                reused_prompt_tokens: 0,
                generated_tokens: usage.completion_tokens,
                truncated,
            },
            // Stopped early: mistralrs sent no totals; each streamed piece is one token.
            None => RawGeneration {
                prompt_tokens: None,
                reused_prompt_tokens: 0,
                generated_tokens: pieces,
                truncated,
            },
        })
    }

    fn error(&self, message: String) -> Error {
        Error::Generator {
            path: self.path.clone(),
            message,
        }
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
