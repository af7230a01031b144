/**
 * Node maintenance with real processes and simulated Multipass hosts
 * (issue 15): a cordon keeps placement off a node and refuses `launch
 * --node` there, shows in `nodes`, survives a restart of the master (it is
 * in master.db) and is lifted by `uncordon`; `nodes drain` cordons and stops
 * every running instance of its node, each with its result, and leaves the
 * other nodes alone. (Drain's confirmation on a terminal and a failed stop
 * are in tests/client/maintenance.test.ts.)
 */
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { arrayOf, parseJson } from "../../lib/core/parse.ts";
import { parseNodeView } from "../../lib/protocol/api.ts";
import { parseAuditEvent } from "../../lib/protocol/audit.ts";
import {
  apiInstances,
  apiNodes,
  client,
  hostMultipass,
  removeTempDirs,
  simConfig,
  simStates,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
  type MasterHandle,
  type WorkerHandle,
} from "./harness.ts";

setDefaultTimeout(120_000);
afterEach(stopAll);
afterAll(removeTempDirs);

async function seeded(master: MasterHandle, name: string, instances: string[]): Promise<WorkerHandle> {
  const sim = tempDir(`sim-${name}`);
  simConfig(sim, { stepMs: 5 });
  for (const i of instances) expect((await hostMultipass(sim, ["launch", "--name", i])).code).toBe(0);
  return startWorker(master, name, { simDir: sim });
}

async function bothReady(master: MasterHandle): Promise<void> {
  await waitFor("n1 and n2 Ready", async () => (await apiNodes(master)).filter((n) => n.state === "Ready").length === 2, 15_000);
}

async function nodesJson(master: MasterHandle) {
  const r = await client(master, ["nodes", "--json"]);
  expect(r.code).toBe(0);
  return arrayOf(parseNodeView)(parseJson(r.stdout, "nodes --json"), "nodes");
}

/** The launches the simulated host of `worker` was asked to run. */
const launchesOn = (worker: WorkerHandle) => readFileSync(join(worker.simDir, "calls.log"), "utf8").split("\n").filter((l) => /"argv":\["launch"/.test(l)).length;

describe("node maintenance", () => {
  test("a cordon keeps launches off the node, refuses --node there, survives a master restart; uncordon lifts it", async () => {
    const master = await startMaster();
    const n1 = await seeded(master, "n1", []);
    await seeded(master, "n2", []);
    await bothReady(master);
    // Two empty nodes alike: placement would pick n1 (the first name).
    expect((await client(master, ["launch", "probe", "--dry-run"])).stdout).toContain('on node "n1"');

    const cordon = await client(master, ["nodes", "cordon", "n1", "--reason", "disk swap"]);
    expect(cordon).toMatchObject({ code: 0, stdout: 'Node "n1" cordoned (disk swap).\n' });
    const table = await client(master, ["nodes"]);
    expect(table.stdout).toMatch(/^n1 .*Ready,SchedulingDisabled$/m);
    expect(table.stdout).toMatch(/^n2 .*Ready$/m);
    const [c1, c2] = await nodesJson(master);
    expect(c1!.cordoned).toEqual({ since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), reason: "disk swap" });
    expect(c2!.cordoned).toBeNull();

    const launch = await client(master, ["launch", "web"]);
    expect(launch.code).toBe(0);
    expect(launch.stdout + launch.stderr).toContain("n1 is cordoned");
    expect((await apiInstances(master)).find((i) => i.name === "web")?.node).toBe("n2");
    const pinned = await client(master, ["launch", "db", "--node", "n1"]);
    expect(pinned.code).toBe(1);
    expect(pinned.stderr).toMatch(/Node "n1" is cordoned since .* \(disk swap\); no launch goes there until "multiverse nodes uncordon n1"/);
    expect(launchesOn(n1)).toBe(0);

    // The master restarts on the same data dir: the cordon is still there, with its time and reason.
    master.proc.kill("SIGTERM");
    await master.proc.proc.exited;
    const again = await startMaster({ dataDir: master.dataDir, clusterPort: master.clusterPort, apiPort: master.apiPort });
    await bothReady(again);
    expect((await nodesJson(again))[0]!.cordoned).toEqual(c1!.cordoned);
    expect((await client(again, ["launch", "db", "--node", "n1"])).code).toBe(1);
    expect(launchesOn(n1)).toBe(0);

    const uncordon = await client(again, ["nodes", "uncordon", "n1"]);
    expect(uncordon).toMatchObject({ code: 0, stdout: 'Node "n1" uncordoned.\n' });
    expect((await nodesJson(again))[0]!.cordoned).toBeNull();
    expect((await client(again, ["launch", "db", "--node", "n1"])).code).toBe(0);
    expect(launchesOn(n1)).toBe(1);

    const events = await client(again, ["events", "--json"]);
    const trail = arrayOf(parseAuditEvent)(parseJson(events.stdout, "events --json"), "events");
    expect(trail.filter((e) => e.phase === "done" && (e.action === "cordon" || e.action === "uncordon")).map((e) => [e.action, e.node, e.result])).toEqual([
      ["cordon", "n1", "ok"],
      ["uncordon", "n1", "ok"],
    ]);
  });

  test("a cordon of a node that is not in the cluster is a 404; a Down node may be cordoned", async () => {
    const master = await startMaster();
    const n1 = await seeded(master, "n1", []);
    await waitFor("n1 Ready", async () => (await apiNodes(master)).some((n) => n.state === "Ready"), 15_000);
    const missing = await client(master, ["nodes", "cordon", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Node "nope" is not part of the cluster');
    n1.proc.kill("SIGKILL");
    await waitFor("n1 Down", async () => (await apiNodes(master)).some((n) => n.state === "Down"), 15_000);
    expect((await client(master, ["nodes", "cordon", "n1"])).code).toBe(0);
    expect((await nodesJson(master))[0]).toMatchObject({ state: "Down", cordoned: { reason: null } });
  });

  test("drain: cordons, stops every running instance of the node with a result each; other nodes untouched", async () => {
    const master = await startMaster();
    const n1 = await seeded(master, "n1", ["web", "db", "idle"]);
    const n2 = await seeded(master, "n2", ["api"]);
    await bothReady(master);
    expect((await client(master, ["stop", "idle"])).code).toBe(0);
    await waitFor("four instances listed", async () => (await apiInstances(master)).length === 4);

    const drain = await client(master, ["nodes", "drain", "n1", "--reason", "kernel upgrade"]);
    expect(drain.code).toBe(0);
    expect(drain.stdout).toContain('Node "n1" cordoned (kernel upgrade).\n');
    expect(drain.stdout).toMatch(/^n1\s+web\s+Stopped$/m);
    expect(drain.stdout).toMatch(/^n1\s+db\s+Stopped$/m);
    expect(drain.stdout).not.toContain("idle");
    expect(simStates(n1.simDir)).toEqual(new Map([["web", "Stopped"], ["db", "Stopped"], ["idle", "Stopped"]]));
    expect(simStates(n2.simDir)).toEqual(new Map([["api", "Running"]]));
    expect((await nodesJson(master))[0]!.cordoned?.reason).toBe("kernel upgrade");

    // Drained again: nothing left to stop; still cordoned, exit 0.
    const again = await client(master, ["nodes", "drain", "n1"]);
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toContain('Nothing to stop on node "n1".');
  });
});
