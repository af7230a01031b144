/**
 * After a restart, the master settles the calls the last one left without a
 * "done" record (it was killed, or stopped, in the middle of them): each gets
 * one that says what really happened.
 *
 * Rules, per "requested" record without a "done" (AuditLog.interrupted):
 * - a shell or an exec ended with the master that relayed it: the worker
 *   hangs up a session whose master connection drops. Settled at once as
 *   E_CANCELLED, exit status unknown.
 * - a launch, lifecycle verb or purge: once its node has joined (Ready), the
 *   worker is asked for the request id (outcomes.ts learnOutcome: ok, its
 *   error, or still running — then asked again within the call's own bound).
 *   "ok" also refreshes the cache from the worker's listing.
 * - the worker has no record (it restarted since) or cannot be asked in
 *   time: "Outcome unknown", with what the cache shows of the instance now;
 *   never "ok".
 * - a node that has not joined by OPERATION_LOG_MAX_AGE_MS after the request
 *   (when its worker would have forgotten it anyway), or a record without a
 *   node: "Outcome unknown" too.
 * A master that stops while settling leaves the rest for the next one.
 */
import type { ConsolaInstance } from "consola";
import { sleep } from "../core/backoff.ts";
import { formatDuration } from "../core/duration.ts";
import { OPERATION_LOG_MAX_AGE_MS } from "../protocol/agent.ts";
import type { AuditEvent } from "../protocol/audit.ts";
import { recordEnd, type AuditDeps } from "./audit-policy.ts";
import { actionBoundMs, launchBoundMs } from "./call-bounds.ts";
import { REMOVE_NODE_ACTION } from "./node-removal.ts";
import { endOf, learnOutcome, type OutcomeDeps } from "./outcomes.ts";

export interface ReconcileDeps extends OutcomeDeps, AuditDeps {
  log: Pick<ConsolaInstance, "error" | "info">;
  /** How often to look whether a node has joined (default 1 s). */
  joinPollMs?: number;
  /**
   * Filled with the launches being settled, instance → node, each removed
   * once settled: an environment's apply waits for such an instance instead
   * of launching it again (environment-plan.ts).
   */
  settling?: Map<string, string>;
}

const SESSIONS = new Set(["shell", "exec"]);
/** An environment's apply or delete as a whole (environments.ts): its calls are settled one by one. */
const ENVIRONMENT_ACTIONS = new Set(["apply-environment", "delete-environment"]);

/**
 * Settles `records` (the interrupted calls of the audit trail), each as soon
 * as its node allows. Resolves when all are settled, or when the master stops.
 */
export async function reconcile(deps: ReconcileDeps, records: AuditEvent[]): Promise<void> {
  if (records.length === 0) return;
  deps.log.info(`audit trail: ${records.length} call(s) left unfinished by the last master; recording their outcomes as their nodes join`);
  await Promise.all(records.map((record) => settle(deps, record)));
}

async function settle(deps: ReconcileDeps, record: AuditEvent): Promise<void> {
  const launch = record.action === "launch" && record.node !== null && record.instance !== null ? record.instance : null;
  if (launch !== null) deps.settling?.set(launch, record.node!);
  try {
    await settleOne(deps, record);
  } finally {
    if (launch !== null && deps.settling?.get(launch) === record.node) deps.settling.delete(launch);
  }
}

async function settleOne(deps: ReconcileDeps, record: AuditEvent): Promise<void> {
  const what = `the ${record.action}${record.instance === null ? "" : ` of "${record.instance}"`}`;
  if (SESSIONS.has(record.action)) {
    const message = `Ended with the master, which stopped during this ${record.action}: the worker hangs up a session whose master connection drops; exit status unknown`;
    return recordEnd(deps, record, { error: { code: "E_CANCELLED", message } });
  }
  // A change of the master's own cache, nothing a node can report on.
  if (record.action === REMOVE_NODE_ACTION) {
    const message = "Outcome unknown: the master stopped during this removal; the cache it acted on went with it, and a node joins the new master afresh";
    return recordEnd(deps, record, { error: { code: "E_CANCELLED", message } });
  }
  if (ENVIRONMENT_ACTIONS.has(record.action)) {
    const message = "Ended with the master, which stopped during it: each launch, start and removal it made has its own record; apply the file again to go on from what exists";
    return recordEnd(deps, record, { error: { code: "E_CANCELLED", message } });
  }
  if (record.node === null) return recordEnd(deps, record, { error: { code: "E_UNREACHABLE", message: "Outcome unknown: the record names no node to ask" } });
  const joined = await nodeJoined(deps, record.node, Date.parse(record.time) + OPERATION_LOG_MAX_AGE_MS);
  if (joined === "stopping") return;
  if (joined === "late") {
    const message = `Outcome unknown: node "${record.node}" did not join within ${formatDuration(OPERATION_LOG_MAX_AGE_MS)} of the request, after which its worker no longer remembers it`;
    return recordEnd(deps, record, { error: { code: "E_UNREACHABLE", message } });
  }
  const learned = await learnOutcome(deps, { node: record.node, requestId: record.requestId, instance: record.instance, what, boundMs: boundOf(record) });
  const end = endOf(learned);
  if (end === null) return;
  if (learned?.kind === "ok") deps.registry.applyInstances(record.node, learned.instances);
  recordEnd(deps, record, end);
  deps.log.info(`audit trail: ${what} on node "${record.node}" (request ${record.requestId}): ${end.error ? end.error.message : "ok"}`);
}

/** Waits until `node` is Ready; "late" once `deadline` has passed without it. */
async function nodeJoined(deps: ReconcileDeps, node: string, deadline: number): Promise<"joined" | "late" | "stopping"> {
  const now = deps.now ?? Date.now;
  for (;;) {
    if (deps.stopping.aborted) return "stopping";
    const entry = deps.registry.get(node);
    if (entry && deps.registry.stateOf(entry) === "Ready") return "joined";
    if (now() >= deadline) return "late";
    await sleep(deps.joinPollMs ?? 1000, deps.stopping);
  }
}

/** How long a call may still run on its node: its own outer bound, as if it had just started. */
function boundOf(record: AuditEvent): number {
  if (record.action !== "launch") return actionBoundMs(0);
  const timeout = record.params?.["timeoutSeconds"];
  return launchBoundMs(typeof timeout === "number" ? timeout : undefined, 0);
}
