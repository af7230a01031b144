/**
 * What a call means, resolved before anything is done: the instances of a
 * lifecycle verb, the nodes of a purge, the node of a session. One unknown
 * or ambiguous name stops the whole call, so nothing happens to the others.
 */
import { AppError } from "../core/errors.ts";
import { validateNodeName, type InstanceRef } from "../core/validate.ts";
import { ELIGIBLE, type BulkActionBody, type LifecycleAction } from "../protocol/operations.ts";
import type { NodeEntry, Registry } from "./registry.ts";

/** One instance, by name, on the node that holds it. */
export interface Target {
  node: NodeEntry;
  name: string;
}

/**
 * The instance `ref` names.
 * @throws AppError E_NOT_FOUND, or E_AMBIGUOUS (with the candidates) for a bare name on several nodes.
 */
export function instanceTarget(registry: Registry, ref: InstanceRef): Target {
  return { node: registry.resolve(ref.name, ref.node).node, name: ref.name };
}

/**
 * The instances of a bulk verb: with `all`, every instance the verb applies
 * to on the nodes that are not Down; otherwise the named ones, each once.
 * @throws AppError E_NOT_FOUND / E_AMBIGUOUS for the first name that does not resolve.
 */
export function bulkTargets(registry: Registry, action: LifecycleAction, body: Pick<BulkActionBody, "all" | "instances">): Target[] {
  const targets: Target[] = [];
  if (body.all) {
    for (const node of registry.entries()) {
      if (registry.stateOf(node) === "Down") continue;
      for (const i of node.snapshot.instances) if (ELIGIBLE[action](i.state)) targets.push({ node, name: i.name });
    }
    return targets;
  }
  const seen = new Set<string>();
  for (const ref of body.instances) {
    const target = instanceTarget(registry, ref);
    const key = `${target.name}@${target.node.name}`;
    if (!seen.has(key)) targets.push(target);
    seen.add(key);
  }
  return targets;
}

/**
 * The nodes of a purge: the one named, or every node that is not Down.
 * @throws AppError E_USAGE for an invalid name, E_NOT_FOUND for an unknown one.
 */
export function purgeTargets(registry: Registry, nodeName: string | undefined): NodeEntry[] {
  if (nodeName === undefined) return registry.entries().filter((n) => registry.stateOf(n) !== "Down");
  const node = registry.get(validateNodeName(nodeName));
  if (!node) throw new AppError("E_NOT_FOUND", `Node "${nodeName}" is not part of the cluster`);
  return [node];
}

/**
 * The instance a shell or exec opens on. Its node must be connected; a
 * NotReady node (late heartbeats, a busy host) still gets the attempt, which
 * fails fast and clearly if the node really is gone.
 * @throws AppError E_NOT_FOUND / E_AMBIGUOUS, or E_UNREACHABLE when the node is Down.
 */
export function sessionTarget(registry: Registry, ref: InstanceRef): Target {
  const target = instanceTarget(registry, ref);
  if (registry.stateOf(target.node) === "Down") throw new AppError("E_UNREACHABLE", `Node "${target.node.name}" is Down; cannot open a session on "${ref.name}"`);
  return target;
}
