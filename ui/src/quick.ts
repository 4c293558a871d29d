// The quick-ask window: one question, a streamed and cited answer; Enter opens
// the conversation in the main window, Esc hides this one.
import { listen } from "@tauri-apps/api/event";
import * as api from "./api";
import { renderAnswer, renderStreaming } from "./answer";
import { byId, h } from "./dom";
import { applyTheme } from "./settings";
import { SummaryQueue } from "./summaries";

const input = byId<HTMLInputElement>("quick-question");
const answerBox = byId("quick-answer");
let answeredChat: number | null = null;
let answeredQuestion = "";
let busy = false;

byId("quick-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || busy) return;
  if (answeredChat !== null && text === answeredQuestion) {
    await api.openInMain(answeredChat);
    return;
  }
  busy = true;
  answeredChat = null;
  const live = h("div", { class: "answer-text" });
  let streamed = "";
  answerBox.replaceChildren(h("p", { class: "hint thinking" }, "Reading your documents…"), live);
  try {
    const { chat_id, answer } = await api.ask(text, null, (piece) => {
      answerBox.querySelector(".thinking")?.remove();
      streamed += piece;
      renderStreaming(live, streamed);
    });
    renderAnswer(answerBox, answer);
    answeredChat = chat_id;
    answeredQuestion = text;
  } catch (e) {
    answerBox.replaceChildren(h("p", { class: "error-text", role: "alert" }, api.errorMessage(e)));
  } finally {
    busy = false;
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    event.preventDefault();
    if (busy) void api.stopGeneration();
    void api.hideQuick();
  }
});

window.addEventListener("focus", () => input.select());

const summaries = new SummaryQueue(answerBox);
void listen("files-dropped", async () => {
  const files = await api.takeDroppedFiles();
  if (files.length > 0) {
    answerBox.replaceChildren();
    summaries.add(files);
  }
});
input.focus();
document.body.dataset.ready = "true";

// The theme chosen in the main window's settings; read again each time the box is shown.
const followTheme = () => void api.getSettings().then((s) => applyTheme(s.theme)).catch(() => {});
window.addEventListener("focus", followTheme);
followTheme();
