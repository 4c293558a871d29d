// Markdown for answers, built as DOM nodes (createElement and text nodes only:
// no innerHTML, so nothing in an answer or a document is ever parsed as HTML).
//
// A small CommonMark subset with GFM tables and strikethrough: paragraphs, ATX
// and setext headings, nested lists, emphasis and strong, code spans, fenced and
// indented code, block quotes, thematic breaks and hard breaks. Nothing remote
// is ever loaded or reachable: raw HTML stays literal text, an image is shown as
// "[image: alt]", a link as its text (the address in its title, no href).
// Citation markers ("[1]", "[1, 3]", "[1][2]") that name one of the answer's
// citations become buttons that call `onCite`.
import type { Citation } from "./bindings/Citation";
import { fileName } from "./dom";

export interface MarkdownOptions {
  /** The answer's citations: a marker "[n]" naming one of them becomes a button. */
  citations?: readonly Citation[];
  /** Called when a citation button is clicked (or activated by the keyboard). */
  onCite?: (citation: Citation, button: HTMLElement) => void;
}

/** Renders `source` as Markdown into a fragment of DOM nodes. */
export function renderMarkdown(source: string, options: MarkdownOptions = {}): DocumentFragment {
  const fragment = document.createDocumentFragment();
  const lines = source.replace(/\r\n?/g, "\n").replace(/\u0000/g, "\uFFFD").split("\n").map(expandTabs);
  renderBlocks(fragment, parseBlocks(lines), options);
  return fragment;
}

// ---- Blocks ----------------------------------------------------------------

type Align = "left" | "center" | "right" | null;
type Block = (
  | { kind: "paragraph"; text: string }
  | { kind: "heading"; level: number; text: string }
  | { kind: "code"; text: string }
  | { kind: "quote"; children: Block[] }
  | { kind: "list"; ordered: boolean; start: number; loose: boolean; items: Block[][] }
  | { kind: "table"; align: Align[]; head: string[]; rows: string[][] }
  | { kind: "rule" }
) & { blankBefore?: boolean };

interface ListMarker {
  indent: number;
  /** "-", "*", "+" for bullets; "." or ")" for ordered items. */
  delimiter: string;
  ordered: boolean;
  start: number;
  /** Column where the item's content starts. */
  content: number;
  /** The rest of the line after the marker. */
  rest: string;
}

function expandTabs(line: string): string {
  if (!line.includes("\t")) return line;
  let out = "";
  for (const ch of line) {
    out += ch === "\t" ? " ".repeat(4 - (out.length % 4)) : ch;
  }
  return out;
}

const isBlank = (line: string) => /^\s*$/.test(line);
const indentOf = (line: string) => line.length - line.trimStart().length;
const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const SETEXT = /^ {0,3}(=+|-+)[ \t]*$/;

function listMarker(line: string): ListMarker | null {
  const m = /^( *)(?:([-*+])|(\d{1,9})([.)]))( *)(.*)$/.exec(line);
  if (!m) return null;
  const [, spaces, bullet, digits, delim, gap, rest] = m;
  if (gap === "" && rest !== "") return null;
  const indent = spaces.length;
  const width = bullet ? 1 : digits.length + 1;
  const content = rest === "" || gap.length > 4 ? indent + width + 1 : indent + width + gap.length;
  return {
    indent,
    delimiter: bullet ?? delim,
    ordered: !bullet,
    start: digits ? Number(digits) : 1,
    content,
    rest: gap.length > 4 ? " ".repeat(gap.length - 1) + rest : rest,
  };
}

/** Splits a table row into cells on unescaped pipes ("\|" is a literal pipe). */
function tableCells(line: string): string[] {
  let text = line.trim();
  if (text.startsWith("|")) text = text.slice(1);
  if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
  const cells: string[] = [];
  let cell = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\" && text[i + 1] === "|") {
      cell += "|";
      i++;
    } else if (text[i] === "|") {
      cells.push(cell.trim());
      cell = "";
    } else {
      cell += text[i];
    }
  }
  cells.push(cell.trim());
  return cells;
}

