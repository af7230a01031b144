/**
 * The ledger of session processes: a restarted worker kills what its
 * previous run left alive, and never a process that merely reuses a pid.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createProcessLedger, parseLedger, processStartTime } from "../../lib/worker/leftovers.ts";
import { waitFor } from "../e2e/harness.ts";

const dirs: string[] = [];
const procs: Bun.Subprocess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function ledgerPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "mv-ledger-"));
  dirs.push(dir);
  return join(dir, "worker-n1-sessions");
}

function sleeper(): Bun.Subprocess {
  const proc = Bun.spawn(["sleep", "60"], { detached: true, stdout: "ignore", stderr: "ignore" });
  procs.push(proc);
  return proc;
}

const alive = (pid: number) => processStartTime(pid) !== null && !readFileSync(`/proc/${pid}/stat`, "latin1").includes(") Z ");

describe.skipIf(process.platform !== "linux")("the process ledger", () => {
  test("a new run reaps the processes the last one recorded, and empties the ledger", async () => {
    const path = ledgerPath();
    const left = sleeper();
    const ended = sleeper();
    const previous = createProcessLedger(path);
    previous.add(left.pid);
    previous.add(ended.pid);
    previous.remove(ended.pid);
    expect([...parseLedger(readFileSync(path, "utf8")).keys()]).toEqual([left.pid]);

    expect(createProcessLedger(path).reap()).toEqual([left.pid]);
    await waitFor("the leftover killed", () => !alive(left.pid));
    expect(alive(ended.pid)).toBe(true);
    expect(readFileSync(path, "utf8")).toBe("");
  });

  test("a recorded pid now held by another process (another start time) is left alone", () => {
    const path = ledgerPath();
    const other = sleeper();
    writeFileSync(path, `${other.pid} 1\n`);
    expect(createProcessLedger(path).reap()).toEqual([]);
    expect(alive(other.pid)).toBe(true);
  });

  test("a missing or garbled ledger reaps nothing", () => {
    const path = ledgerPath();
    expect(createProcessLedger(path).reap()).toEqual([]);
    writeFileSync(path, "1 5\nnot a line\n-3 4\n99999999999 1\n");
    expect(parseLedger(readFileSync(path, "utf8")).size).toBe(0);
    expect(createProcessLedger(path).reap()).toEqual([]);
  });

  test("the start time is field 22 of /proc/PID/stat, null for a process that is gone", () => {
    expect(processStartTime(process.pid)).toMatch(/^\d+$/);
    expect(processStartTime(2 ** 30)).toBeNull();
  });
});
