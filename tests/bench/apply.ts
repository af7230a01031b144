/**
 * Environment apply benchmark (issue 17): `multiverse apply -f FILE` of 12
 * instances over 3 simulated nodes, beside the same 12 launches done one by
 * one (`multiverse launch`, the same sizes, placed by the master), through a
 * real master, real workers and the real client. Each run gets fresh hosts
 * (no image cached yet), paced at the realistic preset scaled down 20 times
 * (a launch about 3 s, 4 s with the image download). Prints the wall time of
 * each and the ratio; it never passes or fails on timing.
 *
 *   bun run bench              (all benchmarks)
 *   bun tests/bench/apply.ts   (this one)
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { apiInstances, apiNodes, client, removeTempDirs, simConfig, startMaster, startWorker, stopAll, tempDir, waitFor, type MasterHandle } from "../e2e/harness.ts";

const NODES = 3;
const INSTANCES = 12;
/** The realistic preset (lib/sim/timing.ts) over 20. */
const PACING = { stepMs: 150, timing: { creating: 150, retrievingImage: 1000, verifyingImage: 250, preparingImage: 150, configuring: 150, starting: 1000, waitingForInitialization: 1500 } };
const SIZES = { cpus: 1, memory: "1G", disk: "5G" };

/** A master and fresh paced hosts; `run` timed against it; everything stopped after. */
async function onFreshCluster(tag: string, run: (master: MasterHandle) => Promise<void>): Promise<number> {
  const master = await startMaster();
  try {
    for (let i = 1; i <= NODES; i++) {
      const sim = tempDir(`bench-apply-${tag}-${i}`);
      simConfig(sim, PACING);
      await startWorker(master, `n${i}`, { simDir: sim });
    }
    await waitFor(`${NODES} nodes Ready`, async () => (await apiNodes(master)).filter((n) => n.state === "Ready").length === NODES, 30_000);
    const started = performance.now();
    await run(master);
    const wall = performance.now() - started;
    const running = (await apiInstances(master)).filter((i) => i.state === "Running").length;
    if (running !== INSTANCES) throw new Error(`${tag}: ${running} of ${INSTANCES} instances Running`);
    return wall;
  } finally {
    await stopAll();
  }
}

export async function runApplyBench(): Promise<void> {
  try {
    const file = join(tempDir("bench-apply-doc"), "bench.yaml");
    writeFileSync(file, `name: bench\ndefaults: { cpus: ${SIZES.cpus}, memory: ${SIZES.memory}, disk: ${SIZES.disk} }\ninstances:\n  - name: vm\n    count: ${INSTANCES}\n    spread: true\n`);
    const apply = await onFreshCluster("env", async (master) => {
      const r = await client(master, ["apply", "-f", file], { timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`apply failed: ${r.stdout}${r.stderr}`);
    });
    const oneByOne = await onFreshCluster("seq", async (master) => {
      for (let i = 1; i <= INSTANCES; i++) {
        const r = await client(master, ["launch", `bench-vm-${i}`, "--cpus", String(SIZES.cpus), "--memory", SIZES.memory, "--disk", SIZES.disk], { timeoutMs: 120_000 });
        if (r.code !== 0) throw new Error(`launch bench-vm-${i} failed: ${r.stderr}`);
      }
    });
    const row = (what: string, ms: number) => `| ${what.padEnd(44)} | ${`${(ms / 1000).toFixed(2)} s`.padStart(9)} | ${`${(ms / apply).toFixed(1)}x`.padStart(8)} |`;
    console.log(`\nEnvironment apply benchmark: ${INSTANCES} instances over ${NODES} simulated nodes (launch paced at the realistic preset / 20)`);
    console.log(`| ${"run".padEnd(44)} | ${"all done".padStart(9)} | ${"vs apply".padStart(8)} |`);
    console.log(`|${"-".repeat(46)}|${"-".repeat(11)}|${"-".repeat(10)}|`);
    console.log(row(`apply -f FILE (${INSTANCES} instances, spread)`, apply));
    console.log(row(`${INSTANCES} x launch, one after another`, oneByOne));
    console.log(`(each includes its client starts: one for the apply, ${INSTANCES} for the launches)`);
  } finally {
    removeTempDirs();
  }
}

if (import.meta.main) await runApplyBench();
