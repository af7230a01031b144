/**
 * Values as people read them: sizes in binary units as Multipass prints
 * them, usage pairs, times and load averages. Pure; the client's tables and
 * the master's messages both use them.
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
