//! The settings view's commands: the chat model and how answers are made (the
//! engine's, saved to config.toml and applied without a restart), the quick-ask
//! shortcut and the theme (the desktop's own, in desktop.toml).

use std::path::{Path, PathBuf};

use quire_engine::config::AnswerSettings;
use quire_engine::embed::{Embedder, EmbedderChoice};
use quire_engine::llm::{ModelInfo, Runtime};
use serde::Serialize;
use tauri::{AppHandle, Runtime as TauriRuntime, State, WebviewWindow};
use tauri_plugin_dialog::DialogExt;

use crate::commands::local_path;
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::settings::{Settings, Theme};
use crate::shortcut;
use crate::state::Desktop;
use crate::{dialog, indexing};

/// A way to embed the library that the settings offer.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct EmbedderOffer {
    pub choice: EmbedderChoice,
    /// What the settings show: the model's name, ", int8" when it runs so, and where
    /// Quire's measurements place it ("default", "slower", "better").
    pub label: String,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct SettingsView {
    pub shortcut: String,
    /// Why the shortcut is not active, when it is not.
    pub shortcut_problem: Option<String>,
    pub theme: Theme,
    pub answers: AnswerSettings,
    /// The chat model's file as its header describes it; None with `model_problem`.
    pub model: Option<ModelInfo>,
    /// Why the chat model cannot be used, when it cannot (missing, not GGUF, …).
    pub model_problem: Option<String>,
    /// The runtimes this build can run models with.
    pub runtimes: Vec<String>,
    /// The GGUF files in the models folder, to choose from without a dialog.
    pub models: Vec<String>,
    /// The sentence-embedding model in use and how it runs.
    pub embedder: EmbedderChoice,
    /// The ways to embed with the models in the models folder (folders with
    /// config.json, model.safetensors and tokenizer.json; GGUF embedding models), to
    /// change to.
    pub embedders: Vec<EmbedderOffer>,
    /// Why search by meaning is unavailable, when it is.
    pub embedder_problem: Option<String>,
    /// Where models run (a GPU, or the CPU and why no GPU); asked with `describe_model`,
    /// since finding out starts llama.cpp.
    pub compute: Option<quire_engine::llm::gpu::ComputeDevices>,
}

/// The settings; with `describe_model`, the chat model's header is read too (the
/// settings view shows it). Reading a header touches tens of MB of vocabulary, so
/// the windows' start-up asks without it and the app stays small while it waits.
#[tauri::command]
pub async fn get_settings(state: State<'_, Desktop>, describe_model: bool) -> CommandResult<SettingsView> {
    Ok(settings_view(&state, describe_model).await)
}

