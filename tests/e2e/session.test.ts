/**
 * End-to-end shells and execs: the real client, master and workers, the
 * simulated host running real shells, read the way a person would see them.
 */
import { parseExecLine } from "../../lib/protocol/session.ts";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  apiInstances,
  apiSessions,
  client,
  envWithBun,
  hostMultipass,
  hostProcesses,
  removeTempDirs,
  roleCommand,
  simCalls,
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
let n2: WorkerHandle;

beforeAll(async () => {
  master = await startMaster();
  const sims = [tempDir("sim-s1"), tempDir("sim-s2")];
  for (const sim of sims) {
    simConfig(sim, { stepMs: 5 });
    expect((await hostMultipass(sim, ["launch", "--name", "primary"])).code).toBe(0);
  }
  expect((await hostMultipass(sims[0]!, ["launch", "--name", "web"])).code).toBe(0);
  // Shells end with their client here (--session-grace 0, the behaviour before issue 12); kept shells: kept-shells.test.ts.
  const noGrace = ["--session-grace", "0"];
  [n1, n2] = await Promise.all([startWorker(master, "n1", { simDir: sims[0], extraArgs: noGrace }), startWorker(master, "n2", { simDir: sims[1], extraArgs: noGrace })]);
  await waitFor("3 instances", async () => (await apiInstances(master)).length === 3);
});
afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

