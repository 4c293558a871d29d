//! `quire bench generate`: how fast each generation runtime reads a RAG prompt and
//! writes an answer, with each setting worth trying, beside llama.cpp's own
//! llama-bench on the same GGUF file with the same threads, all in one run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use anyhow::{anyhow, Result};
use quire_engine::answer::{rag_messages, Source, Turn};
use quire_engine::cancel::CancelToken;
use quire_engine::chunk::Chunker;
use quire_engine::config::Config;
use quire_engine::engine::Engine;
use quire_engine::extract;
use quire_engine::ingest::IndexReport;
use quire_engine::llm::{ChatMessage, Generator, LoadOptions, ModelInfo, Role, Runtime};
use quire_engine::progress::{Phase, Progress};
use quire_engine::Error;

const QUESTION: &str = "Write a detailed summary of every source, one paragraph per source, citing each.";
const FOLLOW_UP: &str = "Which of these sources is the most recent, and what does it say?";

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub model: PathBuf,
    /// Folder whose documents make the prompt's sources.
    pub passages_from: PathBuf,
    pub prompt_tokens: usize,
    pub generate_tokens: usize,
    pub threads: usize,
    /// Runtimes to measure with their default settings.
    pub runtimes: Vec<Runtime>,
    /// Also measure each setting of the llama.cpp runtime worth trying (threads,
    /// prompt batch, flash attention).
    pub sweep: bool,
    /// llama-bench builds to compare with, labelled (the first is the reference for ratios).
    pub llama_benches: Vec<(String, PathBuf)>,
    /// Also measure the default runtime while this folder is being indexed in the same
    /// process, with indexing stepping aside for the answer (as the engine does) and not.
    pub while_indexing: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerateRun {
    pub runtime: String,
    /// What differs from the runtime's defaults ("default" when nothing).
    pub setting: String,
    /// Where the model ran ("CUDA0 (NVIDIA H200), 28 of 28 layers", "CPU").
    pub device: String,
    pub prompt_tokens: usize,
    pub prompt_tokens_per_sec: f64,
    pub time_to_first_token_secs: f64,
    pub generated_tokens: usize,
    pub generated_tokens_per_sec: f64,
    /// llama-bench only: generation into an empty context, its usual figure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_tokens_per_sec_empty_context: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    /// Speed over the reference llama-bench's (1.0 = as fast).
    pub prompt_ratio: Option<f64>,
    pub generation_ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerateBench {
    pub model: ModelInfo,
    pub threads: usize,
    /// The CPU kernels llama.cpp chose for this processor, when it was measured.
    pub llama_cpp_kernels: Option<String>,
    /// The processors llama.cpp can use: a GPU (then every llama.cpp trial also runs on
    /// the CPU alone, for the ratio) or why none.
    pub compute: Option<quire_engine::llm::gpu::ComputeDevices>,
    /// With a GPU: how many of the first generated tokens the GPU and the CPU agree on
    /// (greedy decoding, same model and prompt), of how many compared.
    pub gpu_cpu_agreement: Option<(usize, usize)>,
    pub runs: Vec<GenerateRun>,
    /// llama-bench's figures, the first being the reference of the ratios.
    pub references: Vec<GenerateRun>,
    /// Why a llama-bench could not be measured, when one could not.
    pub llama_cpp_problems: Vec<String>,
}

/// One configuration to measure.
struct Trial {
    setting: String,
    options: LoadOptions,
    /// Measure a chat follow-up after the first answer (prefix reuse).
    follow_up: bool,
    /// Measure while a folder is indexed: Some(whether indexing steps aside).
    while_indexing: Option<bool>,
}

/// The setting of the CPU-only twin of the default llama.cpp trial, when there is a GPU.
const CPU_ONLY: &str = "GPU off (CPU only)";

fn trials(options: &GenerateOptions, context: usize, gpu: bool) -> Vec<Trial> {
    let base = |runtime| LoadOptions {
        threads: options.threads,
        ..LoadOptions::new(runtime, context)
    };
    let mut trials = Vec::new();
    for &runtime in &options.runtimes {
        trials.push(Trial {
            setting: "default".into(),
            options: base(runtime),
            follow_up: true,
            while_indexing: None,
        });
        if gpu && runtime == Runtime::LlamaCpp {
            trials.push(Trial {
                setting: CPU_ONLY.into(),
                options: LoadOptions {
                    gpu: false,
                    ..base(runtime)
                },
                follow_up: false,
                while_indexing: None,
            });
        }
        if options.while_indexing.is_some() && Some(&runtime) == options.runtimes.first() {
            for (setting, yielding) in [("indexing meanwhile", false), ("indexing steps aside", true)] {
                trials.push(Trial {
                    setting: setting.into(),
                    options: base(runtime),
                    follow_up: false,
                    while_indexing: Some(yielding),
                });
            }
        }
        if options.sweep && runtime == Runtime::LlamaCpp {
            let single_thread = options.threads <= 1;
            for (setting, options) in [
                (
                    "flash attention on",
                    LoadOptions {
                        flash_attention: Some(true),
                        ..base(runtime)
                    },
                ),
                (
                    "flash attention off",
                    LoadOptions {
                        flash_attention: Some(false),
                        ..base(runtime)
                    },
                ),
                (
                    "prompt batch 128",
                    LoadOptions {
                        prompt_batch: 128,
                        ..base(runtime)
                    },
                ),
                (
                    "prompt batch 256",
                    LoadOptions {
                        prompt_batch: 256,
                        ..base(runtime)
                    },
                ),
                (
                    "1 thread",
                    LoadOptions {
                        threads: 1,
                        ..base(runtime)
                    },
                ),
            ] {
                // (Shadows the benchmark's options: its thread count is read before the loop.)
                if setting == "1 thread" && single_thread {
                    continue;
                }
                trials.push(Trial {
                    setting: setting.into(),
                    options,
                    follow_up: false,
                    while_indexing: None,
                });
            }
        }
    }
    trials
}

pub async fn generate(options: &GenerateOptions, config: &Config) -> Result<GenerateBench> {
    if options.runtimes.is_empty() {
        return Err(Error::Generator {
            path: options.model.clone(),
            message: "no runtime to measure".into(),
        }
        .into());
    }
    // Enough context for the prompt, the answer and a follow-up, whatever the configuration says.
    let context = 2 * (options.prompt_tokens + options.generate_tokens) + 256;
    let mut runs = Vec::new();
    let mut prompt: Option<Vec<ChatMessage>> = None;
    let mut model = None;
    let mut llama_cpp_kernels = None;
    quire_engine::llm::gpu::set_gpu_enabled(config.gpu);
    let compute = quire_engine::llm::gpu::devices(config.gpu);
    let gpu = compute.as_ref().is_some_and(|c| !c.gpus.is_empty());
    // The default llama.cpp answer on the GPU and on the CPU, to compare their tokens.
    let mut gpu_answer: Option<String> = None;
    let mut gpu_cpu_agreement = None;
    for trial in trials(options, context, gpu) {
        let indexing = match (&options.while_indexing, trial.while_indexing) {
            (Some(folder), Some(_)) => Some(BackgroundIndexing::start(folder, config).await?),
            _ => None,
        };
        super::reset_peak_rss();
        let mut generator = Generator::load(&options.model, &trial.options).await?;
        if let (Some(indexing), Some(true)) = (&indexing, trial.while_indexing) {
            generator = generator.with_activity(indexing.engine.generation_activity().clone());
        }
        if prompt.is_none() {
            // Every runtime reads the same GGUF tokenizer: one prompt serves them all.
            prompt =
                Some(rag_prompt(&generator, config, &options.passages_from, options.prompt_tokens).await?);
            model = Some(generator.info().clone());
        }
        let messages = prompt.as_deref().unwrap_or_default();
        // A first short generation pays one-time costs (thread pools, allocations) outside the measurement.
        let warm_up = [ChatMessage::new(Role::User, "Say hello.")];
        generator
            .generate(&warm_up, 4, &CancelToken::new(), &mut |_| {})
            .await?;
        let answer = generator
            .generate_exactly(messages, options.generate_tokens)
            .await?;
        let label = generator.runtime().name().to_string();
        llama_cpp_kernels = llama_cpp_kernels.or(generator.cpu_kernels());
        if gpu && generator.runtime() == Runtime::LlamaCpp {
            if trial.setting == "default" {
                gpu_answer = Some(answer.text.clone());
            } else if trial.setting == CPU_ONLY {
                if let Some(on_gpu) = &gpu_answer {
                    gpu_cpu_agreement = Some(agreement(&generator, on_gpu, &answer.text).await?);
                }
            }
        }
        if let Some(indexing) = indexing {
            if !indexing.stop().await? {
                return Err(anyhow!(
                    "indexing {} ended before the answer did; measure with a larger folder",
                    options
                        .while_indexing
                        .as_deref()
                        .unwrap_or(Path::new(""))
                        .display()
                ));
            }
        }
        runs.push(run_of(
            &label,
            &trial.setting,
            &generator.runs_on(),
            &answer.stats,
        ));
        if trial.follow_up {
            // The next turn of the same chat: the earlier prompt and answer come first.
            let question = messages.last().map(|m| m.content.clone()).unwrap_or_default();
            let history = [Turn {
                question: QUESTION.into(),
                prompt: question,
                answer: answer.text.clone(),
            }];
            let next = rag_messages(FOLLOW_UP, &history, &[]);
            let follow = generator.generate_exactly(&next, options.generate_tokens).await?;
            // Its time to first token shows whether the runtime reused the shared beginning.
            runs.push(run_of(
                &label,
                "chat follow-up",
                &generator.runs_on(),
                &follow.stats,
            ));
        }
        drop(generator);
    }
    let prompt_tokens = runs.first().map_or(options.prompt_tokens, |r| r.prompt_tokens);
    let mut references = Vec::new();
    let mut llama_cpp_problems = Vec::new();
    if options.llama_benches.is_empty() {
        llama_cpp_problems
            .push("llama-bench is not built; `bash scripts/build-llama-bench.sh` builds it".into());
    }
    for (label, bench) in &options.llama_benches {
        match run_llama_bench(bench, label, options, prompt_tokens) {
            Ok(run) => references.push(run),
            Err(problem) => llama_cpp_problems.push(format!("{label}: {problem}")),
        }
    }
    if let Some(reference) = references.first() {
        for run in &mut runs {
            run.prompt_ratio = Some(run.prompt_tokens_per_sec / reference.prompt_tokens_per_sec);
            run.generation_ratio = Some(run.generated_tokens_per_sec / reference.generated_tokens_per_sec);
        }
    }
    Ok(GenerateBench {
        model: model.ok_or_else(|| Error::Generator {
            path: options.model.clone(),
            message: "nothing was measured".into(),
        })?,
        threads: options.threads,
        llama_cpp_kernels,
        compute,
        gpu_cpu_agreement,
        runs,
        references,
        llama_cpp_problems,
    })
}

/// How many leading tokens of `other` are those of `first` (the text up to where they part,
/// counted in the model's tokens), of the tokens of `first`.
async fn agreement(generator: &Generator, first: &str, other: &str) -> Result<(usize, usize)> {
    let common: usize = first
        .char_indices()
        .zip(other.chars())
        .take_while(|((_, a), b)| a == b)
        .map(|((_, a), _)| a.len_utf8())
        .sum();
    let total = generator.count_tokens(first).await?;
    let same = if common == first.len() {
        total
    } else {
        // The token at the parting point differs: count only the tokens wholly before it.
        generator.count_tokens(&first[..common]).await?.saturating_sub(1)
    };
    Ok((same, total))
}

fn run_of(
    runtime: &str,
    setting: &str,
    device: &str,
    stats: &quire_engine::llm::GenerationStats,
) -> GenerateRun {
    GenerateRun {
        runtime: runtime.into(),
        setting: setting.into(),
        device: device.into(),
        prompt_tokens: stats.prompt_tokens,
        prompt_tokens_per_sec: stats.prompt_tokens_per_sec,
        time_to_first_token_secs: stats.time_to_first_token.as_secs_f64(),
        generated_tokens: stats.generated_tokens,
        generated_tokens_per_sec: stats.generated_tokens_per_sec,
        generated_tokens_per_sec_empty_context: None,
        peak_rss_bytes: super::peak_rss_bytes(),
        prompt_ratio: None,
        generation_ratio: None,
    }
}

/// A RAG prompt of about `target` tokens: Quire's system prompt and the
/// documents of `folder` as numbered sources, as `quire ask` lays them out.
async fn rag_prompt(
    generator: &Generator,
    config: &Config,
    folder: &Path,
    target: usize,
) -> Result<Vec<ChatMessage>> {
    let chunker = Chunker::new(config);
    let mut passages: Vec<(PathBuf, u32, String)> = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| Error::io(folder, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    for path in entries {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let Ok(document) = extract::extract(&path, &bytes) else {
            continue;
        };
        for chunk in chunker.chunk(&document) {
            passages.push((path.clone(), chunk.page, chunk.text));
        }
    }
    if passages.is_empty() {
        return Err(Error::NotFound {
            what: folder.display().to_string(),
            message: "holds no document to build a prompt from".into(),
        }
        .into());
    }
    let mut sources: Vec<Source> = Vec::new();
    // Documents are used again in turn when they run out: the speed depends on the token count.
    for (path, page, text) in passages.iter().cycle().take(passages.len() * 64) {
        sources.push(Source {
            number: sources.len() + 1,
            path: path.clone(),
            page: *page,
            similarity: None,
            text: text.clone(),
        });
        let tokens = generator
            .count_prompt_tokens(&rag_messages(QUESTION, &[], &sources))
            .await?;
        if tokens >= target {
            // Trim the last source so the prompt lands on the target.
            let over = tokens - target;
            if let Some(last) = sources.last_mut() {
                let own = generator.count_tokens(&last.text).await?.max(1);
                let keep = last.text.chars().count() * own.saturating_sub(over) / own;
                last.text = last.text.chars().take(keep).collect();
            }
            break;
        }
    }
    Ok(rag_messages(QUESTION, &[], &sources))
}

/// Runs llama-bench on the same file and threads: prompt processing of the same
/// number of tokens, then generation of the same number after a prompt of that size
/// (`-d`): an answer is written after its prompt, and attending to 1,400 earlier
/// tokens costs time, most of all in a small model. Generation into an empty context,
/// llama-bench's usual figure, is kept beside it.
fn run_llama_bench(
    bench: &Path,
    label: &str,
    options: &GenerateOptions,
    prompt_tokens: usize,
) -> Result<GenerateRun, String> {
    let started = Instant::now();
    let threads = options.threads.to_string();
    let prompt = prompt_tokens.to_string();
    let generate = options.generate_tokens.to_string();
    let (prompt_tests, prompt_peak) =
        llama_bench_json(bench, &options.model, &["-p", &prompt, "-n", "0", "-t", &threads])?;
    let depths = format!("0,{prompt}");
    let (gen_tests, gen_peak) = llama_bench_json(
        bench,
        &options.model,
        &["-p", "0", "-n", &generate, "-d", &depths, "-t", &threads],
    )?;
    tracing::debug!("llama-bench took {:.1} s", started.elapsed().as_secs_f64());
    let speed = |tests: &[serde_json::Value], depth: u64| {
        tests
            .iter()
            .find(|t| t["n_depth"].as_u64().unwrap_or(0) == depth)
            .and_then(|t| t["avg_ts"].as_f64())
    };
    let prompt_speed = speed(&prompt_tests, 0).ok_or("llama-bench reported no prompt speed")?;
    let gen_speed =
        speed(&gen_tests, prompt_tokens as u64).ok_or("llama-bench reported no generation speed")?;
    let gen_speed_empty = speed(&gen_tests, 0);
    Ok(GenerateRun {
        runtime: "llama-bench".into(),
        setting: label.into(),
        device: "CPU".into(),
        prompt_tokens,
        prompt_tokens_per_sec: prompt_speed,
        time_to_first_token_secs: prompt_tokens as f64 / prompt_speed,
        generated_tokens: options.generate_tokens,
        generated_tokens_per_sec: gen_speed,
        generated_tokens_per_sec_empty_context: gen_speed_empty,
        peak_rss_bytes: prompt_peak.max(gen_peak),
        prompt_ratio: None,
        generation_ratio: None,
    })
}

/// One llama-bench invocation (two repetitions, JSON out): its tests and its peak memory.
fn llama_bench_json(
    bench: &Path,
    model: &Path,
    args: &[&str],
) -> Result<(Vec<serde_json::Value>, Option<u64>), String> {
    let child = Command::new(bench)
        .arg("-m")
        .arg(model)
        .args(args)
        .args(["-r", "2", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", bench.display()))?;
    // Its peak memory is read from /proc while it runs (rusage would count the forked parent's pages).
    let pid = child.id();
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let watching = watching.clone();
        std::thread::spawn(move || {
            let mut peak = None;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(now) = super::peak_rss_of(&format!("/proc/{pid}/status")) {
                    peak = Some(now);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            peak
        })
    };
    let output = child.wait_with_output();
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak_rss_bytes = watcher.join().ok().flatten();
    let output = output.map_err(|e| format!("{}: {e}", bench.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        return Err(format!("llama-bench failed ({}): {last}", output.status));
    }
    let results: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("llama-bench printed no JSON: {e}"))?;
    let tests = results
        .as_array()
        .ok_or("llama-bench printed no list of results")?
        .clone();
    Ok((tests, peak_rss_bytes))
}

/// An indexing run into a scratch library, going on while an answer is measured.
struct BackgroundIndexing {
    engine: Arc<Engine>,
    run: tokio::task::JoinHandle<quire_engine::Result<IndexReport>>,
    _library: tempfile::TempDir,
}

impl BackgroundIndexing {
    /// Starts indexing `folder` and returns once its workers are reading files.
    async fn start(folder: &Path, config: &Config) -> Result<BackgroundIndexing> {
        let library = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let engine = Arc::new(
            Engine::open(Config {
                data_dir: library.path().to_path_buf(),
                ..config.clone()
            })
            .await?,
        );
        let started = Arc::new(tokio::sync::Notify::new());
        let mut run = {
            let engine = engine.clone();
            let folder = folder.to_path_buf();
            let started = started.clone();
            tokio::spawn(async move {
                let sink = move |progress: &Progress| {
                    if progress.phase == Phase::Indexing {
                        started.notify_one();
                    }
                };
                engine.index_folder(&folder, &sink).await
            })
        };
        tokio::select! {
            _ = started.notified() => {}
            // Over before it began: a folder that cannot be indexed, or holds nothing.
            ended = &mut run => {
                ended??;
                return Err(anyhow!("{} holds nothing to index", folder.display()));
            }
        }
        // The first files read and their passages being embedded.
        tokio::time::sleep(Duration::from_secs(3)).await;
        Ok(BackgroundIndexing {
            engine,
            run,
            _library: library,
        })
    }

    /// Stops the run; says whether it was still indexing (paused before the end).
    async fn stop(self) -> Result<bool> {
        self.engine.pause_indexing();
        let report = self.run.await??;
        Ok(report.paused)
    }
}
