/**
 * The shells the workers keep (issue 12), as the master finds them: it holds
 * no state of its own about them, so after a restart it knows exactly what
 * the workers know. Each lookup fans `GET /agent/v1/sessions` out to the
 * Ready nodes in parallel, each call bounded by {@link KEPT_LOOKUP_MS}; a
 * node that does not answer in time (or fails) is left out of the answer and
 * logged at debug level, so one hung node never holds up a listing.
 */
import type { ConsolaInstance } from "consola";
import { AppError, messageOf } from "../core/errors.ts";
import type { KeptSessionView } from "../protocol/agent.ts";
import type { SessionView } from "../protocol/api.ts";
import type { AgentClient } from "./agent-client.ts";
import type { NodeEntry, Registry } from "./registry.ts";

/** How long a node may take to list its kept shells before a lookup goes on without it. */
export const KEPT_LOOKUP_MS = 3_000;

/** A kept shell and the node that holds it. */
export interface KeptOnNode {
  node: NodeEntry;
  session: KeptSessionView;
}

export interface KeptSessionsDeps {
  registry: Pick<Registry, "entries" | "stateOf">;
  agents: Pick<AgentClient, "sessions">;
  log: Pick<ConsolaInstance, "debug">;
  /** Per-node bound of a lookup (default {@link KEPT_LOOKUP_MS}). */
  lookupMs?: number;
}

export interface KeptSessions {
  /** Every kept shell of every Ready node that answers in time. Never rejects. */
  list(signal?: AbortSignal): Promise<KeptOnNode[]>;
  /**
   * The kept shell `id` if it belongs to `owner` (a token id).
   * @throws AppError E_NOT_FOUND when no node that answers keeps it, or it is
   *   another token's: the answer is the same, so another token never learns
   *   that it exists.
   */
  find(id: string, owner: string, signal?: AbortSignal): Promise<KeptOnNode>;
}

export function createKeptSessions(deps: KeptSessionsDeps): KeptSessions {
  const timeoutMs = deps.lookupMs ?? KEPT_LOOKUP_MS;
  const list = async (signal?: AbortSignal): Promise<KeptOnNode[]> => {
    const ready = deps.registry.entries().filter((node) => deps.registry.stateOf(node) === "Ready");
    const answers = await Promise.all(
      ready.map(async (node) => {
        try {
          const sessions = await deps.agents.sessions(node, { timeoutMs, ...(signal ? { signal } : {}) });
          return sessions.map((session) => ({ node, session }));
        } catch (error) {
          deps.log.debug(`kept sessions: node "${node.name}" left out of the lookup: ${messageOf(error)}`);
          return [];
        }
      }),
    );
    return answers.flat();
  };
  return {
    list,
    async find(id, owner, signal) {
      const found = (await list(signal)).find((k) => k.session.id === id && k.session.owner === owner);
      if (found === undefined) {
        throw new AppError("E_NOT_FOUND", `No session "${id}" of yours is kept on a node that answers (it ended, or its grace period passed)`);
      }
      return found;
    },
  };
}

/**
 * The API's session listing: the relay's live sessions merged with the shells
 * the nodes keep, one row per id (for a kept shell the relay also carries,
 * the node's figures: attached, its viewers, its last activity), oldest first,
 * each with `mine` for the asking token.
 */
export function mergeSessions(relayed: SessionView[], kept: KeptOnNode[], caller: string): SessionView[] {
  const byId = new Map<string, SessionView>();
  for (const view of relayed) byId.set(view.id, { ...view });
  for (const { node, session } of kept) {
    byId.set(session.id, {
      id: session.id,
      node: node.name,
      instance: session.instance,
      kind: "shell",
      tty: true,
      since: session.startedAt,
      size: { cols: session.cols, rows: session.rows },
      owner: session.owner,
      state: session.state,
      mine: false,
      lastActivityAt: session.lastActivityAt,
      detachedUntil: session.detachedUntil,
      viewers: session.viewers,
    });
  }
  const rows = [...byId.values()].map((view) => ({ ...view, mine: view.owner !== null && view.owner === caller }));
  return rows.sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : 0));
}
