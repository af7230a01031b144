/**
 * `DELETE /api/v1/nodes/:name`: a stopped worker's node is dropped at once
 * (its last-known instances no longer make bare names ambiguous), a live one
 * only with force; every removal is in the audit trail.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { waitFor } from "../e2e/harness.ts";
import { API, readyCount, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

afterEach(runCleanups);

const auth = { authorization: `Bearer ${API}` };

describe("nodes remove", () => {
  test("a Down node is dropped at once and its instances stop making bare names ambiguous", async () => {
    const m = startMaster();
    startWorker(m.cluster.port!, "n1", createFakeMultipass([{ name: "web" }]));
    const w2 = startWorker(m.cluster.port!, "n2", createFakeMultipass([{ name: "web" }]));
    await waitFor("both joined", () => readyCount(m.master) === 2);
    await w2.stop();
    await waitFor("n2 Down", () => m.master.registry.nodeViews().some((n) => n.name === "n2" && n.state === "Down"));
    expect((await m.master.apiApp.request("/api/v1/instances/web", { headers: auth })).status).toBe(409);

    const removed = await m.master.apiApp.request("/api/v1/nodes/n2", { method: "DELETE", headers: auth });
    expect(removed.status).toBe(200);
    expect(await removed.json()).toEqual({ name: "n2", state: "Down", removed: true });
    expect(m.master.registry.nodeViews().map((n) => n.name)).toEqual(["n1"]);
    const web = await m.master.apiApp.request("/api/v1/instances/web", { headers: auth });
    expect(web.status).toBe(200);
    expect(await web.json()).toMatchObject({ node: "n1", name: "web" });

    const events = m.audit.list().filter((e) => e.action === "remove-node");
    expect(events.map((e) => [e.phase, e.node, e.result ?? null])).toEqual([
      ["requested", "n2", null],
      ["done", "n2", "ok"],
    ]);
  });

  test("a node that is not Down needs force; unknown and invalid names are refused", async () => {
    const m = startMaster();
    startWorker(m.cluster.port!, "n1", createFakeMultipass([{ name: "web" }]));
    await waitFor("joined", () => readyCount(m.master) === 1);

    const refused = await m.master.apiApp.request("/api/v1/nodes/n1", { method: "DELETE", headers: auth });
    expect(refused.status).toBe(409);
    expect((await refused.json()) as unknown).toMatchObject({ error: { code: "E_CONFLICT", message: expect.stringContaining("--force") } });
    expect(m.master.registry.get("n1")).toBeDefined();

    expect((await m.master.apiApp.request("/api/v1/nodes/nope", { method: "DELETE", headers: auth })).status).toBe(404);
    expect((await m.master.apiApp.request("/api/v1/nodes/-bad", { method: "DELETE", headers: auth })).status).toBe(400);
    expect((await m.master.apiApp.request("/api/v1/nodes/n1?force=maybe", { method: "DELETE", headers: auth })).status).toBe(400);

    const forced = await m.master.apiApp.request("/api/v1/nodes/n1?force=1", { method: "DELETE", headers: auth });
    expect(forced.status).toBe(200);
    expect(await forced.json()).toEqual({ name: "n1", state: "Ready", removed: true });
    const done = m.audit.list().filter((e) => e.action === "remove-node" && e.phase === "done");
    expect(done.map((e) => e.result)).toEqual(["error", "error", "ok"]);
  });
});
