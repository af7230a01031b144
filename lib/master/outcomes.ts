/**
 * The truth of a change whose answer was lost. The master never records a
 * failure it does not know: it asks the node for the call's request id
 * (`GET /agent/v1/operations/:requestId`, the worker's operation log) until
 * the node says how it ended, and records that.
 *
 * Rules:
 * - the node is asked while it is joined (Ready or NotReady); while it is
 *   away (Down, gone, or not answering) the master waits with capped,
 *   jittered backoff (ASK_BACKOFF), and gives up at the bound it was given
 *   (the call's own outer bound, call-bounds.ts);
 * - "running" is asked again (the same backoff) until it ends or the bound passes;
 * - "ok" refreshes the cache from the node's listing that comes with it;
 * - "error" is the node's own error;
 * - no record (the worker restarted, or the request never arrived) and a
 *   node that could not be asked in time are "outcome unknown": recorded as
 *   an error that says so and what the cache shows of the instance now,
 *   never as ok.
 */
import { AppError, messageOf, type ErrorCode } from "../core/errors.ts";
import { backoffDelay, sleep, type BackoffPolicy } from "../core/backoff.ts";
import { formatDuration } from "../core/duration.ts";
import type { InstanceSummary } from "../protocol/instances.ts";
import { answerLost, notAnswering, type AgentClient, type ChangeCall } from "./agent-client.ts";
import type { ActContext, CallEnd } from "./audit-policy.ts";
import type { Registry } from "./registry.ts";

/** Retries of a node that is away, and of a call still running there. */
export const ASK_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 5_000 };
/** One ask: the worker answers from memory, so this long means it is not there. */
export const ASK_TIMEOUT_MS = 10_000;

export interface OutcomeDeps {
  agents: AgentClient;
  registry: Registry;
  /** Aborts when the master stops: every follow ends, leaving its record to the next master. */
  stopping: AbortSignal;
  backoff?: BackoffPolicy;
  now?: () => number;
}

type Failure = { code: ErrorCode; message: string };

/** What a node says of a call: ok with its listing, its error, or that the outcome is unknown. */
export type Learned = { kind: "ok"; instances: InstanceSummary[] } | { kind: "error"; error: Failure } | { kind: "unknown"; error: Failure };

/** Which call to ask about, where, and for how long. */
export interface Ask {
  node: string;
  requestId: string;
  instance: string | null;
  /** `the stop of "web"`, for messages. */
  what: string;
  boundMs: number;
  /** Called once, the first time the node cannot be asked. */
  onAway?: () => void;
}

/** The "done" record of what was learned; null (the master is stopping) writes none. */
export function endOf(learned: Learned | null): CallEnd | null {
  if (learned === null) return null;
  return learned.kind === "ok" ? { error: null } : { error: learned.error };
}

/**
 * Asks the node how the call `ask.requestId` ended, waiting while it is away
 * or still running, within `ask.boundMs`. Resolves with null only when the
 * master stops first. Never rejects.
 */
export async function learnOutcome(deps: OutcomeDeps, ask: Ask): Promise<Learned | null> {
  const now = deps.now ?? Date.now;
  const deadline = now() + ask.boundMs;
  let lastWhy = "it was not asked";
  let away = false;
  for (let attempt = 0; ; attempt++) {
    if (deps.stopping.aborted) return null;
    const entry = deps.registry.get(ask.node);
    let running = false;
    if (entry && deps.registry.stateOf(entry) !== "Down") {
      try {
        const operation = await deps.agents.operation(entry, ask.requestId, { timeoutMs: ASK_TIMEOUT_MS, signal: deps.stopping });
        if (operation === null) return unknown(deps, ask, `node "${ask.node}" has no record of it (its worker restarted since, or the request never arrived)`);
        if (operation.state === "ok") return { kind: "ok", instances: operation.instances };
        if (operation.state === "error") return { kind: "error", error: operation.error ?? { code: "E_MULTIPASS", message: `${ask.what} failed on node "${ask.node}"` } };
        running = true;
      } catch (error) {
        lastWhy = messageOf(error);
      }
    } else lastWhy = `node "${ask.node}" is ${entry ? "Down" : "not in the cluster"}`;
    if (!running && !away) {
      away = true;
      ask.onAway?.();
    }
    if (now() >= deadline) {
      const why = running ? `it was still running on node "${ask.node}"` : `node "${ask.node}" could not be asked (${lastWhy})`;
      return unknown(deps, ask, `after ${formatDuration(ask.boundMs)} ${why}`, "E_UNREACHABLE");
    }
    await sleep(Math.min(backoffDelay(attempt, deps.backoff ?? ASK_BACKOFF), Math.max(0, deadline - now())), deps.stopping);
  }
}

