/**
 * `POST /api/v1/nodes/:name/cordon` and `/uncordon` on an in-process master:
 * the node view's `cordoned`, idempotence, bad input and unknown nodes
 * refused before anything is recorded, the audit trail, launches kept off a
 * cordoned node (placed or pinned with `node`), the cordon kept across a
 * restart on the same data dir, and forgotten when the node is removed.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { waitFor } from "../e2e/harness.ts";
import { API, readyCount, resources, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

afterEach(runCleanups);

const headers = { authorization: `Bearer ${API}`, "content-type": "application/json" };
type Started = ReturnType<typeof startMaster>;
const post = (m: Started, path: string, body?: unknown) =>
  m.master.apiApp.request(path, { method: "POST", headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const cordonedOf = (m: Started, name: string) => m.master.registry.nodeViews().find((n) => n.name === name)?.cordoned;

/** Hosts with room for a launch of Multipass's defaults. */
const roomy = { ...resources, cpus: 4, memory: { total: 16 * 1024 ** 3, available: 8 * 1024 ** 3 }, disk: { total: 100 * 1024 ** 3, available: 90 * 1024 ** 3 } };

async function twoNodes(m: Started) {
  const f1 = createFakeMultipass([]);
  const f2 = createFakeMultipass([]);
  const w1 = startWorker(m.cluster.port!, "n1", f1, undefined, undefined, roomy);
  const w2 = startWorker(m.cluster.port!, "n2", f2, undefined, undefined, roomy);
  await waitFor("both joined", () => readyCount(m.master) === 2);
  return { f1, f2, w1, w2 };
}

describe("cordon routes", () => {
  test("cordon answers the node with its cordon; again keeps its time; uncordon clears it; both audited", async () => {
    const m = startMaster();
    await twoNodes(m);
    const first = await post(m, "/api/v1/nodes/n2/cordon", { reason: "disk swap" });
    expect(first.status).toBe(200);
    const view = (await first.json()) as { name: string; cordoned: { since: string; reason: string | null } };
    expect(view).toMatchObject({ name: "n2", cordoned: { reason: "disk swap" } });
    const again = await post(m, "/api/v1/nodes/n2/cordon");
    expect(((await again.json()) as typeof view).cordoned).toEqual(view.cordoned);
    expect(cordonedOf(m, "n1")).toBeNull();

    const lifted = await post(m, "/api/v1/nodes/n2/uncordon");
    expect(lifted.status).toBe(200);
    expect(((await lifted.json()) as typeof view).cordoned).toBeNull();
    const done = m.audit.list().filter((e) => e.phase === "done");
    expect(done.map((e) => [e.action, e.node, e.result])).toEqual([
      ["cordon", "n2", "ok"],
      ["cordon", "n2", "ok"],
      ["uncordon", "n2", "ok"],
    ]);
    expect(m.audit.list().find((e) => e.phase === "requested")?.params).toEqual({ reason: "disk swap" });
  });

  test("bad input and unknown nodes are refused before anything is recorded or changed", async () => {
    const m = startMaster();
    await twoNodes(m);
    expect((await post(m, "/api/v1/nodes/nope/cordon")).status).toBe(404);
    expect((await post(m, "/api/v1/nodes/nope/uncordon")).status).toBe(404);
    expect((await post(m, "/api/v1/nodes/-bad/cordon")).status).toBe(400);
    const control = await post(m, "/api/v1/nodes/n1/cordon", { reason: "a\u001b[2Jb" });
    expect(control.status).toBe(400);
    expect(await control.json()).toMatchObject({ error: { code: "E_USAGE", message: "Invalid cordon reason: it contains a control character" } });
    expect((await post(m, "/api/v1/nodes/n1/cordon", { reason: "x".repeat(257) })).status).toBe(400);
    expect((await post(m, "/api/v1/nodes/n1/cordon", { reason: 5 })).status).toBe(400);
    expect(cordonedOf(m, "n1")).toBeNull();
    expect(m.audit.list()).toEqual([]);
  });

  test("launches: placement goes elsewhere (and says why), a pinned one is refused, nothing reaches the cordoned node", async () => {
    const m = startMaster();
    const { f1 } = await twoNodes(m);
    expect((await post(m, "/api/v1/nodes/n1/cordon", { reason: "maintenance" })).status).toBe(200);
    const dry = await post(m, "/api/v1/instances", { name: "web", dryRun: true });
    expect(await dry.json()).toMatchObject({ node: "n2", reason: expect.stringContaining("n1 is cordoned") });
    const pinned = await post(m, "/api/v1/instances", { name: "web", node: "n1" });
    expect(pinned.status).toBe(409);
    expect(await pinned.json()).toMatchObject({ error: { code: "E_CONFLICT", message: expect.stringMatching(/^Node "n1" is cordoned since .* \(maintenance\); no launch goes there until "multiverse nodes uncordon n1"$/) } });
    expect((await post(m, "/api/v1/instances", { name: "web" })).status).toBe(201);
    expect(m.master.registry.instanceViews().map((i) => `${i.name}@${i.node}`)).toEqual(["web@n2"]);
    expect(f1.calls.filter((c) => c.startsWith("launch"))).toEqual([]);
  });

  test("a cordon is kept across a restart on the same data dir, and forgotten when its node is removed", async () => {
    const m = startMaster();
    const { w1, w2 } = await twoNodes(m);
    await post(m, "/api/v1/nodes/n2/cordon", { reason: "disk swap" });
    const before = cordonedOf(m, "n2");
    await w2.stop();
    await m.stop();
    const again = startMaster(0, undefined, undefined, { dataDir: m.dataDir });
    startWorker(again.cluster.port!, "n1", createFakeMultipass([]), undefined, undefined, roomy, w1.key);
    await waitFor("n1 joined", () => readyCount(again.master) === 1);
    // n2 has not come back yet: its cordon waits for it.
    expect(again.master.registry.cordons.get("n2")).toEqual(before!);
    startWorker(again.cluster.port!, "n2", createFakeMultipass([]), undefined, undefined, roomy, w2.key);
    await waitFor("n2 back", () => readyCount(again.master) === 2);
    expect(cordonedOf(again, "n2")).toEqual(before);

    const headersDelete = { authorization: `Bearer ${API}` };
    expect((await again.master.apiApp.request("/api/v1/nodes/n2?force=1", { method: "DELETE", headers: headersDelete })).status).toBe(200);
    expect(again.master.registry.cordons.get("n2")).toBeNull();
  });
});
