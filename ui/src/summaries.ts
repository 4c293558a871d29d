// Files to summarise, queued: one at a time through the model, each with its
// progress per section and then its page-cited bullets.
import { errorMessage, summarize } from "./api";
import { renderBullets } from "./answer";
import { duration, fileName, h } from "./dom";

export class SummaryQueue {
  private waiting: { path: string; card: HTMLElement }[] = [];
  private running = false;

  constructor(private readonly container: HTMLElement) {}

  add(paths: string[]) {
    for (const path of paths) {
      const card = h(
        "article",
        { class: "summary", "aria-busy": "true" },
        h("h3", {}, fileName(path)),
        h("p", { class: "source-path" }, path),
        h("p", { class: "summary-status", role: "status" }, "Waiting…"),
        h("progress", { max: "1", value: "0" }),
        h("ul", { class: "bullets" }),
      );
      this.container.prepend(card);
      this.waiting.push({ path, card });
    }
    void this.next();
  }

  private async next() {
    if (this.running) return;
    const item = this.waiting.shift();
    if (!item) return;
    this.running = true;
    const status = item.card.querySelector(".summary-status") as HTMLElement;
    const bar = item.card.querySelector("progress") as HTMLProgressElement;
    status.textContent = "Reading the file…";
    try {
      const summary = await summarize(item.path, (p) => {
        bar.max = Math.max(1, p.total);
        bar.value = p.done;
        const eta = p.eta_secs !== null ? ` · about ${duration(p.eta_secs)} left` : "";
        status.textContent = `Summarising: ${p.done} of ${p.total} ${p.unit}${eta}`;
      });
      bar.remove();
      const pages = `${summary.pages} page${summary.pages === 1 ? "" : "s"}`;
      status.textContent = summary.cached
        ? `${pages} · summarised before, from the cache`
        : `${pages} · ${summary.sections} section${summary.sections === 1 ? "" : "s"}, ${summary.rounds} combining round${summary.rounds === 1 ? "" : "s"}`;
      if (summary.title) item.card.querySelector("h3")!.textContent = summary.title;
      renderBullets(item.card.querySelector(".bullets") as HTMLElement, summary.path, summary.bullets);
    } catch (e) {
      bar.remove();
      status.textContent = errorMessage(e);
      status.classList.add("error-text");
    } finally {
      item.card.setAttribute("aria-busy", "false");
      this.running = false;
      void this.next();
    }
  }
}
