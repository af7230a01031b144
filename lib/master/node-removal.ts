/**
 * `nodes remove`: an operator drops a node from the master's cache at once,
 * rather than waiting out the Down grace period, during which a stopped
 * worker's last-known instances make bare names ambiguous, and forgets the
 * key pinned to its name, its cordon and its labels (its instances' too),
 * so a replacement host may join under it afresh. Audited like every other change of the cluster.
 */
import type { ConsolaInstance } from "consola";
import { audited, type Caller } from "./audit-policy.ts";
import type { AuditLog } from "./audit-log.ts";
import type { Registry } from "./registry.ts";
import type { NodeState } from "../protocol/join.ts";

/** The audit trail's name of the call. */
export const REMOVE_NODE_ACTION = "remove-node";

export interface NodeRemovalDeps {
  registry: Registry;
  audit: Pick<AuditLog, "append">;
  log: Pick<ConsolaInstance, "info" | "error">;
}

/** The answer of `DELETE /api/v1/nodes/:name`. */
export interface NodeRemoved {
  name: string;
  /** The state the node was in when it was dropped. */
  state: NodeState;
  removed: true;
}

/**
 * Removes node `name` (a Down one; any with `force`), recording the request
 * and its outcome in the audit trail first and last.
 * @throws AppError E_NOT_FOUND, E_CONFLICT (not Down, no force), E_STORAGE
 *   (the request could not be recorded: nothing was removed).
 */
export async function removeNode(deps: NodeRemovalDeps, caller: Caller, name: string, force: boolean): Promise<NodeRemoved> {
  const outcome = await audited(
    deps,
    { token: caller.tokenId, action: REMOVE_NODE_ACTION, node: name, instance: null, params: { force } },
    "E_INTERNAL",
    async () => {
      const removed = deps.registry.remove(name, { force });
      deps.registry.cordons.uncordon(name);
      deps.registry.labels.dropNode(name);
      return removed;
    },
  );
  await outcome.settled;
  if (!outcome.ok) throw outcome.error;
  deps.log.info(`node "${name}" removed by an operator (it was ${outcome.value.state}); its key and cordon are forgotten, so the next node to join as "${name}" is pinned`);
  return { name, state: outcome.value.state, removed: true };
}