/** The column alignments when `line` is a table's delimiter row ("| --- | :-: |"). */
function delimiterRow(line: string): Align[] | null {
  if (!line.includes("|") || indentOf(line) >= 4) return null;
  const cells = tableCells(line);
  const align: Align[] = [];
  for (const cell of cells) {
    const m = /^(:?)-+(:?)$/.exec(cell);
    if (!m) return null;
    align.push(m[1] && m[2] ? "center" : m[2] ? "right" : m[1] ? "left" : null);
  }
  return align;
}

function tableStart(lines: string[], i: number): Align[] | null {
  if (i + 1 >= lines.length || !lines[i].includes("|") || indentOf(lines[i]) >= 4) return null;
  const align = delimiterRow(lines[i + 1]);
  return align && tableCells(lines[i]).length === align.length ? align : null;
}

/** Whether `line` starts a block that ends a paragraph before it. */
function interrupts(lines: string[], i: number): boolean {
  const line = lines[i];
  if (isBlank(line)) return true;
  if (indentOf(line) >= 4) return false;
  if (FENCE.test(line) || HEADING.test(line) || RULE.test(line) || /^ {0,3}>/.test(line)) return true;
  const marker = listMarker(line);
  if (marker && marker.rest.trim() !== "" && (!marker.ordered || marker.start === 1)) return true;
  return tableStart(lines, i) !== null;
}

function parseBlocks(lines: string[]): Block[] {
  const blocks: Block[] = [];
  let blankBefore = false;
  let i = 0;
  const push = (block: Block) => {
    block.blankBefore = blankBefore;
    blankBefore = false;
    blocks.push(block);
  };
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) {
      blankBefore = blocks.length > 0;
      i++;
      continue;
    }
    const indent = indentOf(line);
    if (indent >= 4) {
      // Indented code: runs until a line indented less (blank lines included).
      const code: string[] = [];
      while (i < lines.length && (isBlank(lines[i]) || indentOf(lines[i]) >= 4)) code.push(lines[i++].slice(4));
      while (code.length > 0 && isBlank(code[code.length - 1])) code.pop();
      push({ kind: "code", text: code.join("\n") });
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence && !(fence[1][0] === "`" && fence[2].includes("`"))) {
      const mark = fence[1];
      const code: string[] = [];
      i++;
      while (i < lines.length) {
        const close = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(lines[i]);
        if (close && close[1][0] === mark[0] && close[1].length >= mark.length) {
          i++;
          break;
        }
        const strip = Math.min(indent, indentOf(lines[i]));
        code.push(lines[i++].slice(strip));
      }
      push({ kind: "code", text: code.join("\n") });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const text = (heading[2] ?? "").replace(/(^|[ \t]+)#+$/, "").trim();
      push({ kind: "heading", level: heading[1].length, text });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      push({ kind: "rule" });
      i++;
      continue;
    }
    if (/^ {0,3}>/.test(line)) {
      const inner: string[] = [];
      while (i < lines.length) {
        const quoted = /^ {0,3}> ?(.*)$/.exec(lines[i]);
        if (quoted) inner.push(quoted[1]);
        else if (inner.length > 0 && !isBlank(inner[inner.length - 1]) && !interrupts(lines, i)) inner.push(lines[i]);
        else break;
        i++;
      }
      push({ kind: "quote", children: parseBlocks(inner) });
      continue;
    }
    if (listMarker(line)) {
      const [list, next] = parseList(lines, i);
      push(list);
      i = next;
      continue;
    }
    const align = tableStart(lines, i);
    if (align) {
      const head = tableCells(line);
      const rows: string[][] = [];
      i += 2;
      while (i < lines.length && !isBlank(lines[i]) && !(interrupts(lines, i) && !lines[i].includes("|"))) {
        const cells = tableCells(lines[i++]);
        rows.push(head.map((_, n) => cells[n] ?? ""));
      }
      push({ kind: "table", align, head, rows });
      continue;
    }
    // A paragraph, or a setext heading when underlined with "===" or "---".
    const text: string[] = [line];
    i++;
    let level = 0;
    while (i < lines.length) {
      const setext = SETEXT.exec(lines[i]);
      if (setext) {
        level = setext[1][0] === "=" ? 1 : 2;
        i++;
        break;
      }
      if (interrupts(lines, i)) break;
      text.push(lines[i++]);
    }
    const joined = text.map((l) => l.trimStart()).join("\n").trimEnd();
    push(level > 0 ? { kind: "heading", level, text: joined } : { kind: "paragraph", text: joined });
  }
  return blocks;
}

