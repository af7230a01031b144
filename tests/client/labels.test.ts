/**
 * Labels and selectors in the client against a fake master: `label` and
 * `nodes label` (one call and one result per target), `instances -L`,
 * `--show-labels` and `-l`, `info -l`, a lifecycle verb with `-l` (listed and
 * asked on a terminal, then sent by name; sent as a selector otherwise), and
 * `launch --label` repeated. Bad input is refused before any request.
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

const vm = (node: string, name: string, labels: Record<string, string>, state = "Running") => ({ node, name, state, ipv4: [], release: null, labels });
const error = (code: string, message: string, status: number) => Response.json({ error: { code, message } }, { status });

describe("label", () => {
  test("each instance its own call and its own line; a failure is reported beside the others, exit 1", async () => {
    const m = serve((r) =>
      r.path.startsWith("/api/v1/instances/web%40n1/")
        ? Response.json(vm("n1", "web", { role: "web", zone: "a" }))
        : error("E_AMBIGUOUS", 'Instance name "db" exists on several nodes: n1, n2; use one of db@n1, db@n2', 409),
    );
    const client = fakeClient();
    expect(await runClient(client, m, ["label", "web@n1", "db", "role=web", "tier-"])).toBe(1);
    expect(m.seen.map((r) => [r.method, r.path, r.body])).toEqual([
      ["POST", "/api/v1/instances/web%40n1/labels", { set: { role: "web" }, remove: ["tier"] }],
      ["POST", "/api/v1/instances/db/labels", { set: { role: "web" }, remove: ["tier"] }],
    ]);
    expect(client.out.join("")).toBe("web@n1: role=web,zone=a\n");
    expect(client.err.join("")).toBe('error: db: Instance name "db" exists on several nodes: n1, n2; use one of db@n1, db@n2\n');
  });

  test("--json: every result, ok or not", async () => {
    const m = serve(() => Response.json(vm("n1", "web", { role: "web" })));
    const client = fakeClient();
    expect(await runClient(client, m, ["label", "web", "role=web", "--json"])).toBe(0);
    expect(JSON.parse(client.out.join(""))).toEqual({ ok: true, results: [{ node: "n1", name: "web", labels: { role: "web" }, ok: true, error: null }] });
  });

  test("nodes label: the node's labels", async () => {
    const node = { name: "n1", state: "Ready", address: "a:1", lastSync: "2026-01-01T00:00:00Z", multipassVersion: null, multipassError: null, staleSince: null, resources: { cpus: 2, load: [0, 0, 0], memory: { total: 10, available: 5 }, disk: { total: 10, available: 5 } }, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instanceCount: 1, labels: { zone: "a" } };
    const m = serve(() => Response.json(node));
    const client = fakeClient();
    expect(await runClient(client, m, ["nodes", "label", "n1", "zone=a"])).toBe(0);
    expect(m.seen.map((r) => [r.path, r.body])).toEqual([["/api/v1/nodes/n1/labels", { set: { zone: "a" } }]]);
    expect(client.out.join("")).toBe("n1: zone=a\n");
  });

  test("bad input is a usage error and no request", async () => {
    const m = serve(() => Response.json({}));
    const cases: [string[], RegExp][] = [
      [["label", "web"], /No labels given/],
      [["label", "role=web"], /Name at least one instance/],
      [["label", "web", "bad-=x"], /Invalid label key "bad-"/],
      [["label", "web", "role=a b"], /Invalid value "a b"/],
      [["label", "web", "role=x", "role-"], /named twice/],
      [["label", "bad name!", "role=x"], /nvalid instance/],
      [["instances", "-l", "role in web"], /Invalid selector "role in web"/],
      [["instances", "-L", "a,,b"], /Invalid label key ""/],
      [["stop", "web", "-l", "role=web"], /only one of them/],
      [["stop", "-l", ""], /An empty -l would select every instance; to mean that, use --all/],
      [["launch", "--label", "role"], /expected key=value/],
      [["info", "web", "-l", "role=web"], /not both/],
    ];
    for (const [args, message] of cases) {
      const client = fakeClient();
      expect(await runClient(client, m, args)).toBe(2);
      expect(client.err.join("")).toMatch(message);
    }
    expect(m.seen).toEqual([]);
  });
});

describe("listings with labels", () => {
  const list = [vm("n1", "web", { role: "web", env: "prod" }), vm("n2", "db", {})];

  test("instances -L and --show-labels: a column per key, and LABELS", async () => {
    const m = serve(() => Response.json(list));
    const client = fakeClient();
    expect(await runClient(client, m, ["instances", "-L", "role,env", "--show-labels"])).toBe(0);
    expect(client.out.join("")).toBe(
      [
        "Node Name   Instance Name   State     IPv4   Image           ROLE   ENV    LABELS",
        "n1          web             Running   --     Not Available   web    prod   env=prod,role=web",
        "n2          db              Running   --     Not Available",
        "",
      ].join("\n"),
    );
  });

  test("instances -l asks the master with ?selector=; --json prints its answer as it came", async () => {
    const body = JSON.stringify([list[0]]);
    const m = serve(() => new Response(body, { headers: { "content-type": "application/json" } }));
    const client = fakeClient();
    expect(await runClient(client, m, ["instances", "-l", "role=web,env!=dev", "--json"])).toBe(0);
    expect(m.seen[0]!.path).toBe(`/api/v1/instances?${new URLSearchParams({ selector: "role=web,env!=dev" })}`);
    expect(client.out.join("")).toBe(body + "\n");
  });

  test("an empty match says so", async () => {
    const m = serve(() => Response.json([]));
    const client = fakeClient();
    expect(await runClient(client, m, ["instances", "-l", "role=none"])).toBe(0);
    expect(client.out.join("")).toBe('No instances match the selector "role=none".\n');
  });

  test("nodes -l asks the master with ?selector=, and an empty match says so", async () => {
    const m = serve(() => Response.json([]));
    const client = fakeClient();
    expect(await runClient(client, m, ["nodes", "-l", "gpu=yes,zone!=b"])).toBe(0);
    expect(m.seen[0]!.path).toBe(`/api/v1/nodes?${new URLSearchParams({ selector: "gpu=yes,zone!=b" })}`);
    expect(client.out.join("")).toBe('No nodes match the selector "gpu=yes,zone!=b".\n');
    const bad = fakeClient();
    expect(await runClient(bad, m, ["nodes", "-l", "gpu in yes"])).toBe(2);
    expect(m.seen).toHaveLength(1);
  });

  test("info -l sends the selector", async () => {
    const m = serve(() => Response.json({ instances: [], errors: [] }));
    const client = fakeClient();
    expect(await runClient(client, m, ["info", "-l", "role=web"])).toBe(0);
    expect(m.seen[0]!.path).toBe("/api/v1/info?selector=role%3Dweb");
    expect(client.out.join("")).toBe('No instances match the selector "role=web".\n');
  });
});

describe("lifecycle verbs with -l", () => {
  const done = { type: "done", ok: true, results: [] };
  const route = (r: SeenRequest) =>
    r.method === "GET" ? Response.json([vm("n1", "web", { role: "web" }), vm("n2", "web", { role: "web" }), vm("n2", "old", { role: "web" }, "Stopped")]) : ndjsonAnswer([{ afterMs: 0, line: done }]);

  test("on a terminal: lists what the verb applies to, asks, and sends exactly those by name", async () => {
    const m = serve(route);
    const client = fakeClient({ isTTY: true, stdinIsTTY: true, answers: ["y"] });
    expect(await runClient(client, m, ["stop", "-l", "role=web"])).toBe(0);
    expect(client.asked).toEqual(["Stop web@n1, web@n2? [y/N] "]);
    expect(m.seen.map((r) => [r.method, r.path, r.body])).toEqual([
      ["GET", "/api/v1/instances?selector=role%3Dweb", undefined],
      ["POST", "/api/v1/actions/stop", { instances: ["web@n1", "web@n2"], force: false, purge: false }],
    ]);
  });

  test("answered no: nothing is sent", async () => {
    const m = serve(route);
    const client = fakeClient({ isTTY: true, stdinIsTTY: true, answers: ["n"] });
    expect(await runClient(client, m, ["stop", "-l", "role=web"])).toBe(1);
    expect(m.seen.map((r) => r.method)).toEqual(["GET"]);
    expect(client.err.join("")).toContain("Cancelled; nothing was changed.");
  });

  test("nothing the verb applies to matches: a clear error, nothing asked or sent", async () => {
    const m = serve(route);
    const client = fakeClient({ isTTY: true, stdinIsTTY: true, answers: ["y"] });
    expect(await runClient(client, m, ["recover", "-l", "role=web"])).toBe(1);
    expect(client.asked).toEqual([]);
    expect(m.seen.map((r) => r.method)).toEqual(["GET"]);
    expect(client.err.join("")).toContain('No instance that can be recovered matches the selector "role=web"');
  });

  test("without a terminal (or with --yes) the selector goes to the master as it is", async () => {
    const m = serve(route);
    const client = fakeClient();
    expect(await runClient(client, m, ["restart", "-l", "role=web", "--json"])).toBe(0);
    expect(m.seen.map((r) => [r.method, r.path, r.body])).toEqual([["POST", "/api/v1/actions/restart", { selector: "role=web", force: false, purge: false }]]);
  });
});

describe("launch --label", () => {
  test("every --label goes in the request's labels", async () => {
    const m = serve(() => Response.json({ dryRun: true, node: "n1", reason: "most room", name: "web" }));
    const client = fakeClient();
    expect(await runClient(client, m, ["launch", "web", "--label", "role=web", "--label=env=prod", "--dry-run"])).toBe(0);
    expect(m.seen[0]!.body).toEqual({ name: "web", dryRun: true, labels: { role: "web", env: "prod" } });
  });
});
