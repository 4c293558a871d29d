// The main window: chat with the library, the library itself, and summaries.
import { listen } from "@tauri-apps/api/event";
import { getCurrentWebview } from "@tauri-apps/api/webview";
import * as api from "./api";
import { renderAnswer, renderStreaming } from "./answer";
import { byId, duration, fileName, h } from "./dom";
import { PassageView } from "./passage";
import { SearchView } from "./search";
import { SettingsPanel } from "./settings";
import { SummaryQueue } from "./summaries";

type View = "chat" | "library" | "search" | "summaries" | "settings";
const VIEWS: View[] = ["chat", "library", "search", "summaries", "settings"];

const status = byId("status");
let currentChat: number | null = null;
let busy = false;

const passages = new PassageView();
const search = new SearchView(passages);
const settings = new SettingsPanel(
  (message) => (status.textContent = message),
  (current) => {
    modelProblem = current.model_problem;
    showWelcome();
  },
);
/** Opens a citation's page in the passage view (inline [n] and chips alike). */
const onCite = (citation: api.Citation, button: HTMLElement) => passages.showCitation(citation, button);

function show(view: View) {
  for (const name of VIEWS) {
    byId(`view-${name}`).hidden = name !== view;
    const tab = byId(`tab-${name}`);
    if (name === view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (view === "library") void refreshLibrary();
  if (view === "chat") byId("question").focus();
  if (view === "search") void search.focus();
  if (view === "settings") void settings.refresh().catch((e) => (status.textContent = api.errorMessage(e)));
}

for (const tab of document.querySelectorAll<HTMLButtonElement>("nav button")) {
  tab.addEventListener("click", () => show(tab.dataset.view as View));
}

// ---- Library -------------------------------------------------------------

function progressText(p: api.Progress): string {
  if (p.phase === "scanning") return "Looking for files…";
  const rate = p.rate > 0 ? ` · ${p.rate.toFixed(p.rate < 10 ? 1 : 0)} ${p.unit}/s` : "";
  const eta = p.eta_secs !== null && p.done < p.total ? ` · about ${duration(p.eta_secs)} left` : "";
  return `Indexing ${p.done} of ${p.total} ${p.unit}${rate}${eta}`;
}

function showProgress(p: api.Progress | null, paused: boolean) {
  const box = byId("progress");
  box.hidden = p === null;
  if (p) {
    const bar = byId<HTMLProgressElement>("progress-bar");
    bar.max = Math.max(1, p.total);
    bar.value = p.done;
    byId("progress-text").textContent = progressText(p) + (paused ? " (pausing…)" : "");
    status.textContent = progressText(p);
  }
  byId("pause").textContent = paused ? "Resume indexing" : "Pause indexing";
}

/** Counts library reads, so that an older reply arriving late cannot show stale progress. */
let libraryReads = 0;

async function refreshLibrary() {
  const read = ++libraryReads;
  let library: api.LibraryView;
  try {
    library = await api.libraryStatus();
  } catch (e) {
    status.textContent = api.errorMessage(e);
    return;
  }
  if (read !== libraryReads) return;
  showProgress(library.indexing, library.paused);
  const problem = byId("model-problem");
  problem.hidden = !library.model_problem;
  problem.textContent = library.model_problem ?? "";
  byId("no-folders").hidden = library.folders.length > 0;
  libraryIsEmpty = library.folders.length === 0;
  embedderProblem = library.model_problem;
  showWelcome();
  byId("folders").replaceChildren(
    ...library.folders.map((folder) => {
      const remove = h("button", { type: "button", "aria-label": `Remove ${folder.path} from the library` }, "Remove");
      remove.addEventListener("click", async () => {
        // Quire asks (a system dialog, from Rust) before it forgets the folder.
        try {
          if (await api.removeFolder(folder.path)) status.textContent = `Removed ${folder.path} from the library.`;
        } catch (e) {
          status.textContent = api.errorMessage(e);
        }
        void refreshLibrary();
      });
      return h(
        "tr",
        {},
        h("th", { scope: "row", title: folder.path }, folder.path),
        h("td", {}, String(folder.indexed)),
        h("td", {}, String(folder.skipped)),
        h("td", { class: folder.errors > 0 ? "error-text" : "" }, String(folder.errors)),
        h("td", {}, String(folder.chunks)),
        h("td", {}, remove),
      );
    }),
  );
  // Indexed files with pages of pictures left unread: indexed, yet not all there.
  const awaiting = library.awaiting_ocr.map((w) =>
    h(
      "li",
      { class: "skipped" },
      h("span", { class: "badge" }, "Partly read"),
      h("span", { class: "source-path" }, w.path),
      h("span", {}, `${w.pages} ${w.pages === 1 ? "page is a picture" : "pages are pictures"} of text, not read yet: install Tesseract to read them by OCR (Debian: apt install tesseract-ocr); Quire reads them at the next run`),
    ),
  );
  byId("problems").replaceChildren(
    ...(library.problems.length === 0 && awaiting.length === 0
      ? [h("li", { class: "empty" }, "No file has been skipped or failed.")]
      : [
          ...library.problems.map((p) =>
            h("li", { class: p.status }, h("span", { class: "badge" }, p.status === "error" ? "Error" : "Skipped"), h("span", { class: "source-path" }, p.path), h("span", {}, p.message)),
          ),
          ...awaiting,
        ]),
  );
}

async function addFolder() {
  try {
    const folder = await api.addFolder();
    if (folder) status.textContent = `Adding ${folder}…`;
  } catch (e) {
    status.textContent = api.errorMessage(e);
  }
}
byId("add-folder").addEventListener("click", () => void addFolder());
byId("welcome-add-folder").addEventListener("click", () => void addFolder());

byId("pause").addEventListener("click", async () => {
  const library = await api.libraryStatus();
  await (library.paused ? api.resumeIndexing() : api.pauseIndexing());
  void refreshLibrary();
});

// Folder counts follow a run as it commits, every two seconds at most.
let lastRefresh = 0;
void listen<api.Progress>("indexing-progress", (event) => {
  showProgress(event.payload, false);
  if (Date.now() - lastRefresh > 2000 && !byId("view-library").hidden) {
    lastRefresh = Date.now();
    void refreshLibrary();
  }
});

void listen<api.LibraryChanged>("library-changed", (event) => {
  status.textContent = event.payload.message;
  void refreshLibrary();
  // A change of embedding model ends with this event: the settings show the one in use.
  if (!byId("view-settings").hidden) void settings.refresh().catch(() => {});
});

// ---- Chat ----------------------------------------------------------------

const messages = byId("messages");
const question = byId<HTMLTextAreaElement>("question");
let libraryIsEmpty = false;
let modelProblem: string | null = null;
/** Why search by meaning (and so answering) cannot run: the embedding model is missing. */
let embedderProblem: string | null = null;

/** A new, empty chat explains what to do first: add a folder, get a model. */
function showWelcome() {
  const empty = currentChat === null && messages.childElementCount === 0;
  byId("welcome").hidden = !empty;
  byId("welcome-empty").hidden = !libraryIsEmpty;
  byId("welcome-add-folder").hidden = !libraryIsEmpty;
  const problems = [modelProblem, embedderProblem].filter((p): p is string => p !== null);
  byId("welcome-model").hidden = problems.length === 0;
  byId("welcome-model").textContent = problems.join(" ");
}

/** Counts chat-list reads, so that an older reply arriving late cannot bring back a deleted chat. */
let chatReads = 0;

async function refreshChats() {
  const read = ++chatReads;
  const chats = await api.listChats().catch(() => []);
  if (read !== chatReads) return;
  byId("chat-list").replaceChildren(
    ...chats.map((chat) => {
      const open = h("button", { type: "button", class: "chat-link", "aria-current": chat.id === currentChat ? "true" : false }, chat.title);
      open.addEventListener("click", () => void openChat(chat.id));
      return h("li", {}, open);
    }),
  );
}

function questionBubble(text: string) {
  return h("div", { class: "message user" }, h("p", {}, text));
}

/** Counts what the chat view shows: an answer still being written when the user
 * opens another chat must not claim the view when it arrives. */
let chatView = 0;

async function openChat(id: number | null) {
  chatView++;
  currentChat = id;
  messages.replaceChildren();
  byId<HTMLButtonElement>("export-chat").disabled = id === null;
  byId<HTMLButtonElement>("delete-chat").disabled = id === null;
  byId("chat-title").textContent = "New chat";
  if (id !== null) {
    const chat = await api.getChat(id);
    byId("chat-title").textContent = chat.title;
    for (const message of chat.messages) {
      if (message.role === "user") {
        messages.append(questionBubble(message.content));
      } else {
        const box = h("div", { class: "message assistant" });
        renderAnswer(box, { text: message.content, abstained: message.abstained, citations: message.citations, claims: message.claims }, { onCite });
        messages.append(box);
      }
    }
    messages.scrollTop = messages.scrollHeight;
  }
  showWelcome();
  show("chat");
  void refreshChats();
}

async function submitQuestion() {
  const text = question.value.trim();
  if (!text || busy) return;
  busy = true;
  question.value = "";
  byId("ask").hidden = true;
  byId("stop").hidden = false;
  messages.append(questionBubble(text));
  byId("welcome").hidden = true;
  const box = h("div", { class: "message assistant streaming", "aria-busy": "true" });
  const live = h("div", { class: "answer-text" });
  let streamed = "";
  box.append(live, h("p", { class: "hint thinking" }, "Reading your documents…"));
  messages.append(box);
  messages.scrollTop = messages.scrollHeight;
  try {
    const askedIn = chatView;
    const { chat_id, answer } = await api.ask(text, currentChat, (piece) => {
      box.querySelector(".thinking")?.remove();
      streamed += piece;
      renderStreaming(live, streamed);
      messages.scrollTop = messages.scrollHeight;
    });
    renderAnswer(box, answer, { onCite });
    if (askedIn === chatView && currentChat !== chat_id) {
      currentChat = chat_id;
      byId<HTMLButtonElement>("export-chat").disabled = false;
      byId<HTMLButtonElement>("delete-chat").disabled = false;
      byId("chat-title").textContent = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    }
    void refreshChats();
  } catch (e) {
    box.replaceChildren(h("p", { class: "error-text", role: "alert" }, api.errorMessage(e)));
  } finally {
    box.classList.remove("streaming");
    box.setAttribute("aria-busy", "false");
    busy = false;
    byId("ask").hidden = false;
    byId("stop").hidden = true;
    messages.scrollTop = messages.scrollHeight;
    question.focus();
  }
}

byId("ask-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void submitQuestion();
});
question.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    void submitQuestion();
  }
});
byId("stop").addEventListener("click", () => void api.stopGeneration());
byId("new-chat").addEventListener("click", () => void openChat(null));
byId("export-chat").addEventListener("click", async () => {
  if (currentChat === null) return;
  try {
    const saved = await api.exportChat(currentChat);
    if (saved) status.textContent = `Saved ${saved}`;
  } catch (e) {
    status.textContent = api.errorMessage(e);
  }
});
byId("delete-chat").addEventListener("click", async () => {
  if (currentChat === null) return;
  // Quire asks (a system dialog, from Rust) before the conversation is gone for good.
  try {
    if (await api.deleteChat(currentChat)) {
      status.textContent = "Conversation deleted.";
      void openChat(null);
    }
  } catch (e) {
    status.textContent = api.errorMessage(e);
  }
});

