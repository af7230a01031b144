/**
 * The label store (on a real SQLite file, and in memory), the label routes
 * through app.request with an audit sink that records, and selectors in the
 * registry's views and in the targets of a bulk verb.
 */
import { joinNode } from "../support/registry.ts";
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, type MasterDatabase } from "../../lib/master/database.ts";
import { createLabelStore } from "../../lib/master/labels.ts";
import { registerLabelRoutes } from "../../lib/master/label-routes.ts";
import { Registry } from "../../lib/master/registry.ts";
import { bulkTargets, selectNodes } from "../../lib/master/targets.ts";
import { createBaseApp } from "../../lib/net/http.ts";
import { parseSelector } from "../../lib/core/labels.ts";
import { parseLabelChangeBody } from "../../lib/protocol/labels.ts";
import { parseBulkAction } from "../../lib/protocol/operations.ts";
import type { AuditEvent } from "../../lib/protocol/audit.ts";
import { createTestLog } from "../support/test-log.ts";
import { liveInfo, MAX_NAMES_ASKED } from "../../lib/master/live-info.ts";
import { removeNode } from "../../lib/master/node-removal.ts";
import type { AgentClient } from "../../lib/master/agent-client.ts";
import type { InstanceInfo } from "../../lib/protocol/instances.ts";

