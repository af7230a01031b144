/**
 * The roles as users run them. `worker --simulate` runs in both modes (bun
 * and, with MULTIVERSE_BIN_DIR, the compiled executables); the checks of the
 * executables themselves need MULTIVERSE_BIN_DIR (bash .ci/run sets it after
 * building).
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  binDir,
  client,
  envWithBun,
  hostMultipass,
  removeTempDirs,
  roleCommand,
  ROOT,
  simCalls,
  simConfig,
  simulatedMultipass,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
} from "./harness.ts";
import pkg from "../../package.json" with { type: "json" };
import { parseJson } from "../../lib/core/parse.ts";
import { buildVersion } from "../../scripts/build-version.ts";

setDefaultTimeout(60_000);

const PACKAGE_VERSION = pkg.version;
/** What --version prints: package.json's version from source; the build's --define adds the commit. */
const VERSION = binDir() === null ? PACKAGE_VERSION : buildVersion(ROOT);

afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

function run(argv: string[], env: Record<string, string> = envWithBun()) {
  const result = Bun.spawnSync(argv, { env, stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe("worker --simulate", () => {
  test("the worker plays its own multipass: loud about it, and a cluster works through the real argv path", async () => {
    const master = await startMaster();
    const simDir = tempDir("sim-self");
    simConfig(simDir, { stepMs: 5 });
    const worker = await startWorker(master, "selfsim", { simDir, simulate: true });
    expect(worker.proc.output).toContain("SIMULATED MULTIPASS: this worker drives its built-in stand-in, not a real Multipass.");
    expect(worker.proc.output).toContain(`SIMULATED multipass in ${simDir}`);

    const launched = await client(master, ["launch", "web"]);
    expect(launched.stderr + launched.stdout).toContain('Launched "web" on node "selfsim"');
    const listed = await client(master, ["instances", "--json"]);
    expect(parseJson(listed.stdout, "instances --json")).toMatchObject([{ node: "selfsim", name: "web", state: "Running" }]);
    const exec = await client(master, ["exec", "web", "--", "sh", "-c", "echo out; exit 3"]);
    expect({ code: exec.code, stdout: exec.stdout }).toEqual({ code: 3, stdout: "out\n" });

    // What reached "multipass" is in the stand-in's own log, written by the worker executable acting as it.
    const calls = simCalls(simDir);
    expect(calls).toContainEqual(["launch", "--name", "web"]);
    expect(calls).toContainEqual(["list", "--format", "json"]);
  });

  test("--simulate excludes --multipass, and --simulate-dir needs --simulate", () => {
    const both = run([...roleCommand("worker"), "--token", "t", "--simulate", "--multipass", "/usr/bin/multipass"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("error: --simulate and --multipass exclude each other");
    const dirOnly = run([...roleCommand("worker"), "--token", "t", "--simulate-dir", "/tmp/x"]);
    expect(dirOnly.code).toBe(2);
    expect(dirOnly.stderr).toContain("error: --simulate-dir needs --simulate");
  });

  test("a command in a simulated instance that runs the worker gets a worker, not multipass", async () => {
    const simDir = tempDir("sim-nested");
    simConfig(simDir, { stepMs: 5 });
    expect((await hostMultipass(simDir, ["launch", "--name", "web"])).code).toBe(0);
    // The stand-in script finds its state through MULTIPASS_SIM_DIR (the executable gets it in its argv).
    const nested = run([...simulatedMultipass(simDir), "exec", "web", "--", ...roleCommand("worker"), "--version"], envWithBun({ MULTIPASS_SIM_DIR: simDir }));
    expect(nested).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  });
});

const skipExecutables = binDir() === null;
if (skipExecutables) console.log("executables.test: the compiled executables are not checked: MULTIVERSE_BIN_DIR is not set (bash .ci/run sets it after npm run build)");

describe.skipIf(skipExecutables)("the compiled executables", () => {
  test.each(["master", "worker", "client"] as const)("%s answers --version and --help with no bun on PATH", (role) => {
    const env = envWithBun();
    expect(env["PATH"]!.split(":").some((dir) => Bun.which("bun", { PATH: dir }) !== null)).toBe(false);
    // The version came in through --define: it names the commit the executable was built from.
    expect(VERSION).toMatch(new RegExp(`^${PACKAGE_VERSION.replaceAll(".", "\\.")}\\+[0-9a-f]{7}`));
    expect(run([...roleCommand(role), "--version"], env)).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
    const help = run([...roleCommand(role), "--help"], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(`Usage: ${role === "client" ? "multiverse" : `multiverse-${role}`}`);
  });

  test("the master serves the web console from inside its executable, run where there is no source tree", async () => {
    const cwd = tempDir("console-cwd");
    const argv = [...roleCommand("master"), "--data-dir", tempDir("console-master"), "--cluster-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0"];
    const proc = Bun.spawn(argv, { cwd, env: envWithBun(), stdin: "ignore", stdout: "pipe", stderr: "ignore" });
    try {
      let output = "";
      const reader = proc.stdout.getReader();
      let port: RegExpExecArray | null = null;
      while (!(port = /api server on [\d.]+:(\d+)/.exec(output))) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the master ended before serving:\n${output}`);
        output += new TextDecoder().decode(value);
      }
      reader.releaseLock();
      const base = `http://127.0.0.1:${port[1]}`;
      const page = await fetch(`${base}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toStartWith("text/html");
      expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
      const script = /<script[^>]*\bsrc="(\/[^"]+\.js)"/.exec(await page.text())?.[1];
      expect(script).toBeDefined();
      const js = await fetch(`${base}${script}`);
      expect(js.status).toBe(200);
      expect(js.headers.get("content-type")).toStartWith("text/javascript");
      expect((await js.text()).length).toBeGreaterThan(0);
    } finally {
      proc.kill();
      await proc.exited;
    }
  });

  test("SHA256SUMS lists every executable and Debian package with its real checksum, as `sha256sum -c` checks it", () => {
    const dir = binDir()!;
    const listed = readFileSync(join(dir, "SHA256SUMS"), "utf8").trim().split("\n").map((line) => line.split("  ")[1]);
    expect(listed.sort()).toEqual(readdirSync(dir).filter((f) => f.startsWith("multiverse-") || (f.startsWith("multiverse_") && f.endsWith(".deb"))).sort());
    const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    expect({ code: check.exitCode, out: check.stdout.toString() }).toEqual({ code: 0, out: listed.map((f) => `${f}: OK\n`).join("") });
  });

  test("the roles are the executables themselves, and the simulated instances have no bun either", async () => {
    expect(roleCommand("client")).toHaveLength(1);
    const simDir = tempDir("sim-nobun");
    simConfig(simDir, { stepMs: 5 });
    expect(simulatedMultipass(simDir)[0]).toBe(roleCommand("worker")[0]!);
    expect((await hostMultipass(simDir, ["launch", "--name", "web"])).code).toBe(0);
    const probe = run([...simulatedMultipass(simDir), "exec", "web", "--", "sh", "-c", "command -v bun || echo no bun"]);
    expect(probe).toMatchObject({ code: 0, stdout: "no bun\n" });
  });

  test("a worker started without --simulate and without multipass says it cannot find it", async () => {
    const master = await startMaster();
    const worker = await startWorker(master, "nomp", { multipass: "multipass", env: { PATH: "/nonexistent" }, waitForJoin: false });
    await worker.proc.waitForOutput(/multipass not found at "multipass"/, 15_000);
    await waitFor("the worker still running", () => worker.proc.proc.exitCode === null);
  });
});
