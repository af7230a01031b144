/**
 * Instance → instance copies (`POST /api/v1/copy`, issue 14): the master
 * opens two relayed exec sessions — the source's copy-out and the target's
 * copy-in (protocol/copy.ts) — and pipes the source's stdout into the
 * target's input as it comes, never staged on a disk. Backpressure is the
 * relay's own (relay-flow.ts): while the target's node socket has a full
 * backlog, the relay pauses the target's "client" input, which here means
 * the source's deliveries answer "full", so the relay stops reading the
 * source's node socket, and the source's tar blocks writing.
 *
 * ```
 * running ──source exit 0──▶ draining ──target exit 0──▶ done
 *    └──────────────┴── any failure: both hung up ──▶ failed
 * ```
 *
 * The target extracts into a temporary directory and renames only after
 * the whole stream: a failure on either side leaves the target as it was.
 */
import { AppError } from "../core/errors.ts";
import { CHANNEL_STDERR, CHANNEL_STDOUT, type SessionControl } from "../protocol/session.ts";
import { copyRefusalMessage, parseCopySentinel, refusalOfStatus, type CopySentinel } from "../protocol/copy.ts";
import type { ClientEnd, Delivery, RelayHandle, SessionOutcome } from "./session-ends.ts";

export type CopyPipeState = "running" | "draining" | "done" | "failed";

/** How a copy between instances ended. */
export interface CopyResult {
  bytes: number;
  error: AppError | null;
}

export interface CopyPipeOptions {
  /** `NAME@NODE` of each side, for messages. */
  fromRef: string;
  toRef: string;
  /** Opens a side with `end` as its client; `onEnd` hears the relay's outcome. */
  openSource: (end: ClientEnd, onEnd: (outcome: SessionOutcome) => void) => RelayHandle;
  openTarget: (end: ClientEnd, onEnd: (outcome: SessionOutcome) => void) => RelayHandle;
  /** Bytes carried so far, and the total the source announced. */
  onProgress?: (bytes: number, total: number | null) => void;
  onDone: (result: CopyResult) => void;
}

/** The longest stderr line kept from either side; more of a line is dropped. */
const MAX_LINE_CHARS = 4096;
/** Tar's own messages kept for an error, at most. */
const MAX_MESSAGES = 5;

/** Splits one side's stderr into lines, keeping the sentinels and a few of tar's messages. */
class StderrLines {
  #partial = "";
  readonly sentinels: CopySentinel[] = [];
  readonly messages: string[] = [];
  readonly #decoder = new TextDecoder();

  push(bytes: Uint8Array): void {
    const lines = (this.#partial + this.#decoder.decode(bytes, { stream: true })).split("\n");
    this.#partial = (lines.pop() ?? "").slice(0, MAX_LINE_CHARS);
    for (const line of lines) this.#line(line);
  }

  #line(line: string): void {
    const sentinel = parseCopySentinel(line);
    if (sentinel !== null) {
      if (this.sentinels.length < MAX_MESSAGES) this.sentinels.push(sentinel);
    } else if (line.trim() !== "" && this.messages.length < MAX_MESSAGES) this.messages.push(line.slice(0, MAX_LINE_CHARS));
  }

  /** Why this side failed with `code`, in the user's words. */
  explain(ref: string, code: number | null, error: { code: string; message: string } | null): AppError {
    if (this.#partial !== "") this.#line(this.#partial);
    this.#partial = "";
    const refusal = this.sentinels.find((s) => s.kind === "error");
    const reason = refusal?.kind === "error" ? (refusal.reason ?? refusalOfStatus(code)) : refusalOfStatus(code);
    if (refusal?.kind === "error" && reason !== null) {
      return new AppError(reason === "not-found" ? "E_NOT_FOUND" : "E_USAGE", copyRefusalMessage(reason, `${ref}:${refusal.path}`));
    }
    if (error !== null) return new AppError(error.code === "E_CONFLICT" || error.code === "E_NOT_FOUND" ? error.code : "E_UNREACHABLE", `${ref}: ${error.message}`);
    const said = this.messages.length > 0 ? `: ${this.messages.join("; ")}` : "";
    return new AppError("E_MULTIPASS", `${ref}: the copy failed with status ${code ?? "unknown"}${said}`);
  }
}

/** Starts a copy between two instances; `onDone` hears its end, once. */
export class CopyPipe {
  #state: CopyPipeState = "running";
  #bytes = 0;
  #total: number | null = null;
  /** The target's node has a full backlog of input: the source's output waits. */
  #targetFull = false;
  readonly #source: RelayHandle;
  readonly #target: RelayHandle;
  readonly #sourceErr = new StderrLines();
  readonly #targetErr = new StderrLines();
  #sourceError: { code: string; message: string } | null = null;
  #targetError: { code: string; message: string } | null = null;
  readonly #o: CopyPipeOptions;

