//! Command-line interface: parses arguments, opens the engine, prints results.

mod progress_bar;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use quire::engine::LibraryStatus;
use quire::eval::{self, Benchmark, Mode};
use quire::ingest::IndexReport;
use quire::retrieve::SearchHit;
use quire::store::catalog::FileProblem;
use quire::store::FileStatus;
use quire::{Config, Engine};

use progress_bar::ProgressBarSink;

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

    #[command(subcommand)]
    command: Command,
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
    /// Measure retrieval quality on a BEIR-format benchmark (corpus.jsonl, queries.jsonl, qrels/test.tsv).
    Eval {
        benchmark: PathBuf,
        #[arg(long, value_enum, default_value_t = Mode::Bm25)]
        mode: Mode,
        /// Write the ranking as a TREC run file.
        #[arg(long, value_name = "FILE")]
        run_out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QUIRE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
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
            eprintln!("quire: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Eval {
        benchmark,
        mode,
        run_out,
        json,
    } = &cli.command
    {
        return run_eval(benchmark, *mode, run_out.as_deref(), *json).await;
    }
    let data_dir = match cli.data_dir {
        Some(dir) => dir,
        None => default_data_dir()?,
    };
    let engine = Engine::open(Config::load(&data_dir)?).await?;
    let code = match cli.command {
        Command::Index { folders } => {
            let sink = ProgressBarSink::new();
            let mut report = IndexReport::default();
            if folders.is_empty() {
                if engine.folders().await?.is_empty() {
                    anyhow::bail!("the library has no folders yet; add one with `quire index <folder>`");
                }
                report = engine.index_all(&sink).await?;
            }
            for folder in &folders {
                report.merge(engine.index_folder(folder, &sink).await?);
            }
            sink.finish();
            print_index_report(&report);
            ExitCode::SUCCESS
        }
        Command::Search { query, limit, json } => {
            let hits = engine.search(&query, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hits)?);
            } else {
                print_hits(&query, &hits);
            }
            ExitCode::SUCCESS
        }
        Command::Status { verbose, json } => {
            let status = engine.status().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_status(&status, verbose);
            }
            ExitCode::SUCCESS
        }
        Command::Remove { folder } => {
            engine.remove_folder(&folder).await?;
            println!("Removed {} from the library.", folder.display());
            ExitCode::SUCCESS
        }
        Command::Eval { .. } => unreachable!("handled above"),
    };
    engine.close().await?;
    Ok(code)
}

fn default_data_dir() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "Quire")
        .context("cannot tell where your data directory is; pass --data-dir or set QUIRE_DATA_DIR")?;
    Ok(dirs.data_dir().to_path_buf())
}

async fn run_eval(benchmark: &Path, mode: Mode, run_out: Option<&Path>, json: bool) -> Result<ExitCode> {
    let set = Benchmark::load(benchmark)?;
    let work = tempfile::tempdir().context("cannot create a temporary folder for the evaluation index")?;
    let sink = ProgressBarSink::new();
    let report = eval::evaluate(&set, mode, work.path(), run_out, &sink).await?;
    sink.finish();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}  mode {:?}: {} documents ({} chunks), {} queries",
            report.benchmark.display(),
            report.mode,
            report.documents,
            report.chunks,
            report.queries
        );
        println!("nDCG@10     {:.4}", report.ndcg_at_10);
        println!("recall@100  {:.4}", report.recall_at_100);
        println!(
            "indexing {:.1} s ({:.0} documents/s), queries {:.2} s ({:.1} ms each)",
            report.index_secs,
            report.documents as f64 / report.index_secs.max(1e-9),
            report.query_secs,
            1000.0 * report.query_secs / report.queries.max(1) as f64
        );
    }
    if let Some(path) = run_out {
        println!("run written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
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
            println!("  {}: {}", problem.path.display(), problem.message);
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
            "{:>2}. {}  (page {})  score {:.2}",
            rank + 1,
            hit.path.display(),
            hit.page,
            hit.score
        );
        if let Some(title) = &hit.title {
            println!("    {title}");
        }
        let snippet = hit.snippet.marked(open, close);
        let snippet = snippet.split_whitespace().collect::<Vec<_>>().join(" ");
        println!("    {snippet}");
        println!();
    }
}

fn print_status(status: &LibraryStatus, verbose: bool) {
    println!("Library: {}", status.data_dir.display());
    if status.folders.is_empty() {
        println!("No folders yet. Add one with `quire index <folder>`.");
        return;
    }
    for folder in &status.folders {
        println!(
            "  {}  {} indexed, {} skipped, {} errors, {} chunks",
            folder.path.display(),
            folder.indexed,
            folder.skipped,
            folder.errors,
            folder.chunks
        );
    }
    print_errors("Files in error:", &status.problems);
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
            println!("  {}: {}", problem.path.display(), problem.message);
        }
    } else if skipped > 0 {
        println!("{skipped} files skipped (`quire status --verbose` lists them with the reason).");
    }
}
