/**
 * The master's side of changing the cluster: launches (placement, a
 * cluster-wide name check and reservation, progress) and the lifecycle verbs
 * on one or many instances. Every call is recorded in the audit trail before
 * it acts and again with its result; a call that cannot be recorded is not
 * made. The cache is updated from each operation's own result, so a listing
 * right after a call shows its effect.
 */
import { randomUUID } from "node:crypto";
import type { ConsolaInstance } from "consola";
import type { AgentClient } from "./agent-client.ts";
import { audited, type AuditSink } from "./audit-policy.ts";
import { AppError } from "../core/errors.ts";
import type { InstanceSummary, LaunchSpec } from "../protocol/instances.ts";
import { randomInstanceName } from "./instance-names.ts";
import type { ActionOptions, ActionResult, LaunchEvent, LaunchRequestBody, LifecycleAction, PurgeResult } from "../protocol/operations.ts";
import { createPendingLaunches, demandOf, place, type Placement } from "./placement.ts";
import type { NodeEntry, Registry } from "./registry.ts";
import type { Target } from "./targets.ts";

/** The last event of a launch. */
export type LaunchEnd = Extract<LaunchEvent, { type: "launched" | "error" }>;

/** Who is calling: the id (never the secret) of the token they used. */
export interface Caller {
  tokenId: string;
}

/** A launch checked, placed and reserved, ready to run. */
export interface PreparedLaunch {
  node: NodeEntry;
  placement: Placement | null;
  spec: LaunchSpec;
  requestId: string;
}

export interface OperationsDeps {
  registry: Registry;
  agents: AgentClient;
  audit: AuditSink;
  log: ConsolaInstance;
  /** Limit of one lifecycle call on a node. */
  actionTimeoutMs?: number;
  /** Limit of a launch without its own --timeout. */
  launchTimeoutMs?: number;
  /** Virtual CPUs placed per host CPU (see placement.ts). */
  cpuOvercommit?: number;
}

const MINUTE = 60_000;
/** Lifecycle calls in flight at once for one bulk request. */
const BULK_CONCURRENCY = 8;

export interface Operations {
  /**
   * Checks a launch, picks its node and reserves its name. Synchronous from
   * the check to the reservation, so two concurrent launches of one name can
   * never both pass. @throws AppError E_USAGE / E_CONFLICT / E_NOT_FOUND / E_UNREACHABLE
   */
  prepareLaunch(body: LaunchRequestBody): PreparedLaunch;
  /** Where a launch would go, without reserving anything. */
  planLaunch(body: LaunchRequestBody): { node: string; reason: string; name: string | null };
  /**
   * Runs a prepared launch to its end, emitting events, the last of them
   * (`launched` or `error`) also its result; never rejects.
   */
  runLaunch(prepared: PreparedLaunch, caller: Caller, emit: (event: LaunchEvent) => void): Promise<LaunchEnd>;
  /** One verb on the given instances (already resolved to nodes); per-instance results. */
  act(action: LifecycleAction, targets: Target[], options: ActionOptions, caller: Caller): Promise<ActionResult[]>;
  /** Removes deleted instances on the given nodes. */
  purge(nodes: NodeEntry[], caller: Caller): Promise<PurgeResult[]>;
}

