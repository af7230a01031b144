/**
 * The snapshot API against in-process workers on the in-memory Multipass:
 * take (201), the fan-out listing with a node's error beside the others'
 * snapshots, restore keeping the current state first unless destructive,
 * delete, refusals with Multipass's reasons and codes, a bare name on two
 * nodes refused listing them, bad names refused before anything is recorded
 * or sent, and every change audited.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { parseSnapshotChangeEvent, parseSnapshotChangeResponse, parseSnapshotsResponse } from "../../lib/protocol/snapshots.ts";
import { waitFor } from "../e2e/harness.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { API, readyCount, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

afterEach(runCleanups);

async function cluster() {
  const m = startMaster();
  const n1 = createFakeMultipass([{ name: "web", state: "Stopped" }, { name: "up", state: "Running" }, { name: "twin", state: "Stopped" }]);
  const n2 = createFakeMultipass([{ name: "db", state: "Stopped" }, { name: "twin", state: "Stopped" }]);
  startWorker(m.cluster.port!, "n1", n1);
  const w2 = startWorker(m.cluster.port!, "n2", n2);
  await waitFor("both joined", () => readyCount(m.master) === 2);
  const api = (path: string, init: RequestInit = {}, accept = "application/json") =>
    fetch(`http://127.0.0.1:${m.api.port}${path}`, { ...init, headers: { authorization: `Bearer ${API}`, "content-type": "application/json", accept } });
  return { m, n1, n2, w2, api };
}

describe("snapshot API", () => {
  test("take, list, restore, delete; each audited", async () => {
    const { m, n1, api } = await cluster();
    const taken = await api("/api/v1/instances/web/snapshots", { method: "POST", body: JSON.stringify({ name: "base", comment: "clean" }) });
    expect(taken.status).toBe(201);
    expect(parseSnapshotChangeResponse(await taken.json())).toEqual({
      node: "n1",
      instance: "web",
      snapshot: "base",
      taken: null,
      snapshots: [{ node: "n1", instance: "web", name: "base", parent: null, comment: "clean" }],
    });
    await api("/api/v1/instances/db@n2/snapshots", { method: "POST", body: "{}" });
    const listed = parseSnapshotsResponse(await (await api("/api/v1/snapshots")).json());
    expect(listed.errors).toEqual([]);
    expect(listed.snapshots.map((s) => `${s.instance}@${s.node}.${s.name}`).sort()).toEqual(["db@n2.snapshot1", "web@n1.base"]);
    const one = parseSnapshotsResponse(await (await api("/api/v1/snapshots?instance=db")).json());
    expect(one.snapshots.map((s) => s.name)).toEqual(["snapshot1"]);

    const restored = parseSnapshotChangeResponse(await (await api("/api/v1/instances/web/snapshots/base/restore", { method: "POST", body: "{}" })).json());
    expect(restored.taken).toBe("snapshot2");
    const destructive = parseSnapshotChangeResponse(await (await api("/api/v1/instances/web/snapshots/base/restore", { method: "POST", body: '{"destructive": true}' })).json());
    expect(destructive.taken).toBeNull();
    const deleted = await api("/api/v1/instances/web/snapshots/snapshot2", { method: "DELETE" });
    expect(deleted.status).toBe(200);
    expect(n1.snapshotsOf.get("web")?.map((s) => s.name)).toEqual(["base"]);

    const done = m.audit.list().filter((e) => e.phase === "done" && ["snapshot", "restore", "delete-snapshot"].includes(e.action));
    expect(done.map((e) => [e.action, e.instance, e.result])).toEqual([
      ["snapshot", "web", "ok"],
      ["snapshot", "db", "ok"],
      ["restore", "web", "ok"],
      ["restore", "web", "ok"],
      ["delete-snapshot", "web", "ok"],
    ]);
  });

  test("refusals: running, unknown snapshot, ambiguous name, bad input — nothing changes", async () => {
    const { m, n1, n2, api } = await cluster();
    const running = await api("/api/v1/instances/up/snapshots", { method: "POST", body: "{}" });
    expect(running.status).toBe(409);
    expect(((await running.json()) as { error: { message: string } }).error.message).toContain("Multipass can only take snapshots of stopped instances.");
    const missing = await api("/api/v1/instances/web/snapshots/nope/restore", { method: "POST", body: "{}" });
    expect(missing.status).toBe(404);
    const twin = await api("/api/v1/instances/twin/snapshots", { method: "POST", body: "{}" });
    expect(twin.status).toBe(409);
    expect(((await twin.json()) as { error: { message: string } }).error.message).toMatch(/n1.*n2/);
    const before = m.audit.list().length;
    for (const [path, init] of [
      ["/api/v1/instances/web/snapshots", { method: "POST", body: '{"name": "bad.name"}' }],
      ["/api/v1/instances/web/snapshots", { method: "POST", body: '{"name": "ok", "extra": 1}' }],
      ["/api/v1/instances/web/snapshots", { method: "POST", body: '{"comment": "bell\\u0007"}' }],
      ["/api/v1/instances/web/snapshots/1bad/restore", { method: "POST", body: "{}" }],
      ["/api/v1/instances/web/snapshots/base/restore", { method: "POST", body: '{"destructive": "yes"}' }],
      ["/api/v1/instances/-web/snapshots/base", { method: "DELETE" }],
    ] as const) {
      const response = await api(path, init);
      expect({ path, status: response.status }).toEqual({ path, status: 400 });
    }
    expect(m.audit.list().length).toBe(before);
    expect([...n1.snapshotsOf.values(), ...n2.snapshotsOf.values()].flat()).toEqual([]);
  });

  test("a streamed take or restore ends in one event; a bad name is still an HTTP error", async () => {
    const { api } = await cluster();
    const lastEvent = async (response: Response) => {
      const lines = (await response.text()).split("\n").filter((line) => line.trim() !== "");
      return parseSnapshotChangeEvent(JSON.parse(lines.at(-1) ?? "null"));
    };
    const ndjson = "application/x-ndjson";
    const taken = await lastEvent(await api("/api/v1/instances/web/snapshots", { method: "POST", body: '{"name": "s"}' }, ndjson));
    expect(taken).toMatchObject({ type: "done", result: { node: "n1", instance: "web", snapshot: "s", taken: null } });
    const refused = await lastEvent(await api("/api/v1/instances/up/snapshots", { method: "POST", body: "{}" }, ndjson));
    expect(refused).toMatchObject({ type: "error", code: "E_CONFLICT" });
    expect((await api("/api/v1/instances/twin/snapshots/s/restore", { method: "POST", body: "{}" }, ndjson)).status).toBe(409);
    expect((await api("/api/v1/instances/ghost/snapshots", { method: "POST", body: "{}" }, ndjson)).status).toBe(404);
  });

  test("a node that is down is an error of the listing beside the other's snapshots", async () => {
    const { m, w2, api } = await cluster();
    await api("/api/v1/instances/web/snapshots", { method: "POST", body: "{}" });
    await w2.stop();
    await waitFor("n2 not Ready", () => m.master.registry.nodeViews().some((n) => n.name === "n2" && n.state !== "Ready"));
    const listed = parseSnapshotsResponse(await (await api("/api/v1/snapshots")).json());
    expect(listed.snapshots.map((s) => s.name)).toEqual(["snapshot1"]);
    expect(listed.errors.map((e) => e.node)).toEqual(["n2"]);
  });
});
