/**
 * A verb's answer never waits for a listing held behind the daemon: the
 * daemon serialises, so a list after one stop queues behind the next, and a
 * bulk stop would hear of each instance one stop late.
 */
import { describe, expect, test } from "bun:test";
import { createKeyedLock } from "../../lib/core/keyed-lock.ts";
import type { InstanceState } from "../../lib/protocol/instances.ts";
import type { LifecycleAction } from "../../lib/protocol/operations.ts";
import { createHostMonitor } from "../../lib/worker/host-monitor.ts";
import { createWorkerOps, stateAfter } from "../../lib/worker/host-ops.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { resources } from "../support/in-process.ts";
import { createTestLog } from "../support/test-log.ts";

describe("the listing a verb answers with", () => {
  test("comes at once, with the state multipass's success means, while the daemon still holds the list", async () => {
    const multipass = createFakeMultipass([{ name: "web" }, { name: "db" }]);
    const { log } = createTestLog();
    const monitor = createHostMonitor({ multipass, readResources: () => resources, pollMs: 50, log });
    await monitor.refresh();
    const ops = createWorkerOps({ multipass, monitor, lock: createKeyedLock(), log, node: "n1" });
    // From now on every list waits, as behind another instance's 300 s stop.
    let releaseList = (): void => {};
    const held = new Promise<void>((resolve) => (releaseList = resolve));
    const list = multipass.list.bind(multipass);
    multipass.list = async (options) => (await held, list(options));

    const answer = await Promise.race([ops.act("stop", "web", { force: false, purge: false }, "r1"), Bun.sleep(1000).then(() => "waited for the list")]);
    expect(answer).toEqual([expect.objectContaining({ name: "web", state: "Stopped", ipv4: [] }), expect.objectContaining({ name: "db", state: "Running" })]);
    expect(ops.operation("r1")).toMatchObject({ state: "ok", instances: answer });
    releaseList();
    expect(await ops.purge()).toHaveLength(2);
  });

  test.each([
    ["start", "Stopped", false, "Running"],
    ["restart", "Running", false, "Running"],
    ["stop", "Running", false, "Stopped"],
    ["suspend", "Running", false, "Suspended"],
    ["suspend", "Stopped", false, "Stopped"],
    ["suspend", "Starting", false, "Suspended"],
    ["suspend", "Restarting", false, "Suspended"],
    ["delete", "Running", false, "Deleted"],
    ["delete", "Stopped", true, null],
    ["recover", "Deleted", false, "Stopped"],
  ] as [LifecycleAction, InstanceState, boolean, InstanceState | null][])("%s of a %s instance (purge %p) leaves it %p", (action, before, purge, after) => {
    expect(stateAfter(action, before, { purge })).toBe(after);
  });
});

describe("the daemon's one thread", () => {
  test("stops of two instances run one after the other, so the second one's time limit starts when its turn comes", async () => {
    const multipass = createFakeMultipass([{ name: "web" }, { name: "db" }]);
    const { log } = createTestLog();
    const monitor = createHostMonitor({ multipass, readResources: () => resources, pollMs: 50, log });
    await monitor.refresh();
    const ops = createWorkerOps({ multipass, monitor, lock: createKeyedLock(), log, node: "n1" });
    const first = multipass.hold("Stopped");
    const second = multipass.hold("Stopped");
    const webStop = ops.act("stop", "web", { force: false, purge: false });
    await first.started;
    const dbStop = ops.act("stop", "db", { force: false, purge: false });
    // The second stop is not even started while the first holds the daemon.
    const startedEarly = await Promise.race([second.started.then(() => true), Bun.sleep(300).then(() => false)]);
    expect(startedEarly).toBe(false);
    first.release();
    await second.started;
    second.release();
    expect(await webStop).toContainEqual(expect.objectContaining({ name: "web", state: "Stopped" }));
    expect(await dbStop).toContainEqual(expect.objectContaining({ name: "db", state: "Stopped" }));
  });
});
