/**
 * Labels of instances and nodes (issue 15):
 * - `POST /api/v1/instances/:ref/labels` — body `{ set?: { key: value },
 *   remove?: [key] }`; answers the instance's view, labels included;
 * - `POST /api/v1/nodes/:name/labels` — the same body; answers the node's view.
 *
 * Both are audited (action "label", the change as its parameters). The
 * change is checked whole (grammar, MAX_LABELS after it) before it is
 * recorded or stored, so a bad one changes nothing. An instance on a Down
 * node can be labelled: labels are the master's own state, not the host's.
 */
import type { Context, Hono } from "hono";
import type { ConsolaInstance } from "consola";
import { applyLabelChange, type LabelChange } from "../core/labels.ts";
import { AppError } from "../core/errors.ts";
import { parseInstanceRef, validateNodeName, type InstanceRef } from "../core/validate.ts";
import { readBody } from "../net/http.ts";
import type { BunEnv } from "../net/ws.ts";
import type { InstanceView, NodeView } from "../protocol/api.ts";
import { parseLabelChangeBody } from "../protocol/labels.ts";
import { audited, type AuditSink, type Caller } from "./audit-policy.ts";
import type { Registry } from "./registry.ts";
import { instanceTarget } from "./targets.ts";

/** The audit trail's name of a label change. */
export const LABEL_ACTION = "label";

const MAX_BODY_BYTES = 64 * 1024;

export interface LabelDeps {
  registry: Registry;
  audit: AuditSink;
  log: Pick<ConsolaInstance, "error">;
}

async function auditedChange(deps: LabelDeps, caller: Caller, where: { node: string; instance: string | null }, change: LabelChange, store: () => void): Promise<void> {
  const call = { token: caller.tokenId, action: LABEL_ACTION, ...where, params: { set: change.set, remove: change.remove } };
  const outcome = await audited(deps, call, "E_STORAGE", async () => store());
  await outcome.settled;
  if (!outcome.ok) throw outcome.error;
}

/**
 * Applies `change` to the labels of the instance `ref` names.
 * @throws AppError E_NOT_FOUND / E_AMBIGUOUS (the name), E_USAGE (the
 *   change, or too many labels after it), E_STORAGE (not recorded or not
 *   stored: nothing changed).
 */
export async function labelInstance(deps: LabelDeps, caller: Caller, ref: InstanceRef, change: LabelChange): Promise<InstanceView> {
  const { registry } = deps;
  const { node, name } = instanceTarget(registry, ref);
  const next = applyLabelChange(registry.labels.instanceLabels(node.name, name), change);
  await auditedChange(deps, caller, { node: node.name, instance: name }, change, () => registry.labels.setInstanceLabels(node.name, name, next));
  return registry.instanceView(registry.resolve(name, node.name));
}

/**
 * Applies `change` to the labels of node `name`, which must be part of the cluster.
 * @throws AppError E_NOT_FOUND, E_USAGE, E_STORAGE (nothing changed).
 */
export async function labelNode(deps: LabelDeps, caller: Caller, name: string, change: LabelChange): Promise<NodeView> {
  const { registry } = deps;
  const entry = registry.get(name);
  if (!entry) throw new AppError("E_NOT_FOUND", `Node "${name}" is not part of the cluster`);
  const next = applyLabelChange(registry.labels.nodeLabels(name), change);
  await auditedChange(deps, caller, { node: name, instance: null }, change, () => registry.labels.setNodeLabels(name, next));
  return registry.nodeView(registry.get(name) ?? entry);
}

export function registerLabelRoutes(app: Hono<BunEnv>, deps: LabelDeps & { caller: (c: Context) => Caller }): void {
  app.post("/api/v1/instances/:ref/labels", async (c) => {
    const ref = parseInstanceRef(c.req.param("ref"));
    const change = await readBody(c, MAX_BODY_BYTES, parseLabelChangeBody);
    return c.json(await labelInstance(deps, deps.caller(c), ref, change));
  });
  app.post("/api/v1/nodes/:name/labels", async (c) => {
    const name = validateNodeName(c.req.param("name"));
    const change = await readBody(c, MAX_BODY_BYTES, parseLabelChangeBody);
    return c.json(await labelNode(deps, deps.caller(c), name, change));
  });
}
