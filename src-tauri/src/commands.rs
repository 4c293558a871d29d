//! The commands the windows call. Each deserialises its arguments, checks any
//! path against what the user granted, calls the engine and returns plain data
//! or a [`CommandError`]; long work streams through a channel.

use std::ops::Range;
use std::path::PathBuf;

use quire_engine::answer::Answer;
use quire_engine::cancel::CancelToken;
use quire_engine::engine::LibraryStatus;
use quire_engine::page_image::PageImage;
use quire_engine::passage::{Mark, PageText};
use quire_engine::progress::Progress;
use quire_engine::retrieve::{SearchFilter, SearchHit, SearchMode};
use quire_engine::summarize::Summary;
use quire_engine::{Chat, ChatId, ChatSummary, FileStatus};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Emitter, Manager, Runtime, State, WebviewWindow};
use tauri_plugin_dialog::{DialogExt, FilePath};
use tauri_plugin_opener::OpenerExt;

use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::state::Desktop;
use crate::{dialog, indexing, open};

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct LibraryView {
    #[serde(flatten)]
    pub status: LibraryStatus,
    pub paused: bool,
    /// The run in progress, if any.
    pub indexing: Option<Progress>,
}

#[tauri::command]
pub async fn library_status(state: State<'_, Desktop>) -> CommandResult<LibraryView> {
    Ok(LibraryView {
        status: state.engine.status().await?,
        paused: state.engine.indexing_paused(),
        indexing: state.indexing.lock().ok().and_then(|p| p.clone()),
    })
}

/// Asks for a folder with the system dialog and starts indexing it. None: the user cancelled.
#[tauri::command]
pub async fn add_folder<R: Runtime>(app: AppHandle<R>) -> CommandResult<Option<String>> {
    let picked = dialog::answer(|reply| {
        app.dialog()
            .file()
            .set_title("Add a folder to your library")
            .pick_folder(reply)
    })
    .await;
    let Some(folder) = picked.flatten().and_then(local_path) else {
        return Ok(None);
    };
    indexing::start(&app, Some(folder.clone()));
    Ok(Some(folder.to_string_lossy().into_owned()))
}

/// Removes a folder of the library once the user confirms; false: they kept it.
#[tauri::command]
pub async fn remove_folder<R: Runtime>(
    window: WebviewWindow<R>,
    state: State<'_, Desktop>,
    path: String,
) -> CommandResult<bool> {
    let folder = PathBuf::from(&path);
    // Only a folder of the library can be named here; ask about nothing else.
    if !state.engine.folders().await?.iter().any(|f| f.path == folder) {
        return Err(quire_engine::Error::UnknownFolder { path: folder }.into());
    }
    let question = format!(
        "Remove {path} and everything indexed from it? Your files stay where they are; \
         Quire forgets what it read in them."
    );
    if !dialog::confirm(&window, "Remove folder?", &question, "Remove").await {
        return Ok(false);
    }
    state.engine.remove_folder(&folder).await?;
    Ok(true)
}

#[tauri::command]
pub fn pause_indexing<R: Runtime>(app: AppHandle<R>) {
    indexing::set_paused(&app, true);
}

