//! `quire bench generate`: how fast the on-device model reads a RAG prompt and
//! writes an answer, beside llama.cpp's own llama-bench on the same GGUF file
//! with the same threads, in the same run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use crate::answer::{rag_messages, Source};
use crate::chunk::Chunker;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::extract;
use crate::llm::{Cancel, ChatMessage, Generator, ModelInfo};

const QUESTION: &str = "Write a detailed summary of every source, one paragraph per source, citing each.";

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub model: PathBuf,
    /// Folder whose documents make the prompt's sources.
    pub passages_from: PathBuf,
    pub prompt_tokens: usize,
    pub generate_tokens: usize,
    pub threads: usize,
    /// llama-bench to compare with; None when it is not built.
    pub llama_bench: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerateRun {
    pub runtime: String,
    pub prompt_tokens: usize,
    pub prompt_tokens_per_sec: f64,
    pub time_to_first_token_secs: f64,
    pub generated_tokens: usize,
    pub generated_tokens_per_sec: f64,
    pub peak_rss_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerateBench {
    pub model: ModelInfo,
    pub threads: usize,
    pub runs: Vec<GenerateRun>,
    /// Why llama.cpp could not be measured, when it could not.
    pub llama_cpp_problem: Option<String>,
    /// Quire's speed over llama.cpp's (1.0 = as fast).
    pub prompt_ratio: Option<f64>,
    pub generation_ratio: Option<f64>,
}

pub async fn generate(options: &GenerateOptions, config: &Config) -> Result<GenerateBench> {
    // Enough context for the prompt and the answer, whatever the configuration says.
    let context = options.prompt_tokens + options.generate_tokens + 64;
    let generator = Generator::load(&options.model, context).await?;
    let messages = rag_prompt(&generator, config, &options.passages_from, options.prompt_tokens).await?;
    // A first short generation pays one-time costs (thread pools, allocations) outside the measurement.
    let warm_up = [ChatMessage::new(crate::llm::Role::User, "Say hello.")];
    generator
        .generate(&warm_up, 4, &Cancel::new(), &mut |_| {})
        .await?;
    let generation = generator
        .generate(&messages, options.generate_tokens, &Cancel::new(), &mut |_| {})
        .await?;
    let stats = generation.stats;
    let ours = GenerateRun {
        runtime: "quire (mistralrs)".into(),
        prompt_tokens: stats.prompt_tokens,
        prompt_tokens_per_sec: stats.prompt_tokens_per_sec,
        time_to_first_token_secs: stats.time_to_first_token.as_secs_f64(),
        generated_tokens: stats.generated_tokens,
        generated_tokens_per_sec: stats.generated_tokens_per_sec,
        peak_rss_bytes: super::peak_rss_bytes(),
    };
    let mut report = GenerateBench {
        model: generator.info().clone(),
        threads: options.threads,
        runs: vec![ours],
        llama_cpp_problem: None,
        prompt_ratio: None,
        generation_ratio: None,
    };
    drop(generator);
    let reference = match &options.llama_bench {
        Some(bench) => run_llama_bench(bench, options, report.runs[0].prompt_tokens),
        None => Err("llama-bench is not built; `bash scripts/build-llama-bench.sh` builds it".to_string()),
    };
    match reference {
        Ok(run) => {
            report.prompt_ratio = Some(report.runs[0].prompt_tokens_per_sec / run.prompt_tokens_per_sec);
            report.generation_ratio =
                Some(report.runs[0].generated_tokens_per_sec / run.generated_tokens_per_sec);
            report.runs.push(run);
        }
        Err(problem) => report.llama_cpp_problem = Some(problem),
    }
    Ok(report)
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
        });
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
/// number of tokens, then generation of the same number.
fn run_llama_bench(
    bench: &Path,
    options: &GenerateOptions,
    prompt_tokens: usize,
) -> Result<GenerateRun, String> {
    let started = Instant::now();
    let child = Command::new(bench)
        .arg("-m")
        .arg(&options.model)
        .args(["-p", &prompt_tokens.to_string()])
        .args(["-n", &options.generate_tokens.to_string()])
        .args(["-t", &options.threads.to_string()])
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
    tracing::debug!("llama-bench took {:.1} s", started.elapsed().as_secs_f64());
    let results: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("llama-bench printed no JSON: {e}"))?;
    let tests = results
        .as_array()
        .ok_or("llama-bench printed no list of results")?;
    let speed = |prompt: bool| {
        tests
            .iter()
            .find(|t| {
                let n_prompt = t["n_prompt"].as_u64().unwrap_or(0);
                let n_gen = t["n_gen"].as_u64().unwrap_or(0);
                if prompt {
                    n_prompt > 0 && n_gen == 0
                } else {
                    n_gen > 0 && n_prompt == 0
                }
            })
            .and_then(|t| t["avg_ts"].as_f64())
    };
    let (Some(prompt_speed), Some(gen_speed)) = (speed(true), speed(false)) else {
        return Err("llama-bench's results lack the prompt or the generation test".into());
    };
    Ok(GenerateRun {
        runtime: "llama.cpp (llama-bench)".into(),
        prompt_tokens,
        prompt_tokens_per_sec: prompt_speed,
        time_to_first_token_secs: prompt_tokens as f64 / prompt_speed,
        generated_tokens: options.generate_tokens,
        generated_tokens_per_sec: gen_speed,
        peak_rss_bytes,
    })
}
