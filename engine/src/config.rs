//! Settings, read from `config.toml` in the data directory when it exists. Paths
//! are injected by the front end: the CLI uses the OS data directory, the desktop
//! app its own app-data directory, tests a temporary one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::llm::{LoadOptions, Runtime};

pub const CONFIG_FILE: &str = "config.toml";
/// The embedding model used unless the configuration names another, and whether it
/// runs from its int8 copy. Chosen by the rule in the README ("The embedding model"):
/// the best hybrid nDCG@10 on NFCorpus among the embedders that index at least half
/// as fast as MiniLM on candle (F32); within 0.005 of it, the fastest. MiniLM in int8
/// (llama.cpp): 0.3673 at 14.2 passages/s, against 0.3659 at 6.1 on candle, in one run
/// of `scripts/bench-embedders.sh` (16.3 against 7.1 in the run before).
/// Without llama.cpp in the build, int8 cannot run: MiniLM runs on candle then.
pub const DEFAULT_EMBEDDER: &str = "all-MiniLM-L6-v2";
pub const DEFAULT_EMBEDDER_INT8: bool = cfg!(feature = "llama-cpp");

/// Where Quire's measurements place the embedders it knows against the default
/// (README, "The embedding model"): model file or folder name, int8, place.
const EMBEDDER_PLACES: [(&str, bool, &str); 3] = [
    (DEFAULT_EMBEDDER, DEFAULT_EMBEDDER_INT8, "default"),
    ("all-MiniLM-L6-v2", !DEFAULT_EMBEDDER_INT8, "slower"),
    ("nomic-embed-text-v1.5.f16.gguf", true, "better"),
];

