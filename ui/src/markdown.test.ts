// @vitest-environment happy-dom
// Answers as Markdown: what is rendered, what never is (HTML, images, links), citation
// buttons, unsupported sentences, and the copied text. Run with `npm test`.
import { describe, expect, it, vi } from "vitest";
import { answerWithSources, markUnsupported, renderAnswer } from "./answer";
import type { Citation } from "./bindings/Citation";
import type { Claim } from "./bindings/Claim";
import { renderMarkdown } from "./markdown";

function render(markdown: string, citations: Citation[] = [], onCite = vi.fn()): HTMLElement {
  const root = document.createElement("div");
  root.append(renderMarkdown(markdown, { citations, onCite }));
  return root;
}

const citation = (number: number, path = "/docs/boiler manual.pdf", page = 3): Citation => ({
  number,
  path,
  page,
  quote: `Quote ${number}`,
  passage: `Passage ${number}`,
  attributed: false,
});

const claim = (text: string, support: Claim["support"]): Claim => ({ start: 0, end: 0, text, sources: [], support });

/** Tag names of every element under `root`. */
const tags = (root: Element) => [...root.querySelectorAll("*")].map((e) => e.tagName.toLowerCase());

describe("renderMarkdown", () => {
  it("renders lists, emphasis and strong", () => {
    const root = render("Steps:\n\n- **Bleed** the radiators\n- check *pressure*\n  1. twice\n  2. a year");
    const ul = root.querySelector("ul")!;
    expect(ul).not.toBeNull();
    expect(ul.children).toHaveLength(2);
    expect(ul.querySelector(":scope > li > strong")!.textContent).toBe("Bleed");
    expect(root.querySelector("em")!.textContent).toBe("pressure");
    expect(root.querySelectorAll("ul > li > ol > li")).toHaveLength(2);
    expect(root.querySelector("p")!.textContent).toBe("Steps:");
  });

  it("renders headings, code, block quotes, tables and hard breaks", () => {
    const root = render(
      "# Title\n\nUse `a [1] b` here  \nnext line\n\n```sh\n<b>[1]</b>\n```\n\n> quoted\n\n| Part | Cost |\n| :--- | ---: |\n| pump | 40 € |\n",
      [citation(1)],
    );
    expect(root.querySelector("h3")!.textContent).toBe("Title");
    expect(root.querySelector("p > code")!.textContent).toBe("a [1] b");
    expect(root.querySelector("br")).not.toBeNull();
    expect(root.querySelector("pre > code")!.textContent).toBe("<b>[1]</b>");
    expect(root.querySelector("blockquote p")!.textContent).toBe("quoted");
    expect([...root.querySelectorAll("th")].map((th) => th.textContent)).toEqual(["Part", "Cost"]);
    expect(root.querySelector("td.align-right")!.textContent).toBe("40 €");
    // Markers in code are code.
    expect(root.querySelector("button")).toBeNull();
    expect(tags(root)).not.toContain("b");
  });

  it("shows raw HTML as text and creates no element for it", () => {
    const root = render('Look <img src=x onerror="alert(1)"> and <script>alert(2)</script>\n\n<iframe src="https://evil/"></iframe>');
    expect(tags(root)).toEqual(["p", "p"]);
    expect(root.textContent).toContain('<img src=x onerror="alert(1)">');
    expect(root.textContent).toContain("<script>alert(2)</script>");
    expect(root.querySelector("[onerror], [src]")).toBeNull();
  });

  it("never loads an image", () => {
    const root = render("See ![a chart](https://evil/a.png) and ![](http://evil/b.png \"t\")");
    expect(root.querySelector("img")).toBeNull();
    expect(root.querySelector("[src]")).toBeNull();
    expect(root.textContent).toBe("See [image: a chart] and [image]");
  });

  it("shows a link's text with no href to follow", () => {
    const root = render("Read [the *guide*](https://evil/x), [this](javascript:alert(1)) and <https://evil/y>.");
    expect(root.querySelector("a")).toBeNull();
    expect(root.querySelector("[href]")).toBeNull();
    expect(root.textContent).toBe("Read the guide, this and https://evil/y.");
    expect(root.querySelector(".link")!.getAttribute("title")).toBe("https://evil/x");
  });

  it("turns a cited marker into a button that calls onCite", () => {
    const onCite = vi.fn();
    const cited = citation(1);
    const root = render("Service it yearly [1].", [cited], onCite);
    const button = root.querySelector("button.cite") as HTMLButtonElement;
    expect(button.textContent).toBe("[1]");
    expect(button.type).toBe("button");
    expect(button.getAttribute("aria-label")).toBe("Source 1: boiler manual.pdf, page 3");
    expect(root.textContent).toBe("Service it yearly [1].");
    button.click();
    expect(onCite).toHaveBeenCalledTimes(1);
    expect(onCite).toHaveBeenCalledWith(cited, button);
  });

  it("splits grouped markers and keeps markers with no citation as text", () => {
    const root = render("A [1, 3] and B [1][2] and C [9].", [citation(1), citation(2, "/b.pdf", 7)]);
    const buttons = [...root.querySelectorAll("button.cite")].map((b) => b.textContent);
    expect(buttons).toEqual(["[1]", "[1]", "[2]"]);
    expect(root.textContent).toBe("A [1][3] and B [1][2] and C [9].");
    expect(render("C [9].", [citation(1)]).querySelector("button")).toBeNull();
  });
});

