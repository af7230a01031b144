/**
 * Scale benchmark: one real master process, and N simulated workers in this
 * process speaking the real join protocol (lib/worker/cluster-client.ts, the same code
 * the worker runs), each with M instances and state changes now and then.
 *
 * Prints: master CPU and RSS under load, state messages absorbed per second
 * (counted by the master itself, GET /api/v1/stats), /instances and /nodes
 * latency p50/p99 under load, and the time for the whole fleet to rejoin
 * after the master is killed and restarted — each with its target, whether it
 * was met, and why not where it was missed.
 *
 *   bun tests/bench/scale.ts [--nodes 1000] [--instances 20] [--seconds 20]
 */
import { readFileSync } from "node:fs";
import { getPriority, setPriority } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { arrayOf, field, nonNegative, object, parseJson, string } from "../../lib/core/parse.ts";
import { parseMasterStats, type MasterStats } from "../../lib/protocol/api.ts";
import { runMasterLink } from "../../lib/worker/cluster-client.ts";
import { generateNodeKey } from "../../lib/net/node-key.ts";
import { fakeHost, startFleetAgent } from "../support/fake-fleet.ts";
import { createTestLog } from "../support/test-log.ts";
import { apiInstances, apiNodes, apiRead, removeTempDirs, startMaster, stopAll, type MasterHandle } from "../e2e/harness.ts";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "1000" },
    instances: { type: "string", default: "20" },
    seconds: { type: "string", default: "20" },
  },
});
const NODES = Number(values.nodes);
const INSTANCES = Number(values.instances);
const LOAD_SECONDS = Number(values.seconds);
/** Each simulated host changes one instance's state about this often. */
const CHANGE_EVERY_MS = 20_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** CPU seconds (user + system) of a process so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) / 1024;
}

function stats(master: MasterHandle): Promise<MasterStats> {
  return apiRead(master, "/api/v1/stats", parseMasterStats);
}

/** What latency-probe.ts prints: the client it timed with, and the milliseconds of every request by path. */
function parseProbe(text: string): { client: string; samples: Record<string, number[]> } {
  const o = object(parseJson(text, "latency probe"), "latency probe");
  const samples = field(o, "samples", "latency probe", object);
  return {
    client: field(o, "client", "latency probe", string),
    samples: Object.fromEntries(Object.keys(samples).map((path) => [path, field(samples, path, "latency probe.samples", arrayOf(nonNegative))])),
  };
}

