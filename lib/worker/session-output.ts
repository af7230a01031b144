/**
 * The output side of one session socket: the program's bytes go to the
 * master as binary frames, under the flow control of every hop — past
 * SEND_BACKLOG_BYTES buffered, the output's source (its own process, or a
 * kept shell) is paused until the socket drains.
 *
 * On an attach to a kept shell, the live output is held back while the
 * screen is sent (a reset, then the mirror's snapshot, in frames of at most
 * {@link SCREEN_CHUNK_BYTES}, no faster than the socket takes them); then
 * what came since the snapshot follows, from the offset the snapshot holds,
 * so nothing is lost or shown twice. What is held back counts against the
 * same bound.
 */
import { SEND_BACKLOG_BYTES } from "../protocol/session.ts";
import type { SessionSocket } from "./session-host.ts";

export const SCREEN_CHUNK_BYTES = 64 * 1024;

/** What a backlog pauses: a process's output, or a kept shell's on behalf of this client. */
export interface OutputSource {
  pauseOutput(): void;
  resumeOutput(): void;
}

export class SessionOutput {
  #socket: SessionSocket | null = null;
  #source: OutputSource | null = null;
  #paused = false;
  /** While the screen is sent: live output held back, with its offsets in the shell's output. */
  #held: { queue: { bytes: Uint8Array; at: number }[]; bytes: number } | null = null;
  #drained: (() => void) | null = null;
  #stopped = false;
  /** Called when Bun dropped a frame (past its own limit, which the bound keeps us far from). */
  readonly #onDropped: () => void;

  constructor(onDropped: () => void) {
    this.#onDropped = onDropped;
  }

  open(socket: SessionSocket): void {
    this.#socket = socket;
  }

  /** Where the output comes from, once there is a process or a shell. */
  from(source: OutputSource): void {
    this.#source = source;
  }

  /** Sends a frame of output (unless held back for a restore). */
  send(frame: Uint8Array): void {
    const socket = this.#socket;
    if (socket === null || this.#stopped) return;
    if (socket.send(frame) === 0) return this.#onDropped();
    this.#balance();
  }

  /** A kept shell's output, starting at offset `at` of all it has printed. */
  shellOutput(bytes: Uint8Array, at: number): void {
    if (this.#held === null) return this.send(bytes);
    this.#held.queue.push({ bytes, at });
    this.#held.bytes += bytes.length;
    this.#balance();
  }

  /** Live output is held back from now until {@link restore}. */
  holdBack(): void {
    this.#held = { queue: [], bytes: 0 };
  }

  /**
   * Sends the screen, then the output held back from offset `through` on,
   * and goes live. False when the session stopped meanwhile or a frame was dropped.
   */
  async restore(screen: Uint8Array, through: number): Promise<boolean> {
    for (let offset = 0; offset < screen.length; offset += SCREEN_CHUNK_BYTES) {
      while (!this.#stopped && (this.#socket?.getBufferedAmount() ?? 0) > SEND_BACKLOG_BYTES) {
        await new Promise<void>((resolve) => (this.#drained = resolve));
      }
      const socket = this.#socket;
      if (this.#stopped || socket === null) return false;
      if (socket.send(screen.subarray(offset, offset + SCREEN_CHUNK_BYTES)) === 0) return false;
    }
    if (this.#stopped) return false;
    const queue = this.#held?.queue ?? [];
    this.#held = null;
    for (const { bytes, at } of queue) {
      if (at + bytes.length <= through) continue;
      this.send(at >= through ? bytes : bytes.subarray(through - at));
    }
    this.#balance();
    return true;
  }

  /** The socket took some of its backlog (Bun's `drain`). */
  drain(): void {
    this.#wake();
    this.#balance();
  }

  /** The session is over: nothing more is sent, and the source is no longer held. */
  stop(): void {
    this.#stopped = true;
    this.#held = null;
    this.#wake();
    this.#balance();
  }

  /** The socket has closed. */
  closed(): void {
    this.#socket = null;
    this.stop();
  }

  #wake(): void {
    const wake = this.#drained;
    this.#drained = null;
    wake?.();
  }

  /** Pauses the source while the backlog (and what is held back) is over the bound; resumes it once under. */
  #balance(): void {
    const backlog = (this.#socket?.getBufferedAmount() ?? 0) + (this.#held?.bytes ?? 0);
    const full = backlog > SEND_BACKLOG_BYTES && !this.#stopped;
    if (full === this.#paused) return;
    this.#paused = full;
    if (full) this.#source?.pauseOutput();
    else this.#source?.resumeOutput();
  }
}
