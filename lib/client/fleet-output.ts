/**
 * The output of a fleet exec (issue 15): what many sessions print, merged
 * into one stdout and one stderr in one of three shapes.
 *
 * - `lines`: each line as it comes, prefixed with its instance (`web@n1 | `,
 *   the label padded to the longest, coloured per instance when colours are
 *   on); stderr lines go to stderr. A partial line waits for its end, per
 *   instance and stream, up to {@link LINE_LIMIT} characters: a longer one is
 *   written as it is, and the rest continues on a new prefixed line.
 * - `group`: each instance's output together once it ends (a header line on
 *   stdout, then its stdout, its stderr on stderr). At most
 *   {@link KEPT_LIMIT} bytes of it are kept; past that, the rest is dropped
 *   and counted, and a note says how much.
 * - `json`: NDJSON on stdout, one {@link FleetRecord} per instance when it
 *   ends (the same bound, with `truncated`), then the summary (fleet-summary.ts).
 *
 * Only the sessions still running hold anything: memory is bounded by the
 * parallelism times the limits. Text bound for a terminal loses its control
 * characters (`strip`); JSON escapes them anyway.
 */
import { stripControl } from "../core/format.ts";
import type { Colors } from "./tables.ts";

/** Longest partial line held back in `lines` mode, in UTF-16 units (at most as many bytes of input). */
export const LINE_LIMIT = 64 * 1024;

/** Output kept per instance in `group` and `json` modes, in bytes of both streams together. */
export const KEPT_LIMIT = 1024 * 1024;

export type FleetMode = "lines" | "group" | "json";
export type Stream = "stdout" | "stderr";

/** How one instance's session ended. */
export type Outcome = "ok" | "failed" | "timeout" | "unreachable" | "interrupted";

/** One instance's end, as the runner (fleet.ts) tells it. */
export interface FleetResult {
  instance: string;
  node: string;
  outcome: Outcome;
  /** The remote status; null when none came back. */
  exitCode: number | null;
  /** Why there is no status (or what went wrong beside it), as the session said. */
  error: string | null;
  durationMs: number;
}

/** One line of `--json`: an instance's result and what it printed. */
export interface FleetRecord {
  instance: string;
  node: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  error?: string;
  durationMs: number;
  /** Some output was dropped past {@link KEPT_LIMIT}. */
  truncated: boolean;
}

/** Where the merged output goes; each returns false when its reader has a backlog. */
export interface FleetSink {
  stdout(text: string): boolean;
  stderr(text: string): boolean;
}

export interface FleetOutputOptions {
  mode: FleetMode;
  sink: FleetSink;
  /** Colours of the prefixes and headers (off: no escape codes at all). */
  colors: Colors;
  /** Strip control characters from what is printed (the reader is a terminal). */
  strip: boolean;
  lineLimit?: number;
  keptLimit?: number;
}

/** One instance's share: its decoders, its partial lines, or what is kept of it. */
interface Share {
  label: string;
  paint: (text: string) => string;
  decoders: Record<Stream, TextDecoder>;
  partial: Record<Stream, string>;
  kept: { stream: Stream; bytes: Uint8Array }[];
  keptBytes: number;
  droppedBytes: number;
}

export class FleetOutput {
  private readonly shares: Share[];
  private readonly width: number;
  private readonly lineLimit: number;
  private readonly keptLimit: number;

  /** `labels[i]` (`NAME@NODE`) names the instance of index `i`. */
  constructor(
    labels: readonly string[],
    private readonly options: FleetOutputOptions,
  ) {
    const c = options.colors;
    const palette = [c.cyan, c.green, c.yellow, c.blue, c.magenta, c.red];
    this.width = Math.max(0, ...labels.map((l) => l.length));
    this.lineLimit = options.lineLimit ?? LINE_LIMIT;
    this.keptLimit = options.keptLimit ?? KEPT_LIMIT;
    this.shares = labels.map((label, i) => ({
      label,
      paint: palette[i % palette.length]!,
      decoders: { stdout: new TextDecoder(), stderr: new TextDecoder() },
      partial: { stdout: "", stderr: "" },
      kept: [],
      keptBytes: 0,
      droppedBytes: 0,
    }));
  }

