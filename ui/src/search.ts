// The search view (Ctrl+K): hybrid search over the library as the user types,
// narrowed to a folder or a kind of file; a hit opens in the passage view.
import { errorMessage, libraryStatus, type SearchHit, searchLibrary } from "./api";
import { byId, fileName, h, markedText } from "./dom";
import type { PassageView } from "./passage";

/** The kinds of file the type filter offers, with the extensions each means. */
const FILE_TYPES: Record<string, string[]> = {
  pdf: ["pdf"],
  word: ["docx"],
  markdown: ["md", "markdown", "mdown", "mkd"],
  text: ["txt", "text", "rst", "org", "csv", "tsv", "log"],
  html: ["html", "htm", "xhtml"],
};

/** Typing pauses this long before a search starts: each keystroke need not search. */
const SETTLE_MS = 150;

export class SearchView {
  private readonly input = byId<HTMLInputElement>("search-query");
  private readonly folder = byId<HTMLSelectElement>("search-folder");
  private readonly type = byId<HTMLSelectElement>("search-type");
  private readonly results = byId("search-results");
  private readonly summary = byId("search-summary");
  private timer: number | undefined;
  /** Counts searches so that a slow, older one cannot overwrite a newer one's results. */
  private generation = 0;

  constructor(private readonly passages: PassageView) {
    this.input.addEventListener("input", () => this.soon());
    // Enter searches at once (the page never submits a form anywhere).
    byId("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      window.clearTimeout(this.timer);
      void this.run();
    });
    this.folder.addEventListener("change", () => this.soon());
    this.type.addEventListener("change", () => this.soon());
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        this.results.querySelector<HTMLButtonElement>("button.hit")?.focus();
      }
    });
  }

  /** Makes the view ready to type in, with the library's folders to choose from. */
  async focus() {
    this.input.focus();
    this.input.select();
    try {
      const library = await libraryStatus();
      const chosen = this.folder.value;
      this.folder.replaceChildren(
        h("option", { value: "" }, "All folders"),
        ...library.folders.map((f) => h("option", { value: f.path, selected: f.path === chosen }, fileName(f.path))),
      );
    } catch {
      // The folder list is a convenience; searching everything still works.
    }
  }

  private soon() {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.run(), SETTLE_MS);
  }

  private async run() {
    const query = this.input.value.trim();
    const generation = ++this.generation;
    if (!query) {
      this.results.replaceChildren();
      this.summary.textContent = "";
      return;
    }
    const types = FILE_TYPES[this.type.value] ?? [];
    try {
      const hits = await searchLibrary(query, this.folder.value || null, types);
      if (generation !== this.generation) return;
      this.summary.textContent = hits.length === 0 ? "Nothing in your library matches." : `${hits.length} passages`;
      this.results.replaceChildren(...hits.map((hit) => this.hitItem(hit)));
    } catch (e) {
      if (generation !== this.generation) return;
      this.results.replaceChildren();
      this.summary.textContent = errorMessage(e);
    }
  }

  private hitItem(hit: SearchHit): HTMLElement {
    const open = h(
      "button",
      { type: "button", class: "hit", title: hit.path },
      h(
        "span",
        { class: "hit-source" },
        `${hit.title ?? fileName(hit.path)} · p. ${hit.page}`,
        // Words read from an image may be misread: the reader is told where they came from.
        ...(hit.read_by_ocr ? [h("span", { class: "ocr-tag", title: "Read from an image of the page by OCR; some words may be misread" }, "OCR")] : []),
      ),
      h("span", { class: "hit-snippet" }, ...markedText(hit.snippet.text, hit.snippet.highlights)),
      h("span", { class: "source-path" }, hit.path),
    );
    open.addEventListener("click", () =>
      void this.passages.show({ path: hit.path, page: hit.page, span: hit.span, label: "Search result" }, open),
    );
    open.addEventListener("keydown", (event) => {
      const item = open.parentElement;
      const next = event.key === "ArrowDown" ? item?.nextElementSibling : event.key === "ArrowUp" ? item?.previousElementSibling : null;
      if (event.key === "ArrowUp" && !item?.previousElementSibling) {
        event.preventDefault();
        this.input.focus();
      } else if (next) {
        event.preventDefault();
        next.querySelector<HTMLButtonElement>("button.hit")?.focus();
      }
    });
    return h("li", {}, open);
  }
}