describe("renderAnswer", () => {
  const answer = {
    text: "The boiler needs a **yearly** service [1]. It runs on *gas*. Costs are 90 € [2].",
    abstained: false,
    citations: [citation(1), citation(2, "/docs/prices.pdf", 1)],
    claims: [
      claim("The boiler needs a **yearly** service [1].", "cited"),
      claim(" It runs on *gas*.", "unsupported"),
      claim(" Costs are 90 € [2].", "cited"),
    ],
  };

  it("marks unsupported sentences across emphasis", () => {
    const box = document.createElement("div");
    renderAnswer(box, answer);
    const marked = [...box.querySelectorAll(".unsupported")];
    expect(marked.map((m) => m.textContent).join("")).toBe("It runs on gas.");
    expect(marked[0].getAttribute("title")).toMatch(/No source supports this sentence/);
    expect(box.querySelectorAll(".unsupported.mark-end")).toHaveLength(1);
    expect(box.querySelector(".answer-text")!.textContent).toBe("The boiler needs a yearly service [1]. It runs on gas. Costs are 90 € [2].");
  });

  it("marks a list item's sentence and one ending with a citation", () => {
    const root = document.createElement("div");
    root.append(renderMarkdown("Steps:\n1. Drain the *tank* [1].\n2. Refill it.", { citations: [citation(1)] }));
    markUnsupported(root, [claim("Steps:\n", "cited"), claim("1. Drain the *tank* [1].\n", "unsupported"), claim("2. Refill it.", "cited")]);
    const marked = [...root.querySelectorAll(".unsupported")];
    expect(marked.map((m) => m.textContent).join("|")).toBe("Drain the |tank| |.");
    expect(marked.every((m) => m.closest("li") === root.querySelector("li"))).toBe(true);
    expect(root.querySelector(".cite .unsupported")).toBeNull();
  });

  it("inline citations open the quote box by default, or call the given onCite", () => {
    const box = document.createElement("div");
    renderAnswer(box, answer);
    const quote = box.querySelector(".quote") as HTMLElement;
    expect(quote.hidden).toBe(true);
    (box.querySelector(".answer-text button.cite") as HTMLElement).click();
    expect(quote.hidden).toBe(false);
    expect(quote.querySelector("blockquote")!.textContent).toBe("Quote 1");
    expect(quote.querySelector(".open-source")!.textContent).toBe("Open boiler manual.pdf at page 3");
    expect(box.querySelectorAll(".chip")).toHaveLength(2);

    const onCite = vi.fn();
    const other = document.createElement("div");
    renderAnswer(other, answer, { onCite });
    const buttons = other.querySelectorAll<HTMLElement>("button.cite");
    buttons[1].click();
    expect(onCite).toHaveBeenCalledWith(answer.citations[1], buttons[1]);
    other.querySelector<HTMLElement>(".chip")!.click();
    expect(onCite).toHaveBeenLastCalledWith(answer.citations[0], other.querySelector(".chip"));
  });

  it("keeps the abstention notice", () => {
    const box = document.createElement("div");
    renderAnswer(box, { text: "", abstained: true, citations: [], claims: [] });
    expect(box.querySelector(".notice")!.textContent).toMatch(/Not found in your documents/);
    expect(box.classList.contains("abstained")).toBe(true);
  });
});

describe("answerWithSources", () => {
  it("escapes images and HTML so pasting loads nothing", () => {
    const copied = answerWithSources({
      text: 'A **chart** ![plot](https://evil/a.png "t") and ![ref][x] <img src=x onerror=alert(1)> <iframe src="https://evil"></iframe> <script>x()</script> [1].',
      citations: [{ ...citation(1), quote: "a <img src=y> quote" }],
    });
    expect(copied).not.toMatch(/!\[/);
    expect(copied).not.toMatch(/<\s*(img|iframe|script)/i);
    expect(copied).toContain("A **chart** [image: plot] and !\\[ref][x] &lt;img src=x");
    expect(copied).toContain("&lt;script>x()&lt;/script> [1].");
    expect(copied).toContain("Sources:\n[1] /docs/boiler manual.pdf, page 3\n    “a &lt;img src=y> quote”");
  });
});
