/**
 * The client's tables: aligned columns, coloured states. Colour is applied
 * after alignment so escape codes never skew the columns; the values in the
 * cells come from core/format.ts.
 */
import { createColors } from "picocolors";

export type Colors = ReturnType<typeof createColors>;

export function colors(enabled: boolean): Colors {
  return createColors(enabled);
}

/** One table cell: its text, and how to paint it once padded. */
export type Cell = string | { text: string; paint?: (s: string) => string };

const GAP = 3;

/**
 * Aligned columns with a header row; the last column is not padded. Rows may
 * contain continuation rows (extra IPs) as plain rows with empty cells.
 */
export function renderTable(headers: string[], rows: Cell[][], c: Colors): string {
  const text = (cell: Cell) => (typeof cell === "string" ? cell : cell.text);
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] === undefined ? 0 : [...text(r[i]!)].length))));
  const line = (cells: Cell[], header: boolean) =>
    cells
      .map((cell, i) => {
        const t = text(cell);
        const padded = i === cells.length - 1 ? t : t + " ".repeat(widths[i]! - [...t].length + GAP);
        if (header) return c.bold(padded);
        return typeof cell === "string" || !cell.paint ? padded : cell.paint(t) + padded.slice(t.length);
      })
      .join("")
      .trimEnd();
  return [line(headers, true), ...rows.map((r) => line(r, false))].join("\n") + "\n";
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
