/**
 * Launches: a cluster-wide name check and reservation, a node (asked for,
 * or placed with the launches in flight counted), then the launch on that
 * node with its progress streamed, under the audit policy. The cache is
 * updated from the node's own answer, so a listing right after shows it.
 * A launch is bounded by its stream's silence, not by a wall clock
 * (call-bounds.ts); when its answer is lost it is followed on the node
 * (outcomes.ts), and its name stays reserved until its outcome is known.
 */
import { randomUUID } from "node:crypto";
import type { AgentClient } from "./agent-client.ts";
import { audited, type AuditDeps, type Caller } from "./audit-policy.ts";
import { AppError, messageOf } from "../core/errors.ts";
import type { Labels } from "../core/labels.ts";
import type { InstanceSummary, LaunchSpec } from "../protocol/instances.ts";
import { createNodeLoad, launchBoundMs, type NodeLoad } from "./call-bounds.ts";
import { randomInstanceName } from "./instance-names.ts";
import { changeOrFollow } from "./outcomes.ts";
import type { LaunchEvent, LaunchRequestBody } from "../protocol/operations.ts";
import { checkNodeMinimums, createPendingLaunches, demandOf, place, type Candidate, type PendingLaunches, type Placement } from "./placement.ts";
import type { NodeEntry, Registry } from "./registry.ts";

/** The last event of a launch. */
export type LaunchEnd = Extract<LaunchEvent, { type: "launched" | "error" }>;

/** A launch checked, placed and reserved, ready to run. */
export interface PreparedLaunch {
  node: NodeEntry;
  placement: Placement | null;
  spec: LaunchSpec;
  requestId: string;
  /** Set on the instance once launched: the master's, never sent to the node. */
  labels: Labels;
}

export interface LaunchDeps extends AuditDeps {
  registry: Registry;
  agents: AgentClient;
  /** Virtual CPUs placed per host CPU (see placement.ts). */
  cpuOvercommit?: number;
  /** Aborts when the master stops: outcomes still being learned are left to the next master (reconcile.ts). */
  stopping?: AbortSignal;
  /** This master's calls in flight per node, shared by launches and lifecycle calls. */
  load?: NodeLoad;
}

export interface Launches {
  /**
   * Checks a launch, picks its node and reserves its name. Synchronous from
   * the check to the reservation, so two concurrent launches of one name can
   * never both pass. @throws AppError E_USAGE / E_CONFLICT / E_NOT_FOUND / E_UNREACHABLE
   */
  prepareLaunch(body: LaunchRequestBody): PreparedLaunch;
  /** Where a launch would go, without reserving anything. */
  planLaunch(body: LaunchRequestBody): { node: string; reason: string; name: string | null };
  /** Every node as placement sees it now, the launches in flight charged to theirs (placement.ts). */
  candidates(): Candidate[];
  /** The node a launch of `name` in flight goes to, or null. */
  launchingOn(name: string): string | null;
  /**
   * Runs a prepared launch to its end, emitting events, the last of them
   * (`launched` or `error`) also its result; never rejects.
   */
  runLaunch(prepared: PreparedLaunch, caller: Caller, emit: (event: LaunchEvent) => void): Promise<LaunchEnd>;
}

/** The deps with what every change needs filled in. */
export type ChangeDeps = LaunchDeps & Required<Pick<LaunchDeps, "stopping" | "load">>;

export function withChangeDefaults(deps: LaunchDeps): ChangeDeps {
  return { ...deps, stopping: deps.stopping ?? new AbortController().signal, load: deps.load ?? createNodeLoad() };
}

export function createLaunches(options: LaunchDeps): Launches {
  const deps = withChangeDefaults(options);
  const { registry } = deps;
  /** Names being launched, where, and what they asked for: a name is reserved from its check until its launch ends. */
  const launching = createPendingLaunches();

  function checkName(name: string): void {
    const on = whereIs(registry, name);
    // Multipass refuses a deleted-but-not-purged name too, so any listing counts.
    if (on !== null) throw new AppError("E_CONFLICT", `Instance name "${name}" is already used on node "${on}"`);
    const pending = launching.get(name);
    if (pending !== undefined) throw new AppError("E_CONFLICT", `Instance "${name}" is already being launched on node "${pending.node}"`);
  }

  return {
    planLaunch(body) {
      if (body.name !== undefined) checkName(body.name);
      const { node, placement } = chooseNode(deps, launching, body);
      return { node: node.name, reason: placement?.reason ?? "asked for with --node", name: body.name ?? null };
    },

    candidates: () => candidatesOf(registry, launching),
    launchingOn: (name) => launching.get(name)?.node ?? null,

    prepareLaunch(body) {
      const name = body.name ?? randomInstanceName((n) => whereIs(registry, n) !== null || launching.get(n) !== undefined);
      checkName(name);
      const { node, placement } = chooseNode(deps, launching, body);
      launching.add(name, { node: node.name, demand: demandOf(body) });
      const { node: _node, dryRun: _dryRun, name: _name, labels = {}, ...rest } = body;
      return { node, placement, spec: { name, ...rest }, requestId: randomUUID(), labels };
    },

    async runLaunch(prepared, caller, emit) {
      const { end, settled } = await launch(deps, prepared, caller, emit);
      // A launch whose answer was lost may still finish: its name stays taken until its outcome is known.
      void settled.then(() => launching.delete(prepared.spec.name));
      emit(end);
      return end;
    },
  };
}

