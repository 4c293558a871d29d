//! Answer quality on a reading-comprehension set laid out like `shared/bench/squad11-dev13`:
//! `docs/` (the library), `questions.jsonl` (questions with their gold answers) and
//! `paragraphs.jsonl` (the paragraph each question was written from).
//!
//! Two cases, each asked exactly as `quire ask` asks (the engine's `Engine::ask`):
//! - answerable: a seeded sample of questions over the whole library;
//! - held out: a second seeded sample (at most one question per paragraph) asked over a copy
//!   of the library without any of their gold paragraphs, where the right outcome is to decline.
//!
//! Scoring follows the usual SQuAD practice adapted to a cited free-text answer: an answer
//! is correct when it contains a normalised gold answer; token F1 is taken against the
//! answer's first sentence; citations are checked against the gold document and against the
//! passage that holds the gold answer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use anyhow::Result;
use quire_engine::answer::{self, without_markers, Answer, AskOptions, Declined, Support};
use quire_engine::config::Config;
use quire_engine::engine::Engine;
use quire_engine::Error;

use super::BadBenchmarkFile;
use quire_engine::cancel::CancelToken;
use quire_engine::llm::Generator;
use quire_engine::progress::{NoProgress, Phase, ProgressSink, ProgressTracker};

use super::{percentile, read_jsonl};

/// A question of the set, with every gold answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Question {
    pub id: String,
    pub question: String,
    pub answers: Vec<String>,
    pub title: String,
    pub paragraph_index: usize,
    /// The file of `docs/` that holds its paragraph.
    pub doc: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Paragraph {
    pub paragraph_index: usize,
    pub doc: String,
    pub text: String,
}

/// A question set: the library to index and the questions asked of it.
pub struct QuestionSet {
    pub dir: PathBuf,
    pub docs: PathBuf,
    pub questions: Vec<Question>,
    pub paragraphs: Vec<Paragraph>,
}

impl QuestionSet {
    pub fn load(dir: &Path) -> Result<QuestionSet> {
        let docs = dir.join("docs");
        if !docs.is_dir() {
            return Err(Error::NotAFolder { path: docs }.into());
        }
        let questions: Vec<Question> = read_jsonl(&dir.join("questions.jsonl"))?;
        let paragraphs: Vec<Paragraph> = read_jsonl(&dir.join("paragraphs.jsonl"))?;
        let known: HashSet<(&str, usize)> = paragraphs
            .iter()
            .map(|p| (p.doc.as_str(), p.paragraph_index))
            .collect();
        if let Some(orphan) = questions
            .iter()
            .find(|q| !known.contains(&(q.doc.as_str(), q.paragraph_index)))
        {
            return Err(BadBenchmarkFile {
                path: dir.join("questions.jsonl"),
                line: 0,
                message: format!(
                    "question {} names paragraph {} of {}, which paragraphs.jsonl does not have",
                    orphan.id, orphan.paragraph_index, orphan.doc
                ),
            }
            .into());
        }
        Ok(QuestionSet {
            dir: dir.to_path_buf(),
            docs,
            questions,
            paragraphs,
        })
    }

    fn paragraph(&self, question: &Question) -> Option<&Paragraph> {
        self.paragraphs
            .iter()
            .find(|p| p.doc == question.doc && p.paragraph_index == question.paragraph_index)
    }
}

/// A small, fixed pseudo-random sequence (SplitMix64): the same seed draws the same
/// sample on every machine and every version of Quire.
struct SeededRng(u64);