#[tauri::command]
pub fn resume_indexing<R: Runtime>(app: AppHandle<R>) {
    indexing::set_paused(&app, false);
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnswerEvent {
    /// The next piece of the answer.
    Text { text: String },
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Answered {
    pub chat_id: ChatId,
    pub answer: Answer,
}

/// Answers `question` in chat `chat` (a new chat when None), streaming the text. The
/// quick box asks only in new chats: earlier conversations are the main window's.
#[tauri::command]
pub async fn ask<R: Runtime>(
    window: WebviewWindow<R>,
    state: State<'_, Desktop>,
    question: String,
    chat: Option<ChatId>,
    on_event: Channel<AnswerEvent>,
) -> CommandResult<Answered> {
    if chat.is_some() && window.label() != crate::windows::MAIN {
        return Err(CommandError::new(
            ErrorKind::Invalid,
            "only the main window continues a conversation",
        ));
    }
    let question = question.trim();
    if question.is_empty() {
        return Err(CommandError::new(ErrorKind::Invalid, "Type a question first."));
    }
    let cancel = start_generation(&state);
    let mut on_text = |text: &str| {
        let _ = on_event.send(AnswerEvent::Text {
            text: text.to_string(),
        });
    };
    let (chat_id, answer) = state
        .engine
        .ask_in_chat(chat, question, SearchFilter::default(), &cancel, &mut on_text)
        .await?;
    Ok(Answered { chat_id, answer })
}

/// Stops the answer or summary being written.
#[tauri::command]
pub fn stop_generation(state: State<'_, Desktop>) {
    if let Some(cancel) = state.answering.lock().ok().and_then(|mut a| a.take()) {
        cancel.cancel();
    }
}

/// A fresh stop switch for a new generation; one that is still running is stopped.
fn start_generation(state: &Desktop) -> CancelToken {
    let cancel = CancelToken::new();
    if let Ok(mut current) = state.answering.lock() {
        if let Some(previous) = current.replace(cancel.clone()) {
            previous.cancel();
        }
    }
    cancel
}

#[tauri::command]
pub async fn list_chats(state: State<'_, Desktop>) -> CommandResult<Vec<ChatSummary>> {
    Ok(state.engine.chats().await?)
}

#[tauri::command]
pub async fn get_chat(state: State<'_, Desktop>, id: ChatId) -> CommandResult<Chat> {
    Ok(state.engine.chat(id).await?)
}

/// Deletes a conversation once the user confirms; false: they kept it.
#[tauri::command]
pub async fn delete_chat<R: Runtime>(
    window: WebviewWindow<R>,
    state: State<'_, Desktop>,
    id: ChatId,
) -> CommandResult<bool> {
    let chat = state.engine.chat(id).await?;
    let question = format!(
        "Delete the conversation “{}”? It cannot be brought back.",
        chat.title
    );
    if !dialog::confirm(&window, "Delete conversation?", &question, "Delete").await {
        return Ok(false);
    }
    state.engine.delete_chat(id).await?;
    Ok(true)
}

/// Saves a conversation as Markdown where the user chooses. None: cancelled.
#[tauri::command]
pub async fn export_chat<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, Desktop>,
    id: ChatId,
) -> CommandResult<Option<String>> {
    let chat = state.engine.chat(id).await?;
    let markdown = quire_engine::chat::to_markdown(&chat);
    let name: String = chat
        .title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let chosen = dialog::answer(|reply| {
        app.dialog()
            .file()
            .set_title("Export the conversation")
            .set_file_name(format!("{}.md", name.trim()))
            .add_filter("Markdown", &["md"])
            .save_file(reply)
    })
    .await;
    let Some(path) = chosen.flatten().and_then(local_path) else {
        return Ok(None);
    };
    std::fs::write(&path, markdown).map_err(|e| quire_engine::Error::io(&path, e))?;
    Ok(Some(path.to_string_lossy().into_owned()))
}

/// How a file was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Opened {
    /// In the system's viewer (at the page, where the viewer can).
    Viewer,
    /// Selected in the file manager: it is not a document Quire has read.
    Revealed,
}

/// Opens a cited file at its page with the system's viewer, when it is a document
/// Quire read (or one the user handed over); anything else is revealed in the file
/// manager, never launched.
#[tauri::command]
pub async fn open_source<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, Desktop>,
    path: String,
    page: u32,
) -> CommandResult<Opened> {
    let path = state.access.check(&state.engine, &path).await?;
    let known =
        state.access.was_given(&path) || state.engine.file_status(&path).await? == Some(FileStatus::Indexed);
    let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
    let cannot_open =
        |e: String| CommandError::new(ErrorKind::Engine, format!("cannot open {}: {e}", path.display()));
    if !(known && regular && open::is_viewable_document(&path)) {
        app.opener()
            .reveal_item_in_dir(&path)
            .map_err(|e| cannot_open(e.to_string()))?;
        return Ok(Opened::Revealed);
    }
    if let Some(mut viewer) = open::pdf_viewer_at_page(&path, page) {
        if viewer.spawn().is_ok() {
            return Ok(Opened::Viewer);
        }
    }
    app.opener()
        .open_path(path.to_string_lossy(), None::<&str>)
        .map_err(|e| cannot_open(e.to_string()))?;
    Ok(Opened::Viewer)
}

