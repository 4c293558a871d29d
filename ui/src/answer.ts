// How an answer looks in both windows: streamed text, citation chips that show
// the quoted passage and open the file at its page, the abstention notice, and
// "copy answer with sources".
import { type Answer, type Bullet, type Citation, type Claim, errorMessage, openSource } from "./api";
import { fileName, h } from "./dom";

/** A chip for a source; clicking it shows the quote with a button to open the file at that page. */
export function citationChip(citation: Citation, quoteBox: HTMLElement): HTMLElement {
  const label = `[${citation.number}] ${fileName(citation.path)}, p. ${citation.page}`;
  const chip = h("button", { type: "button", class: "chip", title: citation.path, "aria-expanded": "false" }, label);
  chip.addEventListener("click", () => {
    const open = chip.getAttribute("aria-expanded") === "true";
    for (const other of quoteBox.parentElement?.querySelectorAll(".chip") ?? []) {
      other.setAttribute("aria-expanded", "false");
    }
    quoteBox.replaceChildren();
    quoteBox.hidden = open;
    if (open) return;
    chip.setAttribute("aria-expanded", "true");
    const opener = h("button", { type: "button", class: "open-source" }, `Open ${fileName(citation.path)} at page ${citation.page}`);
    const problem = h("span", { class: "error-text", role: "alert" });
    opener.addEventListener("click", () => {
      problem.textContent = "";
      openSource(citation.path, citation.page).catch((e) => (problem.textContent = errorMessage(e)));
    });
    quoteBox.append(
      h("blockquote", {}, citation.quote || citation.passage),
      h("p", { class: "source-path" }, citation.path, citation.attributed ? " · matched by Quire (the model named no source)" : ""),
      opener,
      problem,
    );
  });
  return chip;
}

/** Renders a finished answer (text, chips or the abstention notice) into `box`. */
export function renderAnswer(box: HTMLElement, answer: Pick<Answer, "text" | "abstained" | "citations" | "claims"> & Partial<Answer>) {
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
  box.append(h("div", { class: "answer-text" }, ...markUnsupported(answer.text, answer.claims ?? [])));
  if (answer.citations.length > 0) {
    const quote = h("div", { class: "quote" });
    quote.hidden = true;
    const chips = h("div", { class: "chips", role: "group", "aria-label": "Sources" }, ...uniqueCitations(answer.citations).map((c) => citationChip(c, quote)));
    box.append(chips, quote);
  }
  const copy = h("button", { type: "button", class: "copy" }, "Copy answer with sources");
  copy.addEventListener("click", async () => {
    await copyText(answerWithSources(answer));
    copy.textContent = "Copied";
    setTimeout(() => (copy.textContent = "Copy answer with sources"), 1500);
  });
  box.append(copy);
}

/** The answer's text with each sentence no source supports set apart, saying so. */
function markUnsupported(text: string, claims: Claim[]): (string | HTMLElement)[] {
  const parts: (string | HTMLElement)[] = [];
  let from = 0;
  for (const claim of claims) {
    if (claim.support !== "unsupported") continue;
    const at = text.indexOf(claim.text, from);
    if (at < 0) continue;
    parts.push(text.slice(from, at));
    parts.push(h("span", { class: "unsupported", title: "No source supports this sentence: check it before relying on it." }, claim.text));
    from = at + claim.text.length;
  }
  parts.push(text.slice(from));
  return parts;
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

export function answerWithSources(answer: Pick<Answer, "text" | "citations">): string {
  const sources = uniqueCitations(answer.citations).map((c) => `[${c.number}] ${c.path}, page ${c.page}\n    “${c.quote}”`);
  return sources.length > 0 ? `${answer.text}\n\nSources:\n${sources.join("\n")}` : answer.text;
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
          chip.addEventListener("click", () => openSource(path, page).catch((e) => (chip.title = errorMessage(e))));
          return chip;
        }),
      ),
    ),
  );
}