function unknown(deps: OutcomeDeps, ask: Ask, why: string, code: ErrorCode = "E_NOT_FOUND"): Learned {
  return { kind: "unknown", error: { code, message: `Outcome unknown: ${why}; ${instanceNow(deps.registry, ask)}` } };
}

/** What the cache shows of the call's instance now, for an unknown outcome. */
function instanceNow(registry: Registry, ask: Pick<Ask, "node" | "instance">): string {
  const entry = registry.get(ask.node);
  if (!entry) return `node "${ask.node}" is not in the cluster now`;
  if (ask.instance === null) return `see node "${ask.node}"'s instances`;
  const found = entry.snapshot.instances.find((i) => i.name === ask.instance);
  return found ? `instance "${ask.instance}" is ${found.state} there now` : `there is no instance "${ask.instance}" there now`;
}

/**
 * A change on a node that learns its outcome when the answer is lost: while
 * the node can be asked, the caller waits for what it says; once the node is
 * away (or the answer was lost to the outer bound, or the node never began to
 * answer: a hung node would not answer the question either) the caller is answered
 * with the loss, and the "done" record and the cache wait for the real
 * outcome (ActContext.settleLater).
 * @returns the node's fresh listing. @throws AppError: the node's error, the
 *   outcome learned, or the loss with what happens next
 */
export async function changeOrFollow(
  deps: OutcomeDeps,
  ctx: ActContext,
  target: { node: string; instance: string | null; what: string; boundMs: number; onAnswered?: () => void },
  change: (call: ChangeCall) => Promise<InstanceSummary[]>,
): Promise<InstanceSummary[]> {
  const { onAnswered, ...ask } = target;
  try {
    return await change({ requestId: ctx.requestId, boundMs: target.boundMs, ...(onAnswered ? { onAnswered } : {}) });
  } catch (error) {
    const by = answerLost(error);
    if (by === null || !(error instanceof AppError)) throw error;
    // A node that never began to answer would not answer the question either: the caller is told at once.
    const learned = await follow(deps, ctx, { ...ask, requestId: ctx.requestId }, by === "bound" || notAnswering(error));
    if (learned === null) {
      const next = `it may still finish there: the audit trail records its outcome once node "${target.node}" can say it (see events)`;
      throw new AppError(error.code, `${error.message}; ${next}`, { cause: error, details: error.details });
    }
    if (learned.kind === "ok") return learned.instances;
    throw new AppError(learned.error.code, learned.error.message);
  }
}

/**
 * Follows a call on its node; resolves early with null once the node is away
 * (at once when `awayAlready`), handing the rest to `ctx.settleLater`.
 */
async function follow(deps: OutcomeDeps, ctx: ActContext, ask: Omit<Ask, "onAway">, awayAlready: boolean): Promise<Learned | null> {
  let markAway = (): void => {};
  const away = new Promise<"away">((resolve) => (markAway = () => resolve("away")));
  if (awayAlready) markAway();
  const learned = learnOutcome(deps, { ...ask, onAway: markAway }).then((l) => {
    if (l?.kind === "ok") deps.registry.applyInstances(ask.node, l.instances);
    return l;
  });
  const first = await Promise.race([learned, away]);
  if (first !== "away" && first !== null) return first;
  ctx.settleLater(learned.then(endOf));
  return null;
}
