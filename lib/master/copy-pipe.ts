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
 *    │  (a target that read the archive's end first: done at the source's exit 0)
 *    └──────────────┴── any failure: both hung up ──▶ failed
 * ```
 *
 * The target extracts into a temporary directory and renames only after
 * the whole stream: a failure on either side leaves the target as it was.
 */
import { AppError } from "../core/errors.ts";
import { CHANNEL_STDERR, CHANNEL_STDOUT, type SessionControl } from "../protocol/session.ts";
import { CopyStderr } from "../protocol/copy.ts";
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

/** Starts a copy between two instances; `onDone` hears its end, once. */
export class CopyPipe {
  #state: CopyPipeState = "running";
  #bytes = 0;
  #total: number | null = null;
  /** The target ended well (it read the whole archive) before the source's session ended. */
  #targetDone = false;
  /** The target's node has a full backlog of input: the source's output waits. */
  #targetFull = false;
  readonly #source: RelayHandle;
  readonly #target: RelayHandle;
  readonly #sourceErr = new CopyStderr();
  readonly #targetErr = new CopyStderr();
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
          this.#total = this.#sourceErr.size;
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
    if (this.#state === "done" || this.#state === "failed") return;
    if (outcome.exitCode !== 0) return this.#fail(this.#sourceErr.explain(this.#o.fromRef, outcome.exitCode, this.#sourceError ?? outcome.error));
    if (this.#targetDone) return this.#done();
    this.#state = "draining";
    this.#target.control({ type: "eof" });
  }

  #targetEnded(outcome: SessionOutcome): void {
    if (this.#state === "done" || this.#state === "failed") return;
    if (outcome.exitCode !== 0) return this.#fail(this.#targetErr.explain(this.#o.toRef, outcome.exitCode, this.#targetError ?? outcome.error));
    // tar stops at the archive's end marker, which may be before the source's session has ended: the copy is whole once both have.
    if (this.#state === "draining") return this.#done();
    this.#targetDone = true;
  }

  /** → done: both sides ended well. */
  #done(): void {
    this.#state = "done";
    this.#o.onDone({ bytes: this.#bytes, error: null });
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
