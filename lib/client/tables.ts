/**
 * The client's tables: aligned columns, coloured states. Colour is applied
 * after alignment so escape codes never skew the columns; the values in the
 * cells come from core/format.ts, and lose their control characters here
 * (they come from the network).
 */
import { createColors } from "picocolors";
import { stripControl } from "../core/format.ts";

export type Colors = ReturnType<typeof createColors>;

export function colors(enabled: boolean): Colors {
  return createColors(enabled);
}

/** One table cell: its text, and how to paint it once padded. */
export type Cell = string | { text: string; paint?: (s: string) => string };

const GAP = 3;

/** A cell's text, made safe for a terminal: it may come from the network. */
function cellText(cell: Cell): string {
  return stripControl(typeof cell === "string" ? cell : cell.text).replace(/[\t\n]/g, " ");
}

function formatRow(cells: Cell[], widths: number[], header: boolean, c: Colors, cut = false): string {
  return cells
    .map((cell, i) => {
      const t = cut ? fit(cellText(cell), widths[i] ?? 0) : cellText(cell);
      const padded = i === cells.length - 1 ? t : t + " ".repeat(Math.max(0, (widths[i] ?? 0) - [...t].length) + GAP);
      if (header) return c.bold(padded);
      return typeof cell === "string" || !cell.paint ? padded : cell.paint(t) + padded.slice(t.length);
    })
    .join("")
    .trimEnd();
}

/** `text` cut to `width` characters, its last one an ellipsis, when it is longer. */
function fit(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : chars.slice(0, Math.max(0, width - 1)).join("") + "…";
}

/** How a table is printed: with its header row or not, and within what width. */
export interface TableOptions {
  /** Print the header row (default true): --no-headers leaves it out. */
  headers?: boolean;
  /** The terminal's width, or null (a pipe): the table's full width. */
  maxWidth?: number | null;
  /** Columns of free text that may be cut to fit (never names): the widest is cut first. */
  shrinkable?: readonly number[];
}

/** Narrowest a free-text column is cut to: an ellipsis and a few characters. */
const MIN_SHRUNK = 6;

/**
 * Column widths that fit `maxWidth`: the widest shrinkable column is cut
 * first, down to MIN_SHRUNK (or its header), then the next; a table that
 * still does not fit is left wider than the terminal rather than cut into
 * names, and no cell ever wraps.
 */
export function fitWidths(widths: readonly number[], headers: readonly string[], maxWidth: number | null | undefined, shrinkable: readonly number[] = []): number[] {
  const out = [...widths];
  if (!maxWidth) return out;
  const total = () => out.reduce((sum, w) => sum + w, 0) + GAP * Math.max(0, out.length - 1);
  for (;;) {
    const over = total() - maxWidth;
    if (over <= 0) return out;
    const floor = (i: number) => Math.max(MIN_SHRUNK, headers[i]?.length ?? 0);
    const candidates = shrinkable.filter((i) => (out[i] ?? 0) > floor(i)).sort((a, b) => (out[b] ?? 0) - (out[a] ?? 0));
    const [widest] = candidates;
    if (widest === undefined) return out;
    out[widest] = Math.max(floor(widest), (out[widest] ?? 0) - over);
  }
}

/**
 * Aligned columns with a header row; the last column is not padded. Rows may
 * contain continuation rows (extra IPs) as plain rows with empty cells.
 */
export function renderTable(headers: string[], rows: Cell[][], c: Colors, options: TableOptions = {}): string {
  const natural = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] === undefined ? 0 : [...cellText(r[i]!)].length))));
  const widths = fitWidths(natural, headers, options.maxWidth, options.shrinkable);
  const lines = rows.map((r) => formatRow(r, widths, false, c, true));
  if (options.headers !== false) lines.unshift(formatRow(headers, widths, true, c, true));
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}

/**
 * A table printed a row at a time, as results come in: the first row comes
 * with the header. Columns are as wide as the header or the widest of
 * `expected` (values known beforehand, by column); a longer value pushes its
 * row out of line rather than wait for the others.
 */
export function createRowPrinter(headers: string[], expected: string[][], c: Colors): (cells: Cell[]) => string {
  const widths = headers.map((h, i) => Math.max(h.length, ...(expected[i] ?? []).map((v) => [...v].length)));
  let first = true;
  return (cells) => {
    const row = formatRow(cells, widths, false, c) + "\n";
    if (!first) return row;
    first = false;
    return formatRow(headers, widths, true, c) + "\n" + row;
  };
}

/** Colour of an instance or node state. */
export function stateCell(state: string, c: Colors): Cell {
  const paint =
    state === "Running" || state === "Ready"
      ? c.green
      : state === "Stopped" || state === "Suspended" || state === "NotReady"
        ? c.yellow
        : state === "Deleted" || state === "Down" || state === "Unknown"
          ? c.red
          : c.cyan;
  return { text: state, paint };
}

/** A span as a table cell shows it, in its largest whole unit: `45s`, `3m`, `2h`, `4d`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/**
 * The shortest prefix of each id, at least `min` characters, that no other
 * id of the list shares: what a listing shows and `attach` accepts.
 */
export function shortIds(ids: string[], min = 8): string[] {
  return ids.map((id) => {
    let length = Math.min(min, id.length);
    while (length < id.length && ids.some((other) => other !== id && other.startsWith(id.slice(0, length)))) length++;
    return id.slice(0, length);
  });
}