/// How the settings name an embedder: the model's file or folder name, ", int8" when
/// it runs so, and its place against the default where Quire has measured it.
pub fn embedder_label(choice: &crate::embed::EmbedderChoice) -> String {
    let name = choice
        .model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut label = name.clone();
    if choice.int8 {
        label.push_str(", int8");
    }
    if let Some((_, _, place)) = EMBEDDER_PLACES
        .iter()
        .find(|(model, int8, _)| *model == name && *int8 == choice.int8)
    {
        label.push_str(&format!(" ({place})"));
    }
    label
}
/// The chat model that writes answers and summaries unless the configuration names another.
pub const DEFAULT_GENERATOR: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
/// Memory an extraction helper may use beyond what it holds at start, unless configured.
pub const DEFAULT_EXTRACT_MEMORY_BYTES: u64 = 2 * 1024 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the catalog, the indexes and the lock live. Not read from the file.
    #[serde(skip)]
    pub data_dir: PathBuf,
    /// Files larger than this are recorded as skipped instead of being read.
    pub max_file_bytes: u64,
    /// A file whose extraction takes longer (wall clock) is given up: an error that
    /// stays until the file changes.
    pub extract_timeout_secs: u64,
    /// Memory an extraction helper may use beyond what it holds at start.
    pub extract_memory_bytes: u64,
    /// Text one file may hold (after extraction); more is an error.
    pub max_text_bytes: u64,
    /// Passages one file may make; more is an error.
    pub max_chunks_per_file: u64,
    /// The program started as an extraction helper (`<program> __extract-helper`).
    /// Not read from the file: front ends set it; by default the running executable.
    #[serde(skip)]
    pub extract_helper: Option<PathBuf>,
    /// Read text from images (scanned PDF pages, pictures) with Tesseract, when it is installed.
    pub ocr: bool,
    /// Tesseract's languages to read (`eng`, `deu`, `fra`…); empty: English and every
    /// language whose data is installed.
    pub ocr_languages: Vec<String>,
    /// The Tesseract program: found on the PATH unless a path is given.
    pub ocr_program: PathBuf,
    /// Chunk size in (estimated) tokens: chunks aim for `chunk_min_tokens` and never exceed `chunk_max_tokens`.
    pub chunk_min_tokens: usize,
    pub chunk_max_tokens: usize,
    /// Tokens shared by neighbouring chunks so that a passage cut in two is still found whole.
    pub chunk_overlap_tokens: usize,
    /// A document's title is searched as the first words of each of its passages; above 0,
    /// a match in the title also counts on its own, this much (0 by default: scored
    /// separately, titles outweighed the text, see the README).
    pub title_boost: f32,
    /// Threads that extract files in parallel; 0 means one per core.
    pub extract_threads: usize,
    /// Folder holding model folders (default: `models` in the data directory).
    pub models_dir: PathBuf,
    /// The sentence-embedding model, absolute or inside `models_dir`: a folder
    /// (config.json, model.safetensors, tokenizer.json; run by candle) or a GGUF file
    /// (run by llama.cpp).
    pub embedder: PathBuf,
    /// Run a GGUF embedder quantised to int8 (Q8_0), made at first use and cached beside it.
    pub embedder_int8: bool,
    /// Text put before queries and passages when they are embedded; unset: what the
    /// model was trained with (nomic: "search_query: " / "search_document: ").
    pub query_prefix: Option<String>,
    pub passage_prefix: Option<String>,
    /// Search results from one file, at most (hybrid and vector search).
    pub max_hits_per_file: usize,
    /// The GGUF chat model for answers and summaries, absolute or inside `models_dir`.
    pub generator: PathBuf,
    /// What runs the chat model: "llama.cpp" (the default on CPU) or "mistralrs" (the default
    /// in CUDA and Metal builds).
    pub runtime: Runtime,
    /// Working context of the generator (prompt + answer), in its tokens; capped by what the model supports.
    /// Smaller is faster on a CPU: prompt processing dominates the time to an answer.
    pub context_tokens: usize,
    /// Longest answer, in tokens.
    pub answer_max_tokens: usize,
    /// Passages placed in an answer's prompt, at most.
    pub max_sources: usize,
    /// Sentences of each passage the model sees: those closest to the question with their
    /// neighbours, up to this many; 0 gives whole passages.
    pub passage_sentences: usize,
    /// Quire abstains when no passage's cosine similarity to the question reaches this
    /// (calibrated with `quire eval <beir> --abstention-against <unrelated folder>`; see the
    /// README). Unset: the value calibrated for the embedder ([`crate::embed::ModelProfile`]).
    pub abstain_below: Option<f32>,
    /// Quire also declines when no sentence of the sources reaches this cosine similarity to
    /// the question: the library is about the subject but does not say what was asked
    /// (chosen with `quire eval --answers`; see the README). Unset: the embedder's value.
    pub evidence_below: Option<f32>,
    /// Threads for model inference and embedding; 0 means one per core.
    pub threads: usize,
    /// Put models on a GPU when llama.cpp's CUDA module finds one (what fits of them);
    /// false keeps everything on the CPU.
    pub gpu: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::new(),
            max_file_bytes: 256 * 1024 * 1024,
            extract_timeout_secs: 60,
            extract_memory_bytes: DEFAULT_EXTRACT_MEMORY_BYTES,
            max_text_bytes: 20 * 1024 * 1024,
            max_chunks_per_file: 20_000,
            extract_helper: None,
            ocr: true,
            ocr_languages: Vec::new(),
            ocr_program: PathBuf::from("tesseract"),
            chunk_min_tokens: 250,
            chunk_max_tokens: 400,
            chunk_overlap_tokens: 50,
            title_boost: 0.0,
            extract_threads: 0,
            models_dir: PathBuf::new(),
            embedder: PathBuf::from(DEFAULT_EMBEDDER),
            embedder_int8: DEFAULT_EMBEDDER_INT8,
            query_prefix: None,
            passage_prefix: None,
            max_hits_per_file: 3,
            generator: PathBuf::from(DEFAULT_GENERATOR),
            runtime: Runtime::default(),
            context_tokens: 4096,
            answer_max_tokens: 512,
            max_sources: 6,
            passage_sentences: 5,
            abstain_below: None,
            evidence_below: None,
            threads: 0,
            gpu: true,
        }
    }
}

/// The settings of answers that may change while Quire runs (the desktop's settings
/// view): applied by [`crate::Engine::apply_answer_settings`], kept in config.toml by
/// [`AnswerSettings::save`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct AnswerSettings {
    /// The GGUF chat model, absolute or inside the models folder.
    #[cfg_attr(feature = "typescript", ts(type = "string"))]
    pub generator: PathBuf,
    #[cfg_attr(feature = "typescript", ts(type = "string"))]
    pub runtime: Runtime,
    /// Threads for the chat model; 0: one per core.
    pub threads: usize,
    pub context_tokens: usize,
    pub answer_max_tokens: usize,
    pub max_sources: usize,
    /// Unset: the value calibrated for the embedder.
    #[cfg_attr(feature = "typescript", ts(optional))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abstain_below: Option<f32>,
}

/// The keys of config.toml that [`AnswerSettings`] holds.
const ANSWER_KEYS: [&str; 7] = [
    "generator",
    "runtime",
    "threads",
    "context_tokens",
    "answer_max_tokens",
    "max_sources",
    "abstain_below",
];

