/**
 * End-to-end `multiverse cp` (issue 14): the real client, master and two
 * workers on the simulated host, where an instance's home is a directory
 * on this machine (`<sim>/instances/NAME/home`) and the guest's tar is this
 * machine's GNU tar. Files, directories with modes, stdin and stdout,
 * instance to instance across nodes, every refusal, nothing half-written
 * after a failure, and 1 GB both ways byte-exact with the master's and the
 * workers' memory bounded meanwhile.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, createReadStream, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  apiInstances,
  client,
  envWithBun,
  hostMultipass,
  removeTempDirs,
  roleCommand,
  simCalls,
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
import { runInTerminal } from "./terminal.ts";

setDefaultTimeout(120_000);

let master: MasterHandle;
let n1: WorkerHandle;
let n2: WorkerHandle;
const homeOf = (w: WorkerHandle, name: string) => join(w.simDir, "instances", name, "home");
const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.startsWith(".multiverse-cp."));
const mode = (path: string) => lstatSync(path).mode & 0o7777;

beforeAll(async () => {
  master = await startMaster();
  const [s1, s2] = [tempDir("sim-c1"), tempDir("sim-c2")];
  for (const sim of [s1, s2]) simConfig(sim, { stepMs: 5 });
  for (const name of ["web", "idle", "dup"]) expect((await hostMultipass(s1, ["launch", "--name", name])).code).toBe(0);
  for (const name of ["db", "dup"]) expect((await hostMultipass(s2, ["launch", "--name", name])).code).toBe(0);
  expect((await hostMultipass(s1, ["stop", "idle"])).code).toBe(0);
  [n1, n2] = await Promise.all([startWorker(master, "n1", { simDir: s1 }), startWorker(master, "n2", { simDir: s2 })]);
  await waitFor("5 instances", async () => (await apiInstances(master)).length === 5);
  // Exec makes an instance's home on first use; cp's targets need it before.
  for (const [w, name] of [[n1, "web"], [n2, "db"]] as const) mkdirSync(homeOf(w, name), { recursive: true });
});
afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

/** A local tree: a 0750 directory holding a 0600 file, a 0755 script, a symlink and a subdirectory. */
function localTree(): string {
  const dir = tempDir("cp-src");
  const tree = join(dir, "tree");
  mkdirSync(join(tree, "sub"), { recursive: true });
  writeFileSync(join(tree, "secret"), "s3cret\n", { mode: 0o600 });
  writeFileSync(join(tree, "run.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  writeFileSync(join(tree, "sub", "data.bin"), Buffer.alloc(300_000, 7));
  symlinkSync("secret", join(tree, "alias"));
  chmodSync(join(tree, "secret"), 0o600);
  chmodSync(join(tree, "run.sh"), 0o755);
  chmodSync(tree, 0o750);
  return tree;
}

function expectTree(tree: string): void {
  expect(mode(tree)).toBe(0o750);
  expect(mode(join(tree, "secret"))).toBe(0o600);
  expect(mode(join(tree, "run.sh"))).toBe(0o755);
  expect(readFileSync(join(tree, "secret"), "utf8")).toBe("s3cret\n");
  expect(readFileSync(join(tree, "sub", "data.bin")).equals(Buffer.alloc(300_000, 7))).toBe(true);
  expect(readlinkSync(join(tree, "alias"))).toBe("secret");
}

describe("cp", () => {
  test("a directory with modes: local → instance → local, and a file into a directory", async () => {
    const tree = localTree();
    const up = await client(master, ["cp", "-r", tree, "web:"]);
    expect(up, up.stderr).toMatchObject({ code: 0, stderr: "" });
    expectTree(join(homeOf(n1, "web"), "tree"));
    mkdirSync(join(homeOf(n1, "web"), "inbox"));
    expect((await client(master, ["cp", join(tree, "secret"), join(tree, "run.sh"), "web@n1:inbox"])).code).toBe(0);
    expect(mode(join(homeOf(n1, "web"), "inbox", "run.sh"))).toBe(0o755);

    const back = tempDir("cp-back");
    const down = await client(master, ["cp", "-r", "web:tree", join(back, "copy")]);
    expect(down, down.stderr).toMatchObject({ code: 0, stderr: "" });
    expectTree(join(back, "copy"));
    expect((await client(master, ["cp", "-r", "web:~/tree", back])).code).toBe(0);
    expectTree(join(back, "tree"));
    expect(leftovers(back)).toEqual([]);
    expect(leftovers(homeOf(n1, "web"))).toEqual([]);
  });

  test("instance → instance across two nodes, streamed through the master", async () => {
    writeFileSync(join(homeOf(n1, "web"), "across.txt"), "from n1\n".repeat(10_000));
    const r = await client(master, ["cp", "-r", "web:tree", "web:across.txt", "db@n2:"]);
    expect(r, r.stderr).toMatchObject({ code: 0, stderr: "" });
    expectTree(join(homeOf(n2, "db"), "tree"));
    expect(readFileSync(join(homeOf(n2, "db"), "across.txt"), "utf8")).toBe("from n1\n".repeat(10_000));
    expect(leftovers(homeOf(n2, "db"))).toEqual([]);
  });

  test("'-': stdin to a file in an instance, and a file in an instance to stdout", async () => {
    const up = await client(master, ["cp", "-", "web:from-stdin.txt"], { stdin: "piped bytes\n" });
    expect(up, up.stderr).toMatchObject({ code: 0 });
    expect(readFileSync(join(homeOf(n1, "web"), "from-stdin.txt"), "utf8")).toBe("piped bytes\n");
    const down = await client(master, ["cp", "web:from-stdin.txt", "-"]);
    expect(down).toMatchObject({ code: 0, stdout: "piped bytes\n", stderr: "" });
  });

  test("every refusal is clear, fails, and changes nothing", async () => {
    const local = tempDir("cp-err");
    const cases: [string[], RegExp][] = [
      [["cp", "web:nothere", local], /web@n1:nothere: No such file or directory/],
      [["cp", join(local, "nothere"), "web:"], /nothere: No such file or directory/],
      [["cp", "web:tree", local], /web@n1:tree: is a directory \(use -r to copy it\)/],
      [["cp", localTree(), "web:"], /tree: is a directory \(use -r to copy it\)/],
      [["cp", "web:across.txt", "web:from-stdin.txt", "db:across.txt"], /db@n2:across.txt: Not a directory/],
      [["cp", "web:across.txt", "db:no/such/dir/x"], /db@n2:no\/such\/dir: No such directory \(use -p to create it\)/],
      [["cp", "web:across.txt", "idle:x"], /instance "idle" is not running/],
      [["cp", "idle:x", local], /instance "idle" is not running/],
      [["cp", "nosuch:x", local], /nosuch/],
      [["cp", "dup:x", local], /dup.*(n1|n2).*(n1|n2)/],
      [["cp", join(local, "a"), join(local, "b")], /cp needs an instance on one side: NAME\[@NODE\]:PATH/],
      [["cp", "web:tree/secret", "web:secret", local], /Two sources are named "secret"/],
      [["cp", "web:x", "db:y", local], /All sources must be in one instance/],
    ];
    for (const [args, message] of cases) {
      const r = await client(master, args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
    expect(readdirSync(local)).toEqual([]);
    expect(readFileSync(join(homeOf(n2, "db"), "across.txt"), "utf8")).toBe("from n1\n".repeat(10_000));
    // The stopped instance stayed stopped: nothing asked its host to start it.
    expect(simStates(n1.simDir).get("idle")).toBe("Stopped");
    expect(simCalls(n1.simDir).some((argv) => argv[0] === "start")).toBe(false);
    expect(leftovers(homeOf(n1, "web"))).toEqual([]);
  });

  test("a copy cut off midway leaves nothing half-written, on either side", async () => {
    const big = join(tempDir("cp-big"), "big.bin");
    writeFileSync(big, Buffer.alloc(256 * 1024 * 1024, 1));
    const home = homeOf(n1, "web");
    // Up: the client dies once the guest has started writing beside the target.
    const up = Bun.spawn([...roleCommand("client"), "cp", big, "web:big.bin", "--master", master.apiUrl, "--token", master.apiToken], { env: envWithBun(), stdout: "ignore", stderr: "ignore" });
    await waitFor("the guest's temporary directory", () => leftovers(home).length > 0, 30_000, 5);
    up.kill("SIGKILL");
    await up.exited;
    await waitFor("the temporary directory removed", () => leftovers(home).length === 0, 15_000);
    expect(existsSync(join(home, "big.bin"))).toBe(false);

    // Down: the target exists beforehand; a cut-off copy leaves it as it was.
    writeFileSync(join(home, "big.bin"), Buffer.alloc(256 * 1024 * 1024, 2));
    const dest = tempDir("cp-cut");
    writeFileSync(join(dest, "big.bin"), "old\n");
    const down = Bun.spawn([...roleCommand("client"), "cp", "web:big.bin", dest, "--master", master.apiUrl, "--token", master.apiToken], { env: envWithBun(), stdout: "ignore", stderr: "ignore" });
    await waitFor("the local temporary directory", () => leftovers(dest).length > 0, 30_000, 5);
    down.kill("SIGINT");
    expect(await down.exited).toBe(130);
    expect(readdirSync(dest)).toEqual(["big.bin"]);
    expect(readFileSync(join(dest, "big.bin"), "utf8")).toBe("old\n");
  });
});

describe("cp, API and terminal", () => {
  test("the routes refuse bad input with a clear 400, and each copy is one 'cp' record in the audit trail", async () => {
    const headers = { authorization: `Bearer ${master.apiToken}`, "content-type": "application/json" };
    const get = async (path: string) => {
      const r = await fetch(master.apiUrl + path, { headers });
      return { status: r.status, text: await r.text() };
    };
    expect(await get("/api/v1/instances/web/copy-out")).toMatchObject({ status: 400, text: expect.stringContaining("No path given") });
    expect(await get("/api/v1/instances/web/copy-out?path=a%00b")).toMatchObject({ status: 400, text: expect.stringContaining("NUL") });
    expect(await get("/api/v1/instances/web/copy-in?path=a&path=b")).toMatchObject({ status: 400, text: expect.stringContaining("one target path") });
    expect(await get("/api/v1/instances/bad!name/copy-out?path=a")).toMatchObject({ status: 400 });
    const post = async (body: unknown) => {
      const r = await fetch(`${master.apiUrl}/api/v1/copy`, { method: "POST", headers, body: JSON.stringify(body) });
      return { status: r.status, text: await r.text() };
    };
    expect(await post({})).toMatchObject({ status: 400 });
    expect(await post({ from: { instance: "web", paths: [] }, to: { instance: "db", path: "x" } })).toMatchObject({ status: 400, text: expect.stringContaining("No path given") });
    expect(await post({ from: { instance: "web", paths: ["a"] }, to: { instance: "web@n1", path: "b" } })).toMatchObject({ status: 400, text: expect.stringContaining("Both sides are web@n1") });
    expect(await post({ from: { instance: "nosuch", paths: ["a"] }, to: { instance: "db", path: "b" } })).toMatchObject({ status: 404 });

    writeFileSync(join(homeOf(n1, "web"), "api.txt"), "piped bytes\n");
    const done = await post({ from: { instance: "web", paths: ["api.txt"] }, to: { instance: "db", path: "~/via-api.txt" } });
    expect(done.status).toBe(200);
    // GNU tar writes whole records: 64 KiB, as copy-out asks (--blocking-factor=128).
    expect(done.text.trim().split("\n").at(-1)).toBe(JSON.stringify({ type: "done", bytes: 65536 }));
    expect(readFileSync(join(homeOf(n2, "db"), "via-api.txt"), "utf8")).toBe("piped bytes\n");
    const events = (await (await fetch(`${master.apiUrl}/api/v1/events`, { headers })).json()) as { action: string; phase: string; params?: Record<string, unknown> }[];
    const requested = events.find((e) => e.action === "cp" && e.params?.["to"] === "db@n2:~/via-api.txt");
    expect(requested).toMatchObject({ phase: "requested", params: { direction: "instance", paths: ["api.txt"], recursive: false, parents: false } });
    expect(events).toContainEqual(expect.objectContaining({ action: "cp", phase: "done", requestId: (requested as { requestId?: string }).requestId }));
  });

  test("on a terminal: a progress bar with the rate on stderr, wiped at the end", async () => {
    const file = join(tempDir("cp-tty"), "tty.bin");
    writeFileSync(file, Buffer.alloc(64 * 1024 * 1024, 3));
    const t = runInTerminal([...roleCommand("client"), "cp", file, "web:tty.bin", "--master", master.apiUrl, "--token", master.apiToken], { cols: 120, rows: 10, env: envWithBun({ HOME: tempDir("home") }) });
    expect(await t.exited).toBe(0);
    expect(t.raw()).toMatch(/tty\.bin → web:tty\.bin \[[# ]{20}\] +\d+% [\d.]+\w+\/64\.0MiB [\d.]+\w+\/s/);
    expect((await t.screen()).join("").trim()).toBe("");
  });
});

/** Writes `mib` MiB of distinct pseudo-random bytes (each MiB numbered) and returns their sha256. */
async function bigFile(path: string, mib: number): Promise<string> {
  const block = Buffer.from(crypto.getRandomValues(new Uint8Array(1024 * 1024)));
  const hash = createHash("sha256");
  const writer = Bun.file(path).writer();
  for (let i = 0; i < mib; i++) {
    block.writeUInt32LE(i, 0);
    hash.update(block);
    writer.write(block);
    await writer.flush();
  }
  await writer.end();
  return hash.digest("hex");
}

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** A process's resident memory now (VmRSS) or its peak so far (VmHWM), in MB; NaN when /proc no longer shows it. */
function memoryMb(pid: number, line: "VmRSS" | "VmHWM"): number {
  try {
    return Number(new RegExp(`^${line}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

/** Runs the client, sampling the RSS of the master and the worker and the client's own peak meanwhile; returns the highest of each. */
async function sampledCopy(args: string[], worker: WorkerHandle): Promise<{ code: number; stderr: string; peak: Record<string, number> }> {
  const proc = Bun.spawn([...roleCommand("client"), ...args, "--master", master.apiUrl, "--token", master.apiToken], { env: envWithBun(), stdout: "ignore", stderr: "pipe" });
  const pids = { master: master.proc.pid, worker: worker.proc.pid, client: proc.pid };
  const peak: Record<string, number> = { master: 0, worker: 0, client: 0 };
  const timer = setInterval(() => {
    for (const [role, pid] of Object.entries(pids)) {
      // The client's own high-water mark (VmHWM), which only grows, so a sample taken shortly before
      // it exits holds its peak; an exited, unreaped client has neither line left (NaN: skipped).
      // Not resourceUsage().maxRSS: Bun reports the largest of all this process's children there.
      const mb = memoryMb(pid, role === "client" ? "VmHWM" : "VmRSS");
      if (Number.isFinite(mb)) peak[role] = Math.max(peak[role]!, mb);
    }
  }, 20);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearInterval(timer);
  return { code, stderr, peak };
}

describe("cp, 1 GB", () => {
  test("both ways byte-exact, in bounded memory on the master, the worker and the client", async () => {
    const dir = tempDir("cp-gb");
    const source = join(dir, "one.gb");
    const digest = await bigFile(source, 1024);
    const up = await sampledCopy(["cp", source, "web:one.gb"], n1);
    expect(up.code, up.stderr).toBe(0);
    expect(await sha256(join(homeOf(n1, "web"), "one.gb"))).toBe(digest);
    const down = await sampledCopy(["cp", "web:one.gb", join(dir, "back.gb")], n1);
    expect(down.code, down.stderr).toBe(0);
    expect(await sha256(join(dir, "back.gb"))).toBe(digest);
    // Across nodes the master pipes one session into the other: the target's node (n2) is the slower side.
    const across = await sampledCopy(["cp", "web@n1:one.gb", "db@n2:one.gb"], n2);
    expect(across.code, across.stderr).toBe(0);
    expect(await sha256(join(homeOf(n2, "db"), "one.gb"))).toBe(digest);
    console.log(`cp 1 GiB peak RSS (MB): up ${JSON.stringify(up.peak)}, down ${JSON.stringify(down.peak)}, across ${JSON.stringify(across.peak)}`);
    for (const peak of [up.peak, down.peak, across.peak]) {
      for (const [role, mb] of Object.entries(peak)) {
        expect(mb, role).toBeGreaterThan(0);
        expect(mb, role).toBeLessThan(300);
      }
    }
  });
});