impl SeededRng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// `n` questions drawn with `seed` so that every article is represented: articles take
/// turns, each giving its next question in a shuffled order. With `one_per_paragraph`,
/// no two questions share a paragraph.
pub fn sample_questions(set: &QuestionSet, n: usize, seed: u64, one_per_paragraph: bool) -> Vec<&Question> {
    let mut rng = SeededRng(seed);
    let mut by_article: BTreeMap<&str, Vec<&Question>> = BTreeMap::new();
    for question in &set.questions {
        by_article.entry(&question.doc).or_default().push(question);
    }
    let mut queues: Vec<Vec<&Question>> = by_article
        .into_values()
        .map(|mut questions| {
            rng.shuffle(&mut questions);
            if one_per_paragraph {
                let mut seen = HashSet::new();
                questions.retain(|q| seen.insert(q.paragraph_index));
            }
            // Taken from the back below: reverse so the shuffled order is kept.
            questions.reverse();
            questions
        })
        .collect();
    rng.shuffle(&mut queues);
    let mut sample = Vec::with_capacity(n);
    while sample.len() < n && queues.iter().any(|q| !q.is_empty()) {
        for queue in &mut queues {
            if sample.len() == n {
                break;
            }
            if let Some(question) = queue.pop() {
                sample.push(question);
            }
        }
    }
    sample
}

/// Writes a copy of the set's library into `out` without the gold paragraphs of
/// `held_out`: the library is still about every article, but cannot answer those questions.
/// Returns the library's text that is left, for checking whether a gold answer survives elsewhere.
pub fn write_held_out_library(set: &QuestionSet, held_out: &[&Question], out: &Path) -> Result<String> {
    let mut removed: HashMap<&str, Vec<&str>> = HashMap::new();
    for question in held_out {
        let paragraph = set.paragraph(question).ok_or_else(|| BadBenchmarkFile {
            path: set.dir.join("paragraphs.jsonl"),
            line: 0,
            message: format!("no paragraph for question {}", question.id),
        })?;
        removed.entry(&paragraph.doc).or_default().push(&paragraph.text);
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut remaining = String::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&set.docs)
        .map_err(|e| Error::io(&set.docs, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| Error::io(&set.docs, e)))
        .collect::<quire_engine::Result<_>>()?;
    entries.sort();
    for path in entries.iter().filter(|p| p.is_file()) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let gone = removed.get(name.as_str()).map(Vec::as_slice).unwrap_or_default();
        let kept = without_paragraphs(&text, gone).map_err(|message| BadBenchmarkFile {
            path: path.clone(),
            line: 0,
            message,
        })?;
        remaining.push_str(&kept);
        remaining.push('\n');
        let target = out.join(&name);
        // Rewritten only when it differs, so that an index of an earlier copy stays current.
        if std::fs::read_to_string(&target).ok().as_deref() != Some(kept.as_str()) {
            std::fs::write(&target, &kept).map_err(|e| Error::io(&target, e))?;
        }
    }
    Ok(remaining)
}

/// `text` (paragraphs separated by blank lines) without the paragraphs `gone`, each of
/// which must be there.
fn without_paragraphs(text: &str, gone: &[&str]) -> std::result::Result<String, String> {
    let paragraphs: Vec<&str> = text.split("\n\n").collect();
    for paragraph in gone {
        if !paragraphs.iter().any(|p| p.trim() == paragraph.trim()) {
            let start: String = paragraph.chars().take(60).collect();
            return Err(format!("the paragraph starting “{start}” is not in the document"));
        }
    }
    let kept: Vec<&str> = paragraphs
        .into_iter()
        .filter(|p| !gone.iter().any(|g| g.trim() == p.trim()))
        .collect();
    Ok(kept.join("\n\n"))
}

