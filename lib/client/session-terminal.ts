/**
 * The local side of a client session: raw mode while interactive, window
 * changes, stdin (through the escapes of an interactive shell), output and
 * its backpressure, and the signals that end a session from this side. Set
 * up once and kept across every link a session has; `restore` undoes it all.
 */
import { messageOf } from "../core/errors.ts";
import { EscapeReader, type EscapeKey } from "./escapes.ts";
import type { TerminalIo } from "./terminal-io.ts";

export interface TerminalEvents {
  /** Keys or piped input for the remote side (escapes taken out). */
  input(bytes: Uint8Array): void;
  /** Enter ~ and a key. */
  escape(key: EscapeKey): void;
  /** The end of piped input. */
  eof(): void;
  /** The terminal itself has gone: the end of its input in raw mode, or a read error. */
  lost(why: string): void;
  /** The window changed size. */
  resize(size: { cols: number; rows: number }): void;
  signal(signal: NodeJS.Signals): void;
  /** Stdout and stderr have taken their backlog. */
  writable(): void;
}

export interface TerminalOptions {
  /** Raw mode: this terminal types into the remote one. */
  interactive: boolean;
  /** Read stdin (keys, piped input, or only the escapes of a read-only watch). */
  readStdin: boolean;
  /** Take Enter ~ escapes out of the keys. */
  escapes: boolean;
  /** Report window changes. */
  resizes: boolean;
}

export class SessionTerminal {
  /** What `restore` undoes, in reverse order. */
  private readonly cleanups: (() => void)[] = [];
  private readonly escapes: EscapeReader | null;
  private started = false;
  private restored = false;
  /** Stdin is not read while the socket has a full backlog; this looks for it to drain (a client WebSocket has no drain event). */
  private stdinPoll: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly io: TerminalIo,
    private readonly options: TerminalOptions,
    private readonly events: TerminalEvents,
  ) {
    this.escapes = options.escapes ? new EscapeReader() : null;
    this.cleanups.push(io.onWritable(() => events.writable()));
    this.cleanups.push(() => clearInterval(this.stdinPoll));
    this.cleanups.push(io.onSignal((signal) => events.signal(signal)));
  }

  /** Raw mode, resizes and stdin, once. Returns whether stdin is read (if not, the remote side may be told its input has ended). */
  start(): boolean {
    if (this.started) return this.options.readStdin;
    this.started = true;
    const { io, options, events } = this;
    if (options.interactive) {
      io.setRaw(true);
      this.cleanups.push(() => io.setRaw(false));
    }
    if (options.resizes) this.cleanups.push(io.onResize(() => events.resize(io.size())));
    if (!options.readStdin) return false;
    this.cleanups.push(
      io.readStdin(
        (bytes) => this.typed(bytes),
        // A terminal in raw mode sends Ctrl-D as a byte: its end of input means it has closed.
        () => (options.interactive ? events.lost("the terminal closed") : events.eof()),
        (error) => events.lost(`the terminal failed (${messageOf(error)})`),
      ),
    );
    return true;
  }

  private typed(bytes: Uint8Array): void {
    if (this.escapes === null) return this.events.input(bytes);
    for (const action of this.escapes.feed(bytes)) {
      if (this.restored) return;
      if (action.type === "send") this.events.input(action.bytes);
      else this.events.escape(action.key);
    }
  }

  /** Writes output to stdout or stderr; false when that reader has a backlog (write no more until `writable`). */
  output(bytes: Uint8Array, stream: "stdout" | "stderr" = "stdout"): boolean {
    return stream === "stdout" ? this.io.writeStdout(bytes) : this.io.writeStderr(bytes);
  }

  /** A line of the client's own on stderr. */
  note(text: string): void {
    this.io.writeStderr(text);
  }

  /** Stops reading stdin until `hasRoom` says the socket took its backlog. */
  holdStdin(hasRoom: () => boolean): void {
    if (this.stdinPoll !== undefined) return;
    this.io.pauseStdin();
    this.stdinPoll = setInterval(() => hasRoom() && this.releaseStdin(), 20);
  }

  /** Reads stdin again after `holdStdin`; idempotent. */
  releaseStdin(): void {
    if (this.stdinPoll === undefined) return;
    clearInterval(this.stdinPoll);
    this.stdinPoll = undefined;
    this.io.resumeStdin();
  }

  /** Undoes everything, raw mode last; idempotent. */
  restore(): void {
    if (this.restored) return;
    this.restored = true;
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      try {
        cleanup();
      } catch {
        // Restoring must go on even if one step fails.
      }
    }
    this.io.setRaw(false);
  }
}
