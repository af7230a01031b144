/**
 * One forwarded connection on the client (issue 14): a session WebSocket of
 * kind `forward` joined to a local byte stream — a TCP connection accepted
 * by `port-forward`, or stdin/stdout for `ssh-proxy` — with flow control
 * both ways and half-closes as far as the wire carries them.
 *
 *     connecting ──socket open──▶ open ──exit / close / failure──▶ ended
 *          └──────────────────────────────────────────────────────▶ ended
 *
 * - The local side is not read until the socket is open, nor while the
 *   socket holds more than SEND_BACKLOG_BYTES for the master.
 * - The socket is not read while the local side has not taken what it got.
 * - The local side's end of input is `eof` (the worker half-closes towards
 *   the service); the service's is an `eof` from the worker, passed on.
 * - `exit` 0 is a clean end; anything else is a failure with a reason (the
 *   worker's `error`, the master's refusal of the upgrade, a lost master),
 *   and the local side is closed abortively so its user sees it too.
 */
import { messageOf } from "../core/errors.ts";
import { DEFAULT_LIVENESS, type LivenessTimes } from "../net/liveness.ts";
import { parseSessionControl, SEND_BACKLOG_BYTES, SESSION_CLOSE } from "../protocol/session.ts";
import type { Refusal } from "./reconnect.ts";
import { SessionLink, type LinkTarget } from "./session-link.ts";

/** The local end of a forwarded connection. */
export interface LocalEnd {
  /** Bytes from the instance. @returns false when they wait: the link stops reading until {@link ForwardLink.writable}. */
  write(bytes: Uint8Array): boolean;
  /** The instance's side has sent everything: half-close once what waits is written. */
  end(): void;
  /** Stop reading the local side (the master has a backlog), and read again. */
  pause(): void;
  resume(): void;
  /** The forward is over: close, abortively when it failed. Idempotent. */
  close(failed: boolean): void;
}

export type ForwardLinkState = "connecting" | "open" | "ended";

/** How a forwarded connection ended: cleanly, or with why. */
export type ForwardOutcome = { ok: true } | { ok: false; failure: Refusal };

export interface ForwardLinkOptions {
  target: LinkTarget;
  /** The route's path, for explaining a refused upgrade. */
  path: string;
  local: LocalEnd;
  onEnd: (outcome: ForwardOutcome) => void;
  /** Explains a refused upgrade (sessions.ts diagnoser); null when the route took everything but the upgrade. */
  diagnose?: (path: string) => Promise<Refusal | null>;
  liveness?: LivenessTimes;
}

/** How often a local side held back for a full socket looks again. */
const BACKLOG_POLL_MS = 20;

export class ForwardLink {
  state: ForwardLinkState = "connecting";
  readonly #link: SessionLink;
  readonly #o: ForwardLinkOptions;
  #exitCode: number | null | undefined;
  #error: Refusal | null = null;
  #outputPaused = false;
  #inputHeld: ReturnType<typeof setInterval> | undefined;
  /** The local side ended its input before the socket opened. */
  #eofPending = false;
  /** The local side ended its input (its `eof` is sent, or pending). */
  #inputEnded = false;