const dirs: string[] = [];
const open: MasterDatabase[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function database(dir = mkdtempSync(join(tmpdir(), "labels-"))): { db: MasterDatabase; dir: string } {
  if (!dirs.includes(dir)) dirs.push(dir);
  const db = openDatabase(join(dir, "master.db"));
  open.push(db);
  return { db, dir };
}

describe("the label store", () => {
  test("labels survive a reopen of the database; a replace and a drop are kept too", () => {
    const first = database();
    const store = createLabelStore(first.db);
    store.setInstanceLabels("n1", "web", { role: "web", env: "prod" });
    store.setInstanceLabels("n2", "web", { role: "cache" });
    store.setNodeLabels("n1", { rack: "r1" });
    store.setInstanceLabels("n1", "db", { role: "db" });
    store.dropInstances("n1", ["db", "never-labelled"]);
    first.db.close();
    open.splice(0);
    const again = createLabelStore(database(first.dir).db);
    expect(again.instanceLabels("n1", "web")).toEqual({ env: "prod", role: "web" });
    expect(again.instanceLabels("n2", "web")).toEqual({ role: "cache" });
    expect(again.instanceLabels("n1", "db")).toEqual({});
    expect(again.nodeLabels("n1")).toEqual({ rack: "r1" });
    again.setInstanceLabels("n1", "web", {});
    expect(again.instanceLabels("n1", "web")).toEqual({});
  });

  test("an invalid key or value, or too many labels, is refused and changes nothing", () => {
    const store = createLabelStore(database().db);
    store.setInstanceLabels("n1", "web", { role: "web" });
    const before = store.version("n1");
    expect(() => store.setInstanceLabels("n1", "web", { "-bad": "x" })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    expect(() => store.setInstanceLabels("n1", "web", { role: "has space" })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
    expect(() => store.setInstanceLabels("n1", "web", many)).toThrow(/Too many labels/);
    expect(store.instanceLabels("n1", "web")).toEqual({ role: "web" });
    expect(store.version("n1")).toBe(before);
  });

  test("a write the database refuses is E_STORAGE and leaves memory as it was", () => {
    const { db } = database();
    const store = createLabelStore(db);
    store.setInstanceLabels("n1", "web", { role: "web" });
    db.db.exec("DROP TABLE instance_labels");
    expect(() => store.setInstanceLabels("n1", "web", { role: "db" })).toThrow(expect.objectContaining({ code: "E_STORAGE" }));
    expect(store.instanceLabels("n1", "web")).toEqual({ role: "web" });
  });

  test("a removed node's labels and its instances' are forgotten, durably; other nodes keep theirs", () => {
    const first = database();
    const store = createLabelStore(first.db);
    store.setInstanceLabels("n1", "web", { role: "web" });
    store.setInstanceLabels("n2", "web", { role: "web" });
    store.setNodeLabels("n1", { zone: "a" });
    store.dropNode("n1");
    expect([store.instanceLabels("n1", "web"), store.nodeLabels("n1"), store.instanceLabels("n2", "web")]).toEqual([{}, {}, { role: "web" }]);
    first.db.close();
    open.splice(0);
    const again = createLabelStore(database(first.dir).db);
    expect([again.instanceLabels("n1", "web"), again.nodeLabels("n1"), again.instanceLabels("n2", "web")]).toEqual([{}, {}, { role: "web" }]);
  });

  test("without a database, labels live in memory and listeners hear every change", () => {
    const store = createLabelStore(null);
    let heard = 0;
    store.onChange(() => heard++);
    store.setInstanceLabels("n1", "web", { role: "web" });
    store.setNodeLabels("n1", { zone: "a" });
    store.dropInstances("n1", ["web"]);
    store.dropInstances("n1", ["web"]);
    expect(heard).toBe(3);
    expect(store.instanceLabels("n1", "web")).toEqual({});
  });
});

function cluster() {
  const registry = new Registry({ now: () => 1_000_000, heartbeatMs: 1000, downGraceMs: 60_000 });
  joinNode(registry, "n1", [["web", "Running"], ["db", "Stopped"]]);
  joinNode(registry, "n2", [["web", "Running"], ["cache", "Running"]]);
  joinNode(registry, "n3", [["gone", "Running"]]);
  registry.disconnect("n3", "n3");
  return registry;
}

function routes() {
  const registry = cluster();
  const records: Omit<AuditEvent, "id" | "time">[] = [];
  const audit = { append: (r: Omit<AuditEvent, "id" | "time">) => (records.push(r), { ...r, id: records.length, time: "" }) as AuditEvent };
  const { log } = createTestLog();
  const app = createBaseApp({ log, maxBodyBytes: 1 << 20, name: "api" });
  registerLabelRoutes(app, { registry, audit, log, caller: () => ({ tokenId: "tok" }) });
  const post = (path: string, body: unknown) => app.request(path, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  return { registry, records, post };
}

describe("the label routes", () => {
  test("set and remove on an instance answer its view, audited as label", async () => {
    const { registry, records, post } = routes();
    let res = await post("/api/v1/instances/web@n1/labels", { set: { role: "web", tier: "front" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ node: "n1", name: "web", labels: { role: "web", tier: "front" } });
    res = await post("/api/v1/instances/db/labels", { set: { role: "db" }, remove: ["tier", "absent"] });
    expect(await res.json()).toMatchObject({ node: "n1", name: "db", labels: { role: "db" } });
    res = await post("/api/v1/instances/web@n1/labels", { remove: ["tier"] });
    expect(await res.json()).toMatchObject({ labels: { role: "web" } });
    expect(registry.instanceViews().map((v) => v.labels)).toEqual([{ role: "db" }, { role: "web" }, {}, {}, {}]);
    expect(records.filter((r) => r.phase === "requested").map((r) => [r.action, r.node, r.instance, r.params])).toEqual([
      ["label", "n1", "web", { set: { role: "web", tier: "front" }, remove: [] }],
      ["label", "n1", "db", { set: { role: "db" }, remove: ["tier", "absent"] }],
      ["label", "n1", "web", { set: {}, remove: ["tier"] }],
    ]);
    expect(records.filter((r) => r.phase === "done").every((r) => r.result === "ok")).toBe(true);
  });

  test("a node's labels; an instance of a Down node can be labelled", async () => {
    const { registry, post } = routes();
    const res = await post("/api/v1/nodes/n2/labels", { set: { zone: "b" } });
    expect(await res.json()).toMatchObject({ name: "n2", labels: { zone: "b" } });
    expect((await post("/api/v1/instances/gone@n3/labels", { set: { old: "yes" } })).status).toBe(200);
    expect(selectNodes(registry, parseSelector("zone=b")).map((n) => n.name)).toEqual(["n2"]);
    expect(selectNodes(registry, null).map((n) => n.name)).toEqual(["n1", "n2", "n3"]);
  });

  test("bad input is refused with its reason, changes nothing and records nothing", async () => {
    const { registry, records, post } = routes();
    const cases: [string, unknown, number, RegExp][] = [
      ["/api/v1/instances/web/labels", { set: { role: "x" } }, 409, /exists on several nodes/],
      ["/api/v1/instances/nope@n1/labels", { set: { role: "x" } }, 404, /does not exist/],
      ["/api/v1/nodes/n9/labels", { set: { role: "x" } }, 404, /not part of the cluster/],
      ["/api/v1/instances/web@n1/labels", { set: { "bad key": "x" } }, 400, /Invalid label key/],
      ["/api/v1/instances/web@n1/labels", { set: { role: "a/b" } }, 400, /Invalid value/],
      ["/api/v1/instances/web@n1/labels", { set: { role: 1 } }, 400, /expected a string|string/],
      ["/api/v1/instances/web@n1/labels", { set: { role: "x" }, remove: ["role"] }, 400, /both set and removed/],
      ["/api/v1/instances/web@n1/labels", {}, 400, /No labels given/],
      ["/api/v1/instances/web@n1/labels", { add: {} }, 400, /Unknown label field/],
      ["/api/v1/instances/web@n1/labels", { set: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])) }, 400, /more than 64 labels/],
    ];
    for (const [path, body, status, message] of cases) {
      const res = await post(path, body);
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
    }
    expect(records).toEqual([]);
    expect(registry.instanceViews().every((v) => Object.keys(v.labels).length === 0)).toBe(true);
  });

  test("nodes remove forgets the node's labels and its instances'", async () => {
    const { registry, records } = routes();
    registry.labels.setInstanceLabels("n3", "gone", { role: "web" });
    registry.labels.setNodeLabels("n3", { zone: "c" });
    const audit = { append: (r: Omit<AuditEvent, "id" | "time">) => (records.push(r), { ...r, id: records.length, time: "" }) as AuditEvent };
    await removeNode({ registry, audit, log: createTestLog().log }, { tokenId: "tok" }, "n3", false);
    expect([registry.labels.instanceLabels("n3", "gone"), registry.labels.nodeLabels("n3")]).toEqual([{}, {}]);
  });

  test("past MAX_LABELS after the change is refused whole", async () => {
    const { registry, records, post } = routes();
    registry.labels.setInstanceLabels("n1", "web", Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, "v"])));
    const res = await post("/api/v1/instances/web@n1/labels", { set: { one: "more" } });
    expect(res.status).toBe(400);
    expect(Object.keys(registry.labels.instanceLabels("n1", "web"))).toHaveLength(64);
    expect(records).toEqual([]);
  });
});

