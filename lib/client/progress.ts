/**
 * How a long operation shows that it is progressing. On a terminal: one line
 * with what is going on and for how long ("Starting web … 48 s"), redrawn
 * about once a second, its text cut to the window so it never wraps, and wiped before
 * anything else is printed. Elsewhere: each new phase as a plain line, never
 * redrawn. A phase's text may come from the network: it is stripped of
 * control characters here. Lines are printed as given, so they may carry
 * colours: their callers strip what came from the network before painting.
 */
import { formatElapsed, stripControl } from "../core/format.ts";
import type { ClientContext } from "./context.ts";

export interface Progress {
  /**
   * What is going on now. The clock restarts when `key` changes (default:
   * the text), so a phase whose text moves (a percentage, the instances
   * still pending) keeps counting; as plain lines, only a new key is printed.
   */
  phase(text: string, key?: string): void;
  /** Prints a line that stays (a result, a placement) on `stream`; the progress line comes back at the next phase or tick. */
  line(text: string, stream?: "stdout" | "stderr"): void;
  /** Wipes the progress line and stops its clock; idempotent. */
  stop(): void;
}

export interface ProgressOptions {
  /** Redraw one line (a terminal) or print plain lines. */
  live: boolean;
  now?: () => number;
  /** How often the live line is redrawn (default 1 s). */
  tickMs?: number;
}

export function createProgress(ctx: Pick<ClientContext, "stdout" | "stderr" | "terminal">, options: ProgressOptions): Progress {
  const now = options.now ?? Date.now;
  let text = "";
  let key: string | null = null;
  let since = now();
  let drawn = false;
  let timer: ReturnType<typeof setInterval> | undefined;

  const draw = () => {
    if (key === null) return;
    // The time stays whole; the text gives way when the window is narrow.
    const clock = ` … ${formatElapsed(now() - since)}`;
    const room = Math.max(2, ctx.terminal.size().cols - 1 - clock.length);
    ctx.stdout(`\r\u001b[2K${text.length > room ? `${text.slice(0, room - 1)}…` : text}${clock}`);
    drawn = true;
  };
  const wipe = () => {
    if (drawn) ctx.stdout("\r\u001b[2K");
    drawn = false;
  };

  return {
    phase(next, nextKey = next) {
      const clean = stripControl(next).replace(/\s+/g, " ").trim();
      const changed = nextKey !== key;
      if (changed) since = now();
      key = nextKey;
      if (!options.live) {
        if (changed) ctx.stdout(`${clean}\n`);
        text = clean;
        return;
      }
      text = clean;
      timer ??= setInterval(draw, options.tickMs ?? 1000);
      draw();
    },
    line(value, stream = "stdout") {
      wipe();
      const out = value.endsWith("\n") ? value : `${value}\n`;
      if (stream === "stdout") ctx.stdout(out);
      else ctx.stderr(out);
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
      key = null;
      wipe();
    },
  };
}