void listen<number>("open-chat", (event) => void openChat(event.payload));

// ---- Summaries -----------------------------------------------------------

const summaries = new SummaryQueue(byId("summary-list"));

async function takeDropped() {
  const files = await api.takeDroppedFiles();
  if (files.length > 0) {
    show("summaries");
    status.textContent = `Summarising ${files.map(fileName).join(", ")}`;
    summaries.add(files);
  }
}

byId("pick-files").addEventListener("click", async () => {
  const files = await api.pickFiles().catch((e) => {
    status.textContent = api.errorMessage(e);
    return [] as string[];
  });
  if (files.length > 0) summaries.add(files);
});

void listen("files-dropped", () => void takeDropped());
void getCurrentWebview().onDragDropEvent((event) => {
  byId("drop-hint").hidden = !(event.payload.type === "enter" || event.payload.type === "over");
});

// ---- Keyboard ----------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  if (event.isComposing) return;
  // By physical key, so that they work on every keyboard layout.
  const ctrl = (event.ctrlKey || event.metaKey) && !event.shiftKey && !event.altKey;
  if (ctrl && event.code === "KeyK") {
    event.preventDefault();
    show("search");
  } else if (ctrl && event.code === "KeyN") {
    event.preventDefault();
    void openChat(null);
  } else if (event.key === "Escape") {
    // The nearest thing first: an open passage closes before an answer is stopped.
    if (passages.isOpen) {
      event.preventDefault();
      passages.close();
    } else if (busy && !byId("view-chat").hidden) {
      event.preventDefault();
      void api.stopGeneration();
    }
  }
});

// ---- Start ---------------------------------------------------------------

void api
  .getSettings()
  .then((current) => {
    settings.show(current);
    modelProblem = current.model_problem;
    showWelcome();
  })
  .catch((e) => (status.textContent = api.errorMessage(e)));
void refreshChats();
void refreshLibrary();
void takeDropped();
question.focus();
// Every handler is attached: the window is ready for input (tests wait for this).
document.body.dataset.ready = "true";