  constructor(options: CopyPipeOptions) {
    this.#o = options;
    this.#target = options.openTarget(this.#targetEnd(), (outcome) => this.#targetEnded(outcome));
    try {
      this.#source = options.openSource(this.#sourceEnd(), (outcome) => this.#sourceEnded(outcome));
    } catch (error) {
      this.#state = "failed";
      this.#target.clientGone();
      throw error;
    }
    // Neither side reads anything more from us than the tar: the source's stdin ends now.
    this.#source.control({ type: "eof" });
  }

  get state(): CopyPipeState {
    return this.#state;
  }

  /** The caller went away: both sides are hung up (the target's temporary directory goes with it). */
  cancel(): void {
    this.#fail(new AppError("E_CANCELLED", "The copy's caller went away"));
  }

  #sourceEnd(): ClientEnd {
    return {
      binary: (bytes): Delivery => {
        if (bytes[0] === CHANNEL_STDERR) {
          this.#sourceErr.push(bytes.subarray(1));
          const size = this.#sourceErr.sentinels.find((s) => s.kind === "size");
          if (size?.kind === "size") this.#total = size.bytes;
          return "more";
        }
        if (bytes[0] !== CHANNEL_STDOUT || this.#state !== "running") return "more";
        this.#bytes += bytes.length - 1;
        this.#target.input(bytes.subarray(1));
        this.#o.onProgress?.(this.#bytes, this.#total);
        return this.#targetFull ? "full" : "more";
      },
      control: (message) => this.#heard(message, "source"),
      pauseInput: () => {},
      resumeInput: () => {},
      close: () => {},
    };
  }

  #targetEnd(): ClientEnd {
    return {
      binary: (bytes): Delivery => {
        if (bytes[0] === CHANNEL_STDERR) this.#targetErr.push(bytes.subarray(1));
        return "more";
      },
      control: (message) => this.#heard(message, "target"),
      // The relay holds the target's input: the source is held with it.
      pauseInput: () => void (this.#targetFull = true),
      resumeInput: () => {
        if (!this.#targetFull) return;
        this.#targetFull = false;
        this.#source.drained();
      },
      close: () => {},
    };
  }

  #heard(message: SessionControl, side: "source" | "target"): void {
    if (message.type !== "error") return;
    if (side === "source") this.#sourceError ??= message;
    else this.#targetError ??= message;
  }

  /** running → draining: the whole tar is with the target; its end says whether it is in place. */
  #sourceEnded(outcome: SessionOutcome): void {
    if (this.#state !== "running") return;
    if (outcome.exitCode === 0) {
      this.#state = "draining";
      this.#target.control({ type: "eof" });
      return;
    }
    this.#fail(this.#sourceErr.explain(this.#o.fromRef, outcome.exitCode, this.#sourceError ?? outcome.error));
  }

  #targetEnded(outcome: SessionOutcome): void {
    if (this.#state === "done" || this.#state === "failed") return;
    if (outcome.exitCode === 0 && this.#state === "draining") {
      this.#state = "done";
      this.#o.onDone({ bytes: this.#bytes, error: null });
      return;
    }
    // A target that ended before the source did cannot have taken the whole stream.
    const code = outcome.exitCode === 0 ? null : outcome.exitCode;
    this.#fail(this.#targetErr.explain(this.#o.toRef, code, this.#targetError ?? outcome.error));
  }

  /** → failed: both sides are hung up; the target's script removes what it extracted. */
  #fail(error: AppError): void {
    if (this.#state === "done" || this.#state === "failed") return;
    this.#state = "failed";
    this.#source.clientGone();
    this.#target.clientGone();
    this.#o.onDone({ bytes: this.#bytes, error });
  }
}
