/**
 * A local terminal for client session tests: the test types keys into it at
 * any moment, sends it signals, and reads what the session wrote to stdout
 * and stderr and did to raw mode.
 */
import type { TerminalIo } from "../../lib/client/terminal-io.ts";

export interface FakeTerminal {
  io: TerminalIo;
  /** Everything written to stdout, as text. */
  out: () => string;
  /** Everything written to stderr, as text. */
  err: () => string;
  raw: boolean[];
  /** Types keys, as a terminal in raw mode delivers them (nothing when stdin is not being read). */
  type(keys: string): void;
  signal(signal: NodeJS.Signals): void;
  /** Whether stdin is being read now. */
  reading(): boolean;
}

export function fakeTerminal(options: { stdinIsTTY?: boolean; cols?: number; rows?: number } = {}): FakeTerminal {
  const out: string[] = [];
  const err: string[] = [];
  const raw: boolean[] = [];
  let onData: ((bytes: Uint8Array) => void) | undefined;
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const text = (bytes: Uint8Array | string) => (typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes));
  const io: TerminalIo = {
    stdinIsTTY: options.stdinIsTTY ?? true,
    stdoutIsTTY: options.stdinIsTTY ?? true,
    term: "xterm-256color",
    size: () => ({ cols: options.cols ?? 80, rows: options.rows ?? 24 }),
    onResize: () => () => {},
    setRaw: (on) => void raw.push(on),
    readStdin(data) {
      onData = data;
      return () => (onData = undefined);
    },
    pauseStdin: () => {},
    resumeStdin: () => {},
    writeStdout: (bytes) => (out.push(text(bytes)), true),
    writeStderr: (bytes) => (err.push(text(bytes)), true),
    onWritable: () => () => {},
    onSignal(listener) {
      onSignal = listener;
      return () => (onSignal = undefined);
    },
    flush: async () => {},
    ask: async () => "",
  };
  return {
    io,
    out: () => out.join(""),
    err: () => err.join(""),
    raw,
    type: (keys) => onData?.(new TextEncoder().encode(keys)),
    signal: (s) => onSignal?.(s),
    reading: () => onData !== undefined,
  };
}
