/**
 * Durations as users type them in flags: `500ms`, `2s`, `5m`, `1h`, or a bare
 * number of seconds.
 */
import { AppError } from "./errors.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** @throws AppError E_USAGE naming the flag. */
export function parseDuration(text: string, flag: string, bounds: { minMs?: number; maxMs?: number } = {}): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new AppError("E_USAGE", `Invalid ${flag} "${text}": expected a duration such as 500ms, 2s, 5m or 1h`);
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] ?? "s"]!);
  const { minMs = 1, maxMs = 7 * 24 * 3_600_000 } = bounds;
  if (ms < minMs || ms > maxMs) {
    throw new AppError("E_USAGE", `Invalid ${flag} "${text}": must be between ${formatDuration(minMs)} and ${formatDuration(maxMs)}`);
  }
  return ms;
}

/**
 * How a duration reads in a message: whole hours or minutes as `1h`, `5m`,
 * anything else in seconds (`15s`, `90s`, `0.2s`). Every form parses back
 * with {@link parseDuration}.
 */
export function formatDuration(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Number((ms / 1000).toFixed(3))}s`;
}