export function createOperations(deps: OperationsDeps): Operations {
  const { registry, agents } = deps;
  /** Names being launched, where, and what they asked for: a name is reserved from its check until its launch ends. */
  const launching = createPendingLaunches();

  function whereIs(name: string): string | null {
    for (const entry of registry.entries()) if (entry.snapshot.instances.some((i) => i.name === name)) return entry.name;
    return null;
  }

  function chooseNode(body: LaunchRequestBody): { node: NodeEntry; placement: Placement | null } {
    if (body.node !== undefined) {
      const node = registry.get(body.node);
      if (!node) throw new AppError("E_NOT_FOUND", `Node "${body.node}" is not part of the cluster`);
      const state = registry.stateOf(node);
      if (state !== "Ready") throw new AppError("E_UNREACHABLE", `Node "${node.name}" is ${state}; cannot launch there`);
      return { node, placement: null };
    }
    const candidates = registry.entries().map((e) =>
      launching.charge(
        {
          name: e.name,
          state: registry.stateOf(e),
          multipassError: e.snapshot.multipassError,
          resources: e.snapshot.resources,
          allocated: e.snapshot.allocated,
          instanceCount: e.snapshot.instances.filter((i) => i.state !== "Deleted").length,
        },
        (name) => e.snapshot.instances.some((i) => i.name === name),
      ),
    );
    const placement = place(candidates, demandOf(body), deps.cpuOvercommit);
    return { node: registry.get(placement.node)!, placement };
  }

  function checkName(name: string): void {
    const on = whereIs(name);
    // Multipass refuses a deleted-but-not-purged name too, so any listing counts.
    if (on !== null) throw new AppError("E_CONFLICT", `Instance name "${name}" is already used on node "${on}"`);
    const pending = launching.get(name);
    if (pending !== undefined) throw new AppError("E_CONFLICT", `Instance "${name}" is already being launched on node "${pending.node}"`);
  }

  function findInstance(instances: InstanceSummary[], name: string): InstanceSummary | undefined {
    return instances.find((i) => i.name === name);
  }

  return {
    planLaunch(body) {
      if (body.name !== undefined) checkName(body.name);
      const { node, placement } = chooseNode(body);
      return { node: node.name, reason: placement?.reason ?? "asked for with --node", name: body.name ?? null };
    },

    prepareLaunch(body) {
      const name = body.name ?? randomInstanceName((n) => whereIs(n) !== null || launching.get(n) !== undefined);
      checkName(name);
      const { node, placement } = chooseNode(body);
      launching.add(name, { node: node.name, demand: demandOf(body) });
      const { node: _node, dryRun: _dryRun, name: _name, ...rest } = body;
      return { node, placement, spec: { name, ...rest }, requestId: randomUUID() };
    },

    async runLaunch(prepared, caller, emit) {
      const { node, spec } = prepared;
      const call = { requestId: prepared.requestId, token: caller.tokenId, action: "launch", node: node.name, instance: spec.name, params: { ...spec, node: node.name } };
      const outcome = await audited(deps, call, "E_MULTIPASS", async () => {
        emit({ type: "placed", node: node.name, reason: prepared.placement?.reason ?? "asked for with --node" });
        const timeoutMs = spec.timeoutSeconds !== undefined ? spec.timeoutSeconds * 1000 + 2 * MINUTE : (deps.launchTimeoutMs ?? 25 * MINUTE);
        const instances = await agents.launch(node, spec, { timeoutMs }, (p) =>
          emit({ type: "progress", node: node.name, phase: p.phase, percent: p.percent, text: p.text }),
        );
        registry.applyInstances(node.name, instances);
        return findInstance(instances, spec.name);
      });
      launching.delete(spec.name);
      let end: LaunchEnd;
      if (outcome.ok) end = { type: "launched", node: node.name, name: spec.name, state: outcome.value?.state ?? "Unknown", ipv4: outcome.value?.ipv4 ?? [] };
      else if (outcome.acted) end = { type: "error", code: outcome.error.code, message: outcome.error.message };
      else end = { type: "error", code: outcome.error.code, message: `Not launching "${spec.name}": ${outcome.error.message}` };
      emit(end);
      return end;
    },

    async act(action, targets, options, caller) {
      const results: ActionResult[] = [];
      const queue = [...targets];
      const worker = async () => {
        for (let target = queue.shift(); target; target = queue.shift()) results.push(await actOne(action, target.node, target.name, options, caller));
      };
      await Promise.all(Array.from({ length: Math.min(BULK_CONCURRENCY, targets.length) }, worker));
      return results.sort((a, b) => (a.node === b.node ? (a.name < b.name ? -1 : 1) : a.node < b.node ? -1 : 1));
    },

    async purge(nodes, caller) {
      return Promise.all(
        nodes.map(async (node): Promise<PurgeResult> => {
          const before = node.snapshot.instances.filter((i) => i.state === "Deleted").map((i) => i.name);
          const outcome = await audited(deps, { token: caller.tokenId, action: "purge", node: node.name, instance: null }, "E_MULTIPASS", async () => {
            if (registry.stateOf(node) === "Down") throw new AppError("E_UNREACHABLE", `Node "${node.name}" is Down`);
            const instances = await agents.purge(node, { timeoutMs: deps.actionTimeoutMs ?? 7 * MINUTE });
            registry.applyInstances(node.name, instances);
            return before.filter((n) => !findInstance(instances, n));
          });
          if (outcome.ok) return { node: node.name, ok: true, purged: outcome.value, error: null };
          return { node: node.name, ok: false, purged: [], error: { code: outcome.error.code, message: outcome.error.message } };
        }),
      );
    },
  };

  async function actOne(action: LifecycleAction, node: NodeEntry, name: string, options: ActionOptions, caller: Caller): Promise<ActionResult> {
    const call = { token: caller.tokenId, action, node: node.name, instance: name, params: { force: options.force, purge: options.purge } };
    const outcome = await audited(deps, call, "E_MULTIPASS", async () => {
      if (registry.stateOf(node) === "Down") throw new AppError("E_UNREACHABLE", `Node "${node.name}" is Down; cannot ${action} "${name}"`);
      const instances = await agents.act(node, action, name, options, { timeoutMs: deps.actionTimeoutMs ?? 7 * MINUTE });
      registry.applyInstances(node.name, instances);
      return findInstance(instances, name)?.state ?? null;
    });
    if (outcome.ok) return { node: node.name, name, ok: true, state: outcome.value, error: null };
    const state = findInstance(node.snapshot.instances, name)?.state ?? null;
    return { node: node.name, name, ok: false, state, error: { code: outcome.error.code, message: outcome.error.message } };
  }
}
