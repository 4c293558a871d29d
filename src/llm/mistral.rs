//! The mistralrs backend: a local GGUF chat model run by mistralrs, its chat
//! template taken from the file. The model is addressed by its folder on disk;
//! no hub id and no token are ever passed.

use std::path::Path;
use std::time::{Duration, Instant};

use mistralrs::{GgufModelBuilder, RequestBuilder, Response, TextMessageRole, TokenSource};

use super::repeat::RepeatGuard;
use super::{inspect, Cancel, ChatMessage, Generation, GenerationStats, ModelInfo, Role};
use crate::error::{Error, Result};

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
