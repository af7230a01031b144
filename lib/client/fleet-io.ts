/**
 * The terminal a session of a fleet exec sees (issue 15): not the real one,
 * but its share of the merged output (fleet-output.ts), the stdin that every
 * session gets, and a hang-up the runner (fleet.ts) can pull. The session
 * itself is the client's ordinary exec session (session.ts), unchanged.
 *
 * What it learns about the session, from how the session uses its terminal:
 * - the session opened when it starts reading stdin (the stdin offered is
 *   never a terminal, so an open exec always reads it);
 * - the session's own notes (why it failed) are written as text, while the
 *   remote side's output always arrives as bytes: a string written here is
 *   a note, kept as the reason instead of being printed.
 */
import type { TerminalIo } from "./terminal-io.ts";
import type { FleetOutput, Stream } from "./fleet-output.ts";

/** Piped input goes to a session in pieces of this size, so a full socket can pause it between them. */
const STDIN_CHUNK_BYTES = 64 * 1024;

export interface FleetIoOptions {
  /** The instance's index in the output. */
  index: number;
  output: FleetOutput;
  /** TERM of the real terminal. */
  term: string;
  /** What every session reads as its stdin (empty: the end of input at once). */
  stdin: Uint8Array;
}

export class FleetIo implements TerminalIo {
  readonly stdinIsTTY = false;
  readonly stdoutIsTTY = false;
  readonly term: string;
  /** The session's socket opened (it started reading stdin). */
  opened = false;
  /** The session's last note: why it ended other than with a status. */
  note: string | null = null;
  private signalListeners = new Set<(signal: NodeJS.Signals) => void>();
  private writableListeners = new Set<() => void>();
  private stdinPaused = false;
  private pump: (() => void) | null = null;

  constructor(private readonly options: FleetIoOptions) {
    this.term = options.term;
  }

  /**
   * The real stdout and stderr took their backlog. The runner listens to the
   * real terminal once for every session (a listener each would pile up on
   * the process's streams) and passes it on here.
   */
  writable(): void {
    for (const listener of [...this.writableListeners]) listener();
  }

  /** Ends the session from this side, as a signal to the client would. */
  hangUp(signal: NodeJS.Signals): void {
    for (const listener of [...this.signalListeners]) listener(signal);
  }

  size(): { cols: number; rows: number } {
    return { cols: 80, rows: 24 };
  }

  onResize(): () => void {
    return () => {};
  }

  setRaw(): void {}

  readStdin(onData: (bytes: Uint8Array) => void, onEnd: () => void): () => void {
    this.opened = true;
    const { stdin } = this.options;
    let offset = 0;
    let done = false;
    this.pump = () => {
      while (!done && !this.stdinPaused && offset < stdin.length) {
        const chunk = stdin.subarray(offset, offset + STDIN_CHUNK_BYTES);
        offset += chunk.length;
        onData(chunk);
      }
      if (done || this.stdinPaused) return;
      done = true;
      onEnd();
    };
    queueMicrotask(() => this.pump?.());
    return () => {
      done = true;
      this.pump = null;
    };
  }

  pauseStdin(): void {
    this.stdinPaused = true;
  }

  resumeStdin(): void {
    if (!this.stdinPaused) return;
    this.stdinPaused = false;
    queueMicrotask(() => this.pump?.());
  }

  writeStdout(bytes: Uint8Array | string): boolean {
    return this.write("stdout", bytes);
  }

  writeStderr(bytes: Uint8Array | string): boolean {
    return this.write("stderr", bytes);
  }

  private write(stream: Stream, bytes: Uint8Array | string): boolean {
    if (typeof bytes === "string") {
      const text = bytes.replace(/^[\r\n]*multiverse: /, "").trimEnd();
      if (text !== "") this.note = text;
      return true;
    }
    return this.options.output.data(this.options.index, stream, bytes);
  }

  onWritable(listener: () => void): () => void {
    this.writableListeners.add(listener);
    return () => this.writableListeners.delete(listener);
  }

  onSignal(listener: (signal: NodeJS.Signals) => void): () => void {
    this.signalListeners.add(listener);
    return () => this.signalListeners.delete(listener);
  }

  /** The merged output is written to the real terminal at once; the runner flushes that at the end. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  ask(): Promise<string> {
    return Promise.resolve("");
  }
}
