/**
 * The worker's snapshot operations and agent routes against the in-memory
 * Multipass: the instance's snapshots after each change, a restore that keeps
 * the current state first unless destructive (and leaves nothing behind when
 * it cannot restore), Multipass's reasons as the errors' codes, and the
 * NDJSON answer of a change.
 */
import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { createKeyedLock } from "../../lib/core/keyed-lock.ts";
import { MultipassError } from "../../lib/multipass/driver.ts";
import { parseAgentSnapshotEvent, parseAgentSnapshots } from "../../lib/protocol/snapshots.ts";
import type { BunEnv } from "../../lib/net/ws.ts";
import { createSnapshotOps, registerSnapshotRoutes } from "../../lib/worker/snapshots.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { createTestLog } from "../support/test-log.ts";

function setup() {
  const multipass = createFakeMultipass([{ name: "web", state: "Stopped" }, { name: "up", state: "Running" }]);
  const { log } = createTestLog();
  const ops = createSnapshotOps({ multipass, lock: createKeyedLock(), log, node: "n1" });
  return { multipass, ops };
}

describe("snapshot operations", () => {
  test("take answers with the instance's snapshots after it", async () => {
    const { ops } = setup();
    expect(await ops.take("web", {})).toEqual({ snapshot: "snapshot1", taken: null, snapshots: [{ instance: "web", name: "snapshot1", parent: null, comment: "" }] });
    const second = await ops.take("web", { name: "b", comment: "two" });
    expect(second.snapshots.map((s) => [s.name, s.parent])).toEqual([["snapshot1", null], ["b", "snapshot1"]]);
    expect(await ops.list("up")).toEqual([]);
    expect((await ops.list(null)).length).toBe(2);
  });

  test("a restore without destructive keeps the current state in a snapshot first", async () => {
    const { ops, multipass } = setup();
    await ops.take("web", { name: "base" });
    const done = await ops.restore("web", "base", {});
    expect(done.taken).toBe("snapshot2");
    expect(done.snapshots.find((s) => s.name === "snapshot2")?.comment).toBe("Before restoring base");
    expect(multipass.calls.filter((c) => c === "snapshot" || c === "restore")).toEqual(["snapshot", "snapshot", "restore"]);
    const destructive = await ops.restore("web", "base", { destructive: true });
    expect(destructive.taken).toBeNull();
    expect(destructive.snapshots).toHaveLength(2);
  });

  test("refusals carry Multipass's reason and the right code, and leave nothing behind", async () => {
    const { ops, multipass } = setup();
    await ops.take("web", { name: "base" });
    await expect(ops.take("up", {})).rejects.toMatchObject({ code: "E_CONFLICT", message: expect.stringContaining("Multipass can only take snapshots of stopped instances.") });
    await expect(ops.restore("web", "nope", {})).rejects.toMatchObject({ code: "E_NOT_FOUND", message: 'Cannot restore "web.nope" on node "n1": No such snapshot: web.nope' });
    multipass.snapshotsOf.set("up", [{ instance: "up", name: "s", parent: null, comment: "" }]);
    await expect(ops.restore("up", "s", {})).rejects.toMatchObject({ code: "E_CONFLICT", message: 'Cannot restore "up.s" on node "n1": Multipass can only restore snapshots of stopped instances.' });
    await expect(ops.take("web", { name: "base" })).rejects.toMatchObject({ code: "E_CONFLICT" });
    expect((await ops.list(null)).map((s) => `${s.instance}.${s.name}`)).toEqual(["web.base", "up.s"]);
    const unsupported = new MultipassError({ kind: "snapshots-unsupported", message: "The snapshots feature is not implemented on this backend.", argv: [], exitCode: 2, stderr: "" });
    multipass.failNext("snapshot", unsupported);
    await expect(ops.take("web", {})).rejects.toMatchObject({ code: "E_UNAVAILABLE" });
  });

  test("delete purges one snapshot", async () => {
    const { ops } = setup();
    await ops.take("web", { name: "a" });
    await ops.take("web", { name: "b" });
    expect((await ops.remove("web", "a")).snapshots.map((s) => s.name)).toEqual(["b"]);
    await expect(ops.remove("web", "a")).rejects.toMatchObject({ code: "E_NOT_FOUND" });
  });
});

describe("agent routes", () => {
  const app = new Hono<BunEnv>();
  const { ops } = setup();
  registerSnapshotRoutes(app, { snapshots: ops });
  const lastEvent = async (response: Response) => {
    const lines = (await response.text()).split("\n").filter((line) => line.trim() !== "");
    return parseAgentSnapshotEvent(JSON.parse(lines.at(-1) ?? "null"));
  };

  test("a change answers NDJSON ending in one event; the listing is JSON", async () => {
    const take = await app.request("/agent/v1/snapshots/web", { method: "POST", body: JSON.stringify({ name: "x", comment: "c" }) });
    expect(await lastEvent(take)).toEqual({ type: "done", snapshot: "x", taken: null, snapshots: [{ instance: "web", name: "x", parent: null, comment: "c" }] });
    const refused = await app.request("/agent/v1/snapshots/up", { method: "POST", body: "{}" });
    expect(await lastEvent(refused)).toMatchObject({ type: "error", code: "E_CONFLICT" });
    const listed = await app.request("/agent/v1/snapshots?instance=web");
    expect(parseAgentSnapshots(await listed.json()).snapshots.map((s) => s.name)).toEqual(["x"]);
    const restore = await app.request("/agent/v1/snapshots/web/x/restore", { method: "POST", body: JSON.stringify({ destructive: true }) });
    expect(await lastEvent(restore)).toMatchObject({ type: "done", snapshot: "x", taken: null });
    const removed = await app.request("/agent/v1/snapshots/web/x/delete", { method: "POST" });
    expect(await lastEvent(removed)).toMatchObject({ type: "done", snapshots: [] });
  });
});
