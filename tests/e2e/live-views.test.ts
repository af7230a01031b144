/**
 * Live views (issue 15) with real processes: `instances --watch --json` sees
 * a change made on the host itself, `nodes --watch --json` a node joining,
 * and `events --follow --json` every record, across a master killed and
 * restarted, none missed and none twice; Ctrl-C ends each with 130.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { parseAuditEvent, type AuditEvent } from "../../lib/protocol/audit.ts";
import { parseJson } from "../../lib/core/parse.ts";
import { client, envWithBun, hostMultipass, removeTempDirs, roleCommand, simConfig, startMaster, startWorker, stopAll, tempDir, TimedProcess, waitFor, type MasterHandle } from "./harness.ts";

setDefaultTimeout(120_000);
afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

/** The client as a long-running process, against `master`. */
function watching(master: MasterHandle, args: string[]): TimedProcess {
  return new TimedProcess([...roleCommand("client"), ...args, "--master", master.apiUrl, "--token", master.apiToken], envWithBun({ HOME: tempDir("home") }));
}

interface Change {
  type: string;
  object: { name: string; state?: string; node?: string };
}

function changesOf(p: TimedProcess): { at: number; change: Change }[] {
  return p.lines.filter((l) => l.stream === "stdout" && l.text.startsWith("{")).map((l) => ({ at: l.at, change: parseJson(l.text, "change") as unknown as Change }));
}

function recordsOf(p: TimedProcess): AuditEvent[] {
  return p.lines.filter((l) => l.stream === "stdout" && l.text.startsWith("{")).map((l) => parseAuditEvent(parseJson(l.text, "record")));
}

describe("live views", () => {
  test("instances --watch and nodes --watch: the first listing, then each change as it happens, a host-side one included", async () => {
    const master = await startMaster();
    const sim = tempDir("sim-live");
    simConfig(sim, { stepMs: 5 });
    expect((await hostMultipass(sim, ["launch", "--name", "web"])).code).toBe(0);
    const nodes = watching(master, ["nodes", "--watch", "--json"]);
    await startWorker(master, "n1", { simDir: sim, pollInterval: "250ms" });
    const instances = watching(master, ["instances", "--watch", "--json"]);

    await instances.waitForLine(/"type":"ADDED".*"name":"web"/);
    await nodes.waitForLine(/"type":"ADDED".*"name":"n1"/);
    expect(changesOf(instances).map((c) => [c.change.type, c.change.object.name, c.change.object.state])).toEqual([["ADDED", "web", "Running"]]);

    // A change made at the host's own terminal, not through multiverse.
    expect((await hostMultipass(sim, ["stop", "web"])).code).toBe(0);
    const stoppedAt = Date.now();
    await instances.waitForLine(/"type":"MODIFIED".*"state":"Stopped"/);
    const seenAt = changesOf(instances).find((c) => c.change.type === "MODIFIED")!.at;
    console.log(`instances --watch: a host-side stop seen ${seenAt - stoppedAt} ms after multipass stop returned (poll interval 250 ms)`);

    expect((await client(master, ["launch", "db"])).code).toBe(0);
    await instances.waitForLine(/"type":"ADDED".*"name":"db"/);
    expect((await client(master, ["delete", "--purge", "db", "--yes"])).code).toBe(0);
    await instances.waitForLine(/"type":"DELETED".*"name":"db"/);

    // A change of the node itself (a label: one that lasts, so no coalescing of the stream can skip
    // it) is MODIFIED; heartbeats alone (a second apart, moving its last sync and free memory) are
    // not a change anyone watches for.
    expect((await client(master, ["nodes", "label", "n1", "zone=a"])).code).toBe(0);
    await nodes.waitForLine(/"type":"MODIFIED".*"zone":"a"/);
    await Bun.sleep(500);
    const settled = changesOf(nodes).length;
    await Bun.sleep(3_000);
    expect(changesOf(nodes).length).toBe(settled);

    for (const p of [instances, nodes]) p.kill("SIGINT");
    expect(await instances.exited).toBe(130);
    expect(await nodes.exited).toBe(130);
  });

  test("events --follow: every record once, across a master killed and restarted", async () => {
    const master = await startMaster();
    const sim = tempDir("sim-follow");
    simConfig(sim, { stepMs: 5 });
    expect((await hostMultipass(sim, ["launch", "--name", "web"])).code).toBe(0);
    const worker = await startWorker(master, "n1", { simDir: sim });
    expect((await client(master, ["stop", "web"])).code).toBe(0);

    const follow = watching(master, ["events", "--follow", "--json"]);
    // The listing first: the stop's two records.
    await waitFor("the listing", () => recordsOf(follow).length === 2);
    expect((await client(master, ["start", "web"])).code).toBe(0);
    await waitFor("the start's records", () => recordsOf(follow).filter((e) => e.action === "start").length === 2);

    master.proc.kill("SIGKILL");
    await master.proc.exited;
    await follow.waitForLine(/trying again in/);
    const again = await startMaster({ dataDir: master.dataDir, clusterPort: master.clusterPort, apiPort: master.apiPort });
    await waitFor("the worker rejoined", () => /joined with id/.test(worker.proc.output.split("lost the master").at(-1) ?? ""), 20_000);
    expect((await client(again, ["stop", "web"])).code).toBe(0);
    await waitFor("the second stop's records", () => recordsOf(follow).filter((e) => e.action === "stop").length === 4, 20_000);
    await follow.waitForLine(/the watch stream is back/);

    const ids = recordsOf(follow).map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    expect(recordsOf(follow).map((e) => `${e.action}:${e.phase}`)).toEqual(["stop:requested", "stop:done", "start:requested", "start:done", "stop:requested", "stop:done"]);

    follow.kill("SIGINT");
    expect(await follow.exited).toBe(130);
  });
});