function sameList(a: ListMarker, b: ListMarker): boolean {
  return a.ordered === b.ordered && a.delimiter === b.delimiter;
}

/** A list starting at line `i`; returns it and the line after it. */
function parseList(lines: string[], i: number): [Block, number] {
  const first = listMarker(lines[i])!;
  const items: Block[][] = [];
  let loose = false;
  let marker: ListMarker | null = first;
  while (marker) {
    const content: string[] = [marker.rest];
    let j = i + 1;
    while (j < lines.length) {
      const line = lines[j];
      if (isBlank(line)) {
        content.push("");
        j++;
        continue;
      }
      const indent = indentOf(line);
      const previousBlank = isBlank(content[content.length - 1]);
      if (indent >= marker.content) {
        content.push(line.slice(marker.content));
      } else if (indent > marker.indent && listMarker(line)) {
        // Models often nest with fewer spaces than CommonMark asks for: still a sub-list.
        content.push(line.slice(indent));
      } else if (!previousBlank && !interrupts(lines, j) && !listMarker(line)) {
        content.push(line.trimStart()); // a lazy continuation of the item's paragraph
      } else {
        break;
      }
      j++;
    }
    // Blank lines at the end of the item belong between it and what follows.
    let trailing = 0;
    while (content.length > 1 && isBlank(content[content.length - 1])) {
      content.pop();
      trailing++;
    }
    const blocks = parseBlocks(content);
    if (blocks.slice(1).some((b) => b.blankBefore)) loose = true;
    items.push(blocks);
    const next: ListMarker | null = j < lines.length ? listMarker(lines[j]) : null;
    if (next && sameList(next, first) && next.indent < marker.content && !RULE.test(lines[j])) {
      if (trailing > 0) loose = true;
      marker = next;
      i = j;
    } else {
      marker = null;
      i = j - trailing;
    }
  }
  return [{ kind: "list", ordered: first.ordered, start: first.start, loose, items }, i];
}

function renderBlocks(parent: Node, blocks: Block[], options: MarkdownOptions, tight = false) {
  for (const block of blocks) parent.appendChild(renderBlock(block, options, tight));
}

function renderBlock(block: Block, options: MarkdownOptions, tight: boolean): Node {
  switch (block.kind) {
    case "paragraph": {
      if (tight) {
        // A tight list item's text sits in the item itself, as CommonMark renders it.
        const span = document.createDocumentFragment();
        renderInline(span, block.text, options);
        return span;
      }
      const p = document.createElement("p");
      renderInline(p, block.text, options);
      return p;
    }
    case "heading": {
      // An answer sits under the window's own headings: its "#" is a third-level heading.
      const heading = document.createElement(`h${Math.min(6, block.level + 2)}`);
      renderInline(heading, block.text, options);
      return heading;
    }
    case "code": {
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      code.textContent = block.text;
      pre.appendChild(code);
      return pre;
    }
    case "quote": {
      const quote = document.createElement("blockquote");
      renderBlocks(quote, block.children, options);
      return quote;
    }
    case "list": {
      const list = document.createElement(block.ordered ? "ol" : "ul");
      if (block.ordered && block.start !== 1) list.setAttribute("start", String(block.start));
      for (const item of block.items) {
        const li = document.createElement("li");
        renderBlocks(li, item, options, !block.loose);
        list.appendChild(li);
      }
      return list;
    }
    case "table": {
      const wrap = document.createElement("div");
      wrap.className = "table-wrap";
      const table = document.createElement("table");
      const row = (cells: string[], tag: "th" | "td") => {
        const tr = document.createElement("tr");
        cells.forEach((text, n) => {
          const cell = document.createElement(tag);
          if (tag === "th") cell.setAttribute("scope", "col");
          const align = block.align[n];
          if (align) cell.className = `align-${align}`;
          renderInline(cell, text, options);
          tr.appendChild(cell);
        });
        return tr;
      };
      const head = document.createElement("thead");
      head.appendChild(row(block.head, "th"));
      table.appendChild(head);
      if (block.rows.length > 0) {
        const body = document.createElement("tbody");
        for (const cells of block.rows) body.appendChild(row(cells, "td"));
        table.appendChild(body);
      }
      wrap.appendChild(table);
      return wrap;
    }
    case "rule":
      return document.createElement("hr");
  }
}

