//! Command-line interface: parses arguments, opens the engine, prints results.

mod answers;
mod eval_answers;
mod progress_bar;
mod terminal;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::bench;
use crate::eval::{self, Benchmark, Mode};
use quire_engine::answer::SourcePolicy;
use quire_engine::engine::LibraryStatus;
use quire_engine::extract::PdfText;
use quire_engine::ingest::IndexReport;
use quire_engine::retrieve::{SearchFilter, SearchHit, SearchMode};
use quire_engine::FileProblem;
use quire_engine::FileStatus;
use quire_engine::{Config, Engine};

use eval_answers::run_answer_eval;
use progress_bar::ProgressBarSink;
use terminal::{marked_snippet, printable, printable_path};

#[derive(Parser)]
#[command(
    name = "quire",
    version,
    about = "Private search over your documents, on your machine"
)]
struct Cli {
    /// Where Quire keeps its catalog and indexes (default: the OS data directory).
    #[arg(long, global = true, env = "QUIRE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Where the model folders are (default: `models` in the data directory).
    #[arg(long, global = true, env = "QUIRE_MODELS_DIR", value_name = "DIR")]
    models_dir: Option<PathBuf>,

    /// The GGUF chat model for answers and summaries (default: `generator` in config.toml).
    #[arg(long, global = true, env = "QUIRE_MODEL", value_name = "FILE")]
    model: Option<PathBuf>,

    /// What runs the chat model: llama.cpp or mistralrs (default: `runtime` in config.toml,
    /// else llama.cpp on CPU).
    #[arg(long, global = true, env = "QUIRE_RUNTIME", value_name = "RUNTIME")]
    runtime: Option<quire_engine::llm::Runtime>,

    /// Threads for the models (default: `threads` in config.toml, else one per core).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,

    #[command(subcommand)]
    command: Command,
}

/// `quire search --mode`: the engine's [`SearchMode`], named on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SearchModeArg {
    /// Keywords only (BM25 over title and text).
    Bm25,
    /// Meaning only (nearest sentence vectors).
    Vector,
    /// Both, fused by reciprocal rank.
    Hybrid,
}

impl From<SearchModeArg> for SearchMode {
    fn from(mode: SearchModeArg) -> SearchMode {
        match mode {
            SearchModeArg::Bm25 => SearchMode::Bm25,
            SearchModeArg::Vector => SearchMode::Vector,
            SearchModeArg::Hybrid => SearchMode::Hybrid,
        }
    }
}

/// Which documents a search or an answer may use.
#[derive(Debug, Clone, clap::Args)]
struct ScopeArgs {
    /// Only documents under this folder (a library folder or a folder inside one).
    #[arg(long)]
    folder: Option<PathBuf>,
    /// Only documents of these types, by extension (`--type pdf --type md`, or `--type pdf,md`).
    #[arg(long = "type", value_name = "EXTENSION", value_delimiter = ',')]
    file_types: Vec<String>,
}

