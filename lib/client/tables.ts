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

function formatRow(cells: Cell[], widths: number[], header: boolean, c: Colors): string {
  return cells
    .map((cell, i) => {
      const t = cellText(cell);
      const padded = i === cells.length - 1 ? t : t + " ".repeat(Math.max(0, (widths[i] ?? 0) - [...t].length) + GAP);
      if (header) return c.bold(padded);
      return typeof cell === "string" || !cell.paint ? padded : cell.paint(t) + padded.slice(t.length);
    })
    .join("")
    .trimEnd();
}

/**
 * Aligned columns with a header row; the last column is not padded. Rows may
 * contain continuation rows (extra IPs) as plain rows with empty cells.
 */
export function renderTable(headers: string[], rows: Cell[][], c: Colors): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] === undefined ? 0 : [...cellText(r[i]!)].length))));
  return [formatRow(headers, widths, true, c), ...rows.map((r) => formatRow(r, widths, false, c))].join("\n") + "\n";
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