  constructor(options: ForwardLinkOptions) {
    this.#o = options;
    options.local.pause();
    this.#link = new SessionLink(options.target, options.liveness ?? DEFAULT_LIVENESS, {
      open: () => this.#opened(),
      message: (data) => this.#received(data),
      close: (code) => this.#closed(code),
      silent: () => this.#fail({ code: "E_TIMEOUT", message: "the master stopped answering (network lost?)" }, SESSION_CLOSE.peerTimeout),
    });
  }

  /** Bytes from the local side. */
  input(bytes: Uint8Array): void {
    if (this.state !== "open") return;
    this.#link.send(bytes);
    if (this.#link.bufferedAmount > SEND_BACKLOG_BYTES) this.#holdInput();
  }

  /** The local side ended its input (a FIN, stdin at its end). */
  inputEnded(): void {
    this.#inputEnded = true;
    if (this.state === "connecting") this.#eofPending = true;
    else if (this.state === "open") this.#link.control({ type: "eof" });
  }

  /** The local side took what waited: the socket is read again. */
  writable(): void {
    if (!this.#outputPaused) return;
    this.#outputPaused = false;
    this.#link.resume();
  }

  /**
   * The local connection has closed. After its end of input, cleanly, what it
   * sent may still be on its way to the service: the worker's own end (exit)
   * ends the forward. Otherwise (a reset) the forward ends now.
   */
  localClosed(abrupt: boolean): void {
    if (!abrupt && this.#inputEnded) return;
    this.close("local connection closed");
  }

  /** The user ended the forward, or the local side is gone: ends the session, quietly. */
  close(reason = "client closed"): void {
    if (this.state === "ended") return;
    this.#link.close(SESSION_CLOSE.exit, reason);
    this.#end({ ok: true }, false);
  }

  #opened(): void {
    if (this.state !== "connecting") return;
    this.state = "open";
    if (this.#eofPending) this.#link.control({ type: "eof" });
    this.#o.local.resume();
  }

  #received(data: string | Uint8Array): void {
    if (this.state !== "open") return;
    if (typeof data !== "string") {
      if (!this.#o.local.write(data) && !this.#outputPaused) {
        this.#outputPaused = true;
        this.#link.pause();
      }
      return;
    }
    let message;
    try {
      message = parseSessionControl(data);
    } catch (error) {
      return this.#fail({ code: "E_PROTOCOL", message: `the master sent a bad control frame: ${messageOf(error)}` }, SESSION_CLOSE.protocolError);
    }
    if (message.type === "ping") this.#link.control({ type: "pong" });
    else if (message.type === "eof") this.#o.local.end();
    else if (message.type === "error") this.#error ??= { code: message.code, message: message.message };
    else if (message.type === "exit") this.#exitCode = message.code;
  }

  #closed(code: number): void {
    if (this.state === "ended") return;
    if (this.#exitCode === 0 && this.#error === null) return this.#end({ ok: true }, false);
    if (this.#error !== null) return this.#end({ ok: false, failure: this.#error }, true);
    if (this.state === "open") return this.#end({ ok: false, failure: { code: null, message: `the connection to the master was lost (code ${code})` } }, true);
    const fallback: Refusal = { code: null, message: `the master refused the forward (code ${code})` };
    const { diagnose } = this.#o;
    this.state = "ended";
    if (!diagnose) return this.#report({ ok: false, failure: fallback }, true);
    void diagnose(this.#o.path).then(
      (why) => this.#report({ ok: false, failure: why ?? fallback }, true),
      () => this.#report({ ok: false, failure: fallback }, true),
    );
  }

  #fail(failure: Refusal, closeCode: number): void {
    if (this.state === "ended") return;
    this.#link.close(closeCode, "forward failed");
    this.#end({ ok: false, failure }, true);
  }

  /** While the socket holds too much for the master, the local side is not read. */
  #holdInput(): void {
    if (this.#inputHeld !== undefined) return;
    this.#o.local.pause();
    this.#inputHeld = setInterval(() => {
      if (this.#link.bufferedAmount > SEND_BACKLOG_BYTES && this.#link.isOpen) return;
      this.#releaseInput();
      if (this.state === "open") this.#o.local.resume();
    }, BACKLOG_POLL_MS);
  }

  #releaseInput(): void {
    clearInterval(this.#inputHeld);
    this.#inputHeld = undefined;
  }

  /** any → ended: the local side is closed (abortively on failure) and the outcome reported, once. */
  #end(outcome: ForwardOutcome, failed: boolean): void {
    if (this.state === "ended") return;
    this.state = "ended";
    this.#report(outcome, failed);
  }

  #report(outcome: ForwardOutcome, failed: boolean): void {
    this.#releaseInput();
    this.#link.resume();
    this.#o.local.close(failed);
    this.#o.onEnd(outcome);
  }
}