describe("selectors", () => {
  function labelled() {
    const registry = cluster();
    registry.labels.setInstanceLabels("n1", "web", { role: "web", env: "prod" });
    registry.labels.setInstanceLabels("n2", "web", { role: "web", env: "staging" });
    registry.labels.setInstanceLabels("n1", "db", { role: "db", env: "staging" });
    registry.labels.setInstanceLabels("n3", "gone", { role: "web" });
    return registry;
  }
  const names = (list: { name: string; node: { name: string } | string }[]) => list.map((t) => `${t.name}@${typeof t.node === "string" ? t.node : t.node.name}`);

  test("the instance views a selector keeps, by node then name", () => {
    const registry = labelled();
    const table: [string, string[]][] = [
      ["role=web", ["web@n1", "web@n2", "gone@n3"]],
      ["role=web,env!=prod", ["web@n2", "gone@n3"]],
      ["env in (staging)", ["db@n1", "web@n2"]],
      ["!role", ["cache@n2"]],
      ["role notin (web,db)", ["cache@n2"]],
      ["nothing=here", []],
      ["", ["db@n1", "web@n1", "cache@n2", "web@n2", "gone@n3"]],
    ];
    for (const [text, expected] of table) expect(names(registry.instanceViews(parseSelector(text)))).toEqual(expected);
  });

  test("the cached listing body changes when labels do", async () => {
    const registry = labelled();
    const before = registry.instanceViewsBody();
    expect(registry.instanceViewsBody()).toBe(before);
    registry.labels.setInstanceLabels("n2", "cache", { role: "cache" });
    const after = (await registry.instanceViewsBody().json()) as { name: string; labels: object }[];
    expect(after.find((v) => v.name === "cache")?.labels).toEqual({ role: "cache" });
  });

  test("a bulk verb's targets: selected, eligible, on nodes not Down; nothing selected is a clear 404", () => {
    const registry = labelled();
    const targets = (action: "stop" | "start", text: string) => names(bulkTargets(registry, action, { all: false, instances: [], selector: parseSelector(text) }));
    expect(targets("stop", "role=web")).toEqual(["web@n1", "web@n2"]);
    expect(targets("start", "env=staging")).toEqual(["db@n1"]);
    expect(() => targets("start", "role=web")).toThrow(/^No instance that can be started matches the selector "role=web"/);
  });

  test("the bulk body takes a selector instead of names or all; a bad one is the grammar's error", () => {
    expect(parseBulkAction({ selector: "role=web" }).selector).toEqual([{ key: "role", op: "=", value: "web" }]);
    expect(() => parseBulkAction({ selector: "role=web", all: true })).toThrow(/only one of them/);
    expect(() => parseBulkAction({ selector: "role=web", instances: ["a"] })).toThrow(/only one of them/);
    expect(() => parseBulkAction({ selector: "role in web" })).toThrow(/Invalid selector "role in web"/);
    expect(() => parseBulkAction({ selector: " " })).toThrow(/An empty selector would select every instance/);
    expect(() => parseLabelChangeBody({ remove: ["-x"] })).toThrow(/Invalid label key/);
  });
});

