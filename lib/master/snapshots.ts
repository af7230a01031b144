/**
 * Snapshots across the cluster (issue 15): the listing fanned out to the
 * nodes like live info (live-info.ts: each node with its own timeout, a node
 * that is not Ready or fails is an error beside the others' snapshots —
 * unless one instance was asked for, then its node's failure is the answer),
 * and the audited changes on one instance: take, restore, delete.
 *
 * A change is bounded above the daemon's own bounds (call-bounds.ts): one
 * daemon turn for a take or a delete, two for a restore that keeps the
 * current state first, plus one for each snapshot change of this master
 * already in flight on the node; its stream's silence watchdog notices a
 * lost node sooner. A change whose answer is lost is recorded as failed with the
 * reason: the worker keeps no outcome of snapshot calls to ask for later.
 */
import { AppError, messageOf, toAppError } from "../core/errors.ts";
import type { InstanceRef } from "../core/validate.ts";
import { AGENT_HEADERS_MS, agentCall, parseLine, streamedChange, type AgentTarget, type CallLimits, type ChangeEnd } from "./agent-client.ts";
import { STREAM_SILENCE_MS } from "../core/timers.ts";
import {
  parseAgentSnapshotEvent,
  parseAgentSnapshots,
  type AgentSnapshotEvent,
  type RestoreSnapshotBody,
  type SnapshotChangeResponse,
  type SnapshotSummary,
  type SnapshotsResponse,
  type SnapshotView,
  type TakeSnapshotBody,
} from "../protocol/snapshots.ts";
import { audited, type AuditDeps, type Caller } from "./audit-policy.ts";
import { actionBoundMs, type NodeLoad } from "./call-bounds.ts";
import type { NodeEntry, Registry } from "./registry.ts";
import { instanceTarget } from "./targets.ts";

export interface SnapshotDeps extends AuditDeps {
  registry: Registry;
  /** The snapshot changes in flight per node: each queues behind the others on the host's daemon, so its bound counts them. */
  load: NodeLoad;
}

/** The audit trail's names of the changes. */
export const SNAPSHOT_ACTIONS = { take: "snapshot", restore: "restore", delete: "delete-snapshot" } as const;

const view = (node: string, s: SnapshotSummary): SnapshotView => ({ node, ...s });

async function nodeSnapshots(node: AgentTarget, instance: string | null, limits: CallLimits): Promise<SnapshotSummary[]> {
  const query = instance === null ? "" : `?instance=${encodeURIComponent(instance)}`;
  const body = await agentCall(node, `/agent/v1/snapshots${query}`, limits);
  try {
    return parseAgentSnapshots(body).snapshots;
  } catch (error) {
    throw new AppError("E_PROTOCOL", `Node "${node.name}" sent a malformed snapshots answer: ${messageOf(error)}`);
  }
}

/**
 * The snapshots of one instance (`ref`) or of every instance of every node.
 * @throws AppError when `ref` resolves to no instance or to several, or when
 *   its node is not Ready or does not answer.
 */
export async function listSnapshots(deps: Pick<SnapshotDeps, "registry">, ref: InstanceRef | null, limits: CallLimits): Promise<SnapshotsResponse> {
  const { registry } = deps;
  const targets: { node: NodeEntry; instance: string | null }[] =
    ref === null ? registry.entries().map((node) => ({ node, instance: null })) : [{ node: registry.resolve(ref.name, ref.node).node, instance: ref.name }];
  const failures: { node: string; error: AppError }[] = [];
  const live = targets.filter(({ node }) => {
    const state = registry.stateOf(node);
    if (state === "Ready") return true;
    failures.push({ node: node.name, error: new AppError("E_UNREACHABLE", `Node "${node.name}" is ${state} (last sync ${new Date(node.lastSync).toISOString()})`) });
    return false;
  });
  const answers = await Promise.all(
    live.map(async ({ node, instance }) => {
      try {
        return (await nodeSnapshots(node, instance, limits)).map((s) => view(node.name, s));
      } catch (error) {
        failures.push({ node: node.name, error: toAppError(error) });
        return [];
      }
    }),
  );
  if (ref !== null && failures.length > 0) throw failures[0]!.error;
  const errors = failures.map((f) => ({ node: f.node, message: f.error.message })).sort((a, b) => (a.node < b.node ? -1 : 1));
  return { snapshots: answers.flat(), errors };
}

