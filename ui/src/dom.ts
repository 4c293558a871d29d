// A small helper for building DOM nodes without innerHTML (no markup injection
// from documents or answers).

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string | boolean | ((event: Event) => void)>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") {
      element.addEventListener(key.replace(/^on/, ""), value);
    } else if (value === true) {
      element.setAttribute(key, "");
    } else {
      element.setAttribute(key, value);
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as T;
}

/** The last part of a path, for chips and lists. */
export function fileName(path: string): string {
  return path.split(/[\\/]/).filter(Boolean).pop() ?? path;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/**
 * `text` cut at byte ranges (the engine counts UTF-8 bytes; JavaScript counts UTF-16
 * units): the pieces in order, each saying whether it lies inside one of `ranges`.
 */
export function sliceBytes(text: string, ranges: { start: number; end: number }[]): { text: string; marked: boolean }[] {
  const bytes = new TextEncoder().encode(text);
  const decode = (from: number, to: number) => new TextDecoder().decode(bytes.subarray(from, to));
  const pieces: { text: string; marked: boolean }[] = [];
  let at = 0;
  for (const range of [...ranges].sort((a, b) => a.start - b.start)) {
    const start = Math.max(at, Math.min(range.start, bytes.length));
    const end = Math.max(start, Math.min(range.end, bytes.length));
    if (start > at) pieces.push({ text: decode(at, start), marked: false });
    if (end > start) pieces.push({ text: decode(start, end), marked: true });
    at = end;
  }
  if (at < bytes.length) pieces.push({ text: decode(at, bytes.length), marked: false });
  return pieces;
}

/** `text` with the byte ranges `ranges` wrapped in <mark>. */
export function markedText(text: string, ranges: { start: number; end: number }[]): (string | HTMLElement)[] {
  return sliceBytes(text, ranges).map((piece) => (piece.marked ? h("mark", {}, piece.text) : piece.text));
}
