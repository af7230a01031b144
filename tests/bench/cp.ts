/**
 * cp benchmark (issue 14): `multiverse cp` throughput through a real master
 * and two workers (on the simulated host) — local → instance, instance →
 * local, instance → instance across nodes — beside, in the same run, `cat`
 * of the same file on this machine, `cat` through the exec wire
 * (`multiverse exec NAME -- sh -c 'cat > F' < FILE`), and the host's own
 * `multipass transfer` and `multipass exec … cat`, with no multiverse at all.
 * Figures only; nothing passes or fails on them.
 *
 *   bun run bench        (all benchmarks)
 *   bun tests/bench/cp.ts (this one)
 */
import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  apiInstances,
  envWithBun,
  hostMultipass,
  removeTempDirs,
  roleCommand,
  simConfig,
  simulatedMultipass,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
  type MasterHandle,
} from "../e2e/harness.ts";

const MIB = 1024 * 1024;
const FILE_MIB = Number(process.env["CP_BENCH_MIB"] ?? 512);
const RUNS = 2;

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Runs `argv` (stdin from `stdinFile`, stdout to `stdoutFile` when given) and returns the seconds it took. @throws when it fails */
async function timed(argv: string[], env: Record<string, string>, stdinFile?: string, stdoutFile?: string): Promise<number> {
  const started = performance.now();
  const stdout = stdoutFile === undefined ? "ignore" : Bun.file(stdoutFile);
  const proc = Bun.spawn(argv, { env, stdin: stdinFile === undefined ? "ignore" : Bun.file(stdinFile), stdout, stderr: "pipe" });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${argv.slice(0, 6).join(" ")} … exited ${code}: ${stderr.slice(0, 400)}`);
  return (performance.now() - started) / 1000;
}

/** The best of RUNS, as MB/s, after checking the copy is byte-exact. */
async function rate(run: () => Promise<number>, check: () => Promise<boolean>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) best = Math.min(best, await run());
  if (!(await check())) throw new Error("the copy is not byte-exact");
  return FILE_MIB / best;
}

export async function runCpBench(): Promise<void> {
  const master: MasterHandle = await startMaster();
  const [s1, s2] = [tempDir("bench-cp1"), tempDir("bench-cp2")];
  for (const sim of [s1, s2]) simConfig(sim, { stepMs: 5 });
  await hostMultipass(s1, ["launch", "--name", "web"]);
  await hostMultipass(s2, ["launch", "--name", "db"]);
  await Promise.all([startWorker(master, "n1", { simDir: s1 }), startWorker(master, "n2", { simDir: s2 })]);
  await waitFor("2 instances", async () => (await apiInstances(master)).length === 2);
  const webHome = join(s1, "instances", "web", "home");
  const dbHome = join(s2, "instances", "db", "home");
  for (const home of [webHome, dbHome]) mkdirSync(home, { recursive: true });
  const local = tempDir("bench-cp-local");
  const source = join(local, "source.bin");
  const block = Buffer.from(crypto.getRandomValues(new Uint8Array(MIB)));
  const writer = Bun.file(source).writer();
  for (let i = 0; i < FILE_MIB; i++) {
    block.writeUInt32LE(i, 0);
    writer.write(block);
    await writer.flush();
  }
  await writer.end();
  const digest = await sha256(source);
  const same = (path: string) => async () => (await sha256(path)) === digest;
  const env = envWithBun();
  const clientArgs = ["--master", master.apiUrl, "--token", master.apiToken];
  const cp = (...args: string[]) => () => timed([...roleCommand("client"), "cp", ...args, ...clientArgs], env);
  const host = (sim: string, ...args: string[]) => (stdin?: string) => () => timed([...simulatedMultipass(sim), ...args], envWithBun({ MULTIPASS_SIM_DIR: sim }), stdin);

  try {
    const rows: [string, string, number | null][] = [];
    const add = async (group: string, name: string, run: () => Promise<number>, check: () => Promise<boolean>) => {
      try {
        rows.push([group, name, await rate(run, check)]);
      } catch (error) {
        console.log(`  (${name}: ${error instanceof Error ? error.message : String(error)})`);
        rows.push([group, name, null]);
      }
    };
    await add("baseline", "cat FILE > COPY (this machine, no VM)", () => timed(["sh", "-c", `cat "$1" > "$2"`, "cat", source, join(local, "cat.bin")], env), same(join(local, "cat.bin")));
    await add("local → instance", "multiverse cp FILE web:", cp(source, "web:up.bin"), same(join(webHome, "up.bin")));
    await add("local → instance", "multiverse exec web -- sh -c 'cat > F' < FILE", () => timed([...roleCommand("client"), "exec", "web", ...clientArgs, "--", "sh", "-c", "cat > exec-up.bin"], env, source), same(join(webHome, "exec-up.bin")));
    await add("local → instance", "multipass transfer FILE web: (on the host, no multiverse)", host(s1, "transfer", source, "web:transfer-up.bin")(), same(join(webHome, "transfer-up.bin")));
    await add("local → instance", "multipass transfer - web:F < FILE (on the host)", host(s1, "transfer", "-", "web:transfer-stdin.bin")(source), same(join(webHome, "transfer-stdin.bin")));
    await add("local → instance", "multipass exec web -- sh -c 'cat > F' < FILE (on the host)", host(s1, "exec", "web", "--no-map-working-directory", "--", "sh", "-c", "cat > host-up.bin")(source), same(join(webHome, "host-up.bin")));
    await add("instance → local", "multiverse cp web:F DIR", cp("web:up.bin", join(local, "down.bin")), same(join(local, "down.bin")));
    await add("instance → local", "multiverse exec web -- cat F > COPY", () => timed([...roleCommand("client"), "exec", "web", ...clientArgs, "--", "cat", "up.bin"], env, undefined, join(local, "exec-down.bin")), same(join(local, "exec-down.bin")));
    await add("instance → local", "multipass transfer web:F DIR (on the host)", host(s1, "transfer", "web:up.bin", join(local, "transfer-down.bin"))(), same(join(local, "transfer-down.bin")));
    await add("instance → instance", "multiverse cp web@n1:F db@n2: (through the master)", cp("web@n1:up.bin", "db@n2:across.bin"), same(join(dbHome, "across.bin")));
    console.log(`\ncp benchmark: one ${FILE_MIB} MiB file, best of ${RUNS}, simulated hosts on this machine (MB/s = MiB/s)`);
    console.log("| direction           | how                                                         |    MB/s |");
    console.log("|---------------------|-------------------------------------------------------------|---------|");
    for (const [group, name, mbps] of rows) console.log(`| ${group.padEnd(19)} | ${name.padEnd(59)} | ${(mbps === null ? "n/a" : mbps.toFixed(0)).padStart(7)} |`);
  } finally {
    await stopAll();
    rmSync(source, { force: true });
    removeTempDirs();
  }
}

if (import.meta.main) await runCpBench();
