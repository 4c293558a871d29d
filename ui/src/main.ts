// The main window: chat with the library, the library itself, and summaries.
import { listen } from "@tauri-apps/api/event";
import { getCurrentWebview } from "@tauri-apps/api/webview";
import * as api from "./api";
import { renderAnswer, renderStreaming } from "./answer";
import { byId, duration, fileName, h } from "./dom";
import { SummaryQueue } from "./summaries";

type View = "chat" | "library" | "summaries";

const status = byId("status");
let currentChat: number | null = null;
let busy = false;

function show(view: View) {
  for (const name of ["chat", "library", "summaries"] as View[]) {
    byId(`view-${name}`).hidden = name !== view;
    const tab = byId(`tab-${name}`);
    if (name === view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (view === "library") void refreshLibrary();
  if (view === "chat") byId("question").focus();
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

async function refreshLibrary() {
  let library: api.LibraryView;
  try {
    library = await api.libraryStatus();
  } catch (e) {
    status.textContent = api.errorMessage(e);
    return;
  }
  showProgress(library.indexing, library.paused);
  const problem = byId("model-problem");
  problem.hidden = !library.model_problem;
  problem.textContent = library.model_problem ?? "";
  byId("no-folders").hidden = library.folders.length > 0;
  byId("folders").replaceChildren(
    ...library.folders.map((folder) => {
      const remove = h("button", { type: "button", "aria-label": `Remove ${folder.path} from the library` }, "Remove");
      remove.addEventListener("click", async () => {
        if (!confirm(`Remove ${folder.path} and everything indexed from it? Your files stay where they are.`)) return;
        await api.removeFolder(folder.path).catch((e) => (status.textContent = api.errorMessage(e)));
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
  byId("problems").replaceChildren(
    ...(library.problems.length === 0
      ? [h("li", { class: "empty" }, "No file has been skipped or failed.")]
      : library.problems.map((p) =>
          h("li", { class: p.status }, h("span", { class: "badge" }, p.status === "error" ? "Error" : "Skipped"), h("span", { class: "source-path" }, p.path), h("span", {}, p.message)),
        )),
  );
}

byId("add-folder").addEventListener("click", async () => {
  try {
    const folder = await api.addFolder();
    if (folder) status.textContent = `Adding ${folder}…`;
  } catch (e) {
    status.textContent = api.errorMessage(e);
  }
});

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
});

async function refreshSettings(settings?: api.SettingsView) {
  const current = settings ?? (await api.getSettings());
  byId<HTMLInputElement>("shortcut").value = current.shortcut;
  byId("shortcut-problem").textContent = current.shortcut_problem ?? "";
}

byId("shortcut-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await refreshSettings(await api.setShortcut(byId<HTMLInputElement>("shortcut").value));
    status.textContent = "Shortcut saved.";
  } catch (e) {
    byId("shortcut-problem").textContent = api.errorMessage(e);
  }
});

// ---- Chat ----------------------------------------------------------------

const messages = byId("messages");
const question = byId<HTMLTextAreaElement>("question");

async function refreshChats() {
  const chats = await api.listChats().catch(() => []);
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

async function openChat(id: number | null) {
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
        renderAnswer(box, { text: message.content, abstained: message.abstained, citations: message.citations, claims: message.claims });
        messages.append(box);
      }
    }
    messages.scrollTop = messages.scrollHeight;
  }
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
  const box = h("div", { class: "message assistant streaming", "aria-busy": "true" });
  const live = h("div", { class: "answer-text" });
  let streamed = "";
  box.append(live, h("p", { class: "hint thinking" }, "Reading your documents…"));
  messages.append(box);
  messages.scrollTop = messages.scrollHeight;
  try {
    const { chat_id, answer } = await api.ask(text, currentChat, (piece) => {
      box.querySelector(".thinking")?.remove();
      streamed += piece;
      renderStreaming(live, streamed);
      messages.scrollTop = messages.scrollHeight;
    });
    renderAnswer(box, answer);
    if (currentChat !== chat_id) {
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
  if (currentChat === null || !confirm("Delete this conversation?")) return;
  await api.deleteChat(currentChat).catch((e) => (status.textContent = api.errorMessage(e)));
  void openChat(null);
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

// ---- Start ---------------------------------------------------------------

void refreshSettings();
void refreshChats();
void refreshLibrary().then(async () => {
  const library = await api.libraryStatus();
  if (library.folders.length === 0 && library.indexing === null) show("library");
});
void takeDropped();
question.focus();
// Every handler is attached: the window is ready for input (tests wait for this).
document.body.dataset.ready = "true";
