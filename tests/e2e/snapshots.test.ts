/**
 * Snapshots end to end: a real master, two workers on the simulated host (n2
 * playing a backend without snapshot support) and the real client. Take,
 * list (table and --json), restore bringing the home's file back (keeping
 * the current state first unless --destructive), delete; refusals while
 * running and on the backend without snapshots, with Multipass's reasons;
 * bad names refused with nothing sent to a host or recorded.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { arrayOf } from "../../lib/core/parse.ts";
import { parseAuditEvent } from "../../lib/protocol/audit.ts";
import { parseSnapshotsResponse } from "../../lib/protocol/snapshots.ts";
import { api, apiInstances, client, hostMultipass, removeTempDirs, simCalls, startMaster, startWorker, stopAll, tempDir, waitFor, type MasterHandle } from "./harness.ts";

setDefaultTimeout(60_000);

let master: MasterHandle;
const sims = { n1: "", n2: "" };
const notes = () => join(sims.n1, "instances", "web", "home", "notes");

beforeAll(async () => {
  master = await startMaster();
  sims.n1 = tempDir("sim-s1");
  sims.n2 = tempDir("sim-s2");
  writeFileSync(join(sims.n1, "config.json"), JSON.stringify({ stepMs: 20 }));
  writeFileSync(join(sims.n2, "config.json"), JSON.stringify({ stepMs: 20, snapshots: false }));
  for (const name of ["web", "up"]) expect((await hostMultipass(sims.n1, ["launch", "--name", name])).code).toBe(0);
  expect((await hostMultipass(sims.n1, ["stop", "web"])).code).toBe(0);
  expect((await hostMultipass(sims.n2, ["launch", "--name", "db"])).code).toBe(0);
  expect((await hostMultipass(sims.n2, ["stop", "db"])).code).toBe(0);
  await startWorker(master, "n1", { simDir: sims.n1 });
  await startWorker(master, "n2", { simDir: sims.n2 });
  await waitFor("3 instances", async () => (await apiInstances(master)).length === 3);
});

afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

describe("snapshots", () => {
  test("take, list, restore (the home's file comes back), delete — each audited", async () => {
    mkdirSync(join(sims.n1, "instances", "web", "home"), { recursive: true });
    writeFileSync(notes(), "before\n");
    const taken = await client(master, ["snapshot", "web", "--name", "base", "--comment", "clean state"]);
    expect(taken).toMatchObject({ code: 0, stdout: "Snapshot taken: web@n1.base\n" });
    writeFileSync(notes(), "after\n");

    const table = await client(master, ["instances", "--snapshots"]);
    expect(table.code).toBe(1); // n2 has no snapshot support: its error is listed, and the status says so
    expect(table.stdout).toMatch(/^Node Name +Instance +Snapshot +Parent +Comment\nn1 +web +base +-- +clean state\n$/);
    expect(table.stderr).toContain('node "n2"');
    expect(table.stderr).toContain("The snapshots feature is not implemented on this backend.");
    const json = await client(master, ["instances", "--snapshots", "--json"]);
    expect(parseSnapshotsResponse(JSON.parse(json.stdout))).toEqual(parseSnapshotsResponse((await api(master, "/api/v1/snapshots")).body));

    const restored = await client(master, ["restore", "web.base"]);
    expect(restored).toMatchObject({ code: 0, stdout: "Snapshot taken: web@n1.snapshot2 (the state before the restore)\nSnapshot restored: web@n1.base\n" });
    expect(readFileSync(notes(), "utf8")).toBe("before\n");
    const kept = parseSnapshotsResponse((await api(master, "/api/v1/snapshots?instance=web")).body).snapshots;
    expect(kept.map((s) => [s.name, s.parent, s.comment])).toEqual([["base", null, "clean state"], ["snapshot2", "base", "Before restoring base"]]);

    expect(await client(master, ["restore", "--destructive", "web@n1.snapshot2"])).toMatchObject({ code: 0, stdout: "Snapshot restored: web@n1.snapshot2\n" });
    expect(readFileSync(notes(), "utf8")).toBe("after\n");

    expect(await client(master, ["snapshot", "delete", "web.snapshot2@n1"])).toMatchObject({ code: 0, stdout: "Snapshot deleted: web@n1.snapshot2\n" });
    const left = parseSnapshotsResponse((await api(master, "/api/v1/snapshots?instance=web")).body).snapshots;
    expect(left.map((s) => s.name)).toEqual(["base"]);

    const events = arrayOf(parseAuditEvent)((await api(master, "/api/v1/events")).body, "events");
    const done = events.filter((e) => e.phase === "done" && ["snapshot", "restore", "delete-snapshot"].includes(e.action) && e.instance === "web");
    expect(done.map((e) => [e.action, e.result])).toEqual([["snapshot", "ok"], ["restore", "ok"], ["restore", "ok"], ["delete-snapshot", "ok"]]);
  });

  test("refused while running, and on a backend without snapshots, with Multipass's reasons", async () => {
    const running = await client(master, ["snapshot", "up"]);
    expect(running.code).toBe(1);
    expect(running.stderr).toContain("Multipass can only take snapshots of stopped instances.");
    const noSupport = await client(master, ["snapshot", "db"]);
    expect(noSupport.code).toBe(1);
    expect(noSupport.stderr).toContain('Cannot take a snapshot of "db" on node "n2"');
    expect(noSupport.stderr).toContain("The snapshots feature is not implemented on this backend.");
    const restoreRunning = await client(master, ["restore", "up.base"]);
    expect(restoreRunning.code).toBe(1);
    expect(restoreRunning.stderr).toContain("No such snapshot: up.base");
  });

  test("bad names and options change nothing: no host is asked, nothing is recorded", async () => {
    const changes = () => simCalls(sims.n1).filter((argv) => ["snapshot", "restore", "delete"].includes(argv[0] ?? "")).length;
    const calls = changes();
    const events = (await api(master, "/api/v1/events")).body;
    for (const args of [
      ["snapshot", "web", "--name", "bad.name"],
      ["snapshot", "web", "--name", "-x"],
      ["snapshot", "bad_name"],
      ["restore", "web"],
      ["restore", "web.1bad"],
      ["restore", "web@n1"],
      ["snapshot", "delete", "web"],
      ["instances", "--snapshots", "-l", "role=web"],
    ]) {
      const r = await client(master, args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stdout).toBe("");
    }
    expect(changes()).toBe(calls);
    expect((await api(master, "/api/v1/events")).body).toEqual(events);
  });
});