// ---- Inlines ---------------------------------------------------------------

interface Delimiter {
  kind: "delim";
  ch: string;
  count: number;
  /** The run's length as written (for CommonMark's "rule of three"). */
  length: number;
  canOpen: boolean;
  canClose: boolean;
}
type Inline = { kind: "text"; text: string } | { kind: "node"; node: Node } | Delimiter;

const PUNCTUATION = /[\p{P}\p{S}]/u;
const WHITESPACE = /\s/u;
const ASCII_PUNCTUATION = /[!-/:-@[-`{-~]/;
const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00A0" };
const CITATION = /^\[\s*(?:sources?\s*)?(\d{1,4}(?:\s*,\s*\d{1,4})*)\s*\]/i;

function renderInline(parent: Node, text: string, options: MarkdownOptions) {
  const items = tokenize(text, options);
  processEmphasis(items);
  appendInlines(parent, items);
}

function appendInlines(parent: Node, items: Inline[]) {
  let text = "";
  const flush = () => {
    if (text) parent.appendChild(document.createTextNode(text));
    text = "";
  };
  for (const item of items) {
    if (item.kind === "node") {
      flush();
      parent.appendChild(item.node);
    } else {
      text += item.kind === "text" ? item.text : item.ch.repeat(item.count);
    }
  }
  flush();
}

function element(tag: string, text?: string, title?: string): HTMLElement {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  if (title) el.title = title;
  return el;
}

/** A run of backticks at `i` and the index just after its matching closer, or -1. */
function codeSpanEnd(s: string, i: number): [number, number] {
  let n = 0;
  while (s[i + n] === "`") n++;
  let j = i + n;
  while (j < s.length) {
    if (s[j] !== "`") {
      j++;
      continue;
    }
    let m = 0;
    while (s[j + m] === "`") m++;
    if (m === n) return [n, j + m];
    j += m;
  }
  return [n, -1];
}

interface LinkLike {
  label: string;
  destination: string;
  end: number;
}

/** "[label](destination "title")" starting at `i` (which holds "["), or null. */
function linkAt(s: string, i: number): LinkLike | null {
  let depth = 0;
  let j = i;
  for (; j < s.length; j++) {
    const ch = s[j];
    if (ch === "\\") j++;
    else if (ch === "`") {
      const [n, end] = codeSpanEnd(s, j);
      j = end < 0 ? j + n - 1 : end - 1;
    } else if (ch === "[") depth++;
    else if (ch === "]" && --depth === 0) break;
  }
  if (j >= s.length || s[j + 1] !== "(") return null;
  const label = s.slice(i + 1, j);
  let k = j + 2;
  while (k < s.length && WHITESPACE.test(s[k])) k++;
  let destination = "";
  if (s[k] === "<") {
    const close = s.indexOf(">", k);
    if (close < 0 || s.slice(k, close).includes("\n")) return null;
    destination = s.slice(k + 1, close);
    k = close + 1;
  } else {
    let parens = 0;
    const from = k;
    for (; k < s.length; k++) {
      const ch = s[k];
      if (ch === "\\") k++;
      else if (ch === "(") parens++;
      else if (ch === ")" && parens-- === 0) break;
      else if (WHITESPACE.test(ch)) break;
    }
    destination = s.slice(from, k);
  }
  while (k < s.length && WHITESPACE.test(s[k])) k++;
  const quote = s[k];
  if (quote === '"' || quote === "'" || quote === "(") {
    const close = s.indexOf(quote === "(" ? ")" : quote, k + 1);
    if (close < 0) return null;
    k = close + 1;
    while (k < s.length && WHITESPACE.test(s[k])) k++;
  }
  if (s[k] !== ")") return null;
  return { label, destination: unescape(destination), end: k + 1 };
}

function unescape(s: string): string {
  return s.replace(/\\([!-/:-@[-`{-~])/g, "$1");
}

/** Plain text of inline Markdown (for an image's alt text). */
function plainText(s: string): string {
  const span = document.createElement("span");
  renderInline(span, s, {});
  return span.textContent ?? "";
}

function citeButton(citation: Citation, options: MarkdownOptions): HTMLElement {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "cite";
  button.textContent = `[${citation.number}]`;
  button.setAttribute("aria-label", `Source ${citation.number}: ${fileName(citation.path)}, page ${citation.page}`);
  button.title = `${fileName(citation.path)}, page ${citation.page}`;
  button.addEventListener("click", () => options.onCite?.(citation, button));
  return button;
}

function tokenize(s: string, options: MarkdownOptions): Inline[] {
  const items: Inline[] = [];
  let text = "";
  const flush = () => {
    if (text) items.push({ kind: "text", text });
    text = "";
  };
  const node = (n: Node) => {
    flush();
    items.push({ kind: "node", node: n });
  };
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    const rest = () => s.slice(i);
    if (ch === "\\") {
      const next = s[i + 1];
      if (next === "\n") {
        node(document.createElement("br"));
        i += 2;
        while (s[i] === " ") i++;
      } else if (next !== undefined && ASCII_PUNCTUATION.test(next)) {
        text += next;
        i += 2;
      } else {
        text += ch;
        i++;
      }
    } else if (ch === "`") {
      const [n, end] = codeSpanEnd(s, i);
      if (end < 0) {
        text += "`".repeat(n);
        i += n;
      } else {
        let code = s.slice(i + n, end - n).replace(/\n/g, " ");
        if (code.length > 2 && code.startsWith(" ") && code.endsWith(" ") && code.trim() !== "") code = code.slice(1, -1);
        node(element("code", code));
        i = end;
      }
    } else if (ch === "*" || ch === "_" || ch === "~") {
      let n = 0;
      while (s[i + n] === ch) n++;
      const before = i > 0 ? s[i - 1] : " ";
      const after = i + n < s.length ? s[i + n] : " ";
      const left = !WHITESPACE.test(after) && (!PUNCTUATION.test(after) || WHITESPACE.test(before) || PUNCTUATION.test(before));
      const right = !WHITESPACE.test(before) && (!PUNCTUATION.test(before) || WHITESPACE.test(after) || PUNCTUATION.test(after));
      flush();
      items.push({
        kind: "delim",
        ch,
        count: n,
        length: n,
        canOpen: ch === "_" ? left && (!right || PUNCTUATION.test(before)) : left,
        canClose: ch === "_" ? right && (!left || PUNCTUATION.test(after)) : right,
      });
      i += n;
    } else if (ch === "!" && s[i + 1] === "[" && linkAt(s, i + 1)) {
      // An image is never loaded: it is named, with its address in the title.
      const image = linkAt(s, i + 1)!;
      const alt = plainText(image.label).trim();
      const span = element("span", alt ? `[image: ${alt}]` : "[image]", image.destination ? `Image not shown: ${image.destination}` : undefined);
      span.className = "image-ref";
      node(span);
      i = image.end;
    } else if (ch === "[") {
      const marker = CITATION.exec(rest());
      const numbers = marker && s[i + marker[0].length] !== "(" ? marker[1].split(",").map((n) => Number(n.trim())) : [];
      const cited = numbers.map((n) => options.citations?.find((c) => c.number === n));
      if (marker && cited.some(Boolean)) {
        numbers.forEach((n, k) => {
          const citation = cited[k];
          if (citation) node(citeButton(citation, options));
          else text += `[${n}]`;
        });
        i += marker[0].length;
        continue;
      }
      const link = linkAt(s, i);
      if (link) {
        // A link is shown, not followed: its text, with the address in the title.
        const span = element("span", undefined, link.destination || undefined);
        span.className = "link";
        renderInline(span, link.label, options);
        node(span);
        i = link.end;
      } else {
        text += ch;
        i++;
      }
    } else if (ch === "<") {
      const auto = /^<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>]*|[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9.-]+)>/.exec(rest());
      if (auto) {
        const span = element("span", auto[1], auto[1]);
        span.className = "link";
        node(span);
        i += auto[0].length;
      } else {
        text += ch; // raw HTML stays text
        i++;
      }
    } else if (ch === "&") {
      const entity = /^&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-z]+);/.exec(rest());
      const name = entity?.[1];
      let decoded: string | undefined;
      if (name?.startsWith("#")) {
        const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        decoded = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : "\uFFFD";
      } else if (name) {
        decoded = ENTITIES[name];
      }
      if (entity && decoded !== undefined) {
        text += decoded;
        i += entity[0].length;
      } else {
        text += ch;
        i++;
      }
    } else if (ch === "\n") {
      const hard = / {2,}$/.test(text);
      text = text.replace(/ +$/, "");
      if (hard) node(document.createElement("br"));
      else text += "\n";
      i++;
      while (s[i] === " ") i++;
    } else {
      text += ch;
      i++;
    }
  }
  flush();
  return items;
}

