/**
 * How the client rides out a dropped connection to a kept shell (issue 12):
 * the one function that decides whether a failed reattach is worth another
 * try, the pacing of the tries, how long they go on, and the one status line
 * they show meanwhile. No sockets here: the session (session.ts) makes each
 * attempt and reports how it went.
 */
import { backoffDelay, type BackoffPolicy } from "../core/backoff.ts";
import type { ErrorCode } from "../core/errors.ts";
import { formatElapsed } from "../core/format.ts";
import type { LivenessTimes } from "../net/liveness.ts";

export interface ReconnectPolicy {
  /** Pause between attempts: 0.5 s doubling to 5 s. */
  backoff: BackoffPolicy;
  /** How long attempts go on: the worker's default grace period, after which the shell is gone anyway. */
  limitMs: number;
  /** How long one attempt may take to be attached: a connect into a cut network may hang much longer. */
  attemptMs: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { backoff: { baseMs: 500, maxMs: 5_000 }, limitMs: 10 * 60_000, attemptMs: 10_000 };

/**
 * Liveness of a kept shell's connection. A lost connection costs a kept
 * shell only a reconnect and a redrawn screen, so the client finds out in
 * seconds rather than after the minute a shell that dies with its link waits:
 * a network cut must show "reconnecting", not a frozen screen.
 */
export const KEPT_LIVENESS: LivenessTimes = { pingIntervalMs: 2_500, peerTimeoutMs: 10_000 };

/** Why an attach did not take: the master's or the worker's error code, or null when nothing said (a connect that failed, a dropped socket). */
export interface ReattachFailure {
  code: ErrorCode | null;
  /**
   * Whether the shell's node is Ready on the master now (asked only for
   * E_NOT_FOUND): a master that has just restarted does not know a node's
   * shells until the node joins it again.
   */
  nodeReady?: boolean;
}

/** Codes that another try cannot change: a token refused, a bad request, a shell that is gone. */
const FINAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["E_UNAUTHORIZED", "E_USAGE", "E_PROTOCOL"]);

/**
 * The one place that decides whether a failed reattach is tried again: yes
 * for anything the network, a restarting master or a worker that has not yet
 * seen the old connection go (E_CONFLICT) explains; no for a refused token or
 * request, and for a shell not found while its node is Ready (it ended, or its
 * grace period passed).
 */
export function isRetryable(failure: ReattachFailure): boolean {
  if (failure.code === null) return true;
  if (failure.code === "E_NOT_FOUND") return failure.nodeReady !== true;
  return !FINAL.has(failure.code);
}

/** The path of the attach route of shell `id`, at the terminal's size. */
export function attachPath(id: string, size: { cols: number; rows: number }, readOnly: boolean): string {
  const query = new URLSearchParams({ cols: String(size.cols), rows: String(size.rows), keepalive: String(KEPT_LIVENESS.pingIntervalMs) });
  if (readOnly) query.set("readOnly", "1");
  return `/api/v1/sessions/${encodeURIComponent(id)}/attach?${query}`;
}

/** The status line shown while reconnecting (without the terminal's line controls). */
export function formatStatus(elapsedMs: number, discarded: boolean): string {
  const tail = discarded ? "input discarded while disconnected" : "Enter ~ . to quit";
  return `multiverse: connection lost — reconnecting… ${formatElapsed(elapsedMs)} (${tail})`;
}

/** Why an attempt did not take: the master's or the worker's error code (null when nothing said) and words. */
export interface Refusal {
  code: ErrorCode | null;
  message: string;
}

/** How a stretch of reconnecting ended without an attach. */
export type ReconnectEnd = { kind: "final"; failure: Refusal } | { kind: "gaveUp"; elapsedMs: number; why: string };

export interface ReconnectDeps {
  policy: ReconnectPolicy;
  /** Starts one attempt (a new link to the attach route); returns how to abandon it. The session answers with `failed`, or `stop` once attached. */
  attempt(): () => void;
  /** Whether the shell's node is Ready on the master (asked when the shell is not found); without it, not found is never final. */
  nodeReady?: () => Promise<boolean>;
  /** No attach, and no more attempts. */
  end(outcome: ReconnectEnd): void;
  /** Shows the status line: `first` is its first showing, later ones rewrite it in place. */
  status(line: string, first: boolean): void;
  /** Whether the status line is redrawn as time goes by (a terminal), or shown once (a log). */
  ticking: boolean;
  now?: () => number;
  random?: () => number;
}

/**
 * One stretch of reconnecting: attempts paced by the backoff, each given
 * `attemptMs`, until the session is attached again (`stop`), a failure is
 * final, or the limit passes. Owns its timers; `stop` clears them all.
 */
export class Reconnection {
  private readonly startedAt: number;
  private attempts = 0;
  private discarded = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private attemptTimer: ReturnType<typeof setTimeout> | undefined;
  /** An attempt is under way: only it may fail, once. */
  private underway = false;
  private stopped = false;
  private lastWhy = "";

  constructor(private readonly deps: ReconnectDeps) {
    this.startedAt = this.now();
    deps.status(this.line(), true);
    if (deps.ticking) this.ticker = setInterval(() => deps.status(this.line(), false), 1_000);
    // The first try goes at once: most drops are a blip.
    this.timer = setTimeout(() => this.attempt(), 0);
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  private line(): string {
    return formatStatus(this.now() - this.startedAt, this.discarded);
  }

  private attempt(): void {
    if (this.stopped) return;
    this.underway = true;
    const abandon = this.deps.attempt();
    this.attemptTimer = setTimeout(() => {
      abandon();
      this.failed({ code: null, message: "no answer in time" });
    }, this.deps.policy.attemptMs);
  }

  /** The attempt under way did not take: the next one, or the end (reconnect.ts's isRetryable decides). */
  failed(failure: Refusal): void {
    if (this.stopped || !this.underway) return;
    this.underway = false;
    clearTimeout(this.attemptTimer);
    this.lastWhy = failure.message;
    const { nodeReady } = this.deps;
    if (failure.code !== "E_NOT_FOUND" || !nodeReady) return this.decide(failure);
    void nodeReady().then(
      (ready) => this.decide(failure, ready),
      () => this.decide(failure, false),
    );
  }

  private decide(failure: Refusal, nodeReady?: boolean): void {
    if (this.stopped) return;
    if (!isRetryable({ code: failure.code, ...(nodeReady === undefined ? {} : { nodeReady }) })) {
      this.stop();
      return this.deps.end({ kind: "final", failure });
    }
    const delay = backoffDelay(this.attempts++, this.deps.policy.backoff, this.deps.random);
    if (this.now() + delay - this.startedAt > this.deps.policy.limitMs) {
      this.stop();
      return this.deps.end({ kind: "gaveUp", elapsedMs: this.now() - this.startedAt, why: this.lastWhy });
    }
    this.timer = setTimeout(() => this.attempt(), delay);
  }

  /** Keys were typed and thrown away: the status line says so from now on. */
  discard(): void {
    if (this.stopped || this.discarded) return;
    this.discarded = true;
    if (this.deps.ticking) this.deps.status(this.line(), false);
  }

  /** Attached again, or the session ended: no more attempts or redraws. Idempotent. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.attemptTimer);
    clearInterval(this.ticker);
  }
}
