/**
 * Environments (issue 17) interrupted and resumed, and at real pacing: a
 * real master, three workers on simulated hosts, the real client.
 *
 * - The client killed mid-apply: the apply goes on at the master, and the
 *   next apply (waiting for it) ends with everything Running, each instance
 *   launched once.
 * - The master killed while a launch is in flight, started again on its
 *   data dir: the next apply adopts (or waits for) the instance being
 *   launched instead of launching it again, and labels it.
 * - Two launches at the realistic preset's silent phases (20 s starting,
 *   30 s cloud-init): the client's `--json` and a raw NDJSON stream both stay
 *   alive through them (keepalives) and end with both instances Running.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseJson } from "../../lib/core/parse.ts";
import { KEEPALIVE_MS, STREAM_SILENCE_MS } from "../../lib/core/timers.ts";
import { parseEnvironmentEvent, type EnvironmentEvent } from "../../lib/protocol/environments.ts";
import {
  apiInstances,
  apiNodes,
  client,
  envWithBun,
  removeTempDirs,
  roleCommand,
  RoleProcess,
  simConfig,
  simStates,
  simTimedCalls,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
  type MasterHandle,
} from "./harness.ts";

setDefaultTimeout(120_000);

const NODES = ["n1", "n2", "n3"] as const;

let master: MasterHandle;
const sims = new Map<string, string>();
let docs: string;

interface Call {
  node: string;
  time: number;
  argv: string[];
}

function calls(): Call[] {
  return [...sims].flatMap(([node, dir]) => simTimedCalls(dir).map((c) => ({ node, ...c })));
}

/** How many `launch` calls each instance whose name starts with `prefix` got, over every host. */
function launchCounts(prefix: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of calls()) if (c.argv[0] === "launch" && c.argv[2]?.startsWith(prefix)) counts[c.argv[2]] = (counts[c.argv[2]] ?? 0) + 1;
  return counts;
}

function doc(name: string, text: string): string {
  const path = join(docs, name);
  writeFileSync(path, text);
  return path;
}

/** The client running in the background, to be killed or waited for. */
function clientProcess(args: string[]): RoleProcess {
  return new RoleProcess([...roleCommand("client"), ...args, "--master", master.apiUrl, "--token", master.apiToken], envWithBun({ HOME: tempDir("home") }));
}

async function envInstances(env: string) {
  return (await apiInstances(master)).filter((i) => i.name.startsWith(`${env}-`));
}

function pace(config: Parameters<typeof simConfig>[1], nodes: readonly string[] = NODES): void {
  for (const node of nodes) simConfig(sims.get(node)!, config);
}

beforeAll(async () => {
  docs = tempDir("env-docs");
  master = await startMaster();
  for (const node of NODES) {
    const sim = tempDir(`sim-${node}`);
    simConfig(sim, { stepMs: 20 });
    sims.set(node, sim);
    await startWorker(master, node, { simDir: sim });
  }
  await waitFor("3 nodes Ready", async () => (await apiNodes(master)).filter((n) => n.state === "Ready").length === 3);
});

afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

describe("environments interrupted", () => {
  test("the client killed mid-apply: the apply goes on at the master; the next apply finishes it, each instance launched once", async () => {
    pace({ stepMs: 300 });
    const file = doc("ck.yaml", "name: ck\ndefaults: { cpus: 1, memory: 1G, disk: 5G }\ninstances:\n  - name: head\n  - name: tail\n    count: 3\n    spread: true\n    after: [head]\n");
    const first = clientProcess(["apply", "-f", file]);
    await waitFor("ck-head being launched", () => launchCounts("ck-")["ck-head"] === 1, 15_000);
    await first.waitForOutput(/ck-head: /, 15_000);
    first.kill("SIGKILL");
    await first.exited;
    // Killed while the head was still launching: its dependents had not been asked for yet.
    expect(Object.keys(launchCounts("ck-"))).toEqual(["ck-head"]);
    await waitFor("the dependents launched with no client watching", () => Object.keys(launchCounts("ck-")).length === 4, 30_000);

    const second = await client(master, ["apply", "-f", file], { timeoutMs: 60_000 });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("Done: 4 steps succeeded.");
    expect((await envInstances("ck")).map((i) => `${i.name} ${i.state}`).sort()).toEqual(["ck-head Running", "ck-tail-1 Running", "ck-tail-2 Running", "ck-tail-3 Running"]);
    expect(launchCounts("ck-")).toEqual({ "ck-head": 1, "ck-tail-1": 1, "ck-tail-2": 1, "ck-tail-3": 1 });
    pace({ stepMs: 20 });
  });

  test("the master killed while a launch is in flight: the next apply adopts it, labels it, and launches nothing twice", async () => {
    pace({ stepMs: 50, timing: { starting: 8000, waitingForInitialization: 3000 } });
    const file = doc("mk.yaml", "name: mk\ndefaults: { cpus: 1, memory: 1G, disk: 5G }\ninstances:\n  - name: db\n    node: n1\n    labels: { tier: db }\n  - name: app\n    after: [db]\n");
    const first = clientProcess(["apply", "-f", file]);
    await waitFor("mk-db Starting on n1", () => simStates(sims.get("n1")!).get("mk-db") === "Starting", 20_000);
    master.proc.kill("SIGKILL");
    await master.proc.exited;
    await first.exited;
    expect(launchCounts("mk-")).toEqual({ "mk-db": 1 });

    master = await startMaster({ dataDir: master.dataDir, clusterPort: master.clusterPort, apiPort: master.apiPort });
    await waitFor("the workers back", async () => (await apiNodes(master)).filter((n) => n.state === "Ready").length === 3, 30_000);
    const again = await client(master, ["apply", "-f", file], { timeoutMs: 60_000 });
    expect(again.code).toBe(0);
    // Waited for while the launch the killed master left is followed (reconcile.ts), or kept and adopted once it
    // has ended: either way not launched again, and labelled (below).
    expect(again.stdout).toMatch(/^(wait +mk-db +n1 .*its launch not ended yet|keep +mk-db +n1 .*adopted: labels set)/m);
    const listed = await envInstances("mk");
    expect(listed.map((i) => `${i.name} ${i.state}`).sort()).toEqual(["mk-app Running", "mk-db Running"]);
    expect(launchCounts("mk-")).toEqual({ "mk-db": 1, "mk-app": 1 });
    const db = listed.find((i) => i.name === "mk-db")!;
    expect(db.node).toBe("n1");
    expect(db.labels).toEqual({ "multiverse/env": "mk", tier: "db" });
    // app waited for db's launch to end, cloud-init included (8 s starting, then 3 s of it): the restarted
    // master follows the launch the last one left in flight (reconcile.ts), and Running alone is not enough.
    const at = (name: string) => calls().find((c) => c.argv[0] === "launch" && c.argv[2] === name)!.time;
    expect(at("mk-app")).toBeGreaterThanOrEqual(at("mk-db") + 11_000);
    pace({ stepMs: 20 });
  });
});

