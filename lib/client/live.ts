/**
 * Live views (issue 15): `instances --watch`, `nodes --watch` and
 * `events --follow` read the master's watch stream (`GET /api/v1/watch`,
 * server-sent events: a `snapshot` of the cache at once and after each
 * change, an `audit` event per record appended), the one the web console
 * reads too.
 *
 * The stream is followed until the user interrupts: a master lost or
 * restarting is waited out (a status line on stderr, a retry after 0.5 s
 * doubling to 5 s), and the view carries on from the next snapshot. Records
 * appended while the stream was down are read back from `GET /api/v1/events`
 * so `events --follow` misses none.
 */
import { backoffDelay, sleep, type BackoffPolicy } from "../core/backoff.ts";
import { AppError, messageOf } from "../core/errors.ts";
import { parseJson } from "../core/parse.ts";
import { parseWatchSnapshot, type WatchSnapshot } from "../protocol/api.ts";
import { parseAuditEvent, type AuditEvent } from "../protocol/audit.ts";
import type { ApiClient } from "./api-client.ts";

export type WatchEvent = { type: "snapshot"; snapshot: WatchSnapshot } | { type: "audit"; event: AuditEvent };

/** How long to wait before trying the master again after the stream broke. */
export const RECONNECT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 5_000 };

/**
 * The events of one watch stream, parsed, until it ends or breaks.
 * @throws AppError as {@link ApiClient.stream}; E_PROTOCOL for an event that does not parse
 */
export async function* watchEvents(api: ApiClient, signal: AbortSignal): AsyncGenerator<WatchEvent> {
  const lines = await api.stream("/api/v1/watch", undefined, { signal });
  let type: string | null = null;
  for await (const line of lines) {
    if (line.startsWith(":")) continue;
    if (line.startsWith("event: ")) {
      type = line.slice("event: ".length);
      continue;
    }
    if (!line.startsWith("data: ")) continue;
    const data = line.slice("data: ".length);
    try {
      if (type === "snapshot") yield { type, snapshot: parseWatchSnapshot(parseJson(data, "snapshot")) };
      else if (type === "audit") yield { type, event: parseAuditEvent(parseJson(data, "audit")) };
    } catch (error) {
      throw new AppError("E_PROTOCOL", `The master's watch stream sent a ${type ?? "nameless"} event that does not parse: ${messageOf(error)}`);
    }
    type = null;
  }
}

export interface FollowOptions {
  signal: AbortSignal;
  /** Says that the stream broke and when it is tried again, or (null) that it is back. */
  status: (text: string | null) => void;
  /** Called at every (re)connection before its events: what to catch up on. */
  connected?: () => Promise<void>;
  policy?: BackoffPolicy;
}

/**
 * Follows the watch stream until `signal` aborts, handing each event to
 * `onEvent` and reconnecting whenever it breaks. A refused token or a master
 * that is not one ends the follow with that error; anything else is retried.
 * @throws AppError E_UNAUTHORIZED, E_PROTOCOL (not a multiverse master), E_CANCELLED once aborted
 */
export async function followWatch(api: ApiClient, onEvent: (event: WatchEvent) => void, options: FollowOptions): Promise<never> {
  const { signal } = options;
  for (let attempt = 0; ; ) {
    try {
      await options.connected?.();
      for await (const event of watchEvents(api, signal)) {
        if (attempt > 0) options.status(null);
        attempt = 0;
        onEvent(event);
      }
      throw new AppError("E_UNREACHABLE", "the master ended the watch stream");
    } catch (error) {
      if (signal.aborted) throw new AppError("E_CANCELLED", "Stopped watching");
      if (error instanceof AppError && !retryable(error)) throw error;
      const delay = backoffDelay(attempt++, options.policy ?? RECONNECT_BACKOFF);
      options.status(`${messageOf(error)}; trying again in ${(delay / 1000).toFixed(1)} s`);
      await sleep(delay, signal).catch(() => undefined);
      if (signal.aborted) throw new AppError("E_CANCELLED", "Stopped watching");
    }
  }
}

/** Only a lost or unreachable master (or a timeout) is worth another try; a refused token or a wrong peer is not. */
function retryable(error: AppError): boolean {
  return error.code === "E_UNREACHABLE" || error.code === "E_TIMEOUT" || error.code === "E_UNAVAILABLE";
}

/** What changed between two listings keyed by `key`: kubectl's watch event types. */
export type Change<T> = { type: "ADDED" | "MODIFIED"; object: T } | { type: "DELETED"; object: T };

/**
 * The changes from `before` (null: nothing yet, so everything is ADDED) to
 * `after`, in `after`'s order, deletions last; an item is MODIFIED when what
 * `compared` keeps of it differs (default: all of it).
 */
export function changes<T>(before: readonly T[] | null, after: readonly T[], key: (item: T) => string, compared: (item: T) => unknown = (item) => item): Change<T>[] {
  const old = new Map((before ?? []).map((item) => [key(item), item]));
  const out: Change<T>[] = [];
  for (const item of after) {
    const was = old.get(key(item));
    old.delete(key(item));
    if (was === undefined) out.push({ type: "ADDED", object: item });
    else if (JSON.stringify(compared(was)) !== JSON.stringify(compared(item))) out.push({ type: "MODIFIED", object: item });
  }
  for (const gone of old.values()) out.push({ type: "DELETED", object: gone });
  return out;
}
