/**
 * End-to-end: the client against careless and hostile use — piped input to
 * `shell`, a terminal that vanishes, Ctrl-C in `exec -t`, and a token that
 * must not travel to a master it does not belong to.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  apiInstances,
  apiNodes,
  apiSessions,
  client,
  envWithBun,
  hostMultipass,
  hostProcesses,
  removeTempDirs,
  roleCommand,
  runClient,
  simConfig,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
  type MasterHandle,
  type WorkerHandle,
} from "./harness.ts";
import { runInTerminal } from "./terminal.ts";

setDefaultTimeout(60_000);

let master: MasterHandle;
let n1: WorkerHandle;

beforeAll(async () => {
  master = await startMaster();
  const sim = tempDir("sim-ch");
  simConfig(sim, { stepMs: 5 });
  expect((await hostMultipass(sim, ["launch", "--name", "web"])).code).toBe(0);
  // Grace 0: a shell ends with its client, as this file checks; kept-shells.test.ts covers the default.
  n1 = await startWorker(master, "n1", { simDir: sim, extraArgs: ["--session-grace", "0"] });
  await waitFor("web listed", async () => (await apiInstances(master)).length === 1);
});
afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

const shellArgv = () => [...roleCommand("client"), "shell", "web", "--master", master.apiUrl, "--token", master.apiToken];

describe("shell without a terminal on stdin", () => {
  test("runs piped input and ends with the remote status", async () => {
    const result = await client(master, ["shell", "web"], { stdin: "echo piped-$((40+2))\nexit 7\n", timeoutMs: 15_000 });
    expect(result.stdout).toContain("piped-42");
    expect(result.code).toBe(7);
  });

  test("ends when input ends without an exit", async () => {
    const result = await client(master, ["shell", "web"], { stdin: "echo x\n", timeoutMs: 15_000 });
    expect(result.stdout).toContain("x");
    expect(result.code).toBe(0);
  });

  test("ends at once with stdin at end (</dev/null)", async () => {
    const result = await client(master, ["shell", "web"], { stdin: "", timeoutMs: 15_000 });
    expect(result.code).toBe(0);
    await waitFor("session gone", async () => (await apiSessions(master)).length === 0);
  });
});

describe("a terminal that closes", () => {
  test("the client ends within 2 s and leaves nothing on the worker", async () => {
    const t = runInTerminal(shellArgv(), { cols: 80, rows: 24, env: envWithBun({ HOME: tempDir("home") }) });
    await t.waitForScreen(/[$#] $/m);
    t.type("sleep 1000\r");
    await waitFor("sleep running", () => hostProcesses(n1.simDir, n1.proc.pid).some((p) => p.includes("sleep 1000")));
    const closedAt = Date.now();
    t.proc.terminal?.close();
    await waitFor("client gone", () => t.proc.exitCode !== null || t.proc.signalCode !== null, 2_000, 20);
    expect(Date.now() - closedAt).toBeLessThanOrEqual(2_000);
    await waitFor("no session process left", () => hostProcesses(n1.simDir, n1.proc.pid).length === 0, 3_000);
    await waitFor("session gone", async () => (await apiSessions(master)).length === 0);
  });
});

describe("exec -t", () => {
  // Ctrl-C reaches the whole remote foreground group, the status wrapper too, so the status is
  // Multipass's own for a death by signal (255); the client knows the user typed the interrupt.
  test("Ctrl-C ends it with 130 and says so", async () => {
    const argv = [...roleCommand("client"), "exec", "web", "-t", "--master", master.apiUrl, "--token", master.apiToken, "--", "sleep", "1000"];
    const t = runInTerminal(argv, { cols: 80, rows: 24, env: envWithBun({ HOME: tempDir("home") }) });
    await waitFor("sleep running", () => hostProcesses(n1.simDir, n1.proc.pid).some((p) => p.includes("sleep 1000")));
    t.type("\u0003");
    expect(await t.exited).toBe(130);
    expect(t.raw()).toContain("multiverse: interrupted by Ctrl-C; the remote command ended");
    await waitFor("no session process left", () => hostProcesses(n1.simDir, n1.proc.pid).length === 0, 3_000);
  });
});

describe("what the client says, as a user sees it (issue 11, part C)", () => {
  test("the cluster port is named; a purge shows Purged; a stopped node is removed with nodes remove; events --limit N shows N calls", async () => {
    const wrongPort = await runClient(["nodes", "--master", `http://127.0.0.1:${master.clusterPort}`, "--token", master.apiToken]);
    expect(wrongPort.code).toBe(1);
    expect(wrongPort.stderr).toContain("is the master's cluster port, where workers join; the client API is on the master's API port");
    expect(wrongPort.stderr).not.toContain("No route");

    const sim = tempDir("sim-ch2");
    simConfig(sim, { stepMs: 5 });
    expect((await hostMultipass(sim, ["launch", "--name", "old"])).code).toBe(0);
    const n2 = await startWorker(master, "n2", { simDir: sim, extraArgs: ["--session-grace", "0"] });
    await waitFor("old listed", async () => (await apiInstances(master)).some((i) => i.name === "old"));
    const purged = await client(master, ["delete", "old@n2", "--purge", "--yes"]);
    expect({ code: purged.code, stdout: purged.stdout }).toEqual({ code: 0, stdout: expect.stringMatching(/n2\s+old\s+Purged\n$/) });

    const refused = await client(master, ["nodes", "remove", "n2"]);
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({
      code: 1,
      stderr: 'error: Cannot remove node "n2": it is Ready, not Down; force it (--force) to drop it anyway (a running worker joins again)\n',
    });
    n2.proc.kill("SIGTERM");
    await n2.proc.exited;
    await waitFor("n2 Down", async () => (await apiNodes(master)).some((n) => n.name === "n2" && n.state === "Down"));
    expect(await client(master, ["nodes", "remove", "n2"])).toEqual({ code: 0, stdout: 'Removed node "n2" (it was Down).\n', stderr: "" });
    expect((await apiNodes(master)).map((n) => n.name)).toEqual(["n1"]);

    const events = await client(master, ["events", "--limit", "3"]);
    expect(events.code).toBe(0);
    const rows = events.stdout.trimEnd().split("\n").slice(1);
    expect(rows.map((r) => r.split(/\s{2,}/)[1])).toEqual(["delete", "remove-node", "remove-node"]);
  });
});
