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
  /**
   * Starts reading stdin; returns a function that stops. `onEnd` at end of
   * input; `onLost` when stdin fails (EIO: its terminal has gone).
   */
  readStdin(onData: (bytes: Uint8Array) => void, onEnd: () => void, onLost?: (error: Error) => void): () => void;
  /** Stops reading stdin for now (the master has not taken what was sent); idempotent. */
  pauseStdin(): void;
  /** Reads stdin again after {@link pauseStdin}; idempotent. */
  resumeStdin(): void;
  /**
   * Writes to stdout. The bytes are always kept.
   * @returns false when the reader has not taken what was written so far:
   *   write no more until `onWritable` (a stream that has failed takes everything).
   */
  writeStdout(bytes: Uint8Array | string): boolean;
  /** As {@link writeStdout}, for stderr. */
  writeStderr(bytes: Uint8Array | string): boolean;
  /** Calls `listener` whenever stdout or stderr has taken its backlog; returns the unsubscribe. */
  onWritable(listener: () => void): () => void;
  /** SIGINT/SIGTERM/SIGHUP to the client itself; returns the unsubscribe. */
  onSignal(listener: (signal: NodeJS.Signals) => void): () => void;
  /**
   * Resolves once everything written to stdout and stderr has been flushed,
   * or at once for a stream that has failed (its terminal or reader gone),
   * and within FLUSH_LIMIT_MS in any case.
   */
  flush(): Promise<void>;
  /** Asks a question on the terminal and reads one line of answer (empty at end of input). */
  ask(question: string): Promise<string>;
}

/**
 * How long the end of a session waits for output to drain: a reader that
 * takes no more (a stopped pager, a terminal that is gone) must not keep the
 * client alive.
 */
export const FLUSH_LIMIT_MS = 1_000;

/** The terminal of a real process; `term` is its TERM, read by the entry script. */
export function processTerminal(proc: NodeJS.Process, term: string | undefined): TerminalIo {
  const { stdin, stdout, stderr } = proc;
  const stdinIsTTY = stdin.isTTY === true;
  const stdoutIsTTY = stdout.isTTY === true;
  let raw = false;
  // A write to a closed terminal (EIO) or a gone reader (EPIPE) must neither
  // crash the client nor leave a flush waiting for a drain that never comes.
  const failed = new Set<NodeJS.WriteStream>();
  for (const stream of [stdout, stderr]) stream.on("error", () => failed.add(stream));
  // Bun reports a failed setRawMode as an `error` event, fatal without a listener; readStdin reports read errors.
  stdin.on("error", () => {});
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
      if (on) {
        stdin.setRawMode(true);
        raw = true;
        return;
      }
      raw = false;
      try {
        stdin.setRawMode(false);
      } catch {
        // The terminal is gone (EIO): there is nothing left to restore.
      }
    },
    readStdin(onData, onEnd, onLost = () => onEnd()) {
      const data = (chunk: Buffer | string) => onData(typeof chunk === "string" ? new TextEncoder().encode(chunk) : new Uint8Array(chunk));
      stdin.on("data", data);
      stdin.on("end", onEnd);
      stdin.on("error", onLost);
      stdin.resume();
      return () => {
        stdin.off("data", data);
        stdin.off("end", onEnd);
        stdin.off("error", onLost);
        stdin.pause();
      };
    },
    pauseStdin: () => void stdin.pause(),
    resumeStdin: () => void stdin.resume(),
    writeStdout: (bytes) => failed.has(stdout) || stdout.write(bytes),
    writeStderr: (bytes) => failed.has(stderr) || stderr.write(bytes),
    onWritable(listener) {
      stdout.on("drain", listener);
      stderr.on("drain", listener);
      return () => {
        stdout.off("drain", listener);
        stderr.off("drain", listener);
      };
    },
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
          (stream) =>
            new Promise<void>((resolve) => {
              if (failed.has(stream) || !stream.writableNeedDrain) return resolve();
              const done = () => {
                clearTimeout(timer);
                stream.off("drain", done).off("error", done).off("close", done);
                resolve();
              };
              const timer = setTimeout(done, FLUSH_LIMIT_MS);
              stream.once("drain", done).once("error", done).once("close", done);
            }),
        ),
      ).then(() => {}),
  };
}