/// SQuAD's normalisation: lower case, ASCII punctuation and the articles a/an/the
/// removed, whitespace collapsed.
pub fn normalize_answer(text: &str) -> String {
    let lower: String = text
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    lower
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `answer` contains one of `golds`, both normalised, on word boundaries.
pub fn contains_gold(answer: &str, golds: &[String]) -> bool {
    let answer = format!(" {} ", normalize_answer(&without_markers(answer)));
    golds.iter().any(|gold| {
        let gold = normalize_answer(gold);
        !gold.is_empty() && answer.contains(&format!(" {gold} "))
    })
}

/// Token F1 of `prediction` against `gold`, both normalised (SQuAD's definition).
pub fn token_f1(prediction: &str, gold: &str) -> f64 {
    let predicted = normalize_answer(prediction);
    let expected = normalize_answer(gold);
    let predicted: Vec<&str> = predicted.split_whitespace().collect();
    let expected: Vec<&str> = expected.split_whitespace().collect();
    if predicted.is_empty() || expected.is_empty() {
        return if predicted == expected { 1.0 } else { 0.0 };
    }
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for word in &expected {
        *counts.entry(word).or_default() += 1;
    }
    let mut common = 0i64;
    for word in &predicted {
        if let Some(count) = counts.get_mut(word) {
            if *count > 0 {
                *count -= 1;
                common += 1;
            }
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / predicted.len() as f64;
    let recall = common as f64 / expected.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// The answer's first sentence, without markers: what token F1 is measured on.
pub fn first_sentence(text: &str) -> String {
    let plain = without_markers(text);
    answer::sentences(&plain)
        .first()
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// How large the samples are and how they are drawn.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AnswerEvalOptions {
    /// Answerable questions asked over the whole library.
    pub answerable: usize,
    /// Questions asked over the library without their gold paragraphs.
    pub held_out: usize,
    pub seed: u64,
}

/// Where the evaluation keeps its two libraries between runs.
pub struct EvalLibraries {
    /// Data directory of the whole library.
    pub full: PathBuf,
    /// Data directory and docs copy of the held-out library (they depend on the sample).
    pub held_out_data: PathBuf,
    pub held_out_docs: PathBuf,
}

/// What happened to one question.
#[derive(Debug, Clone, Serialize)]
pub struct QuestionOutcome {
    pub id: String,
    pub question: String,
    pub gold: Vec<String>,
    pub doc: String,
    /// Asked over the library without its gold paragraph.
    pub held_out: bool,
    /// For a held-out question: a gold answer still appears somewhere in that library.
    pub gold_elsewhere: bool,
    pub answer: String,
    pub declined: bool,
    pub correct: bool,
    pub f1: f64,
    /// A source given to the model held a gold answer in a sentence of the gold paragraph.
    pub gold_in_sources: bool,
    pub cites_gold_doc: bool,
    /// At least one cited passage holds a gold answer.
    pub cites_gold_passage: bool,
    pub citations: usize,
    /// Citations whose passage holds a gold answer.
    pub citations_holding_gold: usize,
    pub seconds: f64,
    pub prompt_tokens: usize,
    /// Best cosine similarity of a passage to the question.
    pub evidence: Option<f32>,
    /// Why Quire declined, when it did.
    pub declined_by: Option<Declined>,
    /// What the sources hold of the question, measured before the model is asked.
    pub question_coverage: Option<f32>,
    pub sentence_similarity: Option<f32>,
    /// What the sentence(s) backing the answer's first claim hold of the question.
    pub answer_coverage: Option<f32>,
    /// The model's reply before the checks, and whether it held a gold answer.
    pub draft: String,
    pub draft_correct: bool,
    /// The model's own markers that named a source, and those whose passage holds a gold answer.
    pub draft_markers: usize,
    pub draft_markers_holding_gold: usize,
    /// Claims of the answer: all, those whose marker Quire moved or added, those no source supports.
    pub claims: usize,
    pub corrected: usize,
    pub unsupported: usize,
}

/// Shares over one case (answerable or held out).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseSummary {
    pub questions: usize,
    pub declined: f64,
    /// Of all questions: the answer contains a gold answer (a declined one does not).
    pub correct: f64,
    pub f1: f64,
    /// Of the questions answered: a citation names the gold document.
    pub cites_gold_doc: f64,
    /// Of the questions answered: a cited passage holds a gold answer.
    pub cites_gold_passage: f64,
    /// Of all citations of answered questions: the passage holds a gold answer.
    pub citation_precision: f64,
    /// The gold answer reached the prompt, in a sentence of its paragraph.
    pub gold_in_sources: f64,
    /// Of the model's own markers (before the checks), in answered questions: the passage holds
    /// a gold answer.
    pub draft_marker_precision: f64,
    /// Of all questions: the model's reply, before the checks, contains a gold answer.
    pub draft_correct: f64,
    /// Of the claims of answered questions: moved or added by Quire, and unsupported.
    pub corrected_claims: f64,
    pub unsupported_claims: f64,
}

/// One point of the trade-off between answering and declining: what a threshold on one
/// measure of the evidence would give, from the same answers.
#[derive(Debug, Clone, Serialize)]
pub struct TradeOff {
    pub measure: &'static str,
    pub threshold: f32,
    pub answerable_correct: f64,
    pub answerable_declined: f64,
    pub held_out_declined: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnswerEvalReport {
    #[serde(serialize_with = "quire_engine::serde_path::lossy")]
    pub set: PathBuf,
    pub options: AnswerEvalOptions,
    pub model: String,
    pub runtime: String,
    pub threads: usize,
    pub settings: AnswerSettings,
    pub answerable: CaseSummary,
    pub held_out: CaseSummary,
    /// Held-out questions whose gold answer still appears elsewhere in their library.
    pub held_out_gold_elsewhere: usize,
    pub median_secs: f64,
    pub p90_secs: f64,
    pub mean_prompt_tokens: f64,
    pub median_prompt_tokens: f64,
    pub index_secs: f64,
    /// Declining below each threshold of each evidence measure (only thresholds at or above
    /// the configured `evidence_below` for sentence similarity: below it the model was not asked).
    pub trade_offs: Vec<TradeOff>,
    pub outcomes: Vec<QuestionOutcome>,
}

/// The settings an answer depends on, recorded with each run.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerSettings {
    pub context_tokens: usize,
    pub answer_max_tokens: usize,
    pub max_sources: usize,
    pub passage_sentences: usize,
    pub abstain_below: f32,
    pub evidence_below: f32,
    pub max_hits_per_file: usize,
    pub chunk_tokens: (usize, usize, usize),
    #[serde(serialize_with = "quire_engine::serde_path::lossy")]
    pub embedder: PathBuf,
}

impl AnswerSettings {
    fn of(config: &Config) -> AnswerSettings {
        let profile = quire_engine::embed::ModelProfile::of_model(&config.embedder_path());
        AnswerSettings {
            context_tokens: config.context_tokens,
            answer_max_tokens: config.answer_max_tokens,
            max_sources: config.max_sources,
            passage_sentences: config.passage_sentences,
            abstain_below: config.abstain_below(profile),
            evidence_below: config.evidence_below(profile),
            max_hits_per_file: config.max_hits_per_file,
            chunk_tokens: (
                config.chunk_min_tokens,
                config.chunk_max_tokens,
                config.chunk_overlap_tokens,
            ),
            embedder: config.embedder.clone(),
        }
    }
}

/// Indexes both libraries (or brings the cached ones up to date), asks both samples with
/// one loaded model, and scores the answers.
pub async fn evaluate(
    set: &QuestionSet,
    config: Config,
    libraries: &EvalLibraries,
    options: AnswerEvalOptions,
    progress: &dyn ProgressSink,
    on_outcome: &mut dyn FnMut(&QuestionOutcome),
) -> Result<AnswerEvalReport> {
    let answerable = sample_questions(set, options.answerable, options.seed, false);
    // Another stream of the same seed: the two samples are independent draws.
    let held_out = sample_questions(set, options.held_out, options.seed ^ 0x005e_ed0f_4e1d, true);
    let remaining = write_held_out_library(set, &held_out, &libraries.held_out_docs)?;
    let remaining = format!(" {} ", normalize_answer(&remaining));

    let started = Instant::now();
    let full = open_library(&config, &libraries.full, &set.docs).await?;
    let without = open_library(&config, &libraries.held_out_data, &libraries.held_out_docs).await?;
    let index_secs = started.elapsed().as_secs_f64();

    let generator = full.generator().await?;
    without.use_generator(generator.clone())?;
    let mut tracker = ProgressTracker::new(
        progress,
        Phase::Querying,
        "questions",
        (answerable.len() + held_out.len()) as u64,
    );
    let mut outcomes = Vec::with_capacity(answerable.len() + held_out.len());
    for question in &answerable {
        let outcome = ask_one(&full, set, question, false, false).await?;
        on_outcome(&outcome);
        outcomes.push(outcome);
        tracker.advance(1);
    }
    for question in &held_out {
        let elsewhere = question
            .answers
            .iter()
            .map(|a| normalize_answer(a))
            .any(|a| !a.is_empty() && remaining.contains(&format!(" {a} ")));
        let outcome = ask_one(&without, set, question, true, elsewhere).await?;
        on_outcome(&outcome);
        outcomes.push(outcome);
        tracker.advance(1);
    }
    full.close().await?;
    without.close().await?;
    Ok(report(set, &config, &generator, options, index_secs, outcomes))
}

async fn open_library(config: &Config, data_dir: &Path, docs: &Path) -> Result<Engine> {
    let engine = Engine::open(Config {
        data_dir: data_dir.to_path_buf(),
        ..config.clone()
    })
    .await?;
    engine.index_folder(docs, &NoProgress).await?;
    Ok(engine)
}

async fn ask_one(
    engine: &Engine,
    set: &QuestionSet,
    question: &Question,
    held_out: bool,
    gold_elsewhere: bool,
) -> Result<QuestionOutcome> {
    let started = Instant::now();
    let answer = engine
        .ask(
            &question.question,
            AskOptions::default(),
            &CancelToken::new(),
            &mut |_| {},
        )
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let gold_paragraph = set
        .paragraph(question)
        .map(|p| p.text.as_str())
        .unwrap_or_default();
    Ok(score(
        question,
        &answer,
        gold_paragraph,
        held_out,
        gold_elsewhere,
        seconds,
    ))
}

fn score(
    question: &Question,
    answer: &Answer,
    gold_paragraph: &str,
    held_out: bool,
    gold_elsewhere: bool,
    seconds: f64,
) -> QuestionOutcome {
    let declined = answer.abstained;
    let holds_gold = |passage: &str| contains_gold(passage, &question.answers);
    let file_name = |path: &Path| path.file_name().map(|n| n.to_string_lossy().into_owned());
    let citations_holding_gold = answer.citations.iter().filter(|c| holds_gold(&c.passage)).count();
    let first = first_sentence(&answer.text);
    let draft_markers: Vec<&answer::Source> = answer::numbers_in(&answer.draft)
        .into_iter()
        .collect::<HashSet<usize>>()
        .into_iter()
        .filter_map(|n| answer.sources.get(n.checked_sub(1)?))
        .collect();
    let count = |support: Support| answer.claims.iter().filter(|c| c.support == support).count();
    QuestionOutcome {
        id: question.id.clone(),
        question: question.question.clone(),
        gold: question.answers.clone(),
        doc: question.doc.clone(),
        held_out,
        gold_elsewhere,
        answer: answer.text.clone(),
        declined,
        correct: !declined && contains_gold(&answer.text, &question.answers),
        f1: if declined {
            0.0
        } else {
            question
                .answers
                .iter()
                .map(|gold| token_f1(&first, gold))
                .fold(0.0, f64::max)
        },
        gold_in_sources: !gold_paragraph.is_empty()
            && answer
                .sources
                .iter()
                .any(|s| shows_gold(&s.text, gold_paragraph, &question.answers)),
        cites_gold_doc: answer
            .citations
            .iter()
            .any(|c| file_name(&c.path).as_deref() == Some(question.doc.as_str())),
        cites_gold_passage: citations_holding_gold > 0,
        citations: answer.citations.len(),
        citations_holding_gold,
        seconds,
        prompt_tokens: answer.stats.as_ref().map_or(0, |s| s.prompt_tokens),
        evidence: answer.evidence,
        declined_by: answer.declined,
        question_coverage: answer.check.map(|c| c.question_coverage),
        sentence_similarity: answer.check.and_then(|c| c.sentence_similarity),
        answer_coverage: answer.answer_coverage,
        draft: answer.draft.clone(),
        draft_correct: contains_gold(&answer.draft, &question.answers)
            && !answer::says_not_found(&answer.draft),
        draft_markers: draft_markers.len(),
        draft_markers_holding_gold: draft_markers.iter().filter(|s| holds_gold(&s.text)).count(),
        claims: answer.claims.len(),
        corrected: count(Support::Corrected),
        unsupported: count(Support::Unsupported),
    }
}

/// Whether a source shows the model the gold answer where the gold paragraph says it: the
/// source holds a gold answer in a sentence of the gold paragraph. A source is a chunk, or
/// sentences of one (`passage_sentences`), so it may hold part of the paragraph or more.
fn shows_gold(source: &str, paragraph: &str, golds: &[String]) -> bool {
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let paragraph = squash(paragraph);
    answer::sentences(source).into_iter().any(|sentence| {
        let sentence = squash(sentence.trim_matches(|c: char| c == '…' || c.is_whitespace()));
        sentence.len() >= 20 && paragraph.contains(&sentence) && contains_gold(&sentence, golds)
    })
}

fn summarize(outcomes: &[&QuestionOutcome]) -> CaseSummary {
    let n = outcomes.len();
    if n == 0 {
        return CaseSummary::default();
    }
    let share = |count: usize, of: usize| count as f64 / of.max(1) as f64;
    let answered: Vec<&&QuestionOutcome> = outcomes.iter().filter(|o| !o.declined).collect();
    let citations: usize = answered.iter().map(|o| o.citations).sum();
    let claims: usize = answered.iter().map(|o| o.claims).sum();
    let holding: usize = answered.iter().map(|o| o.citations_holding_gold).sum();
    CaseSummary {
        questions: n,
        declined: share(outcomes.iter().filter(|o| o.declined).count(), n),
        correct: share(outcomes.iter().filter(|o| o.correct).count(), n),
        f1: outcomes.iter().map(|o| o.f1).sum::<f64>() / n as f64,
        cites_gold_doc: share(
            answered.iter().filter(|o| o.cites_gold_doc).count(),
            answered.len(),
        ),
        cites_gold_passage: share(
            answered.iter().filter(|o| o.cites_gold_passage).count(),
            answered.len(),
        ),
        citation_precision: share(holding, citations),
        gold_in_sources: share(outcomes.iter().filter(|o| o.gold_in_sources).count(), n),
        draft_marker_precision: share(
            answered.iter().map(|o| o.draft_markers_holding_gold).sum(),
            answered.iter().map(|o| o.draft_markers).sum(),
        ),
        draft_correct: share(outcomes.iter().filter(|o| o.draft_correct).count(), n),
        corrected_claims: share(answered.iter().map(|o| o.corrected).sum(), claims),
        unsupported_claims: share(answered.iter().map(|o| o.unsupported).sum(), claims),
    }
}

fn report(
    set: &QuestionSet,
    config: &Config,
    generator: &Arc<Generator>,
    options: AnswerEvalOptions,
    index_secs: f64,
    outcomes: Vec<QuestionOutcome>,
) -> AnswerEvalReport {
    let settings = AnswerSettings::of(config);
    let answerable: Vec<&QuestionOutcome> = outcomes.iter().filter(|o| !o.held_out).collect();
    let held_out: Vec<&QuestionOutcome> = outcomes.iter().filter(|o| o.held_out).collect();
    let mut seconds: Vec<f64> = outcomes.iter().map(|o| o.seconds).collect();
    // Prompt tokens of the questions that reached the model.
    let mut tokens: Vec<f64> = outcomes
        .iter()
        .filter(|o| o.prompt_tokens > 0)
        .map(|o| o.prompt_tokens as f64)
        .collect();
    let mean_prompt_tokens = tokens.iter().sum::<f64>() / tokens.len().max(1) as f64;
    AnswerEvalReport {
        set: set.dir.clone(),
        options,
        model: generator.info().name.clone(),
        runtime: generator.runtime().name().to_string(),
        threads: config.worker_threads_for_models(),
        trade_offs: trade_offs(&outcomes, settings.evidence_below),
        settings,
        answerable: summarize(&answerable),
        held_out: summarize(&held_out),
        held_out_gold_elsewhere: held_out.iter().filter(|o| o.gold_elsewhere).count(),
        median_secs: percentile(&mut seconds, 0.5),
        p90_secs: percentile(&mut seconds, 0.9),
        mean_prompt_tokens,
        median_prompt_tokens: percentile(&mut tokens, 0.5),
        index_secs,
        outcomes,
    }
}

/// What each threshold on each evidence measure would give: a question whose measure falls
/// below it is declined, the others keep their outcome.
fn trade_offs(outcomes: &[QuestionOutcome], configured: f32) -> Vec<TradeOff> {
    type Measure = fn(&QuestionOutcome) -> Option<f32>;
    let measures: [(&str, Measure, f32); 3] = [
        ("question_coverage", |o| o.question_coverage, 0.05),
        ("sentence_similarity", |o| o.sentence_similarity, 0.05),
        ("answer_coverage", |o| o.answer_coverage, 0.05),
    ];
    let mut points = Vec::new();
    for (name, measure, step) in measures {
        for i in 0..=20 {
            let threshold = step * i as f32;
            if name == "sentence_similarity" && threshold < configured {
                continue;
            }
            let below = |o: &QuestionOutcome| measure(o).is_some_and(|m| m < threshold);
            let case = |held_out: bool| outcomes.iter().filter(move |o| o.held_out == held_out);
            let n = |held_out: bool| case(held_out).count().max(1) as f64;
            points.push(TradeOff {
                measure: name,
                threshold,
                answerable_correct: case(false).filter(|o| o.correct && !below(o)).count() as f64 / n(false),
                answerable_declined: case(false).filter(|o| o.declined || below(o)).count() as f64 / n(false),
                held_out_declined: case(true).filter(|o| o.declined || below(o)).count() as f64 / n(true),
            });
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_normalised_as_squad_does() {
        assert_eq!(
            normalize_answer("The  Walt Disney Company!"),
            "walt disney company"
        );
        assert_eq!(normalize_answer("an apple, a pear"), "apple pear");
        // Only ASCII punctuation goes, as in SQuAD's script.
        assert_eq!(normalize_answer("Disney–ABC"), "disney–abc");
        assert_eq!(
            without_markers("In 1957 [2]. Also [1, 3] and [note]."),
            "In 1957 . Also  and [note]."
        );
    }

    #[test]
    fn containment_needs_whole_words_and_ignores_markers() {
        let gold = vec!["1957".to_string(), "the Walt Disney Company".to_string()];
        assert!(contains_gold("Since 1957 [1].", &gold));
        assert!(contains_gold("It is owned by Walt Disney Company.", &gold));
        assert!(!contains_gold("In 19578.", &gold));
        // A marker is not the number two.
        assert!(!contains_gold("See [2].", &["2".to_string()]));
    }

    #[test]
    fn token_f1_matches_hand_computed_values() {
        assert_eq!(
            token_f1("Columbus Avenue", "Columbus Avenue and West 66th Street"),
            2.0 * (1.0 * (2.0 / 6.0)) / (1.0 + 2.0 / 6.0)
        );
        assert_eq!(token_f1("the Manhattan", "Manhattan"), 1.0);
        assert_eq!(token_f1("Brooklyn", "Manhattan"), 0.0);
        assert_eq!(
            first_sentence("Manhattan [1]. It is in New York [2]."),
            "Manhattan ."
        );
    }

    fn toy_set(dir: &Path) -> QuestionSet {
        let docs = dir.join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        let mut questions = Vec::new();
        let mut paragraphs = Vec::new();
        for (d, title) in ["Alpha", "Beta", "Gamma"].iter().enumerate() {
            let doc = format!("{d:02}_{title}.md");
            let mut text = format!("# {title}\n\n");
            for p in 0..4 {
                let paragraph = format!("{title} paragraph {p} says fact {d}{p}.");
                text.push_str(&paragraph);
                text.push_str("\n\n");
                paragraphs.push(Paragraph {
                    paragraph_index: p,
                    doc: doc.clone(),
                    text: paragraph,
                });
                for q in 0..3 {
                    questions.push(Question {
                        id: format!("{d}-{p}-{q}"),
                        question: format!("What does {title} paragraph {p} say ({q})?"),
                        answers: vec![format!("fact {d}{p}")],
                        title: title.to_string(),
                        paragraph_index: p,
                        doc: doc.clone(),
                    });
                }
            }
            std::fs::write(docs.join(&doc), text.trim_end()).unwrap();
        }
        QuestionSet {
            dir: dir.to_path_buf(),
            docs,
            questions,
            paragraphs,
        }
    }

    #[test]
    fn samples_are_seeded_and_cover_every_article() {
        let tmp = tempfile::tempdir().unwrap();
        let set = toy_set(tmp.path());
        let ids = |sample: &[&Question]| sample.iter().map(|q| q.id.clone()).collect::<Vec<_>>();
        let first = sample_questions(&set, 6, 7, false);
        assert_eq!(ids(&first), ids(&sample_questions(&set, 6, 7, false)));
        assert_ne!(ids(&first), ids(&sample_questions(&set, 6, 8, false)));
        let articles: HashSet<&str> = first.iter().map(|q| q.doc.as_str()).collect();
        assert_eq!(articles.len(), 3, "every article appears");
        // One question per paragraph: 3 articles × 4 paragraphs at most, however many are asked for.
        let held_out = sample_questions(&set, 100, 7, true);
        assert_eq!(held_out.len(), 12);
        let paragraphs: HashSet<(&str, usize)> = held_out
            .iter()
            .map(|q| (q.doc.as_str(), q.paragraph_index))
            .collect();
        assert_eq!(paragraphs.len(), 12);
    }

    #[test]
    fn the_held_out_library_lacks_exactly_the_gold_paragraphs() {
        let tmp = tempfile::tempdir().unwrap();
        let set = toy_set(tmp.path());
        let held_out = sample_questions(&set, 3, 1, true);
        let out = tmp.path().join("held-out");
        let remaining = write_held_out_library(&set, &held_out, &out).unwrap();
        for question in &held_out {
            let gold = &question.answers[0];
            assert!(!remaining.contains(gold.as_str()), "{gold} must be gone");
            let copy = std::fs::read_to_string(out.join(&question.doc)).unwrap();
            assert!(!copy.contains(gold.as_str()));
            assert!(
                copy.starts_with(&format!("# {}", question.title)),
                "the article stays: {copy}"
            );
        }
        // Every other paragraph is still there.
        let kept = set
            .paragraphs
            .iter()
            .filter(|p| remaining.contains(&p.text))
            .count();
        assert_eq!(kept, set.paragraphs.len() - 3);
        // A paragraph that is not in its document is an error, not a silent copy.
        assert!(without_paragraphs("# T\n\nOne.\n\nTwo.", &["Three."]).is_err());
    }
}
