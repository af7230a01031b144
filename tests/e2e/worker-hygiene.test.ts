/**
 * A worker's session processes do not outlive it: `kill -9` of a worker
 * during a non-terminal exec takes the `multipass exec` process, the
 * exit-status wrapper and the command with it, and a worker restarted after
 * a run that could not take them (no parent-death signal) ends what that run
 * left. Processes are told apart by the simulated host they belong to (the
 * MULTIPASS_SIM_DIR tag, harness.ts `hostProcesses`), never by a command line
 * another test or test run on this machine could share.
 */
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  binDir,
  envWithBun,
  hostMultipass,
  hostProcesses,
  removeTempDirs,
  roleCommand,
  simConfig,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
  type MasterHandle,
} from "./harness.ts";

setDefaultTimeout(120_000);

afterEach(stopAll);
afterAll(removeTempDirs);

/** A simulated host with one running instance, "web". */
async function hostWithWeb(): Promise<string> {
  const sim = tempDir("sim-n1");
  simConfig(sim, { stepMs: 5 });
  expect((await hostMultipass(sim, ["launch", "--name", "web"])).code).toBe(0);
  return sim;
}

/** `exec web -- sleep SECONDS` through the client, left running. */
function startExec(master: MasterHandle, seconds: string) {
  return Bun.spawn([...roleCommand("client"), "exec", "web", "--master", master.apiUrl, "--token", master.apiToken, "--", "sleep", seconds], {
    env: envWithBun({ HOME: tempDir("home") }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** The session's processes on the host once the command runs: the stand-in, the wrapper and the command itself. */
async function sessionRunning(simDir: string, workerPid: number, seconds: string): Promise<string[]> {
  return waitFor(
    "the exec's processes on the host",
    () => {
      const found = hostProcesses(simDir, workerPid).filter((p) => p.includes(`sleep ${seconds}`));
      const command = found.some((p) => new RegExp(`^\\d+ sleep ${seconds}$`).test(p));
      const wrapper = found.some((p) => /^\d+ sh -c .*multiverse-exec sleep/.test(p));
      return command && wrapper && found.length >= 3 ? found : null;
    },
    15_000,
  );
}

/** A PATH with what the worker and the stand-in need (bash, sh, and bun for the stand-in's shebang) but no setpriv. */
function pathWithoutSetpriv(): string {
  const dir = mkdtempSync(join(tmpdir(), "mv-nosetpriv-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  for (const program of ["bash", "sh"]) symlinkSync(Bun.which(program)!, join(dir, program));
  const bun = binDir() === null ? Bun.which("bun", { PATH: envWithBun()["PATH"] }) : null;
  return bun === null ? dir : `${dir}:${dirname(bun)}`;
}

describe("a worker killed during an exec", () => {
  test("its `multipass exec` process, the wrapper and the command die with it", async () => {
    const master = await startMaster();
    const sim = await hostWithWeb();
    const worker = await startWorker(master, "n1", { simDir: sim });
    const exec = startExec(master, "313");
    try {
      await sessionRunning(sim, worker.proc.pid, "313");
      worker.proc.kill("SIGKILL");
      await worker.proc.exited;
      await waitFor(`nothing of the session left on the host (${hostProcesses(sim, worker.proc.pid).join("; ")})`, () => hostProcesses(sim, worker.proc.pid).length === 0, 5_000);
    } finally {
      exec.kill("SIGKILL");
    }
  });

  test("without a parent-death signal, the worker restarted ends what its last run left", async () => {
    const master = await startMaster();
    const sim = await hostWithWeb();
    // One ledger for both runs (it is kept per host and node name).
    const env = { PATH: pathWithoutSetpriv(), XDG_STATE_HOME: tempDir("state") };
    const first = await startWorker(master, "n1", { simDir: sim, env });
    const exec = startExec(master, "314");
    try {
      await sessionRunning(sim, first.proc.pid, "314");
      first.proc.kill("SIGKILL");
      await first.proc.exited;

      const again = await startWorker(master, "n1", { simDir: sim, env });
      // Nothing took the stand-in down with its worker: the new run found it alive, and ended it.
      expect(again.proc.output).toMatch(/ended 1 session process\(es\) left by a previous run/);
      await waitFor(`nothing of the old session left on the host (${hostProcesses(sim, again.proc.pid).join("; ")})`, () => !hostProcesses(sim, again.proc.pid).some((p) => p.includes("sleep 314")), 5_000);
    } finally {
      exec.kill("SIGKILL");
    }
  });
});