/// A page of a cited or found file with the passage marked: the quote (citations)
/// or the byte span of the extracted page (search hits).
#[tauri::command]
pub async fn read_passage(
    state: State<'_, Desktop>,
    path: String,
    page: u32,
    quote: Option<String>,
    span: Option<Range<usize>>,
) -> CommandResult<PageText> {
    let path = state.access.check(&state.engine, &path).await?;
    let mark = match (&quote, span) {
        (Some(quote), _) => Mark::Quote(quote),
        (None, Some(span)) => Mark::Span(span),
        (None, None) => Mark::Nothing,
    };
    Ok(state.engine.page_text(&path, page, mark).await?)
}

/// A PDF page of the library drawn about `width_px` pixels wide, with the words of
/// `passage` (the text `read_passage` marked) marked on it.
#[tauri::command]
pub async fn read_page_image(
    state: State<'_, Desktop>,
    path: String,
    page: u32,
    width_px: u32,
    passage: String,
) -> CommandResult<PageImage> {
    let path = state.access.check(&state.engine, &path).await?;
    Ok(state.engine.page_image(&path, page, width_px, &passage).await?)
}

/// Hybrid search over the library as the user types, optionally within one folder
/// and some file types ("pdf", "md", …).
#[tauri::command]
pub async fn search_library(
    state: State<'_, Desktop>,
    query: String,
    folder: Option<String>,
    file_types: Vec<String>,
) -> CommandResult<Vec<SearchHit>> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let filter = SearchFilter {
        folder: folder.filter(|f| !f.is_empty()).map(PathBuf::from),
        file_types,
    };
    match state
        .engine
        .search_in(query, SearchMode::Hybrid, SEARCH_HITS, &filter)
        .await
    {
        // Without the embedder (not installed yet, say), words alone still find documents.
        Err(quire_engine::Error::Model { .. }) => Ok(state
            .engine
            .search_in(query, SearchMode::Bm25, SEARCH_HITS, &filter)
            .await?),
        result => Ok(result?),
    }
}

/// Results the search view shows.
const SEARCH_HITS: usize = 30;

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SummaryEvent {
    Progress { progress: Progress },
}

/// Summarises a file the user dropped, picked or has in the library.
#[tauri::command]
pub async fn summarize(
    state: State<'_, Desktop>,
    path: String,
    on_event: Channel<SummaryEvent>,
) -> CommandResult<Summary> {
    let path = state.access.check(&state.engine, &path).await?;
    let cancel = start_generation(&state);
    let sink = |progress: &Progress| {
        let _ = on_event.send(SummaryEvent::Progress {
            progress: progress.clone(),
        });
    };
    Ok(state.engine.summarize(&path, &sink, &cancel).await?)
}

/// Files to summarise, chosen with the system dialog.
#[tauri::command]
pub async fn pick_files<R: Runtime>(app: AppHandle<R>) -> CommandResult<Vec<String>> {
    let picked = dialog::answer(|reply| {
        app.dialog()
            .file()
            .set_title("Summarise files")
            .add_filter(
                "Documents",
                &["pdf", "docx", "md", "markdown", "txt", "html", "htm"],
            )
            .pick_files(reply)
    })
    .await;
    let files: Vec<PathBuf> = picked
        .flatten()
        .unwrap_or_default()
        .into_iter()
        .filter_map(local_path)
        .collect();
    let state = app.state::<Desktop>();
    for file in &files {
        state.access.grant(file);
    }
    Ok(files.iter().map(|p| p.to_string_lossy().into_owned()).collect())
}

/// Files dropped on (or opened with) this window that it has not taken yet.
#[tauri::command]
pub fn take_dropped_files<R: Runtime>(window: WebviewWindow<R>, state: State<'_, Desktop>) -> Vec<String> {
    state
        .take_files(window.label())
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// Shows a conversation in the main window (from the quick-ask window).
#[tauri::command]
pub fn open_in_main<R: Runtime>(app: AppHandle<R>, chat: ChatId) -> CommandResult<()> {
    crate::windows::show_main(&app);
    crate::windows::hide_quick(&app);
    app.emit_to("main", "open-chat", chat)
        .map_err(|e| CommandError::new(ErrorKind::Engine, e.to_string()))
}

#[tauri::command]
pub fn hide_quick<R: Runtime>(app: AppHandle<R>) {
    crate::windows::hide_quick(&app);
}

pub(crate) fn local_path(path: FilePath) -> Option<PathBuf> {
    path.into_path().ok()
}
