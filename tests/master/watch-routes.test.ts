/**
 * The console's watch stream: a snapshot of the cache at once and after
 * every change (coalesced, always the latest), every new audit record, and a
 * bounded cost for a reader that does not keep up.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import type { AuditLog } from "../../lib/master/audit-log.ts";
import { auditTrailIn, closeAuditTrails } from "../support/audit-trail.ts";
import { Registry } from "../../lib/master/registry.ts";
import { registerWatchRoutes, watchStream, WATCH_INTERVAL_MS, MAX_PENDING_AUDIT_EVENTS } from "../../lib/master/watch-routes.ts";
import { errorResponse } from "../../lib/net/http.ts";
import type { EventWriter } from "../../lib/net/stream.ts";
import type { BunEnv } from "../../lib/net/ws.ts";
import { parseWatchSnapshot, type WatchSnapshot } from "../../lib/protocol/api.ts";
import { parseAuditEvent, type AuditEvent } from "../../lib/protocol/audit.ts";
import { parseJson } from "../../lib/core/parse.ts";
import { joinNode } from "../support/registry.ts";
import { waitFor } from "../e2e/harness.ts";

const dirs: string[] = [];
afterEach(() => {
  closeAuditTrails();
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function setup() {
  const d = mkdtempSync(join(tmpdir(), "mv-watch-"));
  dirs.push(d);
  const registry = new Registry({ now: Date.now, heartbeatMs: 60_000, downGraceMs: 60_000 });
  const audit = auditTrailIn(d);
  joinNode(registry, "n1", [["web", "Running"]]);
  return { registry, audit };
}

const record = (audit: AuditLog, i: number): AuditEvent =>
  audit.append({ requestId: `r${i}`, phase: "requested", token: "0123456789ab", action: "stop", node: "n1", instance: "web", params: { name: "web" } });

/** An EventWriter whose reader the test plays: `full` as the test says, every write kept. */
function fakeWriter() {
  const writes: { event: string; value: unknown }[] = [];
  let drain = (): void => {};
  const out: EventWriter & { isFull: boolean } = {
    isFull: false,
    write(value, event) {
      writes.push({ event: event ?? "message", value });
      return true;
    },
    get full() {
      return this.isFull;
    },
    onDrain(listener) {
      drain = listener;
    },
    close() {},
  };
  return { out, writes, drain: () => drain(), snapshots: () => writes.filter((w) => w.event === "snapshot").map((w) => w.value as WatchSnapshot) };
}

function snapshotOf(registry: Registry): () => WatchSnapshot {
  return () => ({ nodes: registry.nodeViews(), instances: registry.instanceViews() });
}

