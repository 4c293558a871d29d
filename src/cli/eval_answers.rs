//! `quire eval --answers DIR`: answer quality on a reading-comprehension set, printed as a
//! table and stored as JSON (every question's outcome) beside the cached libraries.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::eval::answers::{
    self, AnswerEvalOptions, AnswerEvalReport, CaseSummary, EvalLibraries, QuestionOutcome, QuestionSet,
};
use quire_engine::Config;

use super::eval_cache_for;
use super::progress_bar::ProgressBarSink;

pub async fn run_answer_eval(
    config: Config,
    dir: &Path,
    options: AnswerEvalOptions,
    json: bool,
) -> Result<ExitCode> {
    let set = QuestionSet::load(dir)?;
    let cache = eval_cache_for(&config, &docs_fingerprint(&set.docs)?, "answers-");
    let held_out = cache.join(format!("held-out-s{}-n{}", options.seed, options.held_out));
    let libraries = EvalLibraries {
        full: cache.join("full"),
        held_out_data: held_out.join("data"),
        held_out_docs: held_out.join("docs"),
    };
    let runs = cache.join("runs");
    std::fs::create_dir_all(&runs).with_context(|| format!("cannot create {}", runs.display()))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Each outcome as it comes (a long run can be followed, and a stopped one is not lost).
    let partial = runs.join(format!("{stamp}.outcomes.jsonl"));
    let mut lines =
        std::fs::File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut on_outcome = |outcome: &QuestionOutcome| {
        if let Ok(line) = serde_json::to_string(outcome) {
            let _ = writeln!(lines, "{line}");
        }
    };
    let sink = ProgressBarSink::new();
    let report = answers::evaluate(&set, config, &libraries, options, &sink, &mut on_outcome).await;
    sink.finish();
    let report = report?;
    let stored = runs.join(format!("{stamp}.json"));
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(&stored, &text).with_context(|| format!("cannot write {}", stored.display()))?;
    if json {
        println!("{text}");
    } else {
        print_report(&report);
        println!("every question's outcome: {}", stored.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The names and bytes of every file of `docs`, in name order: what the cached index depends on.
fn docs_fingerprint(docs: &Path) -> Result<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(docs)
        .with_context(|| format!("cannot read {}", docs.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let mut bytes = Vec::new();
    for path in paths {
        bytes.extend_from_slice(path.file_name().unwrap_or_default().as_encoded_bytes());
        bytes.extend(std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?);
    }
    Ok(bytes)
}

fn print_report(report: &AnswerEvalReport) {
    let s = &report.settings;
    println!(
        "{}: {} answerable + {} held-out questions (seed {})",
        report.set.display(),
        report.answerable.questions,
        report.held_out.questions,
        report.options.seed
    );
    println!(
        "model {} on {}, {} threads; context {}, answer ≤ {} tokens, ≤ {} sources of {} sentences, \
         abstain below similarity {:.3} or sentence similarity {:.2}",
        report.model,
        report.runtime,
        report.threads,
        s.context_tokens,
        s.answer_max_tokens,
        s.max_sources,
        if s.passage_sentences == 0 {
            "all".to_string()
        } else {
            format!("≤ {}", s.passage_sentences)
        },
        s.abstain_below,
        s.evidence_below
    );
    let percent = |share: f64| format!("{:.1} %", share * 100.0);
    let row = |label: &str, value: String| println!("  {label:<44} {value:>9}");
    let a: &CaseSummary = &report.answerable;
    println!("answerable ({} questions)", a.questions);
    row("correct (contains a gold answer)", percent(a.correct));
    row("token F1 (first sentence)", format!("{:.3}", a.f1));
    row("declined", percent(a.declined));
    row("cites the gold document (of answered)", percent(a.cites_gold_doc));
    row(
        "cites a passage holding the answer (of answered)",
        percent(a.cites_gold_passage),
    );
    row(
        "citation precision (citations holding the answer)",
        percent(a.citation_precision),
    );
    row(
        "gold answer in the prompt, from its paragraph",
        percent(a.gold_in_sources),
    );
    row("before the checks: reply correct", percent(a.draft_correct));
    row(
        "before the checks: model's markers holding it",
        percent(a.draft_marker_precision),
    );
    row(
        "claims whose marker Quire moved or added",
        percent(a.corrected_claims),
    );
    row("claims no source supports", percent(a.unsupported_claims));
    let h = &report.held_out;
    println!("held out ({} questions, gold paragraph removed)", h.questions);
    row("declined (the right outcome)", percent(h.declined));
    row(
        "answer still elsewhere in the library",
        report.held_out_gold_elsewhere.to_string(),
    );
    println!("time and prompt");
    row("median seconds per answer", format!("{:.1}", report.median_secs));
    row("p90 seconds per answer", format!("{:.1}", report.p90_secs));
    row(
        "prompt tokens (mean)",
        format!("{:.0}", report.mean_prompt_tokens),
    );
    row(
        "prompt tokens (median)",
        format!("{:.0}", report.median_prompt_tokens),
    );
    print_trade_offs(report);
}

/// The curve of answering against declining, one line per threshold of each measure.
fn print_trade_offs(report: &AnswerEvalReport) {
    let mut measure = "";
    for point in &report.trade_offs {
        if point.measure != measure {
            measure = point.measure;
            println!("declining below a threshold of {measure}:");
            println!(
                "  {:>9} {:>18} {:>19} {:>18}",
                "threshold", "answerable correct", "answerable declined", "held out declined"
            );
        }
        println!(
            "  {:>9.2} {:>17.1}% {:>18.1}% {:>17.1}%",
            point.threshold,
            point.answerable_correct * 100.0,
            point.answerable_declined * 100.0,
            point.held_out_declined * 100.0
        );
    }
}
