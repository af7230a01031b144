/**
 * Human output of the client: sizes, times and aligned tables. Colour is
 * applied after alignment so escape codes never skew the columns.
 */
import { createColors } from "picocolors";

export type Colors = ReturnType<typeof createColors>;

export function colors(enabled: boolean): Colors {
  return createColors(enabled);
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** Bytes as Multipass prints them: binary units, one decimal (`2.5GiB`, `512.0MiB`). */
export function formatBytes(bytes: number | null): string {
  if (bytes === null || !Number.isFinite(bytes) || bytes < 0) return "--";
  if (bytes < 1024) return `${bytes}B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)}${UNITS[unit]}`;
}

/** `2.5GiB out of 4.0GiB`, or `--` when either side is unknown. */
export function formatUsage(usage: { used: number | null; total: number | null }): string {
  if (usage.used === null || usage.total === null) return "--";
  return `${formatBytes(usage.used)} out of ${formatBytes(usage.total)}`;
}

/** `2024-01-01 00:00:00 UTC` from an ISO time. */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

export function formatLoad(load: [number, number, number] | null): string {
  return load === null ? "--" : load.map((l) => l.toFixed(2)).join(" ");
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
