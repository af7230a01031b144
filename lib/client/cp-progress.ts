/**
 * The progress bar of `multiverse cp`, on stderr and only on a terminal:
 * one line redrawn at most a few times a second — what is copied, a bar
 * (when the total is known), bytes so far, and the rate — wiped at the end.
 * Not on a terminal, it prints nothing: stderr stays for errors.
 */
import { formatBytes, stripControl } from "../core/format.ts";

export interface CopyProgress {
  update(bytes: number, total: number | null): void;
  /** Wipes the line; idempotent. */
  stop(): void;
}

export interface CopyProgressOptions {
  /** Draw at all (stderr is a terminal). */
  live: boolean;
  stderr: (text: string) => void;
  cols: () => number;
  now?: () => number;
  /** Least time between two redraws (default 200 ms). */
  everyMs?: number;
}

const BAR_CELLS = 20;

/** The text of one redraw: `label [#####     ] 45% 460.0MiB/1.0GiB 112.3MiB/s`. */
export function formatCopyProgress(label: string, bytes: number, total: number | null, elapsedMs: number, cols: number): string {
  const rate = elapsedMs > 0 ? `${formatBytes(Math.round((bytes * 1000) / elapsedMs))}/s` : "";
  let figures = `${formatBytes(bytes)} ${rate}`;
  if (total !== null && total > 0) {
    const ratio = Math.min(1, bytes / total);
    const filled = Math.round(ratio * BAR_CELLS);
    figures = `[${"#".repeat(filled)}${" ".repeat(BAR_CELLS - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}% ${formatBytes(bytes)}/${formatBytes(total)} ${rate}`;
  }
  const room = Math.max(8, cols - 1 - figures.length - 1);
  const name = stripControl(label);
  return `${name.length > room ? `…${name.slice(-(room - 1))}` : name} ${figures}`;
}

export function createCopyProgress(label: string, options: CopyProgressOptions): CopyProgress {
  const now = options.now ?? Date.now;
  const started = now();
  let last = 0;
  let drawn = false;
  return {
    update(bytes, total) {
      if (!options.live) return;
      const at = now();
      if (drawn && at - last < (options.everyMs ?? 200)) return;
      last = at;
      drawn = true;
      options.stderr(`\r\u001b[2K${formatCopyProgress(label, bytes, total, at - started, options.cols())}`);
    },
    stop() {
      if (drawn) options.stderr("\r\u001b[2K");
      drawn = false;
    },
  };
}
