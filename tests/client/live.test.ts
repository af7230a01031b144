import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import type { ApiClient } from "../../lib/client/api-client.ts";
import { changes, followWatch, watchEvents, type WatchEvent } from "../../lib/client/live.ts";
import { formatRecord } from "../../lib/client/events-follow.ts";
import { colors } from "../../lib/client/tables.ts";
import type { AuditEvent } from "../../lib/protocol/audit.ts";

const record = (id: number, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  id,
  time: "2026-12-02T10:00:00.000Z",
  requestId: `r${id}`,
  phase: "requested",
  token: "0123456789ab",
  action: "stop",
  node: "n1",
  instance: "web",
  ...extra,
});

const snapshotLines = ["event: snapshot", `data: ${JSON.stringify({ nodes: [], instances: [] })}`];
const auditLines = (e: AuditEvent) => ["event: audit", `data: ${JSON.stringify(e)}`];

/** An API client whose watch streams are scripted: each call takes the next script (lines, then an end or an error). */
function scriptedApi(scripts: { lines: string[]; then: AppError | "end" }[]): ApiClient & { calls: number } {
  const api = {
    calls: 0,
    baseUrl: "http://master",
    token: "t",
    tls: undefined,
    get: () => Promise.reject(new Error("not used")),
    post: () => Promise.reject(new Error("not used")),
    delete: () => Promise.reject(new Error("not used")),
    async stream(path: string) {
      expect(path).toBe("/api/v1/watch");
      const script = scripts[api.calls++];
      if (script === undefined) return new Promise<never>(() => {});
      if (script.lines.length === 0 && script.then !== "end") throw script.then;
      return (async function* () {
        yield* script.lines;
        if (script.then !== "end") throw script.then;
      })();
    },
  };
  return api;
}

describe("the watch stream", () => {
  test("events are parsed by their type; keepalives and unknown events are skipped", async () => {
    const api = scriptedApi([{ lines: [": keepalive", ...snapshotLines, "event: other", 'data: {"x":1}', ...auditLines(record(7))], then: "end" }]);
    const got: WatchEvent[] = [];
    for await (const e of watchEvents(api, new AbortController().signal)) got.push(e);
    expect(got).toEqual([{ type: "snapshot", snapshot: { nodes: [], instances: [] } }, { type: "audit", event: record(7) }]);
  });

  test("an event that does not parse is E_PROTOCOL", async () => {
    const api = scriptedApi([{ lines: ["event: audit", 'data: {"id":"x"}'], then: "end" }]);
    const run = async () => {
      for await (const _ of watchEvents(api, new AbortController().signal)) void _;
    };
    await expect(run()).rejects.toMatchObject({ code: "E_PROTOCOL" });
  });

  test("a lost master is waited out and the stream followed again; the status says so both ways", async () => {
    const lost = new AppError("E_UNREACHABLE", "Lost the connection to the master", { details: { lostMaster: true } });
    const api = scriptedApi([
      { lines: [...snapshotLines, ...auditLines(record(1))], then: lost },
      { lines: [], then: new AppError("E_UNREACHABLE", "Cannot reach the master: connection refused") },
      { lines: [...snapshotLines, ...auditLines(record(2))], then: "end" },
    ]);
    const controller = new AbortController();
    const seen: number[] = [];
    const status: (string | null)[] = [];
    const connected: number[] = [];
    const done = followWatch(
      api,
      (e) => {
        if (e.type === "audit") seen.push(e.event.id);
        if (seen.length === 2) controller.abort();
      },
      { signal: controller.signal, status: (t) => status.push(t), connected: async () => void connected.push(api.calls), policy: { baseMs: 1, maxMs: 2 } },
    );
    await expect(done).rejects.toMatchObject({ code: "E_CANCELLED" });
    expect(seen).toEqual([1, 2]);
    expect(connected).toEqual([0, 1, 2]);
    expect(status[0]).toContain("Lost the connection to the master; trying again in");
    expect(status[1]).toContain("connection refused; trying again in");
    expect(status[2]).toBeNull();
  });

  test("a refused token is not retried", async () => {
    const api = scriptedApi([{ lines: [], then: new AppError("E_UNAUTHORIZED", "The master refused the token") }]);
    await expect(followWatch(api, () => {}, { signal: new AbortController().signal, status: () => {} })).rejects.toMatchObject({ code: "E_UNAUTHORIZED" });
    expect(api.calls).toBe(1);
  });
});

describe("changes between listings (kubectl's watch events)", () => {
  const key = (i: { name: string }) => i.name;
  test("first listing: everything ADDED", () => {
    expect(changes(null, [{ name: "a", s: 1 }], key)).toEqual([{ type: "ADDED", object: { name: "a", s: 1 } }]);
  });
  test("added, modified, deleted; unchanged ones say nothing", () => {
    const before = [{ name: "a", s: 1 }, { name: "b", s: 1 }, { name: "c", s: 1 }];
    const after = [{ name: "a", s: 1 }, { name: "b", s: 2 }, { name: "d", s: 1 }];
    expect(changes(before, after, key)).toEqual([
      { type: "MODIFIED", object: { name: "b", s: 2 } },
      { type: "ADDED", object: { name: "d", s: 1 } },
      { type: "DELETED", object: { name: "c", s: 1 } },
    ]);
  });
});

describe("a followed record's line", () => {
  const c = colors(false);
  test("requested, ok, exit status, error — text from the network stripped of control characters", () => {
    expect(formatRecord(record(1), c)).toMatch(/^2026-12-02 10:00:00 UTC +stop +n1 +web +0123456789ab +requested\n$/);
    expect(formatRecord(record(2, { phase: "done", result: "ok" }), c)).toEndWith(" ok\n");
    expect(formatRecord(record(3, { phase: "done", result: "ok", exitCode: 3, action: "exec" }), c)).toEndWith(" exit 3\n");
    const bad = formatRecord(record(4, { phase: "done", result: "error", error: { code: "E_MULTIPASS", message: "boom\u001b[31m\nnext" }, instance: "w\u0007eb" }), c);
    expect(bad).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(bad).toContain("error: boom next");
    expect(bad).toContain(" web ");
  });
});
