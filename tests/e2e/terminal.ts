/**
 * A program run inside a real PTY, its output rendered by @xterm/headless:
 * what a person at that terminal would see, as text lines.
 */
import { Terminal } from "@xterm/headless";
import type { Subprocess } from "bun";
import { waitFor } from "./harness.ts";

export interface ScreenSession {
  proc: Subprocess;
  term: Terminal;
  /** Every byte the program wrote, as received. */
  raw(): string;
  type(keys: string): void;
  resize(cols: number, rows: number): void;
  /** The visible screen, one string per row, trailing blanks trimmed. */
  screen(): Promise<string[]>;
  waitForScreen(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<number>;
  kill(signal?: NodeJS.Signals): void;
}

export function runInTerminal(argv: string[], options: { cols: number; rows: number; env: Record<string, string> }): ScreenSession {
  const term = new Terminal({ cols: options.cols, rows: options.rows, allowProposedApi: true, scrollback: 1000 });
  let raw = "";
  let writes = Promise.resolve();
  const decoder = new TextDecoder();
  const proc = Bun.spawn(argv, {
    env: { ...options.env, TERM: "xterm-256color" },
    terminal: {
      cols: options.cols,
      rows: options.rows,
      data: (_t, bytes) => {
        const text = decoder.decode(bytes, { stream: true });
        raw += text;
        // xterm's write is asynchronous: chain them and wait before reading the buffer.
        writes = writes.then(() => new Promise<void>((resolve) => term.write(text, resolve)));
      },
    },
  });
  const screen = async () => {
    await writes;
    const buffer = term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < term.rows; y++) lines.push(buffer.getLine(buffer.viewportY + y)?.translateToString(true) ?? "");
    return lines;
  };
  return {
    proc,
    term,
    raw: () => raw,
    type: (keys) => void proc.terminal?.write(keys),
    resize(cols, rows) {
      proc.terminal?.resize(cols, rows);
      term.resize(cols, rows);
    },
    screen,
    async waitForScreen(pattern, timeoutMs = 10_000) {
      return waitFor(`${pattern} on screen`, async () => {
        const text = (await screen()).join("\n");
        return pattern.test(text) ? text : null;
      }, timeoutMs, 30);
    },
    exited: proc.exited.then(async (code) => {
      await writes;
      proc.terminal?.close();
      return code;
    }),
    kill: (signal = "SIGKILL") => proc.kill(signal),
  };
}
