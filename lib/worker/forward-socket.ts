/**
 * The worker's end of a forward (issue 14): one TCP connection to a port of
 * an instance, behind the same {@link ExecProcess} interface a session's
 * program has, so the session's flow control and ends apply unchanged.
 *
 * - `write` is the connection's input, kept when the kernel does not take it
 *   (SocketWriter): false until it is written, then `onInputReady`.
 * - `pauseOutput`/`resumeOutput` stop and restart reading the connection, so
 *   the service in the instance waits on a full TCP window.
 * - `endInput` half-closes (a FIN once what waits is written); the service's
 *   own FIN is reported through `onEnd` while this side is still open (after
 *   its own half-close, Bun reports the close alone), and the connection is
 *   over when both halves are, or either side resets it.
 * - `hangUp` closes it at once; `exited` resolves (with 0) once it is closed,
 *   `failure` then says why when it did not end cleanly.
 */
import type { Socket } from "bun";
import { AppError } from "../core/errors.ts";
import type { ExecProcess } from "../multipass/driver.ts";
import { SocketWriter, socketFailure, socketFailureError } from "../net/tcp.ts";

/** How long a connection to an instance's port may take to be accepted. */
export const CONNECT_TIMEOUT_MS = 10_000;

export interface ForwardRequest {
  host: string;
  port: number;
  /** How the target reads in messages, e.g. `port 8080 of "web"`. */
  what: string;
  /** The service's bytes, in order. Must not throw. */
  onOutput: (bytes: Uint8Array) => void;
  /** Input reported as backed up has been written. */
  onInputReady: () => void;
  /** The service half-closed: it sends nothing more (it may still read). */
  onEnd: () => void;
  connectTimeoutMs?: number;
  /** Bun.connect, or a stand-in (tests: a connect that never answers). */
  connect?: typeof Bun.connect;
}

/** One forwarded connection; see the file's comment. */
export class ForwardSocket implements ExecProcess {
  /** Why the connection ended other than cleanly; null while open or after a clean end. */
  failure: AppError | null = null;
  readonly exited: Promise<number>;
  #socket: Socket<undefined> | null = null;
  #writer: SocketWriter | null = null;
  #resolveExit!: (code: number) => void;
  #closed = false;
  #paused = false;
  readonly #request: ForwardRequest;

  constructor(request: ForwardRequest) {
    this.#request = request;
    this.exited = new Promise((resolve) => (this.#resolveExit = resolve));
  }

  /**
   * Connects, within the request's time limit.
   * @throws AppError E_UNAVAILABLE (refused, unreachable), E_TIMEOUT, naming the target and the reason
   */
  async connect(): Promise<void> {
    const { host, port, what } = this.#request;
    const timeoutMs = this.#request.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let abandoned = false;
    const connect = this.#request.connect ?? Bun.connect;
    const connecting = connect({
      hostname: host,
      port,
      allowHalfOpen: true,
      socket: {
        binaryType: "uint8array",
        data: (_s, data: Uint8Array) => this.#request.onOutput(data),
        drain: () => {
          if (this.#writer?.drain()) this.#request.onInputReady();
        },
        end: () => this.#request.onEnd(),
        error: (_s, error) => this.#fail(error),
        close: (_s, error) => {
          if (error) this.#fail(error);
          this.#ended();
        },
        connectError: () => {},
      },
    });
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abandoned = true;
        reject(new AppError("E_TIMEOUT", `Cannot connect to ${what}: no answer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
    });
    // A connection that comes after the time limit is closed at once: nobody waits for it.
    void connecting.then((socket) => abandoned && socket.terminate(), () => {});
    try {
      const socket = await Promise.race([connecting, timedOut]);
      this.#socket = socket;
      this.#writer = new SocketWriter(socket);
      if (this.#paused) socket.pause();
      if (this.#closed) socket.terminate();
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw socketFailureError(`Cannot connect to ${what}: ${socketFailure(error)}`, error);
    } finally {
      clearTimeout(timer);
    }
  }

  write(bytes: Uint8Array): boolean {
    return this.#writer?.write(bytes) ?? true;
  }

  pauseOutput(): void {
    this.#paused = true;
    this.#socket?.pause();
  }

  resumeOutput(): void {
    this.#paused = false;
    this.#socket?.resume();
  }

  endInput(): void {
    this.#writer?.end();
  }

  resize(): void {}

  hangUp(): void {
    if (this.#closed) return;
    if (this.#socket === null) {
      // Not connected yet (or never): nothing to close but the outcome.
      this.#closed = true;
      this.#resolveExit(0);
      return;
    }
    this.#socket.terminate();
  }

  #fail(error: unknown): void {
    this.failure ??= socketFailureError(`${this.#request.what}: ${socketFailure(error)}`, error);
  }

  #ended(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#resolveExit(0);
  }
}