pub(crate) async fn settings_view(state: &Desktop, describe_model: bool) -> SettingsView {
    let config = state.engine.config();
    let desktop = state.settings.lock().map(|s| s.clone()).unwrap_or_default();
    let path = config.generator_path();
    let compute = if describe_model {
        let engine = state.engine.clone();
        tokio::task::spawn_blocking(move || engine.compute_devices())
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    let (model, model_problem) = if describe_model {
        let inspected = tokio::task::spawn_blocking(move || quire_engine::llm::inspect(&path))
            .await
            .map_err(|e| e.to_string())
            .and_then(|inspected| inspected.map_err(|e| model_remedy(&e)));
        match inspected {
            Ok(model) => (Some(model), None),
            Err(problem) => (None, Some(problem)),
        }
    } else if path.is_file() {
        (None, None)
    } else {
        let missing = quire_engine::Error::Generator {
            path,
            message: "no such model file".into(),
        };
        (None, Some(model_remedy(&missing)))
    };
    SettingsView {
        shortcut: desktop.shortcut,
        shortcut_problem: state.shortcut_problem.lock().ok().and_then(|p| p.clone()),
        theme: desktop.theme,
        answers: config.answer_settings(),
        model,
        model_problem,
        models: gguf_files(&config.models_dir),
        embedder: config.embedder_choice(),
        embedders: embedder_offers(&config.models_dir),
        embedder_problem: state.engine.meaning_search_problem(),
        compute,
        runtimes: Runtime::ALL
            .iter()
            .filter(|r| r.is_built())
            .map(|r| r.name().to_string())
            .collect(),
    }
}

/// The `.gguf` files directly inside `dir` that are not embedding models, sorted; a split
/// model is offered by its first part.
fn gguf_files(dir: &Path) -> Vec<String> {
    paths_inside(dir, |path| {
        path.is_file()
            && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
            && !quire_engine::llm::is_later_part(path)
            && !Embedder::is_model(path)
    })
}

/// The ways to embed with the models directly inside `dir` (folders and GGUF files):
/// each as it is stored and, where llama.cpp is built, from its int8 copy; sorted.
fn embedder_offers(dir: &Path) -> Vec<EmbedderOffer> {
    paths_inside(dir, Embedder::is_model)
        .into_iter()
        .flat_map(|model| {
            let model = PathBuf::from(model);
            let precisions: &[bool] = if Runtime::LlamaCpp.is_built() {
                &[false, true]
            } else {
                &[false]
            };
            precisions.iter().map(move |&int8| {
                let choice = EmbedderChoice {
                    model: model.clone(),
                    int8,
                };
                EmbedderOffer {
                    label: quire_engine::config::embedder_label(&choice),
                    choice,
                }
            })
        })
        .collect()
}

/// The entries directly inside `dir` that `keep` accepts, sorted.
fn paths_inside(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<String> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| keep(path))
        .map(|path| path.to_string_lossy().into_owned())
        .collect();
    paths.sort();
    paths
}

/// Asks the user, then re-embeds the library with the embedding model in `folder` (one
/// of the settings' `embedders`) in the background, with progress as indexing's; search
/// keeps the current model until every passage is done. False: the user kept the model.
#[tauri::command]
pub async fn change_embedder<R: TauriRuntime>(
    app: AppHandle<R>,
    window: WebviewWindow<R>,
    state: State<'_, Desktop>,
    choice: EmbedderChoice,
) -> CommandResult<bool> {
    let config = state.engine.config();
    let Some(offer) = embedder_offers(&config.models_dir)
        .into_iter()
        .find(|offer| offer.choice == choice)
    else {
        return Err(CommandError::new(
            ErrorKind::OutsideLibrary,
            format!(
                "{} is not an embedding model in the models folder",
                choice.model.display()
            ),
        ));
    };
    if choice == config.embedder_choice() {
        return Ok(false);
    }
    let passages = state.engine.status().await?.vectors.unwrap_or(0);
    let question = format!(
        "Search by meaning will use {}. The library's {passages} passages are embedded again in \
         the background (no file is read again); until that is done, search and answers keep the \
         current model and new files wait to be indexed.",
        offer.label
    );
    if !dialog::confirm(&window, "Change the embedding model?", &question, "Re-embed").await {
        return Ok(false);
    }
    indexing::change_embedder(&app, offer);
    Ok(true)
}

/// Whether the window may name `model` as the chat model: the one in use, one in the
/// models folder, or one the user picked in the dialog. The page is not trusted to
/// point the model loader at any file on the disk.
fn may_use_model(state: &Desktop, model: &Path) -> bool {
    let config = state.engine.config();
    let candidate = if model.is_absolute() {
        model.to_path_buf()
    } else {
        config.models_dir.join(model)
    };
    let Ok(canonical) = candidate.canonicalize() else {
        // A missing file is the engine's to report, with its reason.
        return candidate == config.generator_path();
    };
    let in_models = config
        .models_dir
        .canonicalize()
        .is_ok_and(|dir| canonical.parent() == Some(dir.as_path()));
    let current = config
        .generator_path()
        .canonicalize()
        .is_ok_and(|c| c == canonical);
    current || in_models || state.access.model_was_chosen(&canonical)
}

/// A model problem with what to do about it, in this window's words.
fn model_remedy(error: &quire_engine::Error) -> String {
    format!("{error}. Choose a GGUF chat model file below, or run scripts/fetch-models.sh qwen-1.5b.")
}

