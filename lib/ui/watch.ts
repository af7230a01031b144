/**
 * The page's live feed: `GET /api/v1/watch` as an EventSource. A snapshot
 * replaces the store's view whole (after a reconnect too); each audit record
 * joins the events. EventSource retries by itself while the master is away;
 * when the master refuses the stream (the session ended) it stops, and this
 * asks the session route whether to show the login or try again.
 */
import { backoffDelay } from "../core/backoff.ts";
import { parseJson } from "../core/parse.ts";
import { parseWatchSnapshot } from "../protocol/api.ts";
import { parseAuditEvent } from "../protocol/audit.ts";
import type { StoreHandle } from "./store.ts";

export interface WatchDeps {
  store: StoreHandle;
  /** Whether the session is still good: false sends the page to the login. */
  checkSession: () => Promise<boolean>;
  onLoggedOut: () => void;
  report: (message: string) => void;
}

/** Opens the stream; the returned function closes it for good. */
export function openWatch(deps: WatchDeps): () => void {
  let source: EventSource | null = null;
  let closed = false;
  let attempt = 0;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let reportedAt = -Infinity;
  // A stream that keeps sending what the page cannot read must not bury it in notices: one per half minute.
  const report = (message: string) => {
    if (Date.now() - reportedAt < 30_000) return;
    reportedAt = Date.now();
    deps.report(message);
  };

  const connect = () => {
    source = new EventSource("/api/v1/watch", { withCredentials: true });
    source.addEventListener("open", () => {
      attempt = 0;
    });
    source.addEventListener("snapshot", (event) => {
      try {
        const snapshot = parseWatchSnapshot(parseJson(messageData(event), "snapshot"));
        deps.store.setSnapshot(snapshot.nodes, snapshot.instances);
        deps.store.setLive("live");
      } catch (error) {
        report(`The master sent a snapshot the page cannot read: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
    source.addEventListener("audit", (event) => {
      try {
        deps.store.addEvents([parseAuditEvent(parseJson(messageData(event), "audit"))]);
      } catch (error) {
        report(`The master sent an audit record the page cannot read: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
    source.addEventListener("error", () => {
      if (closed || source === null) return;
      deps.store.setLive("reconnecting");
      if (source.readyState === EventSource.CLOSED) void refused();
    });
  };

  // The master answered with something other than a stream: a 401 when the session ended, a 5xx while it starts.
  const refused = async () => {
    source?.close();
    source = null;
    const good = await deps.checkSession().catch(() => true);
    if (closed) return;
    if (!good) return deps.onLoggedOut();
    retry = setTimeout(connect, backoffDelay(attempt++, { baseMs: 1_000, maxMs: 15_000 }));
  };

  connect();
  return () => {
    closed = true;
    clearTimeout(retry);
    source?.close();
    source = null;
  };
}

function messageData(event: Event): string {
  return event instanceof MessageEvent && typeof event.data === "string" ? event.data : "";
}