/** CommonMark's emphasis pass: pairs delimiter runs into <em>, <strong> and <del>. */
function processEmphasis(items: Inline[]) {
  let c = 0;
  while (c < items.length) {
    const closer = items[c];
    if (closer.kind !== "delim" || !closer.canClose || closer.count === 0) {
      c++;
      continue;
    }
    let found = -1;
    for (let o = c - 1; o >= 0; o--) {
      const opener = items[o];
      if (opener.kind !== "delim" || opener.ch !== closer.ch || !opener.canOpen || opener.count === 0) continue;
      if (opener.ch === "~") {
        if (opener.count === closer.count && opener.count <= 2) found = o;
        if (found >= 0) break;
        continue;
      }
      const ruleOfThree =
        (opener.canClose || closer.canOpen) && (opener.length + closer.length) % 3 === 0 && !(opener.length % 3 === 0 && closer.length % 3 === 0);
      if (ruleOfThree) continue;
      found = o;
      break;
    }
    if (found < 0) {
      c++;
      continue;
    }
    const opener = items[found] as Delimiter;
    const use = opener.ch === "~" ? opener.count : opener.count >= 2 && closer.count >= 2 ? 2 : 1;
    const wrapper = document.createElement(opener.ch === "~" ? "del" : use === 2 ? "strong" : "em");
    appendInlines(wrapper, items.slice(found + 1, c));
    opener.count -= use;
    closer.count -= use;
    const replacement: Inline[] = [];
    if (opener.count > 0) replacement.push(opener);
    replacement.push({ kind: "node", node: wrapper });
    if (closer.count > 0) replacement.push(closer);
    items.splice(found, c - found + 1, ...replacement);
    c = found + replacement.length - (closer.count > 0 ? 1 : 0);
  }
}

