// How an answer looks in both windows: streamed text, the answer rendered as
// Markdown with inline citation buttons, citation chips that show the quoted
// passage and open the file at its page, the abstention notice, and "copy
// answer with sources".
import { type Answer, type Bullet, type Citation, type Claim, errorMessage, openSource } from "./api";
import { fileName, h } from "./dom";
import { markSentences, renderMarkdown } from "./markdown";

/** What clicking a citation (an inline "[n]" or its chip) does. */
export type OnCite = (citation: Citation, button: HTMLElement) => void;

export interface RenderAnswerOptions {
  /** Replaces the default: the quote box under the answer. */
  onCite?: OnCite;
}

/** A chip for a source; clicking it calls `onCite` (by default: shows the quote under the answer). */
export function citationChip(citation: Citation, onCite: OnCite): HTMLElement {
  const label = `[${citation.number}] ${fileName(citation.path)}, p. ${citation.page}`;
  const chip = h("button", { type: "button", class: "chip", title: citation.path, "aria-expanded": "false" }, label);
  chip.addEventListener("click", () => onCite(citation, chip));
  return chip;
}

/**
 * The default citation behaviour: toggles `quoteBox` to show the citation's quote and a
 * button that opens the file at its page; `button` (a chip or an inline "[n]") is marked expanded.
 */
export function showQuote(quoteBox: HTMLElement): OnCite {
  return (citation, button) => {
    const open = button.getAttribute("aria-expanded") === "true";
    for (const other of quoteBox.parentElement?.querySelectorAll(".chip, .cite") ?? []) {
      other.setAttribute("aria-expanded", "false");
    }
    quoteBox.replaceChildren();
    quoteBox.hidden = open;
    if (open) return;
    button.setAttribute("aria-expanded", "true");
    const opener = h("button", { type: "button", class: "open-source" }, `Open ${fileName(citation.path)} at page ${citation.page}`);
    const problem = h("span", { class: "error-text", role: "alert" });
    opener.addEventListener("click", () => void openInViewer(citation.path, citation.page, problem));
    quoteBox.append(
      h("blockquote", {}, citation.quote || citation.passage),
      h("p", { class: "source-path" }, citation.path, citation.attributed ? " · matched by Quire (the model named no source)" : ""),
      opener,
      problem,
    );
  };
}

/**
 * Opens `path` at `page` in the system's viewer; what went otherwise (the file was
 * only revealed in the file manager, or could not be opened) is said in `say` and returned.
 */
export async function openInViewer(path: string, page: number, say: HTMLElement | null): Promise<string | null> {
  let message: string | null = null;
  try {
    if ((await openSource(path, page)) === "revealed") {
      message = `${fileName(path)} is not a document Quire read, so it is shown in your file manager rather than opened.`;
    }
  } catch (e) {
    message = errorMessage(e);
  }
  if (say) say.textContent = message ?? "";
  return message;
}

/** An answer's text while it streams in: Markdown, without citation buttons yet. */
export function renderStreaming(live: HTMLElement, text: string) {
  live.classList.add("markdown");
  live.replaceChildren(renderMarkdown(text));
}

/**
 * Renders a finished answer into `box`: its Markdown with a button at each citation marker,
 * unsupported sentences marked, the chips of its sources and "copy"; or the abstention notice.
 * Clicking a citation calls `options.onCite`, by default showing its quote under the answer.
 */
