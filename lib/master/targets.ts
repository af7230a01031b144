/**
 * What a call means, resolved before anything is done: the instances of a
 * lifecycle verb (named, all, or by label selector), the nodes of a purge
 * or of a listing, the node of a session. One unknown
 * or ambiguous name stops the whole call, so nothing happens to the others.
 */
import { AppError } from "../core/errors.ts";
import { validateNodeName, type InstanceRef } from "../core/validate.ts";
import { ELIGIBLE, LIFECYCLE_PAST, PRIMARY_NAME, type BulkActionBody, type LifecycleAction } from "../protocol/operations.ts";
import type { NodeEntry, Registry } from "./registry.ts";
import { formatSelector, matchesSelector, type Selector } from "../core/labels.ts";
import type { NodeView } from "../protocol/api.ts";

/** One instance, by name, on the node that holds it. */
export interface Target {
  node: NodeEntry;
  name: string;
}

/**
 * Why a `primary` the cache does not know is never passed on: Multipass's
 * `start` and `shell` of a missing primary instance *launch* one, with the
 * home directory of the worker's account mounted in it (CONTRACT.md §2.2),
 * where a user asked only to start or enter an existing VM.
 */
function unknownPrimary(notFound: AppError): AppError {
  return new AppError(
    "E_NOT_FOUND",
    `${notFound.message}; not passing the call on: for a "${PRIMARY_NAME}" that does not exist, Multipass would launch a new VM ` +
      `with the home directory of the worker's account mounted in it. To create one, launch it explicitly (with --allow-primary)`,
    { cause: notFound },
  );
}

/**
 * The instance `ref` names. A `primary` must be listed by the node chosen
 * (see {@link unknownPrimary}), whatever resolution would otherwise allow.
 * @throws AppError E_NOT_FOUND, or E_AMBIGUOUS (with the candidates) for a bare name on several nodes.
 */
export function instanceTarget(registry: Registry, ref: InstanceRef): Target {
  let node: NodeEntry;
  try {
    node = registry.resolve(ref.name, ref.node).node;
  } catch (error) {
    if (ref.name === PRIMARY_NAME && error instanceof AppError && error.code === "E_NOT_FOUND") throw unknownPrimary(error);
    throw error;
  }
  if (ref.name === PRIMARY_NAME && !node.snapshot.instances.some((i) => i.name === PRIMARY_NAME)) {
    throw unknownPrimary(new AppError("E_NOT_FOUND", `Instance "${PRIMARY_NAME}" does not exist on node "${node.name}"`));
  }
  return { node, name: ref.name };
}

/**
 * The instances of a bulk verb: with `all`, every instance the verb applies
 * to on the nodes that are not Down; with a selector, those of them whose
 * labels it selects; otherwise the named ones, each once.
 * @throws AppError E_NOT_FOUND / E_AMBIGUOUS for the first name that does not
 *   resolve; E_NOT_FOUND when a selector selects nothing the verb applies to
 *   (a call that would do nothing says so).
 */
export function bulkTargets(registry: Registry, action: LifecycleAction, body: Pick<BulkActionBody, "all" | "instances"> & { selector?: Selector | null }): Target[] {
  const targets: Target[] = [];
  const selector = body.selector ?? null;
  if (body.all || selector !== null) {
    for (const node of registry.entries()) {
      if (registry.stateOf(node) === "Down") continue;
      for (const i of node.snapshot.instances) {
        if (!ELIGIBLE[action](i.state)) continue;
        if (selector !== null && !matchesSelector(selector, registry.labels.instanceLabels(node.name, i.name))) continue;
        targets.push({ node, name: i.name });
      }
    }
    if (selector !== null && targets.length === 0) {
      throw new AppError("E_NOT_FOUND", `No instance that can be ${LIFECYCLE_PAST[action]} matches the selector "${formatSelector(selector).slice(0, 200)}" (on the nodes that are not Down)`);
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

/** The views of the nodes whose labels `selector` selects (every node when it is null). */
export function selectNodes(registry: Registry, selector: Selector | null): NodeView[] {
  const views = registry.nodeViews();
  return selector === null ? views : views.filter((v) => matchesSelector(selector, v.labels));
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