async function readyCount(master: MasterHandle): Promise<number> {
  return (await apiNodes(master)).filter((n) => n.state === "Ready").length;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

export async function runScaleBench(): Promise<void> {
  // The simulated fleet stands for 1000 other machines: it runs at the lowest
  // priority so its own CPU use competes as little as possible with the master
  // (and the latency probe) on this one machine.
  const priority = getPriority(0);
  setPriority(0, 19);
  let master = await startMaster({ heartbeat: "5s", downGrace: "1h" });
  const hosts = Array.from({ length: NODES }, (_, i) => fakeHost(i, INSTANCES));
  const controller = new AbortController();
  const fleetKey = generateNodeKey().key;
  const fleetAgent = startFleetAgent(fleetKey);
  const joins: number[] = [];
  let sent = 0;
  const { log, lines } = createTestLog();
  const links = hosts.map((host, i) => {
    const onChange = host.monitor.onChange;
    host.monitor.onChange = (l) => onChange((s) => (sent++, l(s)));
    return runMasterLink(
      {
        masterUrl: `http://127.0.0.1:${master.clusterPort}`,
        joinToken: master.joinToken,
        name: `host-${String(i).padStart(4, "0")}`,
        key: fleetKey,
        agentPort: fleetAgent.port ?? 0,
        advertiseAddr: `127.0.0.1:${fleetAgent.port}`,
        version: "bench",
        monitor: host.monitor,
        log,
        onMembership: (token) => token && joins.push(Date.now()),
      },
      controller.signal,
    );
  });
  const rows: [string, string, string, string][] = [];
  // RSS is sampled from the first join to the end of the rejoin, across the restart.
  let peakRss = 0;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssMb(master.proc.pid));
    } catch {
      // Between the kill and the restart there is no master to sample.
    }
  }, 250);
  try {
    const joinStart = Date.now();
    await until("the fleet to join", async () => (await readyCount(master)) === NODES, 120_000);
    const initialJoin = (Date.now() - joinStart) / 1000;

    // Steady load: state changes and heartbeats, while clients read the cache.
    const changer = setInterval(() => {
      for (const h of hosts) if (Math.random() < 200 / CHANGE_EVERY_MS) h.change();
    }, 200);
    const cpuBefore = cpuSeconds(master.proc.pid);
    const before = await stats(master);
    const loadStart = performance.now();
    // Latency is measured by a client process of its own, as a user's client would see it.
    const probe = Bun.spawn([process.execPath, join(import.meta.dir, "latency-probe.ts"), master.apiUrl, master.apiToken, String(LOAD_SECONDS), "/api/v1/instances", "/api/v1/nodes"], { stdout: "pipe" });
    const probed = parseProbe(await new Response(probe.stdout).text());
    const steadyRss = peakRss;
    const instancesMs = probed.samples["/api/v1/instances"]!;
    const nodesMs = probed.samples["/api/v1/nodes"]!;
    const loadSeconds = (performance.now() - loadStart) / 1000;
    clearInterval(changer);
    const cpu = (cpuSeconds(master.proc.pid) - cpuBefore) / loadSeconds;
    const after = await stats(master);
    const absorbed = after.cluster.states - before.cluster.states + after.cluster.heartbeats - before.cluster.heartbeats;
    const steadyRate = absorbed / loadSeconds;

    // A burst: every host reports a change at once; how fast does the master absorb it?
    const burstStart = performance.now();
    for (const h of hosts) h.change();
    const expected = hosts.reduce((n, h) => n + h.monitor.current()!.instances.filter((i) => i.state === "Stopped").length, 0);
    await until("the burst to land", async () => {
      return (await apiInstances(master)).filter((i) => i.state === "Stopped").length === expected;
    }, 60_000);
    const burstRate = NODES / ((performance.now() - burstStart) / 1000);

    instancesMs.sort((a, b) => a - b);
    nodesMs.sort((a, b) => a - b);
    const i99 = percentile(instancesMs, 99);
    rows.push(["fleet", `${NODES} nodes × ${INSTANCES} instances = ${NODES * INSTANCES}`, "", `first join of all nodes: ${initialJoin.toFixed(1)} s`]);
    rows.push(["master CPU under load", `${(cpu * 100).toFixed(0)}% of one core`, "", `${LOAD_SECONDS} s of state changes and heartbeats`]);
    rows.push(["master RSS (peak, steady load)", `${steadyRss.toFixed(0)} MB`, "≤ 300 MB", steadyRss <= 300 ? "met" : "MISSED: the per-node caches outgrew the budget"]);
    rows.push(["messages absorbed, steady", `${steadyRate.toFixed(0)} /s`, "", `states + heartbeats counted by the master (${sent} state pushes sent in all)`]);
    rows.push(["messages absorbed, burst", `${burstRate.toFixed(0)} /s`, "", `${NODES} states at once, until all visible in /instances`]);
    rows.push(["GET /instances p50 / p99", `${percentile(instancesMs, 50).toFixed(1)} / ${i99.toFixed(1)} ms`, "p99 ≤ 50 ms", `${i99 <= 50 ? "met" : "MISSED"}; ${instancesMs.length} samples by ${probed.client}`]);
    rows.push(["GET /nodes p50 / p99", `${percentile(nodesMs, 50).toFixed(1)} / ${percentile(nodesMs, 99).toFixed(1)} ms`, "", `${nodesMs.length} samples by ${probed.client}`]);

    // The master dies and comes back on the same ports: how long until the whole fleet is Ready?
    joins.length = 0;
    const linesBefore = lines.length;
    const killedAt = Date.now();
    master.proc.kill("SIGKILL");
    await master.proc.exited;
    master = await startMaster({ heartbeat: "5s", downGrace: "1h", dataDir: master.dataDir, clusterPort: master.clusterPort, apiPort: master.apiPort });
    const restartAt = Date.now();
    await until("the fleet to rejoin", async () => (await readyCount(master)) === NODES, 120_000);
    const rejoin = (Date.now() - killedAt) / 1000;
    const masterStart = (restartAt - killedAt) / 1000;
    const rejoined = await stats(master);
    const alive = master.proc.proc.exitCode === null;
    const perSecond = new Map<number, number>();
    for (const t of joins) perSecond.set(Math.floor((t - restartAt) / 1000), (perSecond.get(Math.floor((t - restartAt) / 1000)) ?? 0) + 1);
    const busiest = Math.max(...perSecond.values());
    rows.push([
      "fleet rejoin after a kill -9",
      `${rejoin.toFixed(1)} s`,
      "≤ 10 s",
      `${rejoin <= 10 ? "met" : "MISSED: the fleet's backoff outlasted the budget"}; from the kill, of which ${masterStart.toFixed(1)} s the master's own start`,
    ]);
    const refused = lines.slice(linesBefore).filter((l) => l.includes("cannot join")).length;
    const herdOk = alive && rejoined.cluster.joins === NODES && rejoined.cluster.rejected === 0;
    rows.push([
      "busiest second of rejoins",
      `${busiest} joins`,
      "no herd",
      `${herdOk ? "met" : "MISSED"}: the master ${alive ? "stayed up" : "died"}, accepted ${rejoined.cluster.joins} joins for ${NODES} nodes, closed ${rejoined.cluster.rejected}; spread over ${perSecond.size} s`,
    ]);
    rows.push(["retries while the master restarted", `${refused}`, "", "attempts that found no master yet, each followed by a longer, jittered wait"]);
    rows.push(["master RSS (peak, to the end of the rejoin)", `${peakRss.toFixed(0)} MB`, "≤ 300 MB", peakRss <= 300 ? "met" : "MISSED: the rejoin burst outgrew the budget"]);
  } finally {
    clearInterval(sampler);
    controller.abort();
    await Promise.all(links);
    await fleetAgent.stop(true);
    await stopAll();
    removeTempDirs();
    try {
      setPriority(0, priority);
    } catch {
      // Raising priority back needs privileges; the other benchmarks then just run niced.
    }
  }
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length), ["figure", "measured", "target", "note"][c]!.length));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ")} |`;
  console.log(`\nScale benchmark: ${NODES} simulated workers in one process, ${INSTANCES} instances each`);
  console.log(line(["figure", "measured", "target", "note"]));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
}

if (import.meta.main) await runScaleBench();