/** One change as the master asks a node for it. */
interface ChangeAsk {
  action: keyof typeof SNAPSHOT_ACTIONS;
  /** The path under the node's `/agent/v1/snapshots/`. */
  path: string;
  payload: unknown;
  /** "the snapshot of "web"", for messages. */
  what: string;
  /** Daemon turns it may take. */
  turns: number;
  params: Record<string, unknown>;
}

type Done = Extract<AgentSnapshotEvent, { type: "done" }>;

/** The one event of a change's answer. */
async function snapshotEnd(lines: AsyncIterable<string>, node: AgentTarget): Promise<ChangeEnd<Done> | null> {
  for await (const line of lines) {
    const event = parseLine(node, line, parseAgentSnapshotEvent);
    if (event.type === "done") return { ok: true, value: event };
    return { ok: false, error: new AppError(event.code, event.message) };
  }
  return null;
}

async function change(deps: SnapshotDeps, caller: Caller, ref: InstanceRef, ask: ChangeAsk): Promise<SnapshotChangeResponse> {
  const { node, name } = instanceTarget(deps.registry, ref);
  const call = { token: caller.tokenId, action: SNAPSHOT_ACTIONS[ask.action], node: node.name, instance: name, params: ask.params };
  const slot = deps.load.begin(node.name);
  const outcome = await audited(deps, call, "E_MULTIPASS", ({ requestId }) =>
    streamedChange(
      {
        node,
        path: `/agent/v1/snapshots/${ask.path}`,
        payload: ask.payload,
        call: { requestId, boundMs: actionBoundMs(slot.queued + ask.turns - 1) },
        what: ask.what,
        silenceMs: STREAM_SILENCE_MS,
        headersMs: AGENT_HEADERS_MS,
      },
      snapshotEnd,
    ),
  ).finally(() => slot.end());
  if (!outcome.ok) throw outcome.error;
  const done = outcome.value;
  return { node: node.name, instance: name, snapshot: done.snapshot, taken: done.taken, snapshots: done.snapshots.map((s) => view(node.name, s)) };
}

/** Takes a snapshot of `ref` (stopped). @throws AppError: the name's, the node's or Multipass's (E_CONFLICT not stopped, E_UNAVAILABLE no snapshots) */
export function takeSnapshot(deps: SnapshotDeps, caller: Caller, ref: InstanceRef, body: TakeSnapshotBody): Promise<SnapshotChangeResponse> {
  const instance = encodeURIComponent(ref.name);
  return change(deps, caller, ref, { action: "take", path: instance, payload: body, what: `the snapshot of "${ref.name}"`, turns: 1, params: { ...body } });
}

/** Restores `ref` to `snapshot`; without `destructive` its current state is kept in a snapshot first. @throws AppError as takeSnapshot, E_NOT_FOUND for the snapshot */
export function restoreSnapshot(deps: SnapshotDeps, caller: Caller, ref: InstanceRef, snapshot: string, body: RestoreSnapshotBody): Promise<SnapshotChangeResponse> {
  const path = `${encodeURIComponent(ref.name)}/${encodeURIComponent(snapshot)}/restore`;
  const destructive = body.destructive === true;
  return change(deps, caller, ref, { action: "restore", path, payload: body, what: `the restore of "${ref.name}.${snapshot}"`, turns: destructive ? 1 : 2, params: { snapshot, destructive } });
}

/** Deletes (purges) one snapshot of `ref`. @throws AppError as restoreSnapshot */
export function deleteSnapshot(deps: SnapshotDeps, caller: Caller, ref: InstanceRef, snapshot: string): Promise<SnapshotChangeResponse> {
  const path = `${encodeURIComponent(ref.name)}/${encodeURIComponent(snapshot)}/delete`;
  return change(deps, caller, ref, { action: "delete", path, payload: {}, what: `the deletion of "${ref.name}.${snapshot}"`, turns: 1, params: { snapshot } });
}
