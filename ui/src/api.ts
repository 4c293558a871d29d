// Typed calls to the desktop shell's commands (src-tauri/src/commands.rs).
import { Channel, invoke } from "@tauri-apps/api/core";
// Generated from the Rust types (src-tauri/src/bindings.rs); never edited by hand.
import type { Answer } from "./bindings/Answer";
import type { Answered } from "./bindings/Answered";
import type { AnswerEvent } from "./bindings/AnswerEvent";
import type { Bullet } from "./bindings/Bullet";
import type { Chat } from "./bindings/Chat";
import type { ChatSummary } from "./bindings/ChatSummary";
import type { Citation } from "./bindings/Citation";
import type { Claim } from "./bindings/Claim";
import type { CommandError } from "./bindings/CommandError";
import type { ComputeDevices } from "./bindings/ComputeDevices";
import type { EmbedderChoice } from "./bindings/EmbedderChoice";
import type { EmbedderOffer } from "./bindings/EmbedderOffer";
import type { FileProblem } from "./bindings/FileProblem";
import type { FolderSummary } from "./bindings/FolderSummary";
import type { GenerationStats } from "./bindings/GenerationStats";
import type { LibraryChanged } from "./bindings/LibraryChanged";
import type { LibraryView } from "./bindings/LibraryView";
import type { AnswerSettings } from "./bindings/AnswerSettings";
import type { ModelInfo } from "./bindings/ModelInfo";
import type { Theme } from "./bindings/Theme";
import type { Opened } from "./bindings/Opened";
import type { PageImage } from "./bindings/PageImage";
import type { PageText } from "./bindings/PageText";
import type { Progress } from "./bindings/Progress";
import type { SearchHit } from "./bindings/SearchHit";
import type { SettingsView } from "./bindings/SettingsView";
import type { StoredMessage } from "./bindings/StoredMessage";
import type { Summary } from "./bindings/Summary";
import type { SummaryEvent } from "./bindings/SummaryEvent";

export type {
  AnswerSettings,
  ModelInfo,
  Theme,
  Answer,
  Answered,
  AnswerEvent,
  Bullet,
  Chat,
  ChatSummary,
  Citation,
  Claim,
  CommandError,
  ComputeDevices,
  EmbedderChoice,
  EmbedderOffer,
  FileProblem,
  FolderSummary,
  GenerationStats,
  LibraryChanged,
  LibraryView,
  Opened,
  PageImage,
  PageText,
  Progress,
  SearchHit,
  SettingsView,
  StoredMessage,
  Summary,
  SummaryEvent,
};

/** The message of whatever a command threw. */
export function errorMessage(error: unknown): string {
  if (typeof error === "object" && error !== null && "message" in error) {
    return String((error as CommandError).message);
  }
  return String(error);
}

export const libraryStatus = () => invoke<LibraryView>("library_status");
export const addFolder = () => invoke<string | null>("add_folder");
/** Asks the user (a system dialog) and removes the folder; false: they kept it. */
export const removeFolder = (path: string) => invoke<boolean>("remove_folder", { path });
export const pauseIndexing = () => invoke<void>("pause_indexing");
export const resumeIndexing = () => invoke<void>("resume_indexing");
export const stopGeneration = () => invoke<void>("stop_generation");
export const listChats = () => invoke<ChatSummary[]>("list_chats");
export const getChat = (id: number) => invoke<Chat>("get_chat", { id });
/** Asks the user (a system dialog) and deletes the chat; false: they kept it. */
export const deleteChat = (id: number) => invoke<boolean>("delete_chat", { id });
export const exportChat = (id: number) => invoke<string | null>("export_chat", { id });
/** Opens a document in the system's viewer at `page`; anything else is only revealed in the file manager. */
export const openSource = (path: string, page: number) => invoke<Opened>("open_source", { path, page });
/** A page of a file with a quote (citations) or a byte span of the page (search hits) marked. */
export const readPassage = (path: string, page: number, mark: { quote?: string; span?: { start: number; end: number } }) =>
  invoke<PageText>("read_passage", { path, page, quote: mark.quote ?? null, span: mark.span ?? null });
/** A PDF page drawn about `widthPx` wide, with the words of `passage` marked on it. */
export const readPageImage = (path: string, page: number, widthPx: number, passage: string) =>
  invoke<PageImage>("read_page_image", { path, page, widthPx, passage });
export const searchLibrary = (query: string, folder: string | null, fileTypes: string[]) =>
  invoke<SearchHit[]>("search_library", { query, folder, fileTypes });
export const pickFiles = () => invoke<string[]>("pick_files");
export const takeDroppedFiles = () => invoke<string[]>("take_dropped_files");
/** The settings; `describeModel` reads the chat model's header too (slower, for the settings view). */
export const getSettings = (describeModel = false) => invoke<SettingsView>("get_settings", { describeModel });
export const setShortcut = (shortcut: string) => invoke<SettingsView>("set_shortcut", { shortcut });
/** Asks the user (a system dialog), then re-embeds the library with `folder`'s model in the background; false: they kept the current one. */
export const changeEmbedder = (choice: EmbedderChoice) => invoke<boolean>("change_embedder", { choice });
export const setTheme = (theme: Theme) => invoke<SettingsView>("set_theme", { theme });
/** Asks for a GGUF file (system dialog) and reads its header; null: cancelled. Applies nothing. */
export const pickModel = () => invoke<ModelInfo | null>("pick_model");
/** Applies answer settings from the next question on and saves them; refused values change nothing. */
export const saveEngineSettings = (answers: AnswerSettings) => invoke<SettingsView>("save_engine_settings", { answers });
export const openInMain = (chat: number) => invoke<void>("open_in_main", { chat });
export const hideQuick = () => invoke<void>("hide_quick");

/** Asks a question; `onText` gets the answer piece by piece as it is written. */
export function ask(question: string, chat: number | null, onText: (text: string) => void): Promise<Answered> {
  const onEvent = new Channel<AnswerEvent>();
  onEvent.onmessage = (event) => onText(event.text);
  return invoke<Answered>("ask", { question, chat, onEvent });
}

/** Summarises a file; `onProgress` hears about each section. */
export function summarize(path: string, onProgress: (progress: Progress) => void): Promise<Summary> {
  const onEvent = new Channel<SummaryEvent>();
  onEvent.onmessage = (event) => onProgress(event.progress);
  return invoke<Summary>("summarize", { path, onEvent });
}
