/**
 * The worker's memory of the calls that changed its host, by the master's
 * request id (REQUEST_ID_HEADER): running, then ok, or error with the error.
 * A master that lost an operation's answer (the stream broke, the node
 * dropped off, the master itself was restarted) asks for it here
 * (`GET /agent/v1/operations/:requestId`) and records what really happened.
 *
 * Bounded: the newest {@link OPERATION_LOG_MAX} records started within
 * {@link OPERATION_LOG_MAX_AGE_MS}, whichever is fewer; a running record
 * outlives the age limit (the daemon bounds every operation far below it)
 * but not the count. The listing a call answered with is kept with the
 * newest {@link LISTINGS_KEPT} records only (a master asks about a call
 * seconds or minutes after it, so older ones answer with the worker's
 * latest listing instead). In memory only: a worker that restarts has no
 * record, and the master says the outcome is unknown rather than guess.
 */
import { toAppError, type ErrorCode } from "../core/errors.ts";
import { OPERATION_LOG_MAX, OPERATION_LOG_MAX_AGE_MS } from "../protocol/agent.ts";
import type { InstanceSummary } from "../protocol/instances.ts";

/** Records that keep the listing their call answered with. */
export const LISTINGS_KEPT = 100;

export interface OperationRecord {
  requestId: string;
  /** "launch", a lifecycle verb, or "purge". */
  action: string;
  instance: string | null;
  state: "running" | "ok" | "error";
  error: { code: ErrorCode; message: string } | null;
  startedAt: number;
  finishedAt: number | null;
  /** The host's instances as the call answered them when it ended ok; null otherwise, and once it is no longer among the newest. */
  listing: InstanceSummary[] | null;
}

export interface OperationLog {
  /**
   * Runs `work` as request `requestId` (unrecorded when null): running until
   * it settles, then ok with the listing it resolved with, or error with its
   * error. Resolves or rejects as `work` does.
   */
  track(requestId: string | null, what: { action: string; instance: string | null }, work: () => Promise<InstanceSummary[]>): Promise<InstanceSummary[]>;
  /** The record of a request; null when there is none (never sent here, forgotten, or the worker restarted). */
  get(requestId: string): OperationRecord | null;
  /** Records held now. */
  readonly size: number;
}

export interface OperationLogOptions {
  now?: () => number;
  maxEntries?: number;
  maxAgeMs?: number;
}

export function createOperationLog(options: OperationLogOptions = {}): OperationLog {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? OPERATION_LOG_MAX;
  const maxAgeMs = options.maxAgeMs ?? OPERATION_LOG_MAX_AGE_MS;
  /** In start order: a Map iterates in insertion order, and a re-used id is re-inserted. */
  const records = new Map<string, OperationRecord>();
  /** The records holding a listing, oldest first. */
  const withListing: OperationRecord[] = [];

  function prune(): void {
    const cutoff = now() - maxAgeMs;
    for (const [id, record] of records) {
      const over = records.size > maxEntries;
      if (!over && record.startedAt >= cutoff) break;
      if (over || record.state !== "running") records.delete(id);
    }
  }

  return {
    async track(requestId, what, work) {
      if (requestId === null) return work();
      const record: OperationRecord = { requestId, ...what, state: "running", error: null, startedAt: now(), finishedAt: null, listing: null };
      records.delete(requestId);
      records.set(requestId, record);
      prune();
      try {
        const listing = await work();
        Object.assign(record, { state: "ok", finishedAt: now(), listing });
        withListing.push(record);
        if (withListing.length > LISTINGS_KEPT) withListing.shift()!.listing = null;
        return listing;
      } catch (error) {
        const e = toAppError(error);
        Object.assign(record, { state: "error", error: { code: e.code, message: e.message }, finishedAt: now() });
        throw error;
      }
    },
    get(requestId) {
      prune();
      return records.get(requestId) ?? null;
    },
    get size() {
      return records.size;
    },
  };
}