describe("info by selector", () => {
  function agentsFor(registry: Registry) {
    const asked: [string, string[]][] = [];
    const agents = {
      async info(node: { name: string }, names: string[]): Promise<InstanceInfo[]> {
        asked.push([node.name, names]);
        const all = registry.get(node.name)!.snapshot.instances.map((i) => i.name);
        return (names.length === 0 ? all : names).map((name) => ({ ...FIGURES, name }));
      },
    } as unknown as AgentClient;
    return { asked, agents };
  }
  const FIGURES: InstanceInfo = { name: "", state: "Running", cpus: 1, load: [0, 0, 0], memory: { used: 1, total: 2 }, disk: { used: 1, total: 2 }, release: null, imageRelease: null, imageHash: null, ipv4: [], mounts: [], snapshots: null };
  const limits = { timeoutMs: 1000 };

  test("only the nodes holding a selected instance are asked, for those; a Down one is an error of the answer", async () => {
    const registry = cluster();
    registry.labels.setInstanceLabels("n1", "db", { role: "db" });
    registry.labels.setInstanceLabels("n2", "cache", { role: "db" });
    registry.labels.setInstanceLabels("n3", "gone", { role: "db" });
    const { asked, agents } = agentsFor(registry);
    const answer = await liveInfo({ registry, agents }, null, limits, parseSelector("role=db"));
    expect(asked).toEqual([["n1", ["db"]], ["n2", ["cache"]]]);
    expect(answer.instances.map((i) => `${i.name}@${i.node}`)).toEqual(["db@n1", "cache@n2"]);
    expect(answer.errors).toEqual([{ node: "n3", message: expect.stringMatching(/^Node "n3" is Down/) }]);
  });

  test(`more than ${MAX_NAMES_ASKED} selected on a node: asked for all of them, kept to the selected`, async () => {
    const registry = new Registry({ now: () => 1_000_000, heartbeatMs: 1000, downGraceMs: 60_000 });
    joinNode(registry, "big", Array.from({ length: MAX_NAMES_ASKED + 2 }, (_, i) => [`vm${i}`, "Running"] as [string, "Running"]));
    for (let i = 0; i <= MAX_NAMES_ASKED; i++) registry.labels.setInstanceLabels("big", `vm${i}`, { role: "web" });
    const { asked, agents } = agentsFor(registry);
    const answer = await liveInfo({ registry, agents }, null, limits, parseSelector("role=web"));
    expect(asked).toEqual([["big", []]]);
    expect(answer.instances).toHaveLength(MAX_NAMES_ASKED + 1);
    expect(answer.instances.some((i) => i.name === `vm${MAX_NAMES_ASKED + 1}`)).toBe(false);
  });
});
