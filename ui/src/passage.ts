// The passage in context: the page a citation or a search hit comes from, with the
// passage marked, beside the conversation; pages can be turned, and the file
// opened in the system's viewer at the page shown.
import { type Citation, errorMessage, readPassage } from "./api";
import { openInViewer } from "./answer";
import { byId, fileName, markedText } from "./dom";

/** Where a passage is and how to find it on its page. */
export interface PassageTarget {
  path: string;
  page: number;
  /** Words quoted from the page (a citation). */
  quote?: string;
  /** Byte span of the page's text (a search hit). */
  span?: { start: number; end: number };
  /** What brought the reader here, said above the page ("Source 2", "Search result"). */
  label: string;
}

export class PassageView {
  private readonly panel = byId("passage");
  private readonly body = byId("passage-text");
  private readonly heading = byId("passage-title");
  private readonly where = byId("passage-where");
  private readonly problem = byId("passage-problem");
  private target: PassageTarget | null = null;
  private pages = 0;
  /** Where focus returns when the panel closes. */
  private returnTo: HTMLElement | null = null;

  constructor() {
    byId("passage-close").addEventListener("click", () => this.close());
    byId("passage-previous").addEventListener("click", () => this.turn(-1));
    byId("passage-next").addEventListener("click", () => this.turn(1));
    byId("passage-open").addEventListener("click", () => {
      if (this.target) void openInViewer(this.target.path, this.target.page, this.problem);
    });
  }

  get isOpen(): boolean {
    return !this.panel.hidden;
  }

  /** Shows a citation's page with its quote marked. */
  showCitation(citation: Citation, from: HTMLElement | null) {
    void this.show(
      { path: citation.path, page: citation.page, quote: citation.quote || citation.passage, label: `Source ${citation.number}` },
      from,
    );
  }

  async show(target: PassageTarget, from: HTMLElement | null = null) {
    this.target = target;
    this.returnTo = from ?? this.returnTo;
    this.panel.hidden = false;
    this.panel.setAttribute("aria-busy", "true");
    this.heading.textContent = fileName(target.path);
    this.heading.title = target.path;
    this.problem.textContent = "";
    try {
      const page = await readPassage(target.path, target.page, { quote: target.quote, span: target.span });
      if (this.target !== target) return; // another passage was asked for meanwhile
      this.pages = page.pages;
      this.heading.textContent = page.title ? `${page.title} (${fileName(target.path)})` : fileName(target.path);
      this.where.textContent = `${target.label} · page ${page.page} of ${page.pages}`;
      this.body.replaceChildren(...markedText(page.text, page.highlight ? [page.highlight] : []));
      if (!page.highlight && (target.quote || target.span)) {
        this.problem.textContent = "The passage is no longer on this page: the file changed since it was read.";
      }
      byId<HTMLButtonElement>("passage-previous").disabled = page.page <= 1;
      byId<HTMLButtonElement>("passage-next").disabled = page.page >= page.pages;
      byId("passage-open").textContent = `Open in the system viewer at page ${page.page}`;
      const mark = this.body.querySelector("mark");
      if (mark) mark.scrollIntoView({ block: "center" });
      else this.body.scrollTop = 0;
    } catch (e) {
      if (this.target !== target) return;
      this.body.replaceChildren();
      this.where.textContent = `${target.label} · page ${target.page}`;
      this.problem.textContent = errorMessage(e);
    } finally {
      if (this.target === target) {
        this.panel.setAttribute("aria-busy", "false");
        byId("passage-close").focus();
      }
    }
  }

  /** The page before or after, with nothing marked. */
  private turn(by: number) {
    if (!this.target) return;
    const page = Math.min(Math.max(1, this.target.page + by), Math.max(1, this.pages));
    void this.show({ path: this.target.path, page, label: this.target.label });
  }

  close() {
    this.panel.hidden = true;
    this.target = null;
    this.returnTo?.focus();
    this.returnTo = null;
  }
}