  /** Output of instance `index`; false when stdout or stderr has a backlog (read no more until it drains). */
  data(index: number, stream: Stream, bytes: Uint8Array): boolean {
    const share = this.shares[index]!;
    if (this.options.mode !== "lines") {
      this.keep(share, stream, bytes);
      return true;
    }
    const text = share.partial[stream] + share.decoders[stream].decode(bytes, { stream: true });
    let more = true;
    let start = 0;
    for (let newline = text.indexOf("\n"); newline >= 0; newline = text.indexOf("\n", start)) {
      // A line over the bound is written in pieces of the bound, each prefixed.
      for (; newline - start > this.lineLimit; start += this.lineLimit) more = this.line(share, stream, text.slice(start, start + this.lineLimit)) && more;
      more = this.line(share, stream, text.slice(start, newline)) && more;
      start = newline + 1;
    }
    for (; text.length - start > this.lineLimit; start += this.lineLimit) more = this.line(share, stream, text.slice(start, start + this.lineLimit)) && more;
    share.partial[stream] = text.slice(start);
    return more;
  }

  /** Instance `index` has ended: its last partial lines, its group, or its JSON record. */
  end(index: number, result: FleetResult): void {
    const share = this.shares[index]!;
    if (this.options.mode === "lines") {
      for (const stream of ["stdout", "stderr"] as const) {
        const rest = share.partial[stream] + share.decoders[stream].decode();
        share.partial[stream] = "";
        if (rest !== "") this.line(share, stream, rest);
      }
      return;
    }
    if (this.options.mode === "json") this.options.sink.stdout(JSON.stringify(this.record(share, result)) + "\n");
    else this.group(share, result);
    share.kept = [];
  }

  private line(share: Share, stream: Stream, text: string): boolean {
    const { sink, strip } = this.options;
    const prefix = share.paint(share.label.padEnd(this.width)) + " | ";
    return sink[stream](prefix + (strip ? stripControl(text) : text) + "\n");
  }

  private keep(share: Share, stream: Stream, bytes: Uint8Array): void {
    const room = Math.max(0, this.keptLimit - share.keptBytes);
    const taken = bytes.length <= room ? bytes : bytes.slice(0, room);
    if (taken.length > 0) share.kept.push({ stream, bytes: taken.slice() });
    share.keptBytes += taken.length;
    share.droppedBytes += bytes.length - taken.length;
  }

  private text(share: Share, stream: Stream): string {
    const parts = share.kept.filter((k) => k.stream === stream).map((k) => k.bytes);
    return new TextDecoder().decode(Buffer.concat(parts));
  }

  private record(share: Share, result: FleetResult): FleetRecord {
    return {
      instance: result.instance,
      node: result.node,
      exitCode: result.exitCode,
      stdout: this.text(share, "stdout"),
      stderr: this.text(share, "stderr"),
      ...(result.error === null ? {} : { error: result.error }),
      durationMs: result.durationMs,
      truncated: share.droppedBytes > 0,
    };
  }

  private group(share: Share, result: FleetResult): void {
    const { sink, strip, colors: c } = this.options;
    const clean = (text: string) => (strip ? stripControl(text) : text);
    sink.stdout(`${c.bold(share.paint(`=== ${share.label}`))} ${c.dim(`(${describeEnd(result)})`)}\n`);
    for (const stream of ["stdout", "stderr"] as const) {
      const text = clean(this.text(share, stream));
      if (text !== "") sink[stream](text.endsWith("\n") ? text : text + "\n");
    }
    if (share.droppedBytes > 0) sink.stderr(`multiverse: ${share.label}: ${share.droppedBytes} more bytes of output were not kept (the first ${this.keptLimit} were)\n`);
  }
}

/** `exit 0, 1.2s`, `timed out, 5.0s`, `unreachable: why, 0.1s`. */
export function describeEnd(result: FleetResult): string {
  const took = `${(result.durationMs / 1000).toFixed(1)}s`;
  if (result.exitCode !== null) return `exit ${result.exitCode}, ${took}`;
  const what = result.outcome === "timeout" ? "timed out" : result.outcome;
  return `${what}${result.error === null ? "" : `: ${stripControl(result.error)}`}, ${took}`;
}