// ---- Finding source text in what was rendered -----------------------------

const WORD = /[\p{L}\p{N}]/u;

/** The letters and digits of a Markdown sentence as it reads once rendered. */
function skeleton(markdown: string, keepOrdinals = true): string {
  const readable = (keepOrdinals ? markdown : markdown.replace(/^[ \t>]*\d{1,9}[.)](?=[ \t]|$)/gm, ""))
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, "image $1")
    .replace(/\]\((?:[^()]|\([^()]*\))*\)/g, "]")
    .replace(/&(amp|lt|gt|quot|apos|nbsp);/g, " ");
  let out = "";
  for (let k = 0; k < readable.length; k++) if (WORD.test(readable[k])) out += fold(readable[k]);
  return out;
}

/** Lower case, one code unit for one (so offsets in the rendered text stay aligned). */
function fold(ch: string): string {
  const lower = ch.toLowerCase();
  return lower.length === 1 ? lower : ch;
}

/**
 * Marks the rendered text of the sentences of `sentences` whose `mark` is set,
 * wrapping each text node they span in an element made by `wrap` (the last one
 * also gets the class "mark-end"). Sentences are found in order, by their letters
 * and digits, so Markdown syntax, citation markers and whitespace may differ.
 * Text inside citation buttons is left alone. Returns how many were marked.
 */
