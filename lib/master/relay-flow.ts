/**
 * Flow control of one relayed session on the master, the same bound on both
 * hops (SEND_BACKLOG_BYTES, protocol/session.ts): while the client has a
 * full backlog of output, the node's socket is not read (so the node stops
 * reading its program); while the node's socket has a full backlog of input,
 * the client's is not read. A client that takes no output at all for
 * {@link OUTPUT_STALL_MS} is reported (`onStall`), and the session ends.
 */
import { formatDuration } from "../core/duration.ts";
import { AppError } from "../core/errors.ts";
import { SEND_BACKLOG_BYTES } from "../protocol/session.ts";
import type { ClientEnd } from "./session-ends.ts";

/**
 * A client that takes none of its output for this long, while the program
 * waits to write more, has its session ended: it holds a program and a
 * backlog on every hop. Generous, as a pager left open is a reader too.
 */
export const OUTPUT_STALL_MS = 10 * 60_000;

/** How often a node socket with a full backlog of input is looked at (a client WebSocket has no drain event). */
const INPUT_POLL_MS = 20;

export interface RelayFlowOptions {
  /** The node's socket. */
  agent: Pick<WebSocket, "pause" | "resume" | "bufferedAmount">;
  client: Pick<ClientEnd, "pauseInput" | "resumeInput">;
  /** Default {@link OUTPUT_STALL_MS}. */
  stallMs?: number;
  /** The client took none of its output for the stall time. */
  onStall: (error: AppError) => void;
  /** Whether what the client sends goes out on the node's socket yet (it is held while connecting). */
  sending: () => boolean;
}

export class RelayFlow {
  readonly #o: RelayFlowOptions;
  /** The node's socket is not read while the client has a full backlog; this ends a client that never takes it. */
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  /** The client's input is not read while the node's socket has a full backlog; this looks for it to drain. */
  #inputPoll: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  constructor(options: RelayFlowOptions) {
    this.#o = options;
  }

  /** The node's socket is held (not read): its silence is ours, not the node's. */
  get outputHeld(): boolean {
    return this.#stallTimer !== undefined;
  }

  /** The client's socket is held (not read): its silence is ours, not the client's. */
  get inputHeld(): boolean {
    return this.#inputPoll !== undefined;
  }

  /** The client has a full backlog: the node's socket is not read until it drains, or for too long. */
  clientFull(): void {
    if (this.#stallTimer !== undefined || this.#stopped) return;
    this.#o.agent.pause();
    const stallMs = this.#o.stallMs ?? OUTPUT_STALL_MS;
    this.#stallTimer = setTimeout(() => this.#o.onStall(new AppError("E_TIMEOUT", `The client took none of the output for ${formatDuration(stallMs)}`)), stallMs);
  }

  /** The client's backlog is under the bound again: the node's socket is read again. */
  drained(): void {
    if (this.#stallTimer === undefined) return;
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    if (!this.#stopped) this.#o.agent.resume();
  }

  /** Looks at what waits for the node (`backlog` bytes): past the bound, the client's input is held. */
  toNode(backlog: number): void {
    if (backlog > SEND_BACKLOG_BYTES) this.#nodeFull();
  }

  /** The node's socket is up with `backlog` bytes queued: input flows unless that is past the bound. */
  connected(backlog: number): void {
    if (backlog > SEND_BACKLOG_BYTES) this.#nodeFull();
    else this.#inputFlows();
  }

  /** Ends flow control: no timers, and both sockets read again (their close handshakes need it). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    this.#inputFlows();
    this.#o.agent.resume();
  }

  #nodeFull(): void {
    if (this.#inputPoll !== undefined || this.#stopped) return;
    this.#o.client.pauseInput();
    this.#inputPoll = setInterval(() => {
      // While connecting, what the client sent is held by the session, and `connected` lets input flow again.
      if (this.#o.sending() && this.#o.agent.bufferedAmount <= SEND_BACKLOG_BYTES) this.#inputFlows();
    }, INPUT_POLL_MS);
  }

  #inputFlows(): void {
    if (this.#inputPoll === undefined) return;
    clearInterval(this.#inputPoll);
    this.#inputPoll = undefined;
    this.#o.client.resumeInput();
  }
}