describe("shell", () => {
  test("a scripted session as a terminal shows it: prompt, size, resize, full screen, Ctrl-C, exit status", async () => {
    const t = runInTerminal([...roleCommand("client"), "shell", "web", "--master", master.apiUrl, "--token", master.apiToken], {
      cols: 100,
      rows: 30,
      env: envWithBun({ HOME: tempDir("home") }),
    });
    await t.waitForScreen(/[$#] $/m);

    t.type("stty size\r");
    await t.waitForScreen(/^30 100$/m);
    expect(await apiSessions(master)).toEqual([expect.objectContaining({ instance: "web", node: "n1", kind: "shell", size: { cols: 100, rows: 30 } })]);

    t.resize(120, 40);
    await waitFor("resize reaches the master", async () => (await apiSessions(master))[0]?.size.cols === 120);
    t.type("clear; stty size\r");
    await t.waitForScreen(/^40 120$/m);

    // A full-screen program: alternate screen, cursor addressing.
    t.type("printf '\\033[?1049h\\033[2J\\033[5;10HFULL SCREEN'; sleep 0.3; printf '\\033[?1049l'\r");
    await waitFor("alternate screen", async () => {
      await t.screen();
      return t.term.buffer.active.type === "alternate" && t.term.buffer.active.getLine(4)?.translateToString(true) === "         FULL SCREEN";
    });
    await waitFor("back to the normal screen", async () => {
      await t.screen();
      return t.term.buffer.active.type === "normal";
    });

    t.type("sleep 30\r");
    await Bun.sleep(300);
    const before = Date.now();
    t.type("\u0003");
    t.type("echo after-$((40+2)) ünïcødé ✓\r");
    await t.waitForScreen(/^after-42 ünïcødé ✓$/m, 5_000);
    expect(Date.now() - before).toBeLessThan(5_000);

    t.type("exit 3\r");
    expect(await t.exited).toBe(3);
    await waitFor("session gone", async () => (await apiSessions(master)).length === 0);
  });

  test("a client killed mid-session leaves no shell, PTY or multipass process on the worker", async () => {
    const t = runInTerminal([...roleCommand("client"), "shell", "primary@n1", "--master", master.apiUrl, "--token", master.apiToken], {
      cols: 80,
      rows: 24,
      env: envWithBun({ HOME: tempDir("home") }),
    });
    await t.waitForScreen(/[$#] $/m);
    t.type("sleep 1000\r");
    await waitFor("sleep running", () => hostProcesses(n1.simDir, n1.proc.pid).some((p) => p.includes("sleep 1000")));
    t.kill("SIGKILL");
    await t.exited;
    const killedAt = Date.now();
    await waitFor("no session process left", () => hostProcesses(n1.simDir, n1.proc.pid).length === 0, 2_000, 50);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(2_000);
    await waitFor("session gone", async () => (await apiSessions(master)).length === 0);
  });

  test("a signal to the client ends the session cleanly: terminal restored, reason printed, exit 130, nothing left on the worker", async () => {
    const clientLine = [...roleCommand("client"), "shell", "primary@n1", "--master", master.apiUrl, "--token", master.apiToken].map((a) => `'${a}'`).join(" ");
    const t = runInTerminal(["sh", "-c", `echo "SH-PID=$$"; ${clientLine}; echo "CLIENT-EXIT=$?"; stty -a`], { cols: 200, rows: 40, env: envWithBun({ HOME: tempDir("home") }) });
    const sh = /SH-PID=(\d+)/.exec(await t.waitForScreen(/SH-PID=\d+/))![1]!;
    await t.waitForScreen(/[$#] $/m);
    // The client is the shell's one child.
    const pid = Number(readFileSync(`/proc/${sh}/task/${sh}/children`, "utf8").trim());
    t.type("sleep 1000\r");
    await waitFor("sleep running", () => hostProcesses(n1.simDir, n1.proc.pid).some((p) => p.includes("sleep 1000")));
    process.kill(pid, "SIGTERM");
    const screen = await t.waitForScreen(/CLIENT-EXIT=130[\s\S]*icanon/);
    expect(t.raw()).toContain("multiverse: interrupted by SIGTERM; session closed");
    expect(screen).toMatch(/(^|\s)icanon(\s|$)/m);
    expect(screen).not.toMatch(/-icanon/);
    await waitFor("no session process left", () => hostProcesses(n1.simDir, n1.proc.pid).length === 0, 3_000);
    await waitFor("session gone", async () => (await apiSessions(master)).length === 0);
  });

  test("the master dying ends the session cleanly: terminal restored, reason printed, nothing left on the worker", async () => {
    const own = await startMaster();
    const sim = tempDir("sim-md");
    simConfig(sim, { stepMs: 5 });
    await hostMultipass(sim, ["launch", "--name", "solo"]);
    const w = await startWorker(own, "md", { simDir: sim, extraArgs: ["--session-grace", "0"] });
    await waitFor("solo listed", async () => (await apiInstances(own)).length === 1);
    // Run the client from a shell, as a person would, and look at the terminal after it ends.
    const clientLine = [...roleCommand("client"), "shell", "solo", "--master", own.apiUrl, "--token", own.apiToken].map((a) => `'${a}'`).join(" ");
    const t = runInTerminal(["sh", "-c", `${clientLine}; echo "CLIENT-EXIT=$?"; stty -a`], { cols: 200, rows: 40, env: envWithBun({ HOME: tempDir("home") }) });
    await t.waitForScreen(/[$#] $/m);
    t.type("sleep 1000\r");
    await waitFor("sleep running", () => hostProcesses(sim, w.proc.pid).some((p) => p.includes("sleep 1000")));
    own.proc.kill("SIGKILL");
    const screen = await t.waitForScreen(/CLIENT-EXIT=1[\s\S]*icanon/);
    expect(t.raw()).toMatch(/multiverse: (the connection to the master was lost|Lost the connection)/);
    // The terminal is back in cooked mode: line editing and echo on.
    expect(screen).toMatch(/(^|\s)icanon(\s|$)/m);
    expect(screen).toMatch(/(^|\s)echo(\s|$)/m);
    expect(screen).not.toMatch(/-icanon/);
    await waitFor("no session process left", () => hostProcesses(sim, w.proc.pid).length === 0, 3_000);
  });
});

describe("exec", () => {
  test("exit statuses 0, 1, 2, 3, 4 and 127 come back as the client's own", async () => {
    for (const status of [0, 1, 2, 3, 4]) {
      const r = await client(master, ["exec", "web", "--", "sh", "-c", `exit ${status}`]);
      expect({ status, code: r.code, stderr: r.stderr }).toEqual({ status, code: status, stderr: "" });
    }
    const missing = await client(master, ["exec", "web", "--", "no-such-command-here"]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain("no-such-command-here");
    // The 1.16 exit-4 loop never started: one multipass exec per call in the stand-in's log.
    const execs = simCalls(n1.simDir).filter((argv) => argv[0] === "exec" && argv.includes("exit 4"));
    expect(execs).toHaveLength(1);
    expect(execs[0]!.slice(0, 4)).toEqual(["exec", "web", "--no-map-working-directory", "--"]);
  });

  test("stdout and stderr stay separate; piped stdin reaches the command", async () => {
    const r = await client(master, ["exec", "web", "--", "sh", "-c", "echo to-out; echo to-err >&2; tr a-z A-Z"], { stdin: "piped in\nsecond line\n" });
    expect(r).toEqual({ code: 0, stdout: "to-out\nPIPED IN\nSECOND LINE\n", stderr: "to-err\n" });
  });

  test("argv with spaces, quotes and $ arrives exactly, with no shell in between", async () => {
    const args = ["a b", "it's", '"quoted"', "$HOME", "`id`", "*", "back\\slash", "ünï"];
    const r = await client(master, ["exec", "web", "--", "printf", "[%s]\\n", ...args]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(args.map((a) => `[${a}]\n`).join(""));
  });

  test("output is streamed as produced, not held to the end", async () => {
    const proc = Bun.spawn([...roleCommand("client"), "exec", "web", "--master", master.apiUrl, "--token", master.apiToken, "--", "sh", "-c", "echo first; sleep 2; echo second"], {
      env: envWithBun({ HOME: tempDir("home") }),
      stdout: "pipe",
    });
    const reader = proc.stdout.getReader();
    const started = Date.now();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("first\n");
    expect(Date.now() - started).toBeLessThan(1_800);
    reader.releaseLock();
    expect(await proc.exited).toBe(0);
  });

  test("5 MB of output arrives byte-exact", async () => {
    const blob = new Uint8Array(5 * 1024 * 1024);
    for (let i = 0; i < blob.length; i += 65536) crypto.getRandomValues(blob.subarray(i, i + 65536));
    writeFileSync(join(n1.simDir, "instances/web/home/blob"), blob);
    const proc = Bun.spawn([...roleCommand("client"), "exec", "web", "--master", master.apiUrl, "--token", master.apiToken, "--", "cat", "blob"], {
      env: envWithBun({ HOME: tempDir("home") }),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, code] = await Promise.all([new Response(proc.stdout).bytes(), proc.exited]);
    expect(code).toBe(0);
    expect(out.length).toBe(blob.length);
    expect(createHash("sha256").update(out).digest("hex")).toBe(createHash("sha256").update(blob).digest("hex"));
  });

  test("20 concurrent sessions each get their own answer", async () => {
    // Every command waits for a file the test makes only once all 20 sessions are live at once.
    const barrier = join(tempDir("barrier"), "go");
    const pending = Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        client(master, ["exec", i % 2 ? "web" : "primary@n2", "--", "sh", "-c", `while [ ! -e "$1" ]; do sleep 0.05; done; echo session-${i}`, "sh", barrier]),
      ),
    );
    await waitFor("20 live sessions", async () => (await apiSessions(master)).length === 20, 30_000);
    writeFileSync(barrier, "");
    const runs = await pending;
    runs.forEach((r, i) => expect({ i, ...r }).toEqual({ i, code: 0, stdout: `session-${i}\n`, stderr: "" }));
    await waitFor("sessions gone", async () => (await apiSessions(master)).length === 0);
  });

  test("a bare name on several nodes is refused with the candidates; NAME@NODE reaches that node", async () => {
    const ambiguous = await client(master, ["exec", "primary", "--", "true"]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain("primary@n1, primary@n2");
    const log = readFileSync(join(n1.simDir, "calls.log"), "utf8") + readFileSync(join(n2.simDir, "calls.log"), "utf8");
    expect(log).not.toContain('"true"');

    const r = await client(master, ["exec", "primary@n2", "--", "sh", "-c", 'echo "$HOME"']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(join(n2.simDir, "instances/primary/home"));
  });

  test("-t gives the command a terminal; without one it has none", async () => {
    const withTty = await client(master, ["exec", "-t", "web", "--", "sh", "-c", "test -t 1 && echo tty || echo notty"]);
    expect(withTty.stdout.trim()).toBe("tty");
    const without = await client(master, ["exec", "web", "--", "sh", "-c", "test -t 1 && echo tty || echo notty"]);
    expect(without.stdout).toBe("notty\n");
    // Piped input into a terminal ends as a terminal's does: with Ctrl-D, so cat finishes.
    const piped = await client(master, ["exec", "-t", "web", "--", "cat"], { stdin: "typed ahead\n", timeoutMs: 10_000 });
    expect(piped.code).toBe(0);
    expect(piped.stdout).toContain("typed ahead\r\n");
  });

  test("exec with stdin and stdout on a terminal is interactive by default, -T turns it off", async () => {
    const env = envWithBun({ HOME: tempDir("home") });
    const base = [...roleCommand("client"), "exec", "web", "--master", master.apiUrl, "--token", master.apiToken];
    const interactive = runInTerminal([...base, "--", "sh", "-c", "test -t 0 && echo STDIN-IS-TTY; exit 5"], { cols: 80, rows: 24, env });
    expect(await interactive.exited).toBe(5);
    expect(interactive.raw()).toContain("STDIN-IS-TTY");
    const plain = runInTerminal([...base, "-T", "--", "sh", "-c", "test -t 0 || echo STDIN-NOT-TTY"], { cols: 80, rows: 24, env });
    expect(await plain.exited).toBe(0);
    expect(plain.raw()).toContain("STDIN-NOT-TTY");
  });

  test("the streaming POST exec answers NDJSON with separate streams and the exit status", async () => {
    const response = await fetch(`${master.apiUrl}/api/v1/instances/web/exec`, {
      method: "POST",
      headers: { authorization: `Bearer ${master.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ command: ["sh", "-c", "cat; echo oops >&2; exit 7"], stdin: "from curl\n" }),
    });
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = (await response.text()).trim().split("\n").map(parseExecLine);
    const text = (type: "stdout" | "stderr") => lines.map((l) => (l.type === type ? Buffer.from(l.data, "base64").toString() : "")).join("");
    expect(text("stdout")).toBe("from curl\n");
    expect(text("stderr")).toBe("oops\n");
    expect(lines.at(-1)).toEqual({ type: "exit", code: 7 });
  });
});