/** The node that lists an instance of this name, if any. */
function whereIs(registry: Registry, name: string): string | null {
  for (const entry of registry.entries()) if (entry.snapshot.instances.some((i) => i.name === name)) return entry.name;
  return null;
}

/** The node asked for (which must be Ready), or the one placement picks. */
function chooseNode(deps: LaunchDeps, launching: PendingLaunches, body: LaunchRequestBody): { node: NodeEntry; placement: Placement | null } {
  const { registry } = deps;
  if (body.node !== undefined) {
    const node = registry.get(body.node);
    if (!node) throw new AppError("E_NOT_FOUND", `Node "${body.node}" is not part of the cluster`);
    const state = registry.stateOf(node);
    if (state !== "Ready") throw new AppError("E_UNREACHABLE", `Node "${node.name}" is ${state}; cannot launch there`);
    const cordon = registry.cordons.get(node.name);
    if (cordon) {
      const why = cordon.reason === null ? "" : ` (${cordon.reason})`;
      throw new AppError("E_CONFLICT", `Node "${node.name}" is cordoned since ${cordon.since}${why}; no launch goes there until "multiverse nodes uncordon ${node.name}"`);
    }
    checkNodeMinimums(node.name, node.snapshot.multipassVersion, demandOf(body));
    return { node, placement: null };
  }
  const placement = place(candidatesOf(registry, launching), demandOf(body), deps.cpuOvercommit);
  return { node: registry.get(placement.node)!, placement };
}

/** Every node as placement sees it, with the launches in flight charged to theirs. */
function candidatesOf(registry: Registry, launching: PendingLaunches): Candidate[] {
  return registry.entries().map((e) =>
    launching.charge(
      {
        name: e.name,
        state: registry.stateOf(e),
        multipassError: e.snapshot.multipassError,
        multipassVersion: e.snapshot.multipassVersion,
        resources: e.snapshot.resources,
        allocated: e.snapshot.allocated,
        instanceCount: e.snapshot.instances.filter((i) => i.state !== "Deleted").length,
        cordoned: registry.cordons.get(e.name) !== null,
      },
      (name) => e.snapshot.instances.some((i) => i.name === name),
    ),
  );
}

/**
 * Sets the labels a launch asked for, replacing any an older instance of the
 * same name left (purged on the host itself, where the master did not see
 * it). A store that fails is logged: the VM is launched all the same, and
 * `label` can set them again.
 */
function storeLabels(deps: ChangeDeps, { node, spec, labels }: PreparedLaunch): void {
  try {
    deps.registry.labels.setInstanceLabels(node.name, spec.name, labels);
  } catch (error) {
    deps.log.error(`cannot store the labels of "${spec.name}" on node "${node.name}" after its launch: ${messageOf(error)}`);
  }
}

/**
 * Records, launches and records again; emits `placed` and the progress, and
 * returns the last event (not emitted yet) and when the launch's "done"
 * record is written.
 */
async function launch(deps: ChangeDeps, prepared: PreparedLaunch, caller: Caller, emit: (event: LaunchEvent) => void): Promise<{ end: LaunchEnd; settled: Promise<void> }> {
  const { node, spec } = prepared;
  const call = { requestId: prepared.requestId, token: caller.tokenId, action: "launch", node: node.name, instance: spec.name, params: { ...spec, node: node.name } };
  const outcome = await audited(deps, call, "E_MULTIPASS", async (ctx) => {
    emit({ type: "placed", node: node.name, reason: prepared.placement?.reason ?? "asked for with --node" });
    const slot = deps.load.begin(node.name);
    let instances: InstanceSummary[];
    try {
      const target = { node: node.name, instance: spec.name, what: `the launch of "${spec.name}"`, boundMs: launchBoundMs(spec.timeoutSeconds, slot.queued) };
      instances = await changeOrFollow(deps, ctx, target, (c) =>
        deps.agents.launch(node, spec, c, (p) => emit({ type: "progress", node: node.name, phase: p.phase, percent: p.percent, text: p.text })),
      );
    } finally {
      slot.end();
    }
    deps.registry.applyInstances(node.name, instances);
    return instances.find((i) => i.name === spec.name);
  });
  const { settled } = outcome;
  if (outcome.ok) storeLabels(deps, prepared);
  if (outcome.ok) return { settled, end: { type: "launched", node: node.name, name: spec.name, state: outcome.value?.state ?? "Unknown", ipv4: outcome.value?.ipv4 ?? [] } };
  if (outcome.acted) return { settled, end: { type: "error", code: outcome.error.code, message: outcome.error.message } };
  return { settled, end: { type: "error", code: outcome.error.code, message: `Not launching "${spec.name}": ${outcome.error.message}` } };
}
