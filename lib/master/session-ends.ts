/**
 * The two ends a relayed session joins on the master: what the client side
 * (a WebSocket, or a streamed HTTP answer) offers the relay, and what the
 * relay offers it back; and how a session ended.
 */
import type { LivenessTimes } from "../net/liveness.ts";
import type { ErrorCode } from "../core/errors.ts";
import type { SessionControl } from "../protocol/session.ts";

/**
 * What became of output handed to the client: queued with room for more;
 * queued, but the client's backlog is full (send no more until
 * {@link RelayHandle.drained}); or lost (the session must end).
 */
export type Delivery = "more" | "full" | "lost";

/** The client side of a relayed session: a WebSocket, or a streamed HTTP answer. */
export interface ClientEnd {
  /** Program output. */
  binary(bytes: Uint8Array): Delivery;
  control(message: SessionControl): void;
  /** Stops reading the client's input (the node has a full backlog of it) until {@link resumeInput}. */
  pauseInput(): void;
  resumeInput(): void;
  close(code: number, reason: string): void;
  /**
   * Sends a protocol-level ping, which every WebSocket peer answers by itself
   * (websocat, browsers), beside the JSON one. Absent for a streamed HTTP
   * answer: it cannot answer pings, its end shows as a cancel, and it is not
   * watched for silence.
   */
  ping?(): void;
  /** How to watch this client, when it declared its keepalive; else the relay's own times. */
  readonly liveness?: LivenessTimes;
}

/** What the client side feeds into a session. */
export interface RelayHandle {
  input(bytes: Uint8Array): void;
  control(message: SessionControl): void;
  /** The client went away: the node hangs the program up, or keeps a kept shell (detached). */
  clientGone(): void;
  /** The client answered a protocol-level ping. */
  heard(): void;
  /** The client's backlog of output is under the bound again. */
  drained(): void;
}

/** How a session ended: the program's exit status, or why there is none. */
export interface SessionOutcome {
  exitCode: number | null;
  /** Set when the program did not report a status (node lost, client gone, refused, …). */
  error: { code: ErrorCode; message: string } | null;
  /**
   * A kept shell left running on its node without this client (issue 12):
   * detached on purpose, or its client or the relay went away; `error` says
   * why when something failed. It may be attached again.
   */
  detached?: boolean;
}
