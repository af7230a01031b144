/**
 * `nodes cordon`, `uncordon` and `drain` in the client against a fake master:
 * the calls made and what is printed; drain's confirmation on a terminal
 * (answered yes: cordon, then the bulk stop of exactly the listed instances;
 * no: nothing sent at all), its per-instance results and exit status; bad
 * input refused before any request.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { fakeClient, fakeMaster, ndjsonAnswer, runClient, type FakeMaster, type SeenRequest } from "../support/fake-client.ts";

let master: FakeMaster | undefined;
afterEach(async () => {
  await master?.stop();
  master = undefined;
});

function serve(route: (request: SeenRequest) => Response | Promise<Response>): FakeMaster {
  master = fakeMaster(route);
  return master;
}

const resources = { cpus: 2, load: [0, 0, 0], memory: { total: 100, available: 50 }, disk: { total: 1000, available: 10 } };
const node = (name: string, cordoned: { since: string; reason: string | null } | null) => ({
  name,
  state: "Ready",
  address: "h:1",
  lastSync: "2026-12-01T10:00:00.000Z",
  multipassVersion: "1.16.1",
  multipassError: null,
  staleSince: null,
  resources,
  allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 },
  instanceCount: 3,
  labels: {},
  cordoned,
});
const vm = (node: string, name: string, state = "Running") => ({ node, name, state, ipv4: [], release: null, labels: {} });
const CORDON = { since: "2026-12-01T10:00:00.000Z", reason: "disk swap" };
const error = (code: string, message: string, status: number) => Response.json({ error: { code, message } }, { status });

describe("cordon and uncordon", () => {
  test("cordon sends the reason and says what it did; --json prints the node's view as the API answered", async () => {
    const m = serve(() => Response.json(node("n2", CORDON)));
    const client = fakeClient();
    expect(await runClient(client, m, ["nodes", "cordon", "n2", "--reason", "disk swap"])).toBe(0);
    expect(client.out.join("")).toBe('Node "n2" cordoned (disk swap).\n');
    const json = fakeClient();
    expect(await runClient(json, m, ["nodes", "cordon", "n2", "--json"])).toBe(0);
    expect(JSON.parse(json.out.join(""))).toEqual(node("n2", CORDON));
    expect(m.seen.map((r) => [r.method, r.path, r.body])).toEqual([
      ["POST", "/api/v1/nodes/n2/cordon", { reason: "disk swap" }],
      ["POST", "/api/v1/nodes/n2/cordon", {}],
    ]);
  });

  test("uncordon; an unknown node is the master's 404, exit 1", async () => {
    const m = serve((r) => (r.path.includes("/nope/") ? error("E_NOT_FOUND", 'Node "nope" is not part of the cluster', 404) : Response.json(node("n2", null))));
    const client = fakeClient();
    expect(await runClient(client, m, ["nodes", "uncordon", "n2"])).toBe(0);
    expect(client.out.join("")).toBe('Node "n2" uncordoned.\n');
    const missing = fakeClient();
    expect(await runClient(missing, m, ["nodes", "cordon", "nope"])).toBe(1);
    expect(missing.err.join("")).toContain('Node "nope" is not part of the cluster');
  });

  test("a bad node name or reason is refused before any request", async () => {
    const m = serve(() => Response.json(node("n2", null)));
    for (const args of [["nodes", "cordon", "../x"], ["nodes", "cordon", "n2", "--reason", "a\u001b[2Jb"], ["nodes", "drain", "n2", "--reason", "x".repeat(300)]]) {
      const client = fakeClient();
      expect(await runClient(client, m, args)).toBe(2);
    }
    expect(m.seen).toEqual([]);
  });

  test("nodes shows a cordoned node as Ready,SchedulingDisabled", async () => {
    const m = serve(() => Response.json([node("n1", null), node("n2", CORDON)]));
    const client = fakeClient();
    expect(await runClient(client, m, ["nodes"])).toBe(0);
    const lines = client.out.join("").split("\n");
    expect(lines[1]).toMatch(/^n1 .* Ready$/);
    expect(lines[2]).toMatch(/^n2 .* Ready,SchedulingDisabled$/);
  });
});

describe("drain", () => {
  const stopped = (name: string) => ({ type: "result", result: { node: "n2", name, ok: true, state: "Stopped" } });
  const failed = (name: string) => ({ type: "result", result: { node: "n2", name, ok: false, state: "Running", error: { code: "E_MULTIPASS", message: `Cannot stop instance "${name}" on node "n2": multipass stop failed` } } });
  function route(results: object[], ok: boolean) {
    return (r: SeenRequest) => {
      if (r.method === "GET" && r.path === "/api/v1/nodes/n2") return Response.json(node("n2", null));
      if (r.method === "GET") return Response.json([vm("n1", "web"), vm("n2", "web"), vm("n2", "db"), vm("n2", "old", "Stopped")]);
      if (r.path.endsWith("/cordon")) return Response.json(node("n2", { since: CORDON.since, reason: null }));
      return ndjsonAnswer([...results, { type: "done", ok, results: results.map((e) => (e as { result: object }).result) }].map((line) => ({ afterMs: 0, line })));
    };
  }

  test("on a terminal: lists the node's running instances, asks, cordons, stops exactly those; each result printed", async () => {
    const m = serve(route([stopped("web"), stopped("db")], true));
    const client = fakeClient({ isTTY: true, stdinIsTTY: true, answers: ["y"] });
    expect(await runClient(client, m, ["nodes", "drain", "n2"])).toBe(0);
    expect(client.asked).toEqual(['Cordon node "n2" and stop web@n2, db@n2? [y/N] ']);
    expect(m.seen.map((r) => [r.method, r.path, r.body])).toEqual([
      ["GET", "/api/v1/nodes/n2", undefined],
      ["GET", "/api/v1/instances", undefined],
      ["POST", "/api/v1/nodes/n2/cordon", {}],
      ["POST", "/api/v1/actions/stop", { instances: ["web@n2", "db@n2"], force: false, purge: false }],
    ]);
    const out = client.out.join("");
    expect(out).toContain('Node "n2" cordoned.\n');
    expect(out).toMatch(/n2\s+web\s+Stopped/);
    expect(out).toMatch(/n2\s+db\s+Stopped/);
  });

  test("answered no: nothing is cordoned or stopped", async () => {
    const m = serve(route([], true));
    const client = fakeClient({ isTTY: true, stdinIsTTY: true, answers: ["n"] });
    expect(await runClient(client, m, ["nodes", "drain", "n2"])).toBe(1);
    expect(m.seen.map((r) => r.method)).toEqual(["GET", "GET"]);
    expect(client.err.join("")).toContain("Cancelled; nothing was changed.");
  });

  test("one instance that fails to stop: its error beside the other's result, exit 1; --json prints the API's answers", async () => {
    const m = serve(route([stopped("web"), failed("db")], false));
    const client = fakeClient();
    expect(await runClient(client, m, ["nodes", "drain", "n2"])).toBe(1);
    expect(client.asked).toEqual([]);
    expect(client.out.join("")).toMatch(/n2\s+web\s+Stopped/);
    expect(client.err.join("")).toContain('Cannot stop instance "db" on node "n2": multipass stop failed');
    const json = fakeClient();
    expect(await runClient(json, m, ["nodes", "drain", "n2", "--json"])).toBe(1);
    const [cordoned, answer] = json.out.join("").trim().split("\n").map((l) => JSON.parse(l));
    expect(cordoned.cordoned).toEqual({ since: CORDON.since, reason: null });
    expect(answer).toEqual({ ok: false, results: [stopped("web").result, failed("db").result] });
  });

  test("nothing running: cordoned all the same, nothing to stop, exit 0", async () => {
    const m = serve((r) =>
      r.method === "GET" && r.path === "/api/v1/instances" ? Response.json([vm("n2", "old", "Stopped")]) : r.method === "GET" ? Response.json(node("n2", null)) : Response.json(node("n2", CORDON)),
    );
    const client = fakeClient({ isTTY: true, stdinIsTTY: true });
    expect(await runClient(client, m, ["nodes", "drain", "n2"])).toBe(0);
    expect(client.asked).toEqual([]);
    expect(client.out.join("")).toBe('Node "n2" cordoned (disk swap).\nNothing to stop on node "n2".\n');
    expect(m.seen.map((r) => r.method)).toEqual(["GET", "GET", "POST"]);
  });
});
