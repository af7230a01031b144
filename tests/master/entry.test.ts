/**
 * The master's entry: one that cannot listen, or finds its data dir taken,
 * exits non-zero at once with a clear message instead of lingering.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { waitFor } from "../e2e/harness.ts";
import { lockDataDir } from "../../lib/master/data-dir-lock.ts";

const ROOT = join(import.meta.dir, "../..");
const children: Subprocess[] = [];
const dirs: string[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), "mv-entry-"));
  dirs.push(d);
  return d;
};
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill();
    await child.exited;
  }
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function startMaster(dataDir: string, apiAddr = "127.0.0.1:0") {
  const child = Bun.spawn(["bun", join(ROOT, "master.ts"), "--cluster-addr", "127.0.0.1:0", "--api-addr", apiAddr, "--data-dir", dataDir], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  children.push(child);
  let output = "";
  const decoder = new TextDecoder();
  for (const stream of [child.stdout, child.stderr]) {
    void (async () => {
      for await (const chunk of stream) output += decoder.decode(chunk);
    })();
  }
  return { child, output: () => output };
}

async function runningMaster() {
  const first = startMaster(dir());
  await waitFor("the first master listens", () => /api server on 127\.0\.0\.1:(\d+)/.test(first.output()), 20_000);
  const port = Number(/api server on 127\.0\.0\.1:(\d+)/.exec(first.output())![1]);
  return { first, port };
}

describe("the master's start", () => {
  test("a second master on a port in use exits non-zero at once, saying which listener and why", async () => {
    const { port } = await runningMaster();
    const second = startMaster(dir(), `127.0.0.1:${port}`);
    const code = await Promise.race([second.child.exited, Bun.sleep(15_000).then(() => "still running")]);
    expect(code).toBe(1);
    expect(second.output()).toContain(`Cannot listen for clients (--api-addr) on 127.0.0.1:${port}`);
  }, 40_000);

  test("a second master on the same data dir refuses to start, naming the first one's pid", async () => {
    const { first } = await runningMaster();
    const dataDir = /database: (.*)\/master\.db/.exec(first.output())![1]!;
    expect(readFileSync(join(dataDir, "master.lock"), "utf8").trim()).toBe(String(first.child.pid));
    const second = startMaster(dataDir);
    const code = await Promise.race([second.child.exited, Bun.sleep(15_000).then(() => "still running")]);
    expect(code).toBe(1);
    expect(second.output()).toContain(`Another master (pid ${first.child.pid}) is using the data dir`);
    first.child.kill("SIGTERM");
    expect(await first.child.exited).toBe(0);
    expect(() => readFileSync(join(dataDir, "master.lock"))).toThrow();
  }, 40_000);
});

describe("the data dir lock", () => {
  test("taken, refused while its owner lives, released, and a stale one taken over", () => {
    const d = dir();
    const lock = lockDataDir(d, 1000, () => true);
    expect(readFileSync(lock.path, "utf8")).toBe("1000\n");
    expect(() => lockDataDir(d, 2000, () => true)).toThrow(/Another master \(pid 1000\)/);
    const taken = lockDataDir(d, 2000, (pid) => pid !== 1000);
    expect(readFileSync(taken.path, "utf8")).toBe("2000\n");
    lock.release();
    expect(readFileSync(taken.path, "utf8")).toBe("2000\n");
    taken.release();
    expect(() => readFileSync(taken.path)).toThrow();
  });

  test("a lock with our own pid (a restarted container) or no pid (a start cut short) is stale", () => {
    const d = dir();
    writeFileSync(join(d, "master.lock"), "7\n");
    expect(readFileSync(lockDataDir(d, 7, () => true).path, "utf8")).toBe("7\n");
    writeFileSync(join(d, "master.lock"), "");
    expect(readFileSync(lockDataDir(d, 8, () => true).path, "utf8")).toBe("8\n");
  });
});
