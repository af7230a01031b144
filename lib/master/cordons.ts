/**
 * Cordons (issue 15): a cordoned node gets no new launch from placement, and
 * `launch --node` there is refused, until it is uncordoned; what runs on it
 * is left alone (`nodes drain` stops it). Cordons are the master's own state:
 * kept in the `node_cordons` table of its database (database.ts), so they
 * survive a restart of the master, and kept for a node that is Down or
 * dropped after its grace (it may come back, still under maintenance).
 */
import { AppError, messageOf } from "../core/errors.ts";
import type { CordonView } from "../protocol/cordon.ts";
import type { MasterDatabase } from "./database.ts";

/** Most nodes cordoned at once (as many as the master pins keys for). */
export const MAX_CORDONS = 10_000;

export interface CordonStore {
  /** The cordon of `node`, or null. */
  get(node: string): CordonView | null;
  /**
   * Cordons `node`, saved before this returns. A node cordoned already keeps
   * its time, and its reason unless a new one is given.
   * @returns the cordon, and whether anything changed.
   * @throws AppError E_STORAGE (nothing changed); E_CONFLICT past {@link MAX_CORDONS}.
   */
  cordon(node: string, reason: string | null): { cordon: CordonView; changed: boolean };
  /** Lifts the cordon of `node`; @returns whether there was one. @throws AppError E_STORAGE (nothing changed) */
  uncordon(node: string): boolean;
  /** Calls `listener` after every change. @returns a function that removes it. */
  onChange(listener: () => void): () => void;
}

interface Row {
  node: string;
  since_ms: number;
  reason: string | null;
}

/**
 * The cordons kept in `database` (read whole at start), written through on
 * every change; `database` null keeps them in memory only (tests).
 * @throws AppError E_STORAGE when the table cannot be read.
 */
export function createCordonStore(database: MasterDatabase | null, now: () => number = Date.now): CordonStore {
  const cordons = new Map<string, CordonView>();
  const listeners = new Set<() => void>();
  const write = (doing: string, node: string, sql: string, params: Record<string, string | number | null>): void => {
    if (database === null) return;
    try {
      database.db.query(sql).run(params);
    } catch (error) {
      throw new AppError("E_STORAGE", `Cannot ${doing} node "${node}" in "${database.path}": ${messageOf(error)}`, { cause: error });
    }
  };
  if (database !== null) {
    try {
      for (const row of database.db.query<Row, []>("SELECT node, since_ms, reason FROM node_cordons").all()) {
        cordons.set(row.node, { since: new Date(row.since_ms).toISOString(), reason: row.reason });
      }
    } catch (error) {
      throw new AppError("E_STORAGE", `Cannot read the cordons in "${database.path}": ${messageOf(error)}`, { cause: error });
    }
  }
  const changed = () => {
    for (const listener of listeners) {
      try {
        listener();
      } catch {
        // A listener's fault is its own.
      }
    }
  };
  return {
    get: (node) => cordons.get(node) ?? null,
    cordon(node, reason) {
      const known = cordons.get(node);
      const next = { since: known?.since ?? new Date(now()).toISOString(), reason: reason ?? known?.reason ?? null };
      if (known && known.reason === next.reason) return { cordon: known, changed: false };
      if (!known && cordons.size >= MAX_CORDONS) throw new AppError("E_CONFLICT", `Cannot cordon node "${node}": ${MAX_CORDONS} nodes are cordoned already`);
      write("cordon", node, "INSERT INTO node_cordons (node, since_ms, reason) VALUES ($node, $since, $reason) ON CONFLICT (node) DO UPDATE SET reason = excluded.reason", {
        node,
        since: Date.parse(next.since),
        reason: next.reason,
      });
      cordons.set(node, next);
      changed();
      return { cordon: next, changed: true };
    },
    uncordon(node) {
      if (!cordons.has(node)) return false;
      write("uncordon", node, "DELETE FROM node_cordons WHERE node = $node", { node });
      cordons.delete(node);
      changed();
      return true;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