impl ScopeArgs {
    fn filter(self) -> SearchFilter {
        SearchFilter {
            folder: self.folder,
            file_types: self.file_types,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Add folders to the library and index them; with no folder, update every folder.
    Index { folders: Vec<PathBuf> },
    /// Search the indexed documents.
    Search {
        query: String,
        /// How many results to show.
        #[arg(long, short = 'n', default_value_t = 10)]
        limit: usize,
        /// Keywords, meaning, or both.
        #[arg(long, value_enum, default_value_t = SearchModeArg::Hybrid)]
        mode: SearchModeArg,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Print results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the library's folders, file counts by status, and files that failed.
    Status {
        /// Also list skipped files with the reason.
        #[arg(long, short)]
        verbose: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove a folder from the library (its files are not touched).
    Remove { folder: PathBuf },
    /// Keep the index up to date while files change: every folder is watched until Ctrl-C.
    Watch,
    /// Answer a question from your documents, with cited sources (page and quoted passage).
    Ask {
        question: String,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Print the answer, its citations and timings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Talk with your documents: follow-up questions see the conversation so far.
    Chat {
        /// Continue an earlier conversation (see `quire chats list`).
        #[arg(long, value_name = "ID")]
        resume: Option<i64>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Stored conversations.
    Chats {
        #[command(subcommand)]
        what: answers::ChatsCommand,
    },
    /// Summarise a file of any length; every point cites its page(s).
    Summarize {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Measure speed and memory on a BEIR-format corpus.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Measure retrieval quality on a BEIR-format benchmark (corpus.jsonl, queries.jsonl, qrels/test.tsv),
    /// or with --answers, answer quality on a reading-comprehension set.
    Eval(EvalArgs),
}

// The command's help is the `Eval` variant's doc comment; none here, to leave it so.
#[derive(clap::Args)]
struct EvalArgs {
    #[arg(required_unless_present = "answers")]
    benchmark: Option<PathBuf>,
    /// Instead of ranking quality: answer quality on a question set laid out like
    /// shared/bench/squad11-dev13 (docs/, questions.jsonl, paragraphs.jsonl): a seeded sample
    /// asked over the whole library, and a second one asked over a copy without their gold
    /// paragraphs (where declining is right).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["benchmark", "abstention_against", "prompt_sources"])]
    answers: Option<PathBuf>,
    /// With --answers: answerable questions to ask.
    #[arg(long, default_value_t = 100, requires = "answers")]
    sample: usize,
    /// With --answers: held-out questions to ask (default: as many as --sample).
    #[arg(long, requires = "answers")]
    held_out: Option<usize>,
    /// With --answers: the seed both samples are drawn with.
    #[arg(long, default_value_t = 13, requires = "answers")]
    seed: u64,
    #[arg(long, value_enum, default_value_t = Mode::Bm25)]
    mode: Mode,
    /// Write the ranking as a TREC run file (with --mode all, one per mode: FILE.bm25, …).
    #[arg(long, value_name = "FILE")]
    run_out: Option<PathBuf>,
    /// Index the corpus again even if an earlier evaluation indexed it with the same settings.
    #[arg(long)]
    fresh: bool,
    /// Instead of ranking quality: calibrate when Quire should abstain, from how close the best
    /// passage comes to the queries on their own corpus and on this unrelated folder.
    #[arg(long, value_name = "FOLDER")]
    abstention_against: Option<PathBuf>,
    /// Instead of ranking quality in each mode: hybrid ranking quality under a grid of
    /// fusions (reciprocal rank constant, keyword weight, depth of each ranking).
    #[arg(long, conflicts_with_all = ["abstention_against", "prompt_sources", "mode"])]
    fusion_sweep: bool,
    /// Instead of ranking quality in each mode: hybrid ranking quality without and with a
    /// grid of feedbacks (passages the query is moved towards, their weight), each under
    /// several reciprocal rank fusions (k, keyword weight), since the fusion picks the passages.
    #[arg(long, conflicts_with_all = ["abstention_against", "prompt_sources", "mode", "fusion_sweep"])]
    feedback_sweep: bool,
    /// Instead of ranking quality: for several ways of choosing an answer's sources, the
    /// prompt tokens they cost against the relevant passages that make it into the prompt.
    #[arg(long, conflicts_with = "abstention_against")]
    prompt_sources: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Index the corpus into a fresh library: time per stage, passages/s, peak memory,
    /// embedding FLOP rate against a large matrix product.
    Index {
        benchmark: PathBuf,
        /// Only the first N documents.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Generation speed on a RAG prompt (time to first token, tokens/s, peak memory) of
    /// every runtime, beside llama.cpp's llama-bench on the same GGUF file and threads.
    Generate(GenerateArgs),
    /// How well PDFs are read, against poppler's pdftotext: each PDF reader alone and
    /// both together (share within 10 % of poppler's characters, pages right, files
    /// refused, time per page), then OCR's character accuracy on clean page renders.
    Extract {
        /// A folder of PDFs (for example pdf.js's test PDFs).
        folder: PathBuf,
        /// Pages to measure OCR on (0: none).
        #[arg(long, default_value_t = 20)]
        ocr_pages: usize,
        /// Also write each file's readings to this JSON file.
        #[arg(long)]
        details: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Search latency (p50, p95) in each mode over the benchmark's test queries.
    Query {
        benchmark: PathBuf,
        /// Results per search.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

// The command's help is the `Generate` variant's doc comment; none here, to leave it so.
#[derive(clap::Args)]
struct GenerateArgs {
    /// Documents that make the prompt's sources.
    #[arg(long, default_value = "examples/library")]
    passages_from: PathBuf,
    #[arg(long, default_value_t = 1400)]
    prompt_tokens: usize,
    #[arg(long, default_value_t = 128)]
    generate_tokens: usize,
    /// Runtimes to measure (default: every one this build has).
    #[arg(long = "only", value_name = "RUNTIME")]
    only: Vec<quire_engine::llm::Runtime>,
    /// Also measure llama.cpp's settings (flash attention, prompt batch, threads).
    #[arg(long)]
    sweep: bool,
    /// Also measure the default runtime while this folder is indexed in the same process,
    /// with indexing stepping aside for the answer (as Quire does) and without.
    #[arg(long, value_name = "FOLDER")]
    while_indexing: Option<PathBuf>,
    /// llama-bench builds to compare with (default: those scripts/build-llama-bench.sh
    /// builds, native first); the first is the reference of the ratios.
    #[arg(long, env = "QUIRE_LLAMA_BENCH", value_name = "FILE")]
    llama_bench: Vec<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env(quire_engine::logging::FILTER_ENV).unwrap_or_else(
                |_| tracing_subscriber::EnvFilter::new(quire_engine::logging::DEFAULT_FILTER),
            ),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("quire: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("quire: {}", printable(&format!("{err:#}")));
            if let Some(remedy) = err
                .chain()
                .find_map(|e| e.downcast_ref::<quire_engine::Error>())
                .and_then(remedy)
            {
                eprintln!("{}", printable(&remedy));
            }
            ExitCode::FAILURE
        }
    }
}

/// What to do about an engine error, in this command's terms.
fn remedy(error: &quire_engine::Error) -> Option<String> {
    use quire_engine::error::{Audience, Error};
    match error {
        Error::UnknownFolder { path } => Some(format!("Add it with `quire index {}`.", path.display())),
        Error::UnknownChat { .. } => Some("`quire chats list` shows the chats there are.".into()),
        Error::Generator { .. } => Some("`--model FILE` answers with another GGUF chat model.".into()),
        _ if error.audience() == Audience::Internal => {
            Some("This is a fault in Quire, not in what you asked; QUIRE_LOG=debug shows more.".into())
        }
        _ => None,
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let config = config_from(&cli)?;
    // Before any model loads: the kernels' thread pools read it once.
    quire_engine::llm::set_compute_threads(config.threads);
    if let Command::Eval(args) = &cli.command {
        return run_evaluation(config, args).await;
    }
    if let Command::Bench { what } = &cli.command {
        return run_bench(config, what).await;
    }
    let engine = Engine::open(config).await?;
    let code = match cli.command {
        Command::Index { folders } => run_index(&engine, &folders).await?,
        Command::Search {
            query,
            limit,
            mode,
            scope,
            json,
        } => run_search(&engine, &query, limit, mode, scope.filter(), json).await?,
        Command::Status { verbose, json } => run_status(&engine, verbose, json).await?,
        Command::Remove { folder } => run_remove(&engine, &folder).await?,
        Command::Watch => run_watch(&engine).await?,
        Command::Ask {
            question,
            scope,
            json,
        } => answers::ask(&engine, &question, scope.filter(), json).await?,
        Command::Chat { resume, scope } => answers::chat_loop(&engine, resume, scope.filter()).await?,
        Command::Chats { what } => answers::chats(&engine, &what).await?,
        Command::Summarize { file, json } => answers::summarize(&engine, &file, json).await?,
        Command::Eval(_) | Command::Bench { .. } => unreachable!("handled above"),
    };
    engine.close().await?;
    Ok(code)
}

/// The library's configuration, with what the command line overrides.
fn config_from(cli: &Cli) -> Result<Config> {
    let data_dir = match &cli.data_dir {
        Some(dir) => dir.clone(),
        None => Config::default_data_dir()?,
    };
    let mut config = Config::load(&data_dir)?;
    if let Some(models) = &cli.models_dir {
        config.models_dir = models.clone();
    }
    if let Some(model) = &cli.model {
        config.generator =
            std::path::absolute(model).with_context(|| format!("cannot resolve {}", model.display()))?;
    }
    if let Some(threads) = cli.threads {
        config.threads = threads;
    }
    if let Some(runtime) = cli.runtime {
        config.runtime = runtime;
    }
    Ok(config)
}

/// `quire index`.
async fn run_index(engine: &Engine, folders: &[PathBuf]) -> Result<ExitCode> {
    let sink = ProgressBarSink::new();
    let mut report = IndexReport::default();
    if folders.is_empty() {
        if engine.folders().await?.is_empty() {
            anyhow::bail!("the library has no folders yet; add one with `quire index <folder>`");
        }
        report = engine.index_all(&sink).await?;
    }
    for folder in folders {
        report.merge(engine.index_folder(folder, &sink).await?);
    }
    sink.finish();
    print_index_report(&report);
    Ok(ExitCode::SUCCESS)
}

/// `quire search`.
async fn run_search(
    engine: &Engine,
    query: &str,
    limit: usize,
    mode: SearchModeArg,
    filter: SearchFilter,
    json: bool,
) -> Result<ExitCode> {
    let hits = engine.search_in(query, mode.into(), limit, &filter).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
    } else {
        print_hits(query, &hits);
    }
    Ok(ExitCode::SUCCESS)
}

/// `quire status`.
async fn run_status(engine: &Engine, verbose: bool, json: bool) -> Result<ExitCode> {
    let status = engine.status().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_status(&status, verbose);
    }
    Ok(ExitCode::SUCCESS)
}

/// `quire remove`.
async fn run_remove(engine: &Engine, folder: &Path) -> Result<ExitCode> {
    engine.remove_folder(folder).await?;
    println!("Removed {} from the library.", printable_path(folder));
    Ok(ExitCode::SUCCESS)
}

/// `quire watch`: until Ctrl-C.
async fn run_watch(engine: &Engine) -> Result<ExitCode> {
    if engine.folders().await?.is_empty() {
        return Err(quire_engine::Error::NotFound {
            what: "the library".into(),
            message: "has no folders to watch; add one with `quire index <folder>`".into(),
        }
        .into());
    }
    let stop = quire_engine::cancel::CancelToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    engine.watch(&stop, &print_watch_update).await?;
    Ok(ExitCode::SUCCESS)
}

/// `quire eval`: answer quality with --answers, else one of the retrieval evaluations.
async fn run_evaluation(config: Config, args: &EvalArgs) -> Result<ExitCode> {
    if let Some(set) = &args.answers {
        let options = eval::answers::AnswerEvalOptions {
            answerable: args.sample,
            held_out: args.held_out.unwrap_or(args.sample),
            seed: args.seed,
        };
        return run_answer_eval(config, set, options, args.json).await;
    }
    let Some(benchmark) = &args.benchmark else {
        anyhow::bail!("name a benchmark folder, or --answers DIR");
    };
    if let Some(unrelated) = &args.abstention_against {
        return run_abstention(config, benchmark, unrelated, args.json).await;
    }
    if args.fusion_sweep {
        return run_fusion_sweep(config, benchmark, args.json).await;
    }
    if args.feedback_sweep {
        return run_feedback_sweep(config, benchmark, args.json).await;
    }
    if args.prompt_sources {
        return run_prompt_sources(config, benchmark, args.json).await;
    }
    run_eval(
        config,
        benchmark,
        args.mode,
        args.run_out.as_deref(),
        args.fresh,
        args.json,
    )
    .await
}

/// The llama-bench builds scripts/build-llama-bench.sh makes that are there, labelled.
fn default_llama_benches() -> Vec<(String, PathBuf)> {
    let Some(cache) = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
    else {
        return Vec::new();
    };
    [("native", "build"), ("x86-64-v3", "build-x86-64-v3")]
        .into_iter()
        .map(|(label, build)| {
            (
                label.to_string(),
                cache.join("quire/llama.cpp").join(build).join("bin/llama-bench"),
            )
        })
        .filter(|(_, bench)| bench.is_file())
        .collect()
}

async fn run_abstention(config: Config, benchmark: &Path, unrelated: &Path, json: bool) -> Result<ExitCode> {
    let set = Benchmark::load(benchmark)?;
    let work = tempfile::tempdir().context("cannot create a temporary folder")?;
    let bench_config = Config {
        data_dir: eval_cache_dir(&config, benchmark)?,
        ..config.clone()
    };
    let unrelated_config = Config {
        data_dir: work.path().to_path_buf(),
        ..config
    };
    let sink = ProgressBarSink::new();
    let report = eval::abstention(&set, bench_config, unrelated, unrelated_config, &sink).await?;
    sink.finish();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let quantiles = |samples: &[f64]| {
        let mut sorted = samples.to_vec();
        [0.05, 0.25, 0.5, 0.75, 0.95]
            .map(|q| format!("{:.3}", eval::percentile(&mut sorted, q)))
            .join("  ")
    };
    println!(
        "best passage similarity for {} queries (p5  p25  p50  p75  p95):",
        report.queries
    );
    println!("  on their own corpus:  {}", quantiles(&report.on_topic));
    println!(
        "  on {}:  {}",
        report.unrelated.display(),
        quantiles(&report.off_topic)
    );
    println!("{:>9} {:>10} {:>10}", "threshold", "answered", "abstained");
    for (t, answered, abstained) in &report.thresholds {
        println!("{t:>9.3} {:>9.1}% {:>9.1}%", answered * 100.0, abstained * 100.0);
    }
    println!("best balanced accuracy at abstain_below = {:.3}", report.best);
    Ok(ExitCode::SUCCESS)
}

/// The benchmark, and `config` pointed at the evaluation cache that holds its index.
fn sweep_setup(config: Config, benchmark: &Path) -> Result<(Benchmark, Config)> {
    let set = Benchmark::load(benchmark)?;
    let config = Config {
        data_dir: eval_cache_dir(&config, benchmark)?,
        ..config
    };
    Ok((set, config))
}

/// Prints a sweep as JSON (then returns true: nothing more to print) or its embedder line.
fn print_sweep_header(json: bool, sweep: &impl serde::Serialize, embedder: Option<&str>) -> Result<bool> {
    if json {
        println!("{}", serde_json::to_string_pretty(sweep)?);
        return Ok(true);
    }
    if let Some(embedder) = embedder {
        println!("embedder: {embedder}");
    }
    Ok(false)
}

async fn run_fusion_sweep(config: Config, benchmark: &Path, json: bool) -> Result<ExitCode> {
    let (set, config) = sweep_setup(config, benchmark)?;
    let sink = ProgressBarSink::new();
    let sweep = eval::fusion_sweep(&set, config, &sink).await?;
    sink.finish();
    if print_sweep_header(json, &sweep, sweep.embedder.as_deref())? {
        return Ok(ExitCode::SUCCESS);
    }
    println!("in use: {}", describe_fusion(&sweep.current));
    println!(
        "{:<36} {:>7} {:>8} {:>11}",
        "fusion", "depth", "nDCG@10", "recall@100"
    );
    for result in sweep.results.iter().take(15) {
        println!(
            "{:<36} {:>7} {:>8.4} {:>11.4}",
            describe_fusion(&result.fusion),
            result.depth,
            result.ndcg_at_10,
            result.recall_at_100
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_feedback_sweep(config: Config, benchmark: &Path, json: bool) -> Result<ExitCode> {
    let (set, config) = sweep_setup(config, benchmark)?;
    let sink = ProgressBarSink::new();
    let sweep = eval::feedback_sweep(&set, config, &sink).await?;
    sink.finish();
    if print_sweep_header(json, &sweep, sweep.embedder.as_deref())? {
        return Ok(ExitCode::SUCCESS);
    }
    let in_use =
        |r: &eval::FeedbackResult| r.fusion == sweep.current_fusion && r.feedback == sweep.current_feedback;
    let without_feedback =
        |r: &eval::FeedbackResult| r.fusion == sweep.current_fusion && r.feedback.is_none();
    println!(
        "in use: {}; {}",
        describe_fusion(&sweep.current_fusion),
        describe_feedback(sweep.current_feedback.as_ref())
    );
    println!(
        "{:<5} {:<36} {:<28} {:>8} {:>11}",
        "rank", "fusion", "feedback", "nDCG@10", "recall@100"
    );
    // The best settings, then the one in use and the same fusion without feedback, then the worst.
    let shown = sweep.results.len();
    for (rank, result) in sweep.results.iter().enumerate() {
        if rank < 20 || rank + 1 == shown || in_use(result) || without_feedback(result) {
            println!(
                "{:<5} {:<36} {:<28} {:>8.4} {:>11.4}",
                rank + 1,
                describe_fusion(&result.fusion),
                describe_feedback(result.feedback.as_ref()),
                result.ndcg_at_10,
                result.recall_at_100
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_feedback(feedback: Option<&quire_engine::retrieve::Feedback>) -> String {
    match feedback {
        None => "none".to_string(),
        Some(f) => format!("{} passage(s), weight {}", f.passages, f.weight),
    }
}

fn describe_fusion(fusion: &quire_engine::retrieve::Fusion) -> String {
    use quire_engine::retrieve::Fusion;
    match fusion {
        Fusion::Ranks { k, keyword_weight } => format!("ranks, k = {k}, keyword weight {keyword_weight}"),
        Fusion::Scores { keyword_share } => format!("scores, keyword share {keyword_share}"),
    }
}

async fn run_prompt_sources(config: Config, benchmark: &Path, json: bool) -> Result<ExitCode> {
    let set = Benchmark::load(benchmark)?;
    let profile = quire_engine::embed::ModelProfile::of_model(&config.embedder_path());
    let current = SourcePolicy::of(&config, config.abstain_below(profile));
    // The configured policy first, then fewer and more sources.
    let mut policies = vec![(format!("{} (config)", current.max_sources), current)];
    for max_sources in [8, 5, 4, 3, 2] {
        if max_sources == current.max_sources {
            continue;
        }
        policies.push((
            max_sources.to_string(),
            SourcePolicy {
                max_sources,
                ..current
            },
        ));
    }
    let bench_config = Config {
        data_dir: eval_cache_dir(&config, benchmark)?,
        ..config
    };
    let sink = ProgressBarSink::new();
    let report = eval::prompt_sources(&set, bench_config, &policies, &sink).await?;
    sink.finish();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} queries, {} abstained on; over the {} answered:",
        report.queries,
        report.abstained,
        report.queries - report.abstained
    );
    println!(
        "{:<12} {:>8} {:>14} {:>10} {:>14} {:>14} {:>15}",
        "max sources", "sources", "prompt tokens", "p95", "with relevant", "relevant/query", "relevant share"
    );
    let baseline = report.policies.first().map_or(1.0, |p| p.mean_prompt_tokens);
    for p in &report.policies {
        println!(
            "{:<12} {:>8.2} {:>8.0} ({:.2}x) {:>10.0} {:>13.1}% {:>14.2} {:>14.1}%",
            p.name,
            p.mean_sources,
            p.mean_prompt_tokens,
            p.mean_prompt_tokens / baseline,
            p.p95_prompt_tokens,
            p.with_relevant * 100.0,
            p.mean_relevant,
            p.relevant_share * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_eval(
    config: Config,
    benchmark: &Path,
    mode: Mode,
    run_out: Option<&Path>,
    fresh: bool,
    json: bool,
) -> Result<ExitCode> {
    let set = Benchmark::load(benchmark)?;
    let work = eval_cache_dir(&config, benchmark)?;
    if fresh && work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("cannot remove {}", work.display()))?;
    }
    let eval_config = Config {
        data_dir: work,
        ..config
    };
    let sink = ProgressBarSink::new();
    let report = eval::evaluate(&set, mode, eval_config, run_out, &sink).await?;
    sink.finish();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: {} documents ({} chunks), {} queries",
        report.benchmark.display(),
        report.documents,
        report.chunks,
        report.queries
    );
    if let Some(embedder) = &report.embedder {
        println!("embedder: {embedder}");
    }
    println!(
        "index size: {}",
        quire_engine::size::human_bytes(report.index_bytes)
    );
    if report.index_reused {
        println!("index: reused from an earlier evaluation (--fresh to rebuild)");
    } else {
        println!(
            "index: {:.1} s ({:.0} documents/s)",
            report.index_secs,
            report.documents as f64 / report.index_secs.max(1e-9)
        );
    }
    println!(
        "{:<8} {:>8} {:>11} {:>9} {:>9}",
        "mode", "nDCG@10", "recall@100", "p50 ms", "p95 ms"
    );
    for result in &report.results {
        println!(
            "{:<8} {:>8.4} {:>11.4} {:>9.1} {:>9.1}",
            result.mode.name(),
            result.ndcg_at_10,
            result.recall_at_100,
            result.latency_p50_ms,
            result.latency_p95_ms
        );
    }
    if let Some(path) = run_out {
        println!("run written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_bench(config: Config, what: &BenchCommand) -> Result<ExitCode> {
    match what {
        BenchCommand::Index {
            benchmark,
            limit,
            json,
        } => run_bench_index(config, benchmark, *limit, *json).await,
        BenchCommand::Generate(args) => run_bench_generate(config, args).await,
        BenchCommand::Extract {
            folder,
            ocr_pages,
            details,
            json,
        } => run_bench_extract(&config, folder, *ocr_pages, details.as_deref(), *json).await,
        BenchCommand::Query {
            benchmark,
            limit,
            json,
        } => run_bench_query(config, benchmark, *limit, *json).await,
    }
}

/// `quire bench extract`.
async fn run_bench_extract(
    config: &Config,
    folder: &Path,
    ocr_pages: usize,
    details: Option<&Path>,
    json: bool,
) -> Result<ExitCode> {
    let (config, folder) = (config.clone(), folder.to_path_buf());
    let report =
        tokio::task::spawn_blocking(move || bench::extract::extract(&folder, &config, ocr_pages)).await??;
    if let Some(path) = details {
        std::fs::write(path, serde_json::to_string_pretty(&report.files)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: {} PDFs, {} with a text layer (poppler reads at least 50 characters)",
        report.folder.display(),
        report.pdfs,
        report.with_text_layer
    );
    println!(
        "{:<14} {:>6} {:>22} {:>17} {:>12} {:>12}",
        "reader", "read", "within 10 % of poppler", "refused (text)", "pages right", "ms per page"
    );
    for r in &report.readers {
        let name = match r.reader {
            PdfText::FirstReader => "pdf-extract",
            PdfText::SecondReader => "hayro",
            PdfText::Best => "both (Quire)",
        };
        println!(
            "{:<14} {:>6} {:>14} ({:>5.1} %) {:>17} {:>12} {:>12.1}",
            name,
            r.read,
            r.within_10_percent,
            100.0 * r.within_share,
            r.refused_with_text_layer,
            r.pages_right,
            r.ms_per_page
        );
    }
    if let Some(ocr) = &report.ocr {
        println!(
            "OCR ({}): {} pages of body text at 300 dpi: character accuracy {:.2} % in reading order \
             (worst page {:.2} %), word accuracy {:.2} % in any order, {:.2} s per page",
            ocr.languages.join("+"),
            ocr.pages,
            100.0 * ocr.character_accuracy,
            100.0 * ocr.worst_page_accuracy,
            100.0 * ocr.word_accuracy,
            ocr.secs_per_page
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `quire bench index`.
async fn run_bench_index(
    config: Config,
    benchmark: &Path,
    limit: Option<usize>,
    json: bool,
) -> Result<ExitCode> {
    let set = Benchmark::load(benchmark)?;
    let work = tempfile::tempdir().context("cannot create a temporary folder for the benchmark")?;
    let bench_config = Config {
        data_dir: work.path().to_path_buf(),
        ..config
    };
    let sink = ProgressBarSink::new();
    let report = bench::index(&set, limit, bench_config, &sink).await?;
    sink.finish();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_index_bench(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_index_bench(report: &bench::IndexBench) {
    let (records, files) = (&report.records, &report.files);
    println!("{}: {} documents", report.benchmark.display(), report.documents);
    for (how, run) in [("as records", records), ("as HTML files", files)] {
        println!(
            "  {how:<14} {} passages in {:.1} s ({:.2} passages/s)",
            run.chunks, run.total_secs, run.chunks_per_sec
        );
    }
    println!(
        "files (read, extracted and chunked in helper processes) / records: {:.3}",
        report.files_vs_records
    );
    println!("{:<24} {:>9} {:>9}", "stage (seconds)", "records", "files");
    for (stage, a, b) in [
        (
            "extract",
            records.timings.extract_secs,
            files.timings.extract_secs,
        ),
        ("chunk", records.timings.chunk_secs, files.timings.chunk_secs),
        ("embed", records.timings.embed_secs, files.timings.embed_secs),
        (
            "BM25 (tantivy)",
            records.timings.lexical_secs,
            files.timings.lexical_secs,
        ),
        (
            "HNSW insert",
            records.timings.vector_secs,
            files.timings.vector_secs,
        ),
        (
            "catalog (SQLite)",
            records.timings.catalog_secs,
            files.timings.catalog_secs,
        ),
    ] {
        println!("{stage:<24} {a:>9.2} {b:>9.2}");
    }
    println!(
        "embedding: {} tokens, {:.1} GFLOP/s; matrix product {}x{}: {:.1} GFLOP/s; ratio {:.2}",
        report.embedding.tokens,
        report.embedding_gflops,
        1024,
        1024,
        report.matmul_gflops,
        report.embedding_vs_matmul
    );
    if let Some(rss) = report.peak_rss_bytes {
        println!("peak RSS: {}", quire_engine::size::human_bytes(rss));
    }
}

/// `quire bench generate`.
async fn run_bench_generate(config: Config, args: &GenerateArgs) -> Result<ExitCode> {
    let threads = config.worker_threads_for_models();
    let llama_benches = if args.llama_bench.is_empty() {
        default_llama_benches()
    } else {
        args.llama_bench
            .iter()
            .map(|b| (b.display().to_string(), b.clone()))
            .collect()
    };
    let options = bench::generate::GenerateOptions {
        model: config.generator_path(),
        passages_from: args.passages_from.clone(),
        prompt_tokens: args.prompt_tokens,
        generate_tokens: args.generate_tokens,
        threads,
        runtimes: if args.only.is_empty() {
            quire_engine::llm::Runtime::built()
        } else {
            args.only.clone()
        },
        sweep: args.sweep,
        llama_benches,
        while_indexing: args.while_indexing.clone(),
    };
    let report = bench::generate::generate(&options, &config).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_generate_bench(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_generate_bench(report: &bench::generate::GenerateBench) {
    println!(
        "{} ({}), {} threads",
        report.model.path.display(),
        report.model.architecture,
        report.threads
    );
    if let Some(kernels) = &report.llama_cpp_kernels {
        println!("llama.cpp CPU kernels: {kernels}");
    }
    if let Some(compute) = &report.compute {
        println!("Models run on: {}", compute.summary());
    }
    if let Some((same, compared)) = report.gpu_cpu_agreement {
        println!(
            "Greedy answers on the GPU and on the CPU: the first {same} of {compared} tokens are the same"
        );
    }
    let reference = report
        .references
        .first()
        .map(|r| format!("llama-bench {}", r.setting))
        .unwrap_or_else(|| "llama-bench".into());
    println!(
        "{:<12} {:<20} {:>6} {:>10} {:>8} {:>5} {:>8} {:>9}   {:<24} ratio to {reference}",
        "runtime", "setting", "prompt", "prompt t/s", "TTFT s", "gen", "gen t/s", "peak RSS", "device"
    );
    for run in report.runs.iter().chain(&report.references) {
        let ratios = match (run.prompt_ratio, run.generation_ratio) {
            (Some(p), Some(g)) => format!("prompt {p:.2}x, generation {g:.2}x"),
            _ => String::new(),
        };
        println!(
            "{:<12} {:<20} {:>6} {:>10.1} {:>8.2} {:>5} {:>8.1} {:>9}   {:<24} {ratios}",
            run.runtime,
            run.setting,
            run.prompt_tokens,
            run.prompt_tokens_per_sec,
            run.time_to_first_token_secs,
            run.generated_tokens,
            run.generated_tokens_per_sec,
            run.peak_rss_bytes
                .map(quire_engine::size::human_bytes)
                .unwrap_or_default(),
            run.device
        );
    }
    for problem in &report.llama_cpp_problems {
        println!("llama.cpp not measured: {problem}");
    }
}

/// `quire bench query`.
async fn run_bench_query(config: Config, benchmark: &Path, limit: usize, json: bool) -> Result<ExitCode> {
    let set = Benchmark::load(benchmark)?;
    let bench_config = Config {
        data_dir: eval_cache_dir(&config, benchmark)?,
        ..config
    };
    let sink = ProgressBarSink::new();
    let report = bench::query(&set, bench_config, limit, &sink).await?;
    sink.finish();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: {} queries, top {} with snippets, query embedding included",
        report.benchmark.display(),
        report.queries,
        report.limit
    );
    println!("{:<8} {:>9} {:>9} {:>9}", "mode", "p50 ms", "p95 ms", "max ms");
    for m in &report.modes {
        let name = serde_json::to_string(&m.mode)?;
        println!(
            "{:<8} {:>9.2} {:>9.2} {:>9.2}",
            name.trim_matches('"'),
            m.p50_ms,
            m.p95_ms,
            m.max_ms
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Evaluation indexes live in the OS cache directory, one per corpus and
/// settings, so a second evaluation does not embed the corpus again.
fn eval_cache_dir(config: &Config, benchmark: &Path) -> Result<PathBuf> {
    let corpus = benchmark.join("corpus.jsonl");
    let bytes = std::fs::read(&corpus).with_context(|| format!("cannot read {}", corpus.display()))?;
    Ok(eval_cache_for(config, &bytes, ""))
}

/// The cache folder for an evaluation of `content` (what is indexed) under the settings
/// that change an index; `kind` keeps different evaluations of the same bytes apart.
fn eval_cache_for(config: &Config, content: &[u8], kind: &str) -> PathBuf {
    let mut key = blake3::Hasher::new();
    key.update(content);
    // Only what the index is made of: query-time settings (title_boost) reuse it.
    let settings = format!(
        "{}|{}|{}|{}|{}|{}{}",
        config.chunk_min_tokens,
        config.chunk_max_tokens,
        config.chunk_overlap_tokens,
        config.embedder_path().display(),
        prefix_key(&config.query_prefix),
        prefix_key(&config.passage_prefix),
        if config.embedder_int8 { "|int8" } else { "" }
    );
    key.update(settings.as_bytes());
    let cache = directories::ProjectDirs::from("", "", "Quire")
        .map(|d| d.cache_dir().to_path_buf())
        .unwrap_or_else(std::env::temp_dir);
    cache
        .join("eval")
        .join(format!("{kind}{}", &key.finalize().to_hex()[..16]))
}

/// A configured prefix in a cache key: nothing when the model's own applies, else
/// "=" and the prefix (so that a prefix set empty differs from the model's).
fn prefix_key(prefix: &Option<String>) -> String {
    prefix.as_ref().map(|p| format!("={p}")).unwrap_or_default()
}

fn print_watch_update(update: &quire_engine::watch::WatchUpdate) {
    use quire_engine::watch::WatchUpdate;
    match update {
        WatchUpdate::Watching {
            folders,
            directories,
            report,
        } => {
            print_index_report(report);
            println!(
                "Watching {} folders ({directories} directories) for changes (Ctrl-C stops).",
                folders.len()
            );
        }
        WatchUpdate::Indexed { report, .. } => print_index_report(report),
        WatchUpdate::Folders { folders, directories } => println!(
            "Watching {} folders ({directories} directories) for changes.",
            folders.len()
        ),
        WatchUpdate::Problem { message } => eprintln!("quire: {}", printable(message)),
    }
}

fn print_index_report(report: &IndexReport) {
    println!(
        "{} files found: {} indexed, {} unchanged, {} renamed, {} removed, {} skipped, {} failed ({} chunks written) in {:.1} s",
        report.scanned,
        report.extracted.len(),
        report.unchanged,
        report.renamed,
        report.removed,
        report.skipped,
        report.failed,
        report.chunks_written,
        report.elapsed_secs
    );
    print_errors("Could not index:", &report.problems);
}

/// Lists the files in error, under a heading, when there are any.
fn print_errors(heading: &str, problems: &[FileProblem]) {
    let mut errors = problems
        .iter()
        .filter(|p| p.status == FileStatus::Error)
        .peekable();
    if errors.peek().is_some() {
        println!("{heading}");
        for problem in errors {
            println!(
                "  {}: {}",
                printable_path(&problem.path),
                printable(&problem.message)
            );
        }
    }
}

fn print_hits(query: &str, hits: &[SearchHit]) {
    if hits.is_empty() {
        println!("No results for {query:?}.");
        return;
    }
    let (open, close) = if std::io::stdout().is_terminal() {
        ("\x1b[1;33m", "\x1b[0m")
    } else {
        ("**", "**")
    };
    for (rank, hit) in hits.iter().enumerate() {
        println!(
            "{:>2}. {}  (page {}{})  score {:.2}",
            rank + 1,
            printable_path(&hit.path),
            hit.page,
            if hit.read_by_ocr { ", read by OCR" } else { "" },
            hit.score
        );
        if let Some(title) = &hit.title {
            println!("    {}", printable(title));
        }
        let snippet = marked_snippet(&hit.snippet, open, close);
        let snippet = snippet.split_whitespace().collect::<Vec<_>>().join(" ");
        println!("    {snippet}");
        println!();
    }
}

fn print_status(status: &LibraryStatus, verbose: bool) {
    println!("Library: {}", printable_path(&status.data_dir));
    if let Some(compute) = &status.compute {
        println!("Models run on: {}", printable(&compute.summary()));
    }
    if status.folders.is_empty() {
        println!("No folders yet. Add one with `quire index <folder>`.");
        return;
    }
    for folder in &status.folders {
        println!(
            "  {}  {} indexed, {} skipped, {} errors, {} chunks",
            printable_path(&folder.path),
            folder.indexed,
            folder.skipped,
            folder.errors,
            folder.chunks
        );
    }
    match (&status.vectors, &status.model_problem) {
        (Some(vectors), _) => println!("Semantic search: {vectors} passages in the vector index."),
        (None, Some(problem)) => println!("Semantic search is unavailable: {}", printable(problem)),
        (None, None) => {}
    }
    print_errors("Files in error:", &status.problems);
    if !status.awaiting_ocr.is_empty() {
        println!(
            "Pages whose text is in pictures, not read yet (install Tesseract, Debian: apt install \
             tesseract-ocr; they are read at the next run):"
        );
        for file in &status.awaiting_ocr {
            println!("  {}: {} pages", printable_path(&file.path), file.pages);
        }
    }
    let skipped = status.problems.len()
        - status
            .problems
            .iter()
            .filter(|p| p.status == FileStatus::Error)
            .count();
    if verbose {
        if skipped > 0 {
            println!("Skipped files:");
        }
        for problem in status.problems.iter().filter(|p| p.status == FileStatus::Skipped) {
            println!(
                "  {}: {}",
                printable_path(&problem.path),
                printable(&problem.message)
            );
        }
    } else if skipped > 0 {
        println!("{skipped} files skipped (`quire status --verbose` lists them with the reason).");
    }
}
