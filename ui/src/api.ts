// Typed calls to the desktop shell's commands (src-tauri/src/commands.rs).
import { Channel, invoke } from "@tauri-apps/api/core";

export interface Progress {
  phase: "scanning" | "indexing" | "querying" | "summarizing";
  done: number;
  total: number;
  unit: string;
  rate: number;
  eta_secs: number | null;
  chunks: number;
  chunk_rate: number;
}

export interface FolderSummary {
  path: string;
  indexed: number;
  skipped: number;
  errors: number;
  chunks: number;
}

export interface FileProblem {
  path: string;
  status: "indexed" | "skipped" | "error";
  message: string;
}

export interface LibraryView {
  data_dir: string;
  folders: FolderSummary[];
  problems: FileProblem[];
  vectors: number | null;
  model_problem: string | null;
  paused: boolean;
  indexing: Progress | null;
}

export interface Citation {
  number: number;
  path: string;
  page: number;
  quote: string;
  passage: string;
  attributed: boolean;
}

/** A sentence of an answer that states something, and how its sources stand behind it. */
export interface Claim {
  text: string;
  sources: number[];
  support: "cited" | "corrected" | "unsupported";
}

export interface SearchHit {
  path: string;
  title: string | null;
  page: number;
  similarity: number | null;
  snippet: { text: string; highlights: [number, number][] };
}

export interface Answer {
  question: string;
  text: string;
  abstained: boolean;
  citations: Citation[];
  claims: Claim[];
  closest: SearchHit[];
  evidence: number | null;
  stats: { time_to_first_token: { secs: number; nanos: number }; generated_tokens_per_sec: number } | null;
}

export interface Answered {
  chat_id: number;
  answer: Answer;
}

export interface ChatSummary {
  id: number;
  title: string;
  created_at: number;
  updated_at: number;
  messages: number;
}

export interface StoredMessage {
  id: number;
  role: "user" | "assistant" | "system";
  content: string;
  abstained: boolean;
  created_at: number;
  citations: Citation[];
  claims: Claim[];
}

export interface Chat {
  id: number;
  title: string;
  created_at: number;
  messages: StoredMessage[];
}

export interface Bullet {
  text: string;
  pages: number[];
}

export interface Summary {
  path: string;
  title: string | null;
  pages: number;
  sections: number;
  rounds: number;
  bullets: Bullet[];
  cached: boolean;
}

export interface SettingsView {
  shortcut: string;
  shortcut_problem: string | null;
}

export interface CommandError {
  kind: string;
  message: string;
}

/** The message of whatever a command threw. */
export function errorMessage(error: unknown): string {
  if (typeof error === "object" && error !== null && "message" in error) {
    return String((error as CommandError).message);
  }
  return String(error);
}

export const libraryStatus = () => invoke<LibraryView>("library_status");
export const addFolder = () => invoke<string | null>("add_folder");
export const removeFolder = (path: string) => invoke<void>("remove_folder", { path });
export const pauseIndexing = () => invoke<void>("pause_indexing");
export const resumeIndexing = () => invoke<void>("resume_indexing");
export const stopGeneration = () => invoke<void>("stop_generation");
export const listChats = () => invoke<ChatSummary[]>("list_chats");
export const getChat = (id: number) => invoke<Chat>("get_chat", { id });
export const deleteChat = (id: number) => invoke<void>("delete_chat", { id });
export const exportChat = (id: number) => invoke<string | null>("export_chat", { id });
export const openSource = (path: string, page: number) => invoke<void>("open_source", { path, page });
export const pickFiles = () => invoke<string[]>("pick_files");
export const takeDroppedFiles = () => invoke<string[]>("take_dropped_files");
export const getSettings = () => invoke<SettingsView>("get_settings");
export const setShortcut = (shortcut: string) => invoke<SettingsView>("set_shortcut", { shortcut });
export const openInMain = (chat: number) => invoke<void>("open_in_main", { chat });
export const hideQuick = () => invoke<void>("hide_quick");

/** Asks a question; `onText` gets the answer piece by piece as it is written. */
export function ask(question: string, chat: number | null, onText: (text: string) => void): Promise<Answered> {
  const onEvent = new Channel<{ kind: "text"; text: string }>();
  onEvent.onmessage = (event) => onText(event.text);
  return invoke<Answered>("ask", { question, chat, onEvent });
}

/** Summarises a file; `onProgress` hears about each section. */
export function summarize(path: string, onProgress: (progress: Progress) => void): Promise<Summary> {
  const onEvent = new Channel<{ kind: "progress"; progress: Progress }>();
  onEvent.onmessage = (event) => onProgress(event.progress);
  return invoke<Summary>("summarize", { path, onEvent });
}
