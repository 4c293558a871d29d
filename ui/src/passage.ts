// The passage in context: the page a citation or a search hit comes from, with the
// passage marked, beside the conversation; pages can be turned, and the file
// opened in the system's viewer at the page shown. A PDF page is shown as drawn
// (columns, tables, figures in place) with the passage's lines marked, or as its
// extracted text; other files as their text.
import { type Citation, errorMessage, type PageImage, readPageImage, readPassage } from "./api";
import { openInViewer } from "./answer";
import { byId, fileName, h, markedText, sliceBytes } from "./dom";

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

type ShowAs = "page" | "text";

/** Whether a file's pages can be drawn (PDFs only). */
export const drawable = (path: string) => /\.pdf$/i.test(path);

export class PassageView {
  private readonly panel = byId("passage");
  private readonly body = byId("passage-text");
  private readonly image = byId("passage-image");
  private readonly sheet = byId("passage-sheet");
  private readonly heading = byId("passage-title");
  private readonly where = byId("passage-where");
  private readonly problem = byId("passage-problem");
  private readonly showAsGroup = byId("passage-as");
  private readonly asPage = byId<HTMLButtonElement>("passage-as-page");
  private readonly asText = byId<HTMLButtonElement>("passage-as-text");
  private target: PassageTarget | null = null;
  private pages = 0;
  /** How PDF pages are shown; the reader's last choice holds for the next passage. */
  private showAs: ShowAs = "page";
  /** Why the current page could not be drawn, if it could not. */
  private drawProblem = "";
  /** Why the current page's text has no mark, if it has none. */
  private textProblem = "";
  /** Where focus returns when the panel closes. */
  private returnTo: HTMLElement | null = null;

  constructor() {
    byId("passage-close").addEventListener("click", () => this.close());
    byId("passage-previous").addEventListener("click", () => this.turn(-1));
    byId("passage-next").addEventListener("click", () => this.turn(1));
    byId("passage-open").addEventListener("click", () => {
      if (this.target) void openInViewer(this.target.path, this.target.page, this.problem);
    });
    this.asPage.addEventListener("click", () => this.setShowAs("page"));
    this.asText.addEventListener("click", () => this.setShowAs("text"));
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
    this.drawProblem = "";
    this.textProblem = "";
    this.showAsGroup.hidden = !drawable(target.path);
    this.sheet.replaceChildren();
    this.updateShown();
    try {
      const page = await readPassage(target.path, target.page, { quote: target.quote, span: target.span });
      if (this.target !== target) return; // another passage was asked for meanwhile
      this.pages = page.pages;
      this.heading.textContent = page.title ? `${page.title} (${fileName(target.path)})` : fileName(target.path);
      this.where.textContent = `${target.label} · page ${page.page} of ${page.pages}`;
      this.body.replaceChildren(...markedText(page.text, page.highlight ? [page.highlight] : []));
      if (!page.highlight && (target.quote || target.span)) {
        this.textProblem = "The passage is no longer on this page: the file changed since it was read.";
      }
      byId<HTMLButtonElement>("passage-previous").disabled = page.page <= 1;
      byId<HTMLButtonElement>("passage-next").disabled = page.page >= page.pages;
      byId("passage-open").textContent = `Open in the system viewer at page ${page.page}`;
      this.updateShown();
      if (drawable(target.path)) {
        const passage = page.highlight
          ? sliceBytes(page.text, [page.highlight])
              .filter((piece) => piece.marked)
              .map((piece) => piece.text)
              .join("")
          : "";
        await this.draw(target, passage);
      }
    } catch (e) {
      if (this.target !== target) return;
      this.body.replaceChildren();
      this.where.textContent = `${target.label} · page ${target.page}`;
      this.textProblem = errorMessage(e);
      this.updateShown();
    } finally {
      if (this.target === target) {
        this.panel.setAttribute("aria-busy", "false");
        byId("passage-close").focus();
      }
    }
  }

  /** Draws the target's page with `passage` marked, the width of the panel. */
  private async draw(target: PassageTarget, passage: string) {
    this.sheet.classList.add("drawing");
    this.sheet.setAttribute("aria-label", "Drawing the page…");
    // The panel's width (the image may be hidden, showing the text), less the sheet's margins.
    const widthPx = Math.round(Math.max(this.panel.clientWidth - 28, 320) * (window.devicePixelRatio || 1));
    try {
      const drawn = await readPageImage(target.path, target.page, widthPx, passage);
      if (this.target !== target) return;
      this.showImage(drawn, target);
      if (drawn.not_found && passage) {
        this.drawProblem = "The passage could not be found on the drawn page (its text may not be searchable); it is marked in the text.";
      }
    } catch (e) {
      if (this.target !== target) return;
      this.sheet.replaceChildren();
      this.drawProblem = `${errorMessage(e)}`;
    } finally {
      if (this.target === target) {
        this.sheet.classList.remove("drawing");
        this.sheet.removeAttribute("aria-label");
        this.updateShown();
      }
    }
  }

  private showImage(drawn: PageImage, target: PassageTarget) {
    const picture = h("img", {
      src: drawn.url,
      width: String(drawn.width),
      height: String(drawn.height),
      alt: `Page ${drawn.page} of ${fileName(target.path)}, as drawn${drawn.marks.length ? ", with the passage marked" : ""}`,
    });
    const percent = (fraction: number) => `${(fraction * 100).toFixed(3)}%`;
    const marks = drawn.marks.map((mark) => {
      const box = h("div", { class: "page-mark" });
      box.style.left = percent(mark.left);
      box.style.top = percent(mark.top);
      box.style.width = percent(mark.width);
      box.style.height = percent(mark.height);
      return box;
    });
    this.sheet.replaceChildren(picture, ...marks);
  }

  private setShowAs(showAs: ShowAs) {
    this.showAs = showAs;
    this.updateShown();
  }

  /** Shows the page as drawn or as text, with the problem of the one shown. */
  private updateShown() {
    const asPage = this.showAs === "page" && drawable(this.target?.path ?? "");
    this.asPage.setAttribute("aria-pressed", String(asPage));
    this.asText.setAttribute("aria-pressed", String(!asPage));
    this.image.hidden = !asPage;
    this.body.hidden = asPage;
    this.problem.textContent = (asPage ? this.drawProblem : "") || this.textProblem;
    const mark = asPage ? this.sheet.querySelector(".page-mark") : this.body.querySelector("mark");
    if (mark) mark.scrollIntoView({ block: "center" });
    else (asPage ? this.image : this.body).scrollTop = 0;
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
