/**
 * The master's side of changing the cluster: launches (launches.ts) and the
 * lifecycle verbs and purges on one or many instances. Every call goes
 * through the audit policy (audit-policy.ts): recorded before it acts and
 * again with its result, and not made when it cannot be recorded. The cache
 * is updated from each operation's own result, so a listing right after a
 * call shows its effect. No call is cut by a wall clock below the daemon's
 * own bounds (call-bounds.ts), and one whose answer is lost is followed on
 * its node until the node says how it ended (outcomes.ts). A verb on many
 * instances goes through a lane per node (node-lanes.ts): each instance's
 * result is reported as it comes, a hung node fails its instances at its
 * first call's headers deadline, and no node waits for another.
 */
import { audited, type Caller } from "./audit-policy.ts";
import { AppError, messageOf } from "../core/errors.ts";
import type { InstanceSummary } from "../protocol/instances.ts";
import type { ActionOptions, ActionResult, LifecycleAction, PurgeResult } from "../protocol/operations.ts";
import { actionBoundMs } from "./call-bounds.ts";
import { createLaunches, withChangeDefaults, type ChangeDeps, type LaunchDeps, type Launches } from "./launches.ts";
import { notAnswering } from "./agent-client.ts";
import { runInLanes, type Lane } from "./node-lanes.ts";
import { changeOrFollow } from "./outcomes.ts";
import type { NodeEntry } from "./registry.ts";
import type { Target } from "./targets.ts";

export type OperationsDeps = LaunchDeps;

export interface Operations extends Launches {
  /**
   * One verb on the given instances (already resolved to nodes); per-instance
   * results, by node then name. `onResult` hears each result as it comes, so
   * a bulk answer can stream them.
   */
  act(action: LifecycleAction, targets: Target[], options: ActionOptions, caller: Caller, onResult?: (result: ActionResult) => void): Promise<ActionResult[]>;
  /** Removes deleted instances on the given nodes; per-node results, each also to `onResult` as it comes. */
  purge(nodes: NodeEntry[], caller: Caller, onResult?: (result: PurgeResult) => void): Promise<PurgeResult[]>;
}

export function createOperations(options: OperationsDeps): Operations {
  const deps = withChangeDefaults(options);
  return {
    ...createLaunches(deps),

    async act(action, targets, options, caller, onResult) {
      const results: ActionResult[] = [];
      await runInLanes(targets, async (target, lane) => {
        const result = await actOne(deps, { action, target, options, caller, lane });
        results.push(result);
        onResult?.(result);
      });
      return results.sort((a, b) => (a.node === b.node ? (a.name < b.name ? -1 : 1) : a.node < b.node ? -1 : 1));
    },

    purge: (nodes, caller, onResult) =>
      Promise.all(
        nodes.map(async (node) => {
          const result = await purgeOne(deps, node, caller);
          onResult?.(result);
          return result;
        }),
      ),
  };
}

/** One instance's verb within a request: its node's lane says whether it may still be sent. */
interface ActCall {
  action: LifecycleAction;
  target: Target;
  options: ActionOptions;
  caller: Caller;
  lane: Lane;
}

async function actOne(deps: ChangeDeps, { action, target: { node, name }, options, caller, lane }: ActCall): Promise<ActionResult> {
  const call = { token: caller.tokenId, action, node: node.name, instance: name, params: { force: options.force, purge: options.purge } };
  const outcome = await audited(deps, call, "E_MULTIPASS", async (ctx) => {
    if (deps.registry.stateOf(node) === "Down") throw new AppError("E_UNREACHABLE", `Node "${node.name}" is Down; cannot ${action} "${name}"`);
    if (lane.silent) throw notSent(action, name, node.name, lane.silent);
    const slot = deps.load.begin(node.name);
    let instances: InstanceSummary[];
    try {
      const target = { node: node.name, instance: name, what: `the ${action} of "${name}"`, boundMs: actionBoundMs(slot.queued), onAnswered: () => lane.answered() };
      instances = await changeOrFollow(deps, ctx, target, (c) => deps.agents.act(node, action, name, options, c));
    } catch (error) {
      if (notAnswering(error)) lane.unanswered(error.cause instanceof AppError ? error.cause : error);
      throw error;
    } finally {
      slot.end();
    }
    deps.registry.applyInstances(node.name, instances);
    if (action === "delete" && options.purge && !instances.some((i) => i.name === name)) forgetLabels(deps, node.name, [name]);
    return instances.find((i) => i.name === name)?.state ?? null;
  });
  if (outcome.ok) return { node: node.name, name, ok: true, state: outcome.value, error: null };
  const state = node.snapshot.instances.find((i) => i.name === name)?.state ?? null;
  return { node: node.name, name, ok: false, state, error: { code: outcome.error.code, message: outcome.error.message } };
}

/** The refusal of a call not sent because its node did not answer an earlier one of the same request. */
function notSent(action: LifecycleAction, name: string, node: string, why: AppError): AppError {
  return new AppError(
    "E_UNREACHABLE",
    `Cannot ${action} "${name}" on node "${node}": not sent, as the node did not answer an earlier call of this request (${why.message}); "${name}" was left as it was`,
    { cause: why },
  );
}

/**
 * Drops the labels of instances the master saw purged. A failure is logged,
 * not the call's: the purge happened, and a launch of the name replaces what
 * was left (launches.ts).
 */
function forgetLabels(deps: ChangeDeps, node: string, names: string[]): void {
  try {
    deps.registry.labels.dropInstances(node, names);
  } catch (error) {
    deps.log.error(`cannot forget the labels of purged ${names.join(", ")} on node "${node}": ${messageOf(error)}`);
  }
}

async function purgeOne(deps: ChangeDeps, node: NodeEntry, caller: Caller): Promise<PurgeResult> {
  const before = node.snapshot.instances.filter((i) => i.state === "Deleted").map((i) => i.name);
  const outcome = await audited(deps, { token: caller.tokenId, action: "purge", node: node.name, instance: null }, "E_MULTIPASS", async (ctx) => {
    if (deps.registry.stateOf(node) === "Down") throw new AppError("E_UNREACHABLE", `Node "${node.name}" is Down`);
    const slot = deps.load.begin(node.name);
    let instances: InstanceSummary[];
    try {
      const target = { node: node.name, instance: null, what: "the purge of deleted instances", boundMs: actionBoundMs(slot.queued) };
      instances = await changeOrFollow(deps, ctx, target, (c) => deps.agents.purge(node, c));
    } finally {
      slot.end();
    }
    deps.registry.applyInstances(node.name, instances);
    const purged = before.filter((n) => !instances.some((i) => i.name === n));
    forgetLabels(deps, node.name, purged);
    return purged;
  });
  if (outcome.ok) return { node: node.name, ok: true, purged: outcome.value, error: null };
  return { node: node.name, ok: false, purged: [], error: { code: outcome.error.code, message: outcome.error.message } };
}