export function markSentences(root: Node, sentences: readonly { text: string; mark: boolean }[], wrap: () => HTMLElement): number {
  // Every character of the rendered text, with the node it is in.
  const nodes: Text[] = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n as Text);
  const letters: string[] = [];
  const at: { node: number; offset: number }[] = [];
  nodes.forEach((node, n) => {
    const data = node.data;
    for (let k = 0; k < data.length; k++) {
      const ch = data[k];
      if (WORD.test(ch)) {
        letters.push(fold(ch));
        at.push({ node: n, offset: k });
      }
    }
  });
  const rendered = letters.join("");
  let from = 0;
  let marked = 0;
  // Ranges to wrap, per node: [start, end) offsets.
  const ranges = new Map<number, [number, number][]>();
  const ends = new Set<string>();
  for (const sentence of sentences) {
    // A list item's number is not text once rendered, unless it did not
    // make a list after all ("Steps:\n2. Mix" stays one paragraph).
    let wanted = skeleton(sentence.text, false);
    let start = wanted ? rendered.indexOf(wanted, from) : -1;
    if (start < 0) {
      wanted = skeleton(sentence.text);
      start = wanted ? rendered.indexOf(wanted, from) : -1;
    }
    if (start < 0) continue;
    from = start + wanted.length;
    if (!sentence.mark) continue;
    marked++;
    const first = at[start];
    const last = at[start + wanted.length - 1];
    // Run on over the punctuation that closes the sentence (".", "]", ")"), which may
    // follow a citation button or the end of an emphasis.
    let endNode = last.node;
    let endOffset = last.offset + 1;
    for (;;) {
      const data = nodes[endNode].data;
      const tail = /^[^\s\p{L}\p{N}]*/u.exec(data.slice(endOffset))![0];
      endOffset += tail.length;
      if (endOffset < data.length || endNode + 1 >= nodes.length || !/^[^\s\p{L}\p{N}]/u.test(nodes[endNode + 1].data)) break;
      endNode++;
      endOffset = 0;
    }
    for (let n = first.node; n <= endNode; n++) {
      if (nodes[n].parentElement?.closest(".cite")) continue;
      const s = n === first.node ? first.offset : 0;
      const e = n === endNode ? endOffset : nodes[n].data.length;
      if (e <= s) continue;
      const list = ranges.get(n) ?? [];
      list.push([s, e]);
      ranges.set(n, list);
    }
    // The mark's end goes on the last wrapped piece.
    for (let n = endNode; n >= first.node; n--) {
      const list = ranges.get(n);
      if (list && list.length > 0) {
        ends.add(`${n}:${list[list.length - 1][0]}`);
        break;
      }
    }
  }
  for (const [n, list] of ranges) {
    const node = nodes[n];
    const data = node.data;
    const parts: Node[] = [];
    let pos = 0;
    for (const [s, e] of list.sort((a, b) => a[0] - b[0])) {
      if (s < pos) continue;
      if (s > pos) parts.push(document.createTextNode(data.slice(pos, s)));
      const span = wrap();
      if (ends.has(`${n}:${s}`)) span.classList.add("mark-end");
      span.textContent = data.slice(s, e);
      parts.push(span);
      pos = e;
    }
    if (pos < data.length) parts.push(document.createTextNode(data.slice(pos)));
    node.replaceWith(...parts);
  }
  return marked;
}