impl AnswerSettings {
    /// Writes the settings that differ from `in_force` (those the user changed) into
    /// `data_dir`'s config.toml, keeping every other key and comment the file has. A
    /// value in force only because the environment set it (QUIRE_MODEL, QUIRE_RUNTIME)
    /// stays out of the file unless the user chose another.
    pub fn save(&self, data_dir: &Path, in_force: &AnswerSettings) -> Result<()> {
        let path = data_dir.join(CONFIG_FILE);
        let table = |settings: &AnswerSettings| {
            toml::Table::try_from(settings).map_err(|e| Error::Config {
                path: path.clone(),
                message: e.to_string(),
            })
        };
        let (values, before) = (table(self)?, table(in_force)?);
        let changed: Vec<&str> = ANSWER_KEYS
            .into_iter()
            .filter(|key| values.get(*key) != before.get(*key))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        save_keys(data_dir, &values.to_string(), &changed)
    }
}

/// Writes `choice` (its model a folder or file of the models directory by name, or a
/// path) as the embedding model into `data_dir`'s config.toml, keeping everything else in it.
pub fn save_embedder(data_dir: &Path, choice: &crate::embed::EmbedderChoice) -> Result<()> {
    let mut values = toml_edit::DocumentMut::new();
    values["embedder"] = toml_edit::value(choice.model.to_string_lossy().into_owned());
    values["embedder_int8"] = toml_edit::value(choice.int8);
    save_keys(data_dir, &values.to_string(), &["embedder", "embedder_int8"])
}

