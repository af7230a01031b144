/**
 * Fan-out benchmark (issue 15): `multiverse exec --all` on 200 instances over
 * 10 simulated nodes, through a real master, real workers and the real
 * client, beside the slowest of single execs run one at a time (the same
 * client, the same command). Prints the time to all results at two
 * parallelisms, the slowest instance inside each fan-out, and the
 * baseline; it never passes or fails on timing.
 *
 *   bun run bench               (all benchmarks)
 *   bun tests/bench/fan-out.ts  (this one)
 *
 * Every simulated exec is a process of the stand-in (bun) and a shell, so
 * the parallelism is what this machine's cores can run, not the client's
 * limit (256): at 200 at once the stand-ins alone would take gigabytes.
 */
import { apiInstances, client, hostMultipass, removeTempDirs, simConfig, startMaster, startWorker, stopAll, tempDir, waitFor } from "../e2e/harness.ts";

const NODES = 10;
const PER_NODE = 20;
const SINGLES = 10;
const PARALLELISMS = [16, 64];
const COMMAND = ["sh", "-c", "echo hello"];

/** Seeds the instances of one node on its host before its worker starts. */
async function seed(sim: string, node: number): Promise<void> {
  simConfig(sim, { stepMs: 1 });
  for (let i = 0; i < PER_NODE; i++) {
    const r = await hostMultipass(sim, ["launch", "--name", `i${node}-${i}`]);
    if (r.code !== 0) throw new Error(`seed launch failed: ${r.stderr}`);
  }
}

export async function runFanOutBench(): Promise<void> {
  const master = await startMaster();
  try {
    const sims = Array.from({ length: NODES }, (_, i) => tempDir(`bench-fan-${i}`));
    // Two hosts seeded at a time: each launch is a process of its own.
    for (let i = 0; i < NODES; i += 2) await Promise.all([seed(sims[i]!, i), ...(sims[i + 1] ? [seed(sims[i + 1]!, i + 1)] : [])]);
    for (const [i, sim] of sims.entries()) await startWorker(master, `n${i}`, { simDir: sim });
    const total = NODES * PER_NODE;
    await waitFor(`${total} instances Running`, async () => (await apiInstances(master)).filter((i) => i.state === "Running").length === total, 60_000);

    const singles: number[] = [];
    for (let i = 0; i < SINGLES; i++) {
      const started = performance.now();
      const r = await client(master, ["exec", `i${i % NODES}-${i}`, "--", ...COMMAND]);
      if (r.code !== 0) throw new Error(`single exec failed: ${r.stderr}`);
      singles.push(performance.now() - started);
    }
    const slowestSingle = Math.max(...singles);

    const rows: string[] = [];
    for (const parallel of PARALLELISMS) {
      const started = performance.now();
      const r = await client(master, ["exec", "--all", "--json", "--parallel", String(parallel), "--", ...COMMAND], { timeoutMs: 600_000 });
      const wall = performance.now() - started;
      const lines = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
      const summary = lines.pop().summary;
      if (r.code !== 0 || summary.ok.length !== total) throw new Error(`fan-out at ${parallel} did not succeed everywhere: ${r.stderr}`);
      const slowest = Math.max(...lines.map((l: { durationMs: number }) => l.durationMs));
      rows.push(`| ${`exec --all, --parallel ${parallel}`.padEnd(42)} | ${`${(wall / 1000).toFixed(2)} s`.padStart(9)} | ${`${(slowest / 1000).toFixed(2)} s`.padStart(16)} | ${`${(wall / slowestSingle).toFixed(1)}x`.padStart(16)} |`);
    }
    console.log(`\nFan-out benchmark: one command on ${total} instances over ${NODES} simulated nodes`);
    console.log(`| ${"run".padEnd(42)} | ${"all done".padStart(9)} | ${"slowest instance".padStart(16)} | ${"vs single exec".padStart(16)} |`);
    console.log(`|${"-".repeat(44)}|${"-".repeat(11)}|${"-".repeat(18)}|${"-".repeat(18)}|`);
    for (const row of rows) console.log(row);
    const singleRow = `slowest of ${SINGLES} single execs, one at a time`;
    console.log(`| ${singleRow.padEnd(42)} | ${`${(slowestSingle / 1000).toFixed(2)} s`.padStart(9)} | ${"".padStart(16)} | ${"1.0x".padStart(16)} |`);
    const median = singles.sort((a, b) => a - b)[Math.floor(SINGLES / 2)]!;
    console.log(`(a single exec's median: ${(median / 1000).toFixed(2)} s, client start included, so ${total} of them one after another about ${((total * median) / 1000).toFixed(0)} s; the fan-out's "all done" includes one client start too)`);
  } finally {
    await stopAll();
    removeTempDirs();
  }
}

if (import.meta.main) await runFanOutBench();