describe("environments at real pacing", () => {
  const REAL = { stepMs: 150, timing: { preset: "realistic", retrievingImage: 2000, verifyingImage: 1000 } };
  const twoStep = (env: string, node: string) =>
    doc(`${env}.yaml`, `name: ${env}\ndefaults: { cpus: 1, memory: 1G, disk: 5G }\ninstances:\n  - name: a\n    node: ${node}\n  - name: b\n    node: ${node}\n    after: [a]\n`);

  test(
    "the client's --json and a raw NDJSON stream stay alive through the silent phases and end with both Running",
    async () => {
      pace(REAL, ["n2", "n3"]);
      const viaClient = client(master, ["apply", "-f", twoStep("rpc", "n2"), "--json"], { timeoutMs: 280_000 });
      const started = Date.now();
      const response = await fetch(`${master.apiUrl}/api/v1/environments`, {
        method: "POST",
        headers: { authorization: `Bearer ${master.apiToken}`, "content-type": "application/json", accept: "application/x-ndjson" },
        body: JSON.stringify({ action: "apply", document: readFileSync(twoStep("rpn", "n3"), "utf8") }),
      });
      expect(response.status).toBe(200);
      const arrivals: { at: number; line: string }[] = [];
      const decoder = new TextDecoder();
      let partial = "";
      for await (const chunk of response.body!) {
        const parts = (partial + decoder.decode(chunk, { stream: true })).split("\n");
        partial = parts.pop() ?? "";
        for (const line of parts) arrivals.push({ at: Date.now(), line });
      }
      const events: EnvironmentEvent[] = arrivals.filter((a) => a.line !== "").map((a) => parseEnvironmentEvent(parseJson(a.line, "event")));
      const done = events.at(-1);
      expect(done?.type).toBe("done");
      expect(done?.type === "done" && done.results.map((r) => `${r.name} ${r.ok} ${r.state}`)).toEqual(["rpn-a true Running", "rpn-b true Running"]);
      // Two launches of over 50 s each, mostly silent: a keepalive (a blank line) after every KEEPALIVE_MS with
      // nothing written, so no silence reaches two of them, far below what a reader waits (STREAM_SILENCE_MS).
      expect(Date.now() - started).toBeGreaterThan(100_000);
      expect(arrivals.filter((a) => a.line === "").length).toBeGreaterThanOrEqual(10);
      const gaps = arrivals.slice(1).map((a, i) => a.at - arrivals[i]!.at);
      expect(Math.max(...gaps)).toBeLessThan(2 * KEEPALIVE_MS + 1_000);
      expect(2 * KEEPALIVE_MS + 1_000).toBeLessThan(STREAM_SILENCE_MS);

      const r = await viaClient;
      expect(r.code).toBe(0);
      // The API's events and nothing else: the keepalives are not printed.
      expect(r.stdout).not.toMatch(/^$\n|\n\n/m);
      const clientEvents = r.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => parseEnvironmentEvent(parseJson(l, "event")));
      const end = clientEvents.at(-1);
      expect(end?.type === "done" && end.results.map((x) => `${x.name} ${x.ok} ${x.state}`)).toEqual(["rpc-a true Running", "rpc-b true Running"]);
      expect((await apiInstances(master)).filter((i) => /^rp[cn]-/.test(i.name)).map((i) => `${i.name} ${i.state}`).sort()).toEqual([
        "rpc-a Running",
        "rpc-b Running",
        "rpn-a Running",
        "rpn-b Running",
      ]);
      pace({ stepMs: 20 }, ["n2", "n3"]);
    },
    300_000,
  );
});