/// Sets `keys` in `data_dir`'s config.toml to their values in the TOML text `values`,
/// keeping every other key and comment the file has.
fn save_keys(data_dir: &Path, values: &str, keys: &[&str]) -> Result<()> {
    // One save at a time in this process: each reads the file the last one wrote.
    static SAVING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _saving = SAVING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let path = data_dir.join(CONFIG_FILE);
    let invalid = |message: String| Error::Config {
        path: path.clone(),
        message,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let mut document: toml_edit::DocumentMut = text.parse().map_err(|e| invalid(format!("{e}")))?;
    let values: toml_edit::DocumentMut = values.parse().map_err(|e| invalid(format!("{e}")))?;
    for key in keys {
        match values.get(key) {
            Some(value) => document[key] = value.clone(),
            // Unset now: the default applies again.
            None => {
                document.remove(key);
            }
        }
    }
    std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
    // Written whole beside the old file and renamed over it: a crash leaves one or the other.
    let partial = path.with_extension(format!("toml.{}.partial", std::process::id()));
    std::fs::write(&partial, document.to_string()).map_err(|e| Error::io(&partial, e))?;
    std::fs::rename(&partial, &path).map_err(|e| Error::io(&path, e))
}

impl Config {
    /// How pages that are images are read: off, missing (Tesseract cannot be run), or
    /// with the configured languages (by default English and every installed one).
    pub fn ocr(&self) -> crate::extract::Ocr {
        use crate::extract::{ocr, Ocr, OcrOptions};
        if !self.ocr {
            return Ocr::Off;
        }
        let Some(installed) = ocr::installed_languages(&self.ocr_program) else {
            return Ocr::Missing;
        };
        let languages = if self.ocr_languages.is_empty() {
            // English first when its data is there, then the others.
            let mut languages = installed;
            languages.sort_by_key(|l| l != "eng");
            languages
        } else {
            self.ocr_languages.clone()
        };
        if languages.is_empty() {
            return Ocr::Missing;
        }
        Ocr::On(OcrOptions {
            program: self.ocr_program.clone(),
            languages,
        })
    }

    /// The configuration of `data_dir`: its `config.toml` when there is one, the defaults otherwise.
    pub fn load(data_dir: impl Into<PathBuf>) -> Result<Config> {
        let data_dir = data_dir.into();
        let path = data_dir.join(CONFIG_FILE);
        let mut config = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<Config>(&text).map_err(|e| Error::Config {
                path: path.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(Error::io(&path, e)),
        };
        if config.models_dir.as_os_str().is_empty() {
            config.models_dir = data_dir.join("models");
        }
        config.data_dir = data_dir;
        config.validate(&path)?;
        Ok(config)
    }

    /// Where Quire keeps its library unless told otherwise: the OS data directory.
    pub fn default_data_dir() -> Result<PathBuf> {
        directories::ProjectDirs::from("", "", "Quire")
            .map(|dirs| dirs.data_dir().to_path_buf())
            .ok_or_else(|| Error::Config {
                path: PathBuf::from("~"),
                message: "cannot tell where your data directory is; set QUIRE_DATA_DIR".into(),
            })
    }

    /// The configuration front ends without flags use: QUIRE_DATA_DIR (else the OS
    /// data directory) and its config.toml, then QUIRE_MODELS_DIR, QUIRE_MODEL and QUIRE_RUNTIME.
    pub fn from_environment() -> Result<Config> {
        let data_dir = match std::env::var_os("QUIRE_DATA_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => Config::default_data_dir()?,
        };
        let mut config = Config::load(data_dir)?;
        if let Some(models) = std::env::var_os("QUIRE_MODELS_DIR") {
            config.models_dir = PathBuf::from(models);
        }
        if let Some(model) = std::env::var_os("QUIRE_MODEL") {
            let model = PathBuf::from(model);
            config.generator = std::path::absolute(&model).map_err(|e| Error::io(&model, e))?;
        }
        if let Some(runtime) = std::env::var_os("QUIRE_RUNTIME") {
            config.runtime = runtime
                .to_string_lossy()
                .parse()
                .map_err(|message| Error::Config {
                    path: PathBuf::from("QUIRE_RUNTIME"),
                    message,
                })?;
        }
        Ok(config)
    }

    pub fn answer_settings(&self) -> AnswerSettings {
        AnswerSettings {
            generator: self.generator.clone(),
            runtime: self.runtime,
            threads: self.threads,
            context_tokens: self.context_tokens,
            answer_max_tokens: self.answer_max_tokens,
            max_sources: self.max_sources,
            abstain_below: self.abstain_below,
        }
    }

    /// This configuration with `settings` in place of its own, checked as a config file is.
    pub fn with_answer_settings(&self, settings: &AnswerSettings) -> Result<Config> {
        let config = Config {
            generator: settings.generator.clone(),
            runtime: settings.runtime,
            threads: settings.threads,
            context_tokens: settings.context_tokens,
            answer_max_tokens: settings.answer_max_tokens,
            max_sources: settings.max_sources,
            abstain_below: settings.abstain_below,
            ..self.clone()
        };
        config.validate(&self.data_dir.join(CONFIG_FILE))?;
        Ok(config)
    }

    /// Defaults rooted at `data_dir`, ignoring any config file (tests, evaluation).
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir = data_dir.into();
        Config {
            models_dir: data_dir.join("models"),
            data_dir,
            ..Config::default()
        }
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let invalid = |message: &str| {
            Err(Error::Config {
                path: path.to_path_buf(),
                message: message.to_string(),
            })
        };
        if self.chunk_min_tokens == 0 || self.chunk_min_tokens > self.chunk_max_tokens {
            return invalid("chunk_min_tokens must be at least 1 and at most chunk_max_tokens");
        }
        if self.chunk_overlap_tokens >= self.chunk_min_tokens {
            return invalid("chunk_overlap_tokens must be smaller than chunk_min_tokens");
        }
        if self.extract_timeout_secs == 0 {
            return invalid("extract_timeout_secs must be at least 1");
        }
        if self.extract_memory_bytes < 64 * 1024 * 1024 {
            return invalid("extract_memory_bytes must be at least 64 MB (67108864)");
        }
        if self.max_text_bytes == 0 || self.max_chunks_per_file == 0 {
            return invalid("max_text_bytes and max_chunks_per_file must be at least 1");
        }
        if !(self.title_boost.is_finite() && self.title_boost >= 0.0) {
            return invalid("title_boost must be a number, 0 or more");
        }
        if self.context_tokens < 512 {
            return invalid("context_tokens must be at least 512");
        }
        if self.answer_max_tokens == 0 || self.answer_max_tokens * 2 > self.context_tokens {
            return invalid("answer_max_tokens must be at least 1 and at most half of context_tokens");
        }
        if self.threads > 1024 {
            return invalid("threads must be at most 1024 (0: one per core)");
        }
        if self.max_sources == 0 {
            return invalid("max_sources must be at least 1");
        }
        if self.abstain_below.is_some_and(|v| !(-1.0..=1.0).contains(&v)) {
            return invalid("abstain_below must be a cosine similarity between -1 and 1");
        }
        if self.evidence_below.is_some_and(|v| !(-1.0..=1.0).contains(&v)) {
            return invalid("evidence_below must be a cosine similarity between -1 and 1");
        }
        if self.max_hits_per_file == 0 {
            return invalid("max_hits_per_file must be at least 1");
        }
        Ok(())
    }

    pub fn catalog_path(&self) -> PathBuf {
        self.data_dir.join("catalog.sqlite")
    }

    pub fn lexical_dir(&self) -> PathBuf {
        self.data_dir.join("lexical")
    }

    pub fn vectors_dir(&self) -> PathBuf {
        self.data_dir.join("vectors")
    }

    /// The embedding model: a folder or a GGUF file.
    pub fn embedder_path(&self) -> PathBuf {
        self.models_dir.join(&self.embedder)
    }

    /// The embedding model and how it runs.
    pub fn embedder_choice(&self) -> crate::embed::EmbedderChoice {
        crate::embed::EmbedderChoice {
            model: self.embedder_path(),
            int8: self.embedder_int8,
        }
    }

    /// How the embedding model is loaded.
    pub fn embedder_options(&self) -> crate::embed::EmbedderOptions {
        crate::embed::EmbedderOptions {
            query_prefix: self.query_prefix.clone(),
            passage_prefix: self.passage_prefix.clone(),
            int8: self.embedder_int8,
            threads: self.threads,
            gpu: self.gpu,
        }
    }

    /// The similarity below which Quire abstains: the configured one, else the embedder's.
    pub fn abstain_below(&self, profile: &crate::embed::ModelProfile) -> f32 {
        self.abstain_below.unwrap_or(profile.abstain_below)
    }

    /// The sentence similarity below which Quire declines: the configured one, else the embedder's.
    pub fn evidence_below(&self, profile: &crate::embed::ModelProfile) -> f32 {
        self.evidence_below.unwrap_or(profile.evidence_below)
    }

    pub fn generator_path(&self) -> PathBuf {
        self.models_dir.join(&self.generator)
    }

    /// How the chat model is loaded: this configuration's runtime, context and threads.
    pub fn generator_options(&self) -> LoadOptions {
        LoadOptions {
            threads: self.threads,
            gpu: self.gpu,
            ..LoadOptions::new(self.runtime, self.context_tokens)
        }
    }

    /// Where indexing workers note the file each one's extraction helper holds.
    pub fn in_flight_dir(&self) -> PathBuf {
        self.data_dir.join("extracting")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.data_dir.join("index.lock")
    }

    /// Threads the models run on: `threads`, else one per core.
    pub fn worker_threads_for_models(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    pub fn worker_threads(&self) -> usize {
        if self.extract_threads > 0 {
            self.extract_threads
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_answer_settings_keep_the_rest_of_the_file_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let written = "# My library's settings\nmax_file_bytes = 1000000 # one megabyte\n\n\
                       max_sources = 3\n";
        std::fs::write(dir.path().join(CONFIG_FILE), written).unwrap();
        let config = Config::load(dir.path()).unwrap();
        let mut settings = config.answer_settings();
        settings.generator = PathBuf::from("/models/other.gguf");
        settings.max_sources = 4;
        settings.abstain_below = Some(0.3);
        settings.save(dir.path(), &config.answer_settings()).unwrap();

        let text = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap();
        assert!(text.contains("# My library's settings"), "{text}");
        assert!(text.contains("max_file_bytes = 1000000 # one megabyte"), "{text}");
        let again = Config::load(dir.path()).unwrap();
        assert_eq!(again.answer_settings(), settings);
        assert_eq!(again.max_file_bytes, 1_000_000);

        // Emptied, the threshold goes back to the embedder's own: the key leaves the file.
        let mut emptied = settings.clone();
        emptied.abstain_below = None;
        emptied.save(dir.path(), &again.answer_settings()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap();
        assert!(!text.contains("abstain_below"), "{text}");
        assert_eq!(Config::load(dir.path()).unwrap().abstain_below, None);
    }

    #[test]
    fn only_what_the_user_changed_is_saved_not_what_the_environment_set() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "max_sources = 3\n").unwrap();
        // In force: the file's settings, with a model the environment gave for this run.
        let mut in_force = Config::load(dir.path()).unwrap().answer_settings();
        in_force.generator = PathBuf::from("/elsewhere/from-the-environment.gguf");
        let mut settings = in_force.clone();
        settings.threads = 2;
        settings.save(dir.path(), &in_force).unwrap();

        let text = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap();
        assert!(!text.contains("from-the-environment"), "{text}");
        assert_eq!(text, "max_sources = 3\nthreads = 2\n");
        // Nothing changed: the file is left as it is.
        settings.save(dir.path(), &settings).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap(),
            text
        );
    }

    #[test]
    fn answer_settings_out_of_range_are_refused() {
        let config = Config::with_data_dir("/tmp/quire-test");
        let mut settings = config.answer_settings();
        settings.answer_max_tokens = settings.context_tokens;
        let error = config.with_answer_settings(&settings).unwrap_err().to_string();
        assert!(error.contains("answer_max_tokens"), "{error}");
    }
}
