/**
 * Values as people read them: sizes in binary units as Multipass prints
 * them, usage pairs, times, load averages and elapsed time, and text made
 * safe for a terminal. Pure; the client's tables and the master's messages
 * both use them.
 */

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

/**
 * How long something has been going on, as a progress line shows it:
 * `48 s`, `1m12s`, `2h05m`.
 */
export function formatElapsed(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${pad(seconds % 60)}s`;
  return `${Math.floor(seconds / 3600)}h${pad(Math.floor(seconds / 60) % 60)}m`;
}

/**
 * Escape sequences (CSI; OSC, DCS, SOS, PM and APC strings with their
 * payload, such as a title or a clipboard write; the other ESC-introduced
 * ones) and control characters but tab and newline, including carriage return and the C1
 * range: what text from the network must lose before it reaches a terminal,
 * where it could move the cursor, rewrite the screen or hide what follows.
 */
const TERMINAL_CONTROL = /\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[PX^_][^\x1b]*(?:\x1b\\)?|\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** `text` without escape sequences and control characters (tab and newline stay). */
export function stripControl(text: string): string {
  return text.replace(TERMINAL_CONTROL, "");
}