/// Asks for a GGUF file with the system dialog and reads its header. None: the user
/// cancelled; an error says why the file cannot be used. Nothing is applied yet.
#[tauri::command]
pub async fn pick_model<R: TauriRuntime>(
    app: AppHandle<R>,
    state: State<'_, Desktop>,
) -> CommandResult<Option<ModelInfo>> {
    let models_dir = state.engine.config().models_dir.clone();
    let picked = dialog::answer(|reply| {
        app.dialog()
            .file()
            .set_title("Choose a chat model (a GGUF file)")
            .set_directory(&models_dir)
            .add_filter("GGUF models", &["gguf"])
            .pick_file(reply)
    })
    .await;
    let Some(path) = picked.flatten().and_then(local_path) else {
        return Ok(None);
    };
    state.access.grant_model(&path);
    let model = tokio::task::spawn_blocking(move || quire_engine::llm::inspect(&path))
        .await
        .map_err(|e| CommandError::new(ErrorKind::Engine, e.to_string()))??;
    Ok(Some(model))
}

/// Applies new answer settings from the next question on and saves them to config.toml.
/// A value out of range or a model Quire cannot run is refused, and nothing changes.
#[tauri::command]
pub async fn save_engine_settings(
    state: State<'_, Desktop>,
    answers: AnswerSettings,
) -> CommandResult<SettingsView> {
    if !may_use_model(&state, &answers.generator) {
        return Err(CommandError::new(
            ErrorKind::OutsideLibrary,
            format!(
                "{} is not in the models folder, nor a file you chose; choose it with “Choose a model file…”",
                answers.generator.display()
            ),
        ));
    }
    // Applied first (that checks the values and reads the model's header), then saved; a
    // failed save puts the settings in force back, so what runs is what the file says.
    let previous = state.engine.config().answer_settings();
    state.engine.apply_answer_settings(&answers).await?;
    if let Err(e) = answers.save(&state.engine.config().data_dir, &previous) {
        state.engine.apply_answer_settings(&previous).await?;
        return Err(e.into());
    }
    Ok(settings_view(&state, true).await)
}

/// Changes the quick-ask shortcut ("Ctrl+Shift+Space", "Alt+Q", …) and saves it.
#[tauri::command]
pub async fn set_shortcut<R: TauriRuntime>(
    app: AppHandle<R>,
    state: State<'_, Desktop>,
    shortcut: String,
) -> CommandResult<SettingsView> {
    let shortcut = shortcut.trim().to_string();
    shortcut::replace(&app, &shortcut)?;
    save_desktop(&state, |settings| settings.shortcut = shortcut)?;
    Ok(settings_view(&state, true).await)
}

/// Follows the system's theme, or keeps to light or dark.
#[tauri::command]
pub async fn set_theme(state: State<'_, Desktop>, theme: Theme) -> CommandResult<SettingsView> {
    save_desktop(&state, |settings| settings.theme = theme)?;
    Ok(settings_view(&state, false).await)
}

fn save_desktop(state: &Desktop, change: impl FnOnce(&mut Settings)) -> CommandResult<()> {
    let settings = {
        let mut settings = state
            .settings
            .lock()
            .map_err(|_| CommandError::new(ErrorKind::Engine, "settings are unavailable"))?;
        change(&mut settings);
        settings.clone()
    };
    settings.save(&state.engine.config().data_dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_models_offer_a_split_model_by_its_first_part_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "smol.gguf",
            "qwen-00001-of-00002.gguf",
            "qwen-00002-of-00002.gguf",
            "LOUD-00001-of-00002.GGUF",
            "LOUD-00002-of-00002.GGUF",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let offered: Vec<String> = gguf_files(dir.path())
            .iter()
            .map(|path| {
                Path::new(path)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            offered,
            [
                "LOUD-00001-of-00002.GGUF",
                "qwen-00001-of-00002.gguf",
                "smol.gguf"
            ]
        );
    }
}
