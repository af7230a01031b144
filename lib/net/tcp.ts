/**
 * Plain TCP connections as forwards carry them (issue 14), on both ends: the
 * worker's connection to the instance's port and the client's accepted one.
 *
 * Bun's `socket.write` writes what the kernel takes and returns how much; the
 * rest is the caller's. {@link SocketWriter} keeps that rest, writes it on
 * `drain`, and says when it holds any, so the side feeding it stops reading
 * its own source until it is written (flow control as SEND_BACKLOG_BYTES in
 * protocol/session.ts describes it). What it holds is bounded by what arrived
 * after the feeder was told to stop: at most a frame or two.
 */
import { AppError } from "../core/errors.ts";

/** What a {@link SocketWriter} needs of a Bun TCP socket. */
export interface WritableSocket {
  write(data: Uint8Array): number;
  /** Half-closes: a FIN, the socket still readable. */
  shutdown(): void;
}

/** Writes to a Bun socket, keeping what it could not take yet. */
export class SocketWriter {
  readonly #socket: WritableSocket;
  readonly #queue: Uint8Array[] = [];
  #queued = 0;
  /** The input has ended: half-close once everything queued is written. */
  #ending = false;
  #shut = false;

  constructor(socket: WritableSocket) {
    this.#socket = socket;
  }

  /** Bytes written by no one yet. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Writes `bytes`, or keeps what the socket did not take.
   * @returns false when bytes wait: send no more until {@link drain} returns true.
   *   Bytes for a closed socket are dropped (its close ends the connection).
   */
  write(bytes: Uint8Array): boolean {
    if (this.#ending || bytes.length === 0) return this.#queue.length === 0;
    if (this.#queue.length === 0) {
      const n = this.#socket.write(bytes);
      if (n < 0 || n === bytes.length) return true;
      bytes = bytes.subarray(n);
    }
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    return false;
  }

  /** Bun's `drain`: writes what waits. @returns true when nothing waits any more */
  drain(): boolean {
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const n = this.#socket.write(head);
      if (n < 0) {
        this.#queue.length = 0;
        this.#queued = 0;
        break;
      }
      this.#queued -= n;
      if (n < head.length) {
        this.#queue[0] = head.subarray(n);
        return false;
      }
      this.#queue.shift();
    }
    if (this.#ending) this.#shutdown();
    return true;
  }

  /** No more input: half-closes the socket once what waits is written. Idempotent. */
  end(): void {
    this.#ending = true;
    if (this.#queue.length === 0) this.#shutdown();
  }

  #shutdown(): void {
    if (this.#shut) return;
    this.#shut = true;
    try {
      this.#socket.shutdown();
    } catch {
      // Closed already: its close ends the connection.
    }
  }
}

/** How a connection's failure reads, by errno code. */
const REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENETDOWN: "network down",
  EADDRNOTAVAIL: "address not available",
  ECONNABORTED: "connection aborted",
  EADDRINUSE: "address already in use",
  EACCES: "permission denied",
};

/** Short words for why a TCP connection failed ("connection refused"), from Bun's error. */
export function socketFailure(error: unknown): string {
  const code = typeof error === "object" && error !== null && "code" in error ? String((error as { code: unknown }).code) : "";
  const known = REASONS[code];
  if (known !== undefined) return known;
  const message = error instanceof Error ? error.message : String(error);
  return code ? `${code}: ${message}` : message;
}

/** The error code a socket failure gets on the wire: refusals and resets are the far side's doing. */
export function socketFailureError(message: string, error: unknown): AppError {
  const code = typeof error === "object" && error !== null && "code" in error ? String((error as { code: unknown }).code) : "";
  return new AppError(code === "ETIMEDOUT" ? "E_TIMEOUT" : "E_UNAVAILABLE", message, { cause: error });
}