describe("watch stream (state machine, with a reader the test plays)", () => {
  test("a snapshot at once; changes within the interval coalesce into one snapshot of the latest state", async () => {
    const { registry, audit } = setup();
    const w = fakeWriter();
    let ended = false;
    const stop = watchStream({ registry, audit, intervalMs: 50 }, snapshotOf(registry), w.out, () => (ended = true));
    expect(w.snapshots()).toHaveLength(1);
    expect(w.snapshots()[0]!.instances.map((i) => i.state)).toEqual(["Running"]);
    for (const state of ["Suspending", "Stopped", "Starting", "Restarting", "Suspended"] as const) registry.applyInstances("n1", [{ name: "web", state, ipv4: [], release: null }]);
    await waitFor("the next snapshot", () => w.snapshots().length === 2);
    expect(w.snapshots()[1]!.instances.map((i) => i.state)).toEqual(["Suspended"]);
    // Nothing else was owed: the next thing on the stream is this audit record, not another snapshot.
    const event = record(audit, 1);
    expect(w.writes.at(-1)).toEqual({ event: "audit", value: event });
    expect(w.snapshots()).toHaveLength(2);
    stop();
    expect(ended).toBe(true);
    registry.applyInstances("n1", []);
    record(audit, 2);
    expect(w.writes).toHaveLength(3);
  });

  test("a slow reader: snapshots wait and collapse into the latest, audit records queue, in order, and go out when it drains", () => {
    const { registry, audit } = setup();
    const w = fakeWriter();
    watchStream({ registry, audit, intervalMs: 0 }, snapshotOf(registry), w.out, () => {});
    w.out.isFull = true;
    const events = [1, 2, 3].map((i) => record(audit, i));
    for (let i = 0; i < 100; i++) registry.applyInstances("n1", [{ name: `vm${i}`, state: "Running", ipv4: [], release: null }]);
    expect(w.writes).toHaveLength(1);
    w.out.isFull = false;
    w.drain();
    expect(w.writes.map((x) => x.event)).toEqual(["snapshot", "audit", "audit", "audit", "snapshot"]);
    expect(w.writes.slice(1, 4).map((x) => x.value)).toEqual(events);
    expect(w.snapshots()[1]!.instances.map((i) => i.name)).toEqual(["vm99"]);
  });

  test("past the bound of held audit records the stream ends (the page reconnects), holding nothing", () => {
    expect(MAX_PENDING_AUDIT_EVENTS).toBe(1000);
    expect(WATCH_INTERVAL_MS).toBe(250);
    const { registry, audit } = setup();
    const w = fakeWriter();
    let ended = 0;
    watchStream({ registry, audit, maxPendingAudit: 5 }, snapshotOf(registry), w.out, () => ended++);
    w.out.isFull = true;
    for (let i = 1; i <= 5; i++) record(audit, i);
    expect(ended).toBe(0);
    record(audit, 6);
    expect(ended).toBe(1);
    w.out.isFull = false;
    w.drain();
    registry.applyInstances("n1", []);
    record(audit, 7);
    expect(w.writes).toHaveLength(1);
    expect(ended).toBe(1);
  });
});

/** Reads SSE events off a streamed answer until `count` have come. */
async function readEvents(body: ReadableStream<Uint8Array>, count: number): Promise<{ event: string; data: unknown }[]> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const events: { event: string; data: unknown }[] = [];
  let text = "";
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = text.indexOf("\n\n")) !== -1) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      if (block.startsWith(":")) continue;
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      const data = /^data: (.*)$/m.exec(block)?.[1] ?? "";
      events.push({ event, data: parseJson(data, "data") });
    }
  }
  reader.releaseLock();
  return events;
}

describe("GET /api/v1/watch", () => {
  test("server-sent events: the snapshot is exactly GET /nodes and GET /instances; audit records as the events route gives them", async () => {
    const { registry, audit } = setup();
    const app = new Hono<BunEnv>();
    app.onError((error, c) => errorResponse(c, error));
    registerWatchRoutes(app, { registry, audit, intervalMs: 10 });
    const res = await app.request("/api/v1/watch");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const body = res.body!;
    const [first] = await readEvents(body, 1);
    expect(first!.event).toBe("snapshot");
    expect(first!.data).toEqual({ nodes: JSON.parse(JSON.stringify(registry.nodeViews())), instances: JSON.parse(await registry.instanceViewsBody().text()) });
    parseWatchSnapshot(first!.data);
    registry.applyInstances("n1", [{ name: "db", state: "Stopped", ipv4: ["10.0.0.9"], release: null }]);
    const [second] = await readEvents(body, 1);
    expect(parseWatchSnapshot(second!.data).instances).toEqual([{ node: "n1", name: "db", state: "Stopped", ipv4: ["10.0.0.9"], release: null, labels: {} }]);
    const appended = record(audit, 1);
    const [third] = await readEvents(body, 1);
    expect(third!.event).toBe("audit");
    expect(parseAuditEvent(third!.data)).toEqual(appended);
    await body.cancel();
  });

  test("a reader that leaves takes its listeners with it", async () => {
    const { registry, audit } = setup();
    const app = new Hono<BunEnv>();
    let listening = 0;
    const counting = {
      ...audit,
      onAppend(listener: (event: AuditEvent) => void) {
        listening++;
        const off = audit.onAppend(listener);
        return () => {
          listening--;
          return off();
        };
      },
    };
    registerWatchRoutes(app, { registry, audit: counting });
    const res = await app.request("/api/v1/watch");
    await readEvents(res.body!, 1);
    expect(listening).toBe(1);
    await res.body!.cancel();
    expect(listening).toBe(0);
  });
});
