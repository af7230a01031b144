/**
 * `GET /api/v1/watch`: the web console's live view, as server-sent events
 * (`text/event-stream`, net/stream.ts):
 * - `event: snapshot`, data {@link WatchSnapshot} — the whole cache, as
 *   `GET /api/v1/nodes` and `GET /api/v1/instances` answer it: at once, then
 *   after every change of the cache, coalesced to at most one every
 *   {@link WATCH_INTERVAL_MS} and always the latest;
 * - `event: audit`, data an `AuditEvent` — every record appended to the
 *   audit trail from the start of the stream on;
 * - `: keepalive` comments while nothing happens.
 *
 * A slow reader costs a bounded amount: while it has not taken what was
 * written ({@link EventWriter.full}), snapshots wait and collapse into one,
 * and audit events queue up to {@link MAX_PENDING_AUDIT_EVENTS}; one more
 * ends the stream (EventSource reconnects by itself and starts from a fresh
 * snapshot, and the page can read what it missed from `/api/v1/events`).
 */
import type { Hono } from "hono";
import type { AuditEvent } from "../protocol/audit.ts";
import type { WatchSnapshot } from "../protocol/api.ts";
import { streamedResponse, type EventWriter } from "../net/stream.ts";
import type { BunEnv } from "../net/ws.ts";
import type { AuditLog } from "./audit-log.ts";
import type { Registry } from "./registry.ts";

/** Shortest time between two snapshots of one stream. */
export const WATCH_INTERVAL_MS = 250;

/** Audit events a stream holds for a reader that does not keep up; one more ends it. */
export const MAX_PENDING_AUDIT_EVENTS = 1000;

export interface WatchDeps {
  registry: Registry;
  audit: AuditLog;
  now?: () => number;
  /** Tests shorten or lengthen these. */
  intervalMs?: number;
  maxPendingAudit?: number;
  keepaliveMs?: number;
}

/** Adds `GET /api/v1/watch` to `app` (behind the API's credential middleware). */
export function registerWatchRoutes(app: Hono<BunEnv>, deps: WatchDeps): void {
  const snapshots = snapshotCache(deps.registry);
  app.get("/api/v1/watch", () => {
    let stop = (): void => {};
    return streamedResponse(
      (out) =>
        new Promise<void>((resolve) => {
          stop = watchStream(deps, snapshots, out, resolve);
        }),
      { format: "sse", onCancel: () => stop(), keepaliveMs: deps.keepaliveMs },
    );
  });
}

/** The cache's snapshot, made once per change and shared by every stream. */
function snapshotCache(registry: Registry): () => WatchSnapshot {
  let version = 0;
  let made: { version: number; snapshot: WatchSnapshot } | null = null;
  registry.onChange(() => version++);
  return () => {
    if (made?.version !== version) made = { version, snapshot: { nodes: registry.nodeViews(), instances: registry.instanceViews() } };
    return made.snapshot;
  };
}

/**
 * One stream on `out`, as a state machine: `idle` (nothing owed), `waiting`
 * (a snapshot is owed and its interval has not passed: a timer is set),
 * `held` (the reader has not taken what was written: owed events wait for
 * it to drain), `ended` (`end` has been called: the answer ends). Writes a
 * snapshot at once.
 * @returns the function that ends it (the reader left); idempotent.
 */
export function watchStream(deps: WatchDeps, snapshot: () => WatchSnapshot, out: EventWriter, end: () => void): () => void {
  const now = deps.now ?? Date.now;
  const intervalMs = deps.intervalMs ?? WATCH_INTERVAL_MS;
  const maxPending = deps.maxPendingAudit ?? MAX_PENDING_AUDIT_EVENTS;
  let state: "idle" | "waiting" | "held" | "ended" = "idle";
  let owed = false;
  let lastSent = now();
  let timer: ReturnType<typeof setTimeout> | null = null;
  const pending: AuditEvent[] = [];

  const stop = () => {
    if (state === "ended") return;
    state = "ended";
    if (timer !== null) clearTimeout(timer);
    offChange();
    offAppend();
    pending.length = 0;
    end();
  };

  /** Writes what is owed, as far as the reader takes it and the interval allows. */
  const flush = () => {
    if (state === "ended" || state === "waiting") return;
    while (pending.length > 0 && !out.full) out.write(pending.shift(), "audit");
    if (pending.length > 0 || (owed && out.full)) {
      state = "held";
      return;
    }
    state = "idle";
    if (!owed) return;
    const wait = lastSent + intervalMs - now();
    if (wait > 0) {
      state = "waiting";
      timer = setTimeout(() => {
        timer = null;
        state = "idle";
        flush();
      }, wait);
      return;
    }
    owed = false;
    lastSent = now();
    if (!out.write(snapshot(), "snapshot")) stop();
  };

  const offChange = deps.registry.onChange(() => {
    owed = true;
    if (state === "idle") flush();
  });
  const offAppend = deps.audit.onAppend((event) => {
    if (state === "ended") return;
    pending.push(event);
    if (pending.length > maxPending) return stop();
    if (state === "idle" || state === "waiting") {
      // An audit event goes out at once; only snapshots wait for the interval.
      while (pending.length > 0 && !out.full) out.write(pending.shift(), "audit");
      if (pending.length > 0 && state === "idle") state = "held";
    }
  });
  out.onDrain(flush);
  out.write(snapshot(), "snapshot");
  return stop;
}