export function renderAnswer(
  box: HTMLElement,
  answer: Pick<Answer, "text" | "abstained" | "citations" | "claims"> & Partial<Answer>,
  options: RenderAnswerOptions = {},
) {
  box.replaceChildren();
  box.classList.toggle("abstained", answer.abstained);
  if (answer.abstained) {
    box.append(
      h("p", { class: "notice", role: "note" }, "Not found in your documents. Quire answers only from what they say."),
    );
    const closest = answer.closest ?? [];
    if (closest.length > 0) {
      box.append(
        h("p", { class: "hint" }, "Closest passages:"),
        h("ul", { class: "closest" }, ...closest.map((hit) => h("li", {}, h("strong", {}, `${fileName(hit.path)}, p. ${hit.page}: `), hit.snippet.text))),
      );
    }
    return;
  }
  const quote = h("div", { class: "quote" });
  quote.hidden = true;
  const onCite = options.onCite ?? showQuote(quote);
  const text = h("div", { class: "answer-text markdown" }, renderMarkdown(answer.text, { citations: answer.citations, onCite }));
  markUnsupported(text, answer.claims ?? []);
  box.append(text);
  if (answer.citations.length > 0) {
    const chips = h("div", { class: "chips", role: "group", "aria-label": "Sources" }, ...uniqueCitations(answer.citations).map((c) => citationChip(c, onCite)));
    box.append(chips, quote);
  }
  const copy = h("button", { type: "button", class: "copy" }, "Copy answer with sources");
  copy.addEventListener("click", async () => {
    await copyText(answerWithSources(answer));
    copy.textContent = "Copied";
    setTimeout(() => (copy.textContent = "Copy answer with sources"), 1500);
  });
  const footer = h("div", { class: "answer-footer" }, copy);
  if (answer.model) {
    const took = answer.stats ? ` in ${answer.stats.total_secs.toFixed(1)} s` : "";
    footer.append(h("span", { class: "hint written-by" }, `Written by ${answer.model}${took}`));
  }
  box.append(footer);
}

/** Sets apart each sentence of the rendered answer that no source supports, saying so. */
export function markUnsupported(root: HTMLElement, claims: Claim[]): number {
  return markSentences(
    root,
    claims.map((claim) => ({ text: claim.text, mark: claim.support === "unsupported" })),
    () => h("span", { class: "unsupported", title: "No source supports this sentence: check it before relying on it." }),
  );
}

/** One chip per source and page, in the order they are cited. */
function uniqueCitations(citations: Citation[]): Citation[] {
  const seen = new Set<string>();
  return citations.filter((c) => {
    const key = `${c.number}:${c.path}:${c.page}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The answer as Markdown with its sources listed, for the clipboard. Nothing in it loads
 * anything where it is pasted: images become "[image: alt]", HTML tags are escaped.
 */
export function answerWithSources(answer: Pick<Answer, "text" | "citations">): string {
  const sources = uniqueCitations(answer.citations).map((c) => `[${c.number}] ${c.path}, page ${c.page}\n    “${c.quote}”`);
  const text = sources.length > 0 ? `${answer.text}\n\nSources:\n${sources.join("\n")}` : answer.text;
  return inert(text);
}

/** Markdown that can load nothing: no images (inline or by reference), no HTML tags. */
export function inert(markdown: string): string {
  return markdown
    .replace(/!\[((?:[^\[\]\\]|\\.)*)\]\((?:[^()\s]|\([^()]*\))*(?:\s+(?:"[^"]*"|'[^']*'|\([^()]*\)))?\s*\)/g, (_, alt: string) => (alt.trim() ? `[image: ${alt.trim()}]` : "[image]"))
    .replace(/!\[/g, "!\\[")
    .replace(/<(?=[A-Za-z!?/])/g, "&lt;");
}

async function copyText(text: string) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Some web views keep the async clipboard from custom schemes; the old way still works there.
    const area = h("textarea", {}, text);
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
}

/** A summary's bullets, each with chips for its pages. */
export function renderBullets(list: HTMLElement, path: string, bullets: Bullet[]) {
  list.replaceChildren(
    ...bullets.map((bullet) =>
      h(
        "li",
        {},
        bullet.text,
        " ",
        ...bullet.pages.map((page) => {
          const chip = h("button", { type: "button", class: "chip small", title: `Open at page ${page}` }, `p. ${page}`);
          chip.addEventListener("click", () => void openInViewer(path, page, null).then((said) => (chip.title = said ?? chip.title)));
          return chip;
        }),
      ),
    ),
  );
}
