/**
 * `GET /api/v1/events[?since=ISO|ID][&limit=N]`: the audit trail, oldest
 * first, as a JSON array of {@link AuditEvent}. The API token middleware of
 * api-server.ts already guards `/api/*`.
 */
import type { Hono } from "hono";
import { parseEventsLimit, type AuditEvent } from "../protocol/audit.ts";
import type { AuditLog } from "./audit-log.ts";
import type { BunEnv } from "../net/ws.ts";

/** Adds the events route to `app`; bad `since`/`limit` throw AppError E_USAGE (400) for app.onError. */
export function registerEventRoutes(app: Hono<BunEnv>, deps: { audit: AuditLog }): void {
  app.get("/api/v1/events", (c) => {
    const since = c.req.query("since");
    const limit = c.req.query("limit");
    const events: AuditEvent[] = deps.audit.list({ since, limit: limit === undefined ? undefined : parseEventsLimit(limit) });
    return c.json(events);
  });
}
