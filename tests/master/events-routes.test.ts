import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import type { AuditLog } from "../../lib/master/audit-log.ts";
import { auditTrailIn, closeAuditTrails } from "../support/audit-trail.ts";
import { registerEventRoutes } from "../../lib/master/events-routes.ts";
import { arrayOf } from "../../lib/core/parse.ts";
import { errorResponse } from "../../lib/net/http.ts";
import { parseErrorBody } from "../../lib/protocol/api.ts";
import { parseAuditEvent } from "../../lib/protocol/audit.ts";
import type { BunEnv } from "../../lib/net/ws.ts";

const dirs: string[] = [];
const parseEvents = (value: unknown) => arrayOf(parseAuditEvent)(value, "events");
afterEach(() => {
  closeAuditTrails();
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function setup(): { app: Hono<BunEnv>; audit: AuditLog } {
  const d = mkdtempSync(join(tmpdir(), "mv-events-"));
  dirs.push(d);
  let t = Date.parse("2024-05-01T12:00:00.000Z");
  const audit = auditTrailIn(d, () => (t += 60_000));
  const app = new Hono<BunEnv>();
  app.onError((error, c) => errorResponse(c, error));
  registerEventRoutes(app, { audit });
  for (let i = 1; i <= 3; i++) {
    const base = { requestId: `r${i}`, token: "0123456789ab", action: "stop", node: "n1", instance: `vm${i}` };
    audit.append({ ...base, phase: "requested", params: { name: `vm${i}` } });
    audit.append({ ...base, phase: "done", result: "ok" });
  }
  return { app, audit };
}

describe("GET /api/v1/events", () => {
  test("answers the records as a JSON array, oldest first", async () => {
    const { app, audit } = setup();
    const res = await app.request("/api/v1/events");
    expect(res.status).toBe(200);
    const body: unknown = await res.json();
    expect(body).toEqual(JSON.parse(JSON.stringify(audit.list())));
    expect(parseEvents(body).map((e) => e.id)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test("since and limit", async () => {
    const { app } = setup();
    const ids = async (query: string) => parseEvents(await (await app.request(`/api/v1/events?${query}`)).json()).map((e) => e.id);
    expect(await ids("since=4")).toEqual([5, 6]);
    expect(await ids("limit=2")).toEqual([5, 6]);
    expect(await ids(`since=${encodeURIComponent("2024-05-01T12:04:00Z")}`)).toEqual([4, 5, 6]);
    expect(await ids(`since=${encodeURIComponent("2024-05-01T12:04:00+00:00")}&limit=1`)).toEqual([6]);
  });

  test("a bad since or limit is a 400 usage error", async () => {
    const { app } = setup();
    for (const query of ["since=yesterday", "since=", "limit=0", "limit=10001", "limit=abc", "limit=-1", "since=2024-05-01T12:00:00"]) {
      const res = await app.request(`/api/v1/events?${query}`);
      expect(res.status).toBe(400);
      const body = parseErrorBody(await res.json());
      expect(body?.error.code).toBe("E_USAGE");
      expect(body?.error.message).toMatch(/^Invalid (since|limit) /);
    }
  });
});
