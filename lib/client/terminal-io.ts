/**
 * The client's local terminal, as a session needs it: raw mode that is always
 * restored, window size and its changes, stdin as bytes, and the signals that
 * end a session from this side. Built by the entry script from `process`
 * (its streams and signals; the environment stays with the entry script).
 */
import { createInterface } from "node:readline";

export interface TerminalIo {
  readonly stdinIsTTY: boolean;
  readonly stdoutIsTTY: boolean;
  readonly term: string;
  size(): { cols: number; rows: number };
  /** Calls `listener` on every window change; returns the unsubscribe. */
  onResize(listener: () => void): () => void;
  /** Raw mode on the local terminal (no-op when stdin is not a TTY). */
  setRaw(on: boolean): void;
  /** Starts reading stdin; returns a function that stops. */
  readStdin(onData: (bytes: Uint8Array) => void, onEnd: () => void): () => void;
  writeStdout(bytes: Uint8Array | string): void;
  writeStderr(bytes: Uint8Array | string): void;
  /** SIGINT/SIGTERM/SIGHUP to the client itself; returns the unsubscribe. */
  onSignal(listener: (signal: NodeJS.Signals) => void): () => void;
  /** Resolves once everything written to stdout and stderr has been flushed. */
  flush(): Promise<void>;
  /** Asks a question on the terminal and reads one line of answer (empty at end of input). */
  ask(question: string): Promise<string>;
}

/** The terminal of a real process; `term` is its TERM, read by the entry script. */
export function processTerminal(proc: NodeJS.Process, term: string | undefined): TerminalIo {
  const { stdin, stdout, stderr } = proc;
  const stdinIsTTY = stdin.isTTY === true;
  const stdoutIsTTY = stdout.isTTY === true;
  let raw = false;
  return {
    stdinIsTTY,
    stdoutIsTTY,
    term: term || "xterm-256color",
    size: () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 }),
    onResize(listener) {
      proc.on("SIGWINCH", listener);
      return () => proc.off("SIGWINCH", listener);
    },
    setRaw(on) {
      if (!stdinIsTTY || raw === on) return;
      stdin.setRawMode(on);
      raw = on;
    },
    readStdin(onData, onEnd) {
      const data = (chunk: Buffer | string) => onData(typeof chunk === "string" ? new TextEncoder().encode(chunk) : new Uint8Array(chunk));
      stdin.on("data", data);
      stdin.on("end", onEnd);
      stdin.resume();
      return () => {
        stdin.off("data", data);
        stdin.off("end", onEnd);
        stdin.pause();
      };
    },
    writeStdout: (bytes) => void stdout.write(bytes),
    writeStderr: (bytes) => void stderr.write(bytes),
    onSignal(listener) {
      const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
      for (const s of signals) proc.on(s, listener);
      return () => signals.forEach((s) => proc.off(s, listener));
    },
    ask(question) {
      const rl = createInterface({ input: stdin, output: stderr });
      return new Promise((resolve) => {
        let answered = false;
        rl.question(question, (answer) => {
          answered = true;
          rl.close();
          resolve(answer);
        });
        rl.once("close", () => {
          if (!answered) resolve("");
        });
      });
    },
    flush: () =>
      Promise.all(
        [stdout, stderr].map(
          (stream) => new Promise<void>((resolve) => (stream.writableNeedDrain ? stream.once("drain", () => resolve()) : resolve())),
        ),
      ).then(() => {}),
  };
}
