/**
 * Figures of the compiled executables: their sizes, the start-up time of
 * `client --help` (hyperfine when it is on PATH, else a timed loop), and the
 * end-to-end time of `client instances` against a local master with 10
 * simulated workers (`worker --simulate`), all run from the executables.
 *
 *   npm run build -- --targets host && bun tests/bench/binaries.ts
 *
 * The executables come from MULTIVERSE_BIN_DIR (default dist/); without them
 * it says so and measures nothing.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { arrayOf, field, number, object, parseJson } from "../../lib/core/parse.ts";
import { hostTarget } from "../../scripts/binary-header.ts";
import { binaryName } from "../../scripts/build.ts";
import { apiInstances, envWithBun, hostMultipass, removeTempDirs, simConfig, startMaster, startWorker, stopAll, tempDir, waitFor } from "../e2e/harness.ts";

const ROOT = resolve(import.meta.dir, "../..");
const WORKERS = 10;
const INSTANCES_PER_WORKER = 3;
const RUNS = 30;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function ms(n: number): string {
  return `${n.toFixed(1)} ms`;
}

/** Median and p90 of `RUNS` runs of `argv`, after 3 warm-up runs. */
function timeLoop(argv: string[], env: Record<string, string>): { median: number; p90: number } {
  const times: number[] = [];
  for (let i = 0; i < RUNS + 3; i++) {
    const start = performance.now();
    const result = Bun.spawnSync(argv, { env, stdout: "ignore", stderr: "pipe" });
    const elapsed = performance.now() - start;
    if (result.exitCode !== 0) throw new Error(`${argv.join(" ")} exited with ${result.exitCode}: ${result.stderr.toString()}`);
    if (i >= 3) times.push(elapsed);
  }
  times.sort((a, b) => a - b);
  return { median: percentile(times, 50), p90: percentile(times, 90) };
}

/** The figures of the one command in a hyperfine `--export-json` file, in seconds. */
function parseHyperfine(text: string): { mean: number; stddev: number; median: number } {
  const [r] = field(object(parseJson(text, "hyperfine"), "hyperfine"), "results", "hyperfine", arrayOf(object));
  if (r === undefined) throw new Error("hyperfine exported no results");
  const figure = (key: string) => field(r, key, "hyperfine.results[0]", number);
  return { mean: figure("mean"), stddev: figure("stddev"), median: figure("median") };
}

/** hyperfine's mean ± σ and median for a shell command line, or null without hyperfine. */
function hyperfine(command: string, env: Record<string, string>): string | null {
  const path = Bun.which("hyperfine");
  if (path === null) return null;
  const out = join(Bun.env["TMPDIR"] ?? "/tmp", `mv-hyperfine-${process.pid}.json`);
  const result = Bun.spawnSync([path, "--warmup", "3", "--runs", String(RUNS), "-N", "--export-json", out, command], { env, stdout: "ignore", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`hyperfine failed: ${result.stderr.toString()}`);
  const r = parseHyperfine(readFileSync(out, "utf8"));
  return `${ms(r.mean * 1000)} ± ${ms(r.stddev * 1000)} (median ${ms(r.median * 1000)}, hyperfine, ${RUNS} runs)`;
}

export async function runBinariesBench(): Promise<void> {
  const binDir = resolve(process.env["MULTIVERSE_BIN_DIR"] || join(ROOT, "dist"));
  const target = hostTarget(process.platform, process.arch);
  const clientBin = target === null ? null : join(binDir, binaryName("client", target));
  if (target === null || clientBin === null || !existsSync(clientBin) || !existsSync(join(binDir, binaryName("worker", target)))) {
    console.log(`\nbinaries benchmark: skipped, no executables of this machine in ${binDir} (npm run build -- --targets host)`);
    return;
  }
  // The harness runs the roles from MULTIVERSE_BIN_DIR while it is set.
  const before = process.env["MULTIVERSE_BIN_DIR"];
  process.env["MULTIVERSE_BIN_DIR"] = binDir;
  try {
    await measure(binDir, clientBin);
  } finally {
    if (before === undefined) delete process.env["MULTIVERSE_BIN_DIR"];
    else process.env["MULTIVERSE_BIN_DIR"] = before;
  }
}

async function measure(binDir: string, clientBin: string): Promise<void> {
  const env = envWithBun();

  console.log(`\nCompiled executables in ${binDir}\n`);
  console.log("executable                               size");
  for (const name of readdirSync(binDir).filter((n) => n.startsWith("multiverse-")).sort()) {
    console.log(`${name.padEnd(40)} ${(statSync(join(binDir, name)).size / 1024 / 1024).toFixed(1)} MiB`);
  }

  const viaHyperfine = hyperfine(`${clientBin} --help`, env);
  const loop = timeLoop([clientBin, "--help"], env);
  const fromSource = timeLoop([process.execPath, join(ROOT, "client.ts"), "--help"], env);
  console.log("\nclient --help start-up (process start to exit):");
  if (viaHyperfine !== null) console.log(`  ${viaHyperfine}`);
  console.log(`  timed loop: median ${ms(loop.median)}, p90 ${ms(loop.p90)} (${RUNS} runs)`);
  console.log(`  for comparison, bun client.ts --help: median ${ms(fromSource.median)}, p90 ${ms(fromSource.p90)}`);

  try {
    const master = await startMaster({ heartbeat: "5s" });
    await Promise.all(
      Array.from({ length: WORKERS }, async (_, i) => {
        const simDir = tempDir(`bench-sim-${i}`);
        simConfig(simDir, { stepMs: 0 });
        for (let n = 0; n < INSTANCES_PER_WORKER; n++) await hostMultipass(simDir, ["launch", "--name", `vm${n}`]);
        await startWorker(master, `node${i}`, { simDir, simulate: true, pollInterval: "2s" });
      }),
    );
    const total = WORKERS * INSTANCES_PER_WORKER;
    await waitFor(`${total} instances`, async () => (await apiInstances(master)).length === total, 60_000);
    const instances = timeLoop([clientBin, "instances", "--master", master.apiUrl, "--token", master.apiToken], env);
    console.log(`\nclient instances, ${WORKERS} simulated workers (${total} instances), master and workers compiled too:`);
    console.log(`  median ${ms(instances.median)}, p90 ${ms(instances.p90)} (${RUNS} runs, process start to exit)`);
  } finally {
    await stopAll();
    removeTempDirs();
  }
}

if (import.meta.main) await runBinariesBench();
