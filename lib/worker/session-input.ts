/**
 * The input side of one session socket: the client's bytes (keys, piped
 * stdin) and its `eof` go to the program, under flow control — while the
 * program has not taken what it has (or has not started, and what came
 * meanwhile is past SEND_BACKLOG_BYTES), the socket is not read.
 */
import { SEND_BACKLOG_BYTES } from "../protocol/session.ts";
import type { SessionSocket } from "./session-host.ts";

/** Where input goes: a process, or a kept shell (which ignores a viewer's). */
export interface InputSink {
  /** False when the program has not taken its input yet: no more until it says so. */
  write(bytes: Uint8Array): boolean;
  endInput(): void;
}

export class SessionInput {
  #socket: SessionSocket | null = null;
  #sink: InputSink | null = null;
  /** Input, and `eof`, that came before the program started. */
  readonly #pending: { input: Uint8Array[]; bytes: number; eof: boolean } = { input: [], bytes: 0, eof: false };
  #paused = false;

  open(socket: SessionSocket): void {
    this.#socket = socket;
  }

  /** The socket is not read (so the client's silence is not its own). */
  get paused(): boolean {
    return this.#paused;
  }

  write(chunk: Uint8Array): void {
    if (this.#sink) {
      if (!this.#sink.write(chunk)) this.#pause();
      return;
    }
    this.#pending.input.push(chunk);
    this.#pending.bytes += chunk.length;
    if (this.#pending.bytes > SEND_BACKLOG_BYTES) this.#pause();
  }

  /** The client's stdin ended: the driver closes the pipe, or types Ctrl-D on a terminal. */
  endInput(): void {
    if (this.#sink) this.#sink.endInput();
    else this.#pending.eof = true;
  }

  /** The program has started: it gets what came meanwhile, and the input from now on. */
  to(sink: InputSink): void {
    this.#sink = sink;
    let more = true;
    for (const chunk of this.#pending.input.splice(0)) more = sink.write(chunk);
    this.#pending.bytes = 0;
    if (this.#pending.eof) sink.endInput();
    if (more) this.resume();
  }

  /** The program took its input (or the session ends, and the close handshake needs the socket read). */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#socket?.resume();
  }

  closed(): void {
    this.#socket = null;
    this.#pending.input.length = 0;
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#socket?.pause();
  }
}
