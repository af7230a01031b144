/**
 * One copy session from the client (`multiverse cp`, issue 14): a WebSocket
 * on the session wire to a copy-in or copy-out route, with flow control
 * both ways. What goes up (a tar, or stdin's bytes) is sent no faster than
 * the master takes it (SEND_BACKLOG_BYTES); what comes down is handed to an
 * async consumer, and the socket is not read while more than that bound
 * waits for it. {@link runCopyLink} resolves once the socket has closed,
 * with the remote status and, when there is one, why it failed.
 *
 * ```
 * connecting ──open──▶ open ──close──▶ ended
 *      └──────close (refused: asks why)──▶ ended
 * ```
 */
import { AppError, messageOf, toAppError } from "../core/errors.ts";
import { DEFAULT_LIVENESS } from "../net/liveness.ts";
import { CopyStderr } from "../protocol/copy.ts";
import { CHANNEL_STDERR, CHANNEL_STDOUT, parseSessionControl, SEND_BACKLOG_BYTES, SESSION_CLOSE } from "../protocol/session.ts";
import type { Refusal } from "./reconnect.ts";
import { SessionLink, type LinkTarget } from "./session-link.ts";

export interface CopyLinkOptions {
  target: LinkTarget;
  /** The route's path (and query), asked again over plain HTTP to explain a refused upgrade. */
  path: string;
  diagnose?: (path: string) => Promise<Refusal | null>;
  /** What to send up; nothing (stdin closed at once) when absent. */
  source?: AsyncIterable<Uint8Array>;
  /** Bytes from the remote stdout; the socket is not read while a backlog of them waits. */
  onStdout?: (bytes: Uint8Array) => void | Promise<void>;
  /** Bytes sent or taken so far, for a progress bar; `total` once the remote side announced it. */
  onProgress?: (bytes: number, total: number | null) => void;
  /** Ends the copy from this side (Ctrl-C): the remote side is hung up. */
  signal?: AbortSignal;
}

export interface CopyLinkResult {
  /** The remote status; null when there was none (refused, lost, ended from here). */
  code: number | null;
  /** The session's `error`, or why the link failed. */
  error: AppError | null;
  /** A failure on this side: a local file that cannot be read or written, an interrupt. */
  localError: AppError | null;
  stderr: CopyStderr;
}

export type CopyLinkState = "connecting" | "open" | "ended";

/** How often a full upload backlog is looked at (a client WebSocket has no drain event). */
const SEND_POLL_MS = 10;

/** Runs one copy session to its end. */
export function runCopyLink(options: CopyLinkOptions): Promise<CopyLinkResult> {
  return new Promise((resolve) => void new CopyLink(options, resolve));
}

class CopyLink {
  state: CopyLinkState = "connecting";
  readonly #o: CopyLinkOptions;
  readonly #resolve: (result: CopyLinkResult) => void;
  readonly #link: SessionLink;
  readonly #stderr = new CopyStderr();
  #code: number | null = null;
  #error: AppError | null = null;
  #localError: AppError | null = null;
  #moved = 0;
  /** Output handed to the consumer, in order; the socket is paused while too much of it waits. */
  #work: Promise<void> = Promise.resolve();
  #waiting = 0;
  #paused = false;
  readonly #abort = () => this.#fail(new AppError("E_CANCELLED", "interrupted"));

  constructor(options: CopyLinkOptions, resolve: (result: CopyLinkResult) => void) {
    this.#o = options;
    this.#resolve = resolve;
    this.#link = new SessionLink(options.target, DEFAULT_LIVENESS, {
      open: () => this.#opened(),
      message: (data) => this.#received(data),
      close: (code) => void this.#closed(code),
      silent: () => {
        this.#error ??= new AppError("E_TIMEOUT", "the master stopped answering (network lost?)");
        this.#link.close(SESSION_CLOSE.peerTimeout, "peer timeout");
      },
    });
    options.signal?.addEventListener("abort", this.#abort);
  }

  /** A failure on this side: the session is closed, so the remote side is hung up (and removes what it wrote). */
  #fail(why: AppError): void {
    this.#localError ??= why;
    this.#link.close(SESSION_CLOSE.exit, "client failed");
  }

  #progress(n: number): void {
    this.#moved += n;
    this.#o.onProgress?.(this.#moved, this.#stderr.size);
  }

  /** connecting → open: the source is sent (then `eof`), or `eof` at once for a copy out. */
  #opened(): void {
    if (this.state !== "connecting") return;
    this.state = "open";
    void this.#send();
  }

  async #send(): Promise<void> {
    try {
      for await (const chunk of this.#o.source ?? []) {
        if (this.state !== "open" || this.#localError) return;
        this.#link.send(chunk);
        this.#progress(chunk.length);
        while (this.#link.bufferedAmount > SEND_BACKLOG_BYTES && this.#link.isOpen) await Bun.sleep(SEND_POLL_MS);
      }
      if (this.state === "open" && !this.#localError) this.#link.control({ type: "eof" });
    } catch (error) {
      this.#fail(toAppError(error, "E_USAGE"));
    }
  }

  #received(data: string | Uint8Array): void {
    if (typeof data === "string") return this.#control(data);
    if (data[0] === CHANNEL_STDOUT) this.#stdout(data.subarray(1));
    else if (data[0] === CHANNEL_STDERR) this.#stderr.push(data.subarray(1));
  }

  #control(text: string): void {
    try {
      const control = parseSessionControl(text);
      if (control.type === "ping") this.#link.control({ type: "pong" });
      else if (control.type === "exit") this.#code = control.code;
      else if (control.type === "error") this.#error ??= new AppError(control.code, control.message);
    } catch (error) {
      this.#error ??= new AppError("E_PROTOCOL", `the master sent a bad control frame: ${messageOf(error)}`);
      this.#link.close(SESSION_CLOSE.protocolError, "protocol error");
    }
  }

  #stdout(bytes: Uint8Array): void {
    const consume = this.#o.onStdout;
    if (consume === undefined || this.#localError) return;
    this.#waiting += bytes.length;
    if (this.#waiting > SEND_BACKLOG_BYTES && !this.#paused) {
      this.#paused = true;
      this.#link.pause();
    }
    this.#work = this.#work.then(async () => {
      try {
        if (!this.#localError) {
          await consume(bytes);
          this.#progress(bytes.length);
        }
      } catch (error) {
        this.#fail(toAppError(error, "E_USAGE"));
      } finally {
        this.#waiting -= bytes.length;
        if (this.#paused && this.#waiting <= SEND_BACKLOG_BYTES / 2) {
          this.#paused = false;
          this.#link.resume();
        }
      }
    });
  }

  /** → ended, once the consumer has taken everything: a socket that never opened asks the master why. */
  async #closed(closeCode: number): Promise<void> {
    if (this.state === "ended") return;
    const opened = this.state === "open";
    this.state = "ended";
    this.#o.signal?.removeEventListener("abort", this.#abort);
    await this.#work;
    if (!opened && this.#error === null && this.#localError === null) {
      const why = await this.#o.diagnose?.(this.#o.path).catch(() => null);
      this.#error = new AppError(why?.code ?? "E_UNREACHABLE", why?.message ?? `cannot open the copy session (code ${closeCode})`);
    } else if (this.#code === null && this.#error === null && this.#localError === null) {
      this.#error = new AppError("E_UNREACHABLE", `the connection to the master was lost (code ${closeCode})`);
    }
    this.#resolve({ code: this.#code, error: this.#error, localError: this.#localError, stderr: this.#stderr });
  }
}
