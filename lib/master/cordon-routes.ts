/**
 * Node maintenance (issue 15):
 * - `POST /api/v1/nodes/:name/cordon` — body `{ reason? }`: no new launch
 *   goes to the node until it is uncordoned; answers the node's view;
 * - `POST /api/v1/nodes/:name/uncordon` — lifts it; answers the node's view.
 *
 * Both are audited (actions "cordon" and "uncordon"). The node must be part
 * of the cluster (404 otherwise); a Down one may be cordoned, as it may come
 * back. Both are idempotent: cordoning a cordoned node keeps its time.
 * `nodes drain` is the client's: a cordon, then the bulk stop of
 * operation-routes.ts on the node's running instances.
 */
import type { Context, Hono } from "hono";
import type { ConsolaInstance } from "consola";
import { AppError } from "../core/errors.ts";
import { validateNodeName } from "../core/validate.ts";
import { readBody } from "../net/http.ts";
import type { BunEnv } from "../net/ws.ts";
import type { NodeView } from "../protocol/api.ts";
import { parseCordonRequest } from "../protocol/cordon.ts";
import { audited, type AuditSink, type Caller } from "./audit-policy.ts";
import type { Registry } from "./registry.ts";

/** The audit trail's names of the calls. */
export const CORDON_ACTION = "cordon";
export const UNCORDON_ACTION = "uncordon";

const MAX_BODY_BYTES = 4 * 1024;

export interface CordonDeps {
  registry: Registry;
  audit: AuditSink;
  log: Pick<ConsolaInstance, "info" | "error">;
}

/**
 * Cordons node `name` (or uncordons it, with `reason` undefined), recording
 * the request and its outcome first and last.
 * @throws AppError E_NOT_FOUND (not part of the cluster), E_STORAGE (not
 *   recorded or not stored: nothing changed).
 */
async function change(deps: CordonDeps, caller: Caller, name: string, cordon: { reason: string | null } | null): Promise<NodeView> {
  const { registry } = deps;
  if (!registry.get(name)) throw new AppError("E_NOT_FOUND", `Node "${name}" is not part of the cluster`);
  const call = { token: caller.tokenId, action: cordon ? CORDON_ACTION : UNCORDON_ACTION, node: name, instance: null, params: cordon ? { reason: cordon.reason } : {} };
  const outcome = await audited(deps, call, "E_STORAGE", async () => (cordon ? registry.cordons.cordon(name, cordon.reason).changed : registry.cordons.uncordon(name)));
  await outcome.settled;
  if (!outcome.ok) throw outcome.error;
  if (outcome.value) deps.log.info(`node "${name}" ${cordon ? "cordoned" : "uncordoned"} by an operator${cordon?.reason ? `: ${cordon.reason}` : ""}`);
  const entry = registry.get(name);
  if (!entry) throw new AppError("E_NOT_FOUND", `Node "${name}" is not part of the cluster`);
  return registry.nodeView(entry);
}

/** @see change */
export const cordonNode = (deps: CordonDeps, caller: Caller, name: string, reason: string | null): Promise<NodeView> => change(deps, caller, name, { reason });
/** @see change */
export const uncordonNode = (deps: CordonDeps, caller: Caller, name: string): Promise<NodeView> => change(deps, caller, name, null);

export function registerCordonRoutes(app: Hono<BunEnv>, deps: CordonDeps & { caller: (c: Context) => Caller }): void {
  app.post("/api/v1/nodes/:name/cordon", async (c) => {
    const name = validateNodeName(c.req.param("name"));
    const { reason } = await readBody(c, MAX_BODY_BYTES, parseCordonRequest);
    return c.json(await cordonNode(deps, deps.caller(c), name, reason));
  });
  app.post("/api/v1/nodes/:name/uncordon", async (c) => {
    const name = validateNodeName(c.req.param("name"));
    return c.json(await uncordonNode(deps, deps.caller(c), name));
  });
}
