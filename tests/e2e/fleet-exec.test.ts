/**
 * exec on many instances (issue 15), with real processes: a master, three
 * workers on simulated hosts with ten instances each, and the client. All
 * succeeding, some failing, stdin to all, --group, --json, -l; then one node
 * hung (its multipass hangs: --timeout reports it), one frozen (SIGSTOP:
 * the master gives up on it after its accept limit), one killed (Down: at
 * once) — each time the others complete and the exit status is 1. Ctrl-C
 * hangs every session up, leaving no process behind.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import {
  apiInstances,
  apiNodes,
  client,
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
  type WorkerHandle,
} from "./harness.ts";

setDefaultTimeout(120_000);

const NODES = ["n1", "n2", "n3"] as const;
/** Ten instances a node, named after it: a01..a10 on n1, b01..b10 on n2, c01..c10 on n3. */
const namesOn = (node: number) => Array.from({ length: 10 }, (_, i) => `${"abc"[node]}${String(i + 1).padStart(2, "0")}`);
const ALL = NODES.flatMap((node, i) => namesOn(i).map((name) => `${name}@${node}`)).sort();

let master: MasterHandle;
const workers: WorkerHandle[] = [];

/** The instance's name, from inside it: its home is the sim's instances/NAME/home. */
const WHO = 'n=$(basename "$(dirname "$HOME")")';

beforeAll(async () => {
  master = await startMaster();
  const sims = NODES.map((node) => tempDir(`sim-${node}`));
  await Promise.all(
    sims.map(async (sim, i) => {
      simConfig(sim, { stepMs: 1 });
      for (const name of namesOn(i)) {
        const r = await hostMultipass(sim, ["launch", "--name", name]);
        if (r.code !== 0) throw new Error(`seed launch ${name} failed: ${r.stderr}`);
      }
    }),
  );
  for (const [i, node] of NODES.entries()) workers.push(await startWorker(master, node, { simDir: sims[i]! }));
  await waitFor("30 instances Running", async () => (await apiInstances(master)).filter((i) => i.state === "Running").length === 30, 20_000);
});

afterAll(async () => {
  await stopAll();
  removeTempDirs();
});

/** The summary line of `group` on stderr, its instances sorted. */
function summaryLine(stderr: string, group: string): string[] | null {
  const line = stderr.split("\n").find((l) => l.startsWith(`${group}: `));
  if (line === undefined) return null;
  return line.slice(line.indexOf(": ") + 2).split(", ").sort();
}

describe("exec on 30 instances over 3 nodes", () => {
  test("all succeed: every instance's lines, prefixed and padded, a summary of 30 ok, exit 0", async () => {
    const r = await client(master, ["exec", "--all", "--", "sh", "-c", `${WHO}; echo "I am $n"; echo "to stderr" >&2`]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n").sort();
    expect(lines).toEqual(ALL.map((ref) => `${ref} | I am ${ref.split("@")[0]}`));
    expect(r.stderr.split("\n").filter((l) => l.endsWith("| to stderr")).length).toBe(30);
    expect(summaryLine(r.stderr, "ok 30")).toEqual(ALL);
    expect(r.stderr).not.toMatch(/^(failed|unreachable|timed out)/m);
    // Sixteen sessions at once share the process's streams and signals without piling listeners on them.
    expect(r.stderr).not.toContain("MaxListenersExceededWarning");
  });

  test("several named before --: only they run; a failing command's status in the summary, exit 1", async () => {
    const r = await client(master, ["exec", "a01", "b05@n2", "c10", "a02", "--", "sh", "-c", `${WHO}; echo done; [ "$n" != b05 ] && [ "$n" != c10 ] || exit 7`]);
    expect(r.code).toBe(1);
    expect(r.stdout.trimEnd().split("\n").sort()).toEqual(["a01@n1 | done", "a02@n1 | done", "b05@n2 | done", "c10@n3 | done"]);
    expect(summaryLine(r.stderr, "ok 2")).toEqual(["a01@n1", "a02@n1"]);
    expect(summaryLine(r.stderr, "failed 2")).toEqual(["b05@n2 (exit 7)", "c10@n3 (exit 7)"]);
  });

  test("stdin is read once and sent to every instance; --json: one record each, then the summary", async () => {
    const r = await client(master, ["exec", "--all", "--json", "--parallel", "7", "--", "sh", "-c", "tr a-z A-Z; echo err >&2"], { stdin: "hello fleet\n" });
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    const summary = lines.pop();
    expect(lines.map((l) => `${l.instance}@${l.node}`).sort()).toEqual(ALL);
    for (const record of lines) {
      expect(record).toEqual({ instance: expect.any(String), node: expect.any(String), exitCode: 0, stdout: "HELLO FLEET\n", stderr: "err\n", durationMs: expect.any(Number), truncated: false });
    }
    expect(summary.summary.ok.sort()).toEqual(ALL);
    expect(summary.summary).toMatchObject({ failed: [], timedOut: [], unreachable: [], skipped: [] });
  });

  test("--group: each instance's output together, under its header", async () => {
    const r = await client(master, ["exec", "a03", "b03", "c03", "--group", "--", "sh", "-c", `${WHO}; for i in 1 2 3; do echo "$n $i"; sleep 0.05; done`]);
    expect(r.code).toBe(0);
    const blocks = r.stdout.split(/^=== /m).filter(Boolean).sort();
    expect(blocks.map((b) => b.replace(/\(exit 0, [\d.]+s\)/, "(exit 0)"))).toEqual(
      ["a03@n1", "b03@n2", "c03@n3"].map((ref) => `${ref} (exit 0)\n${[1, 2, 3].map((i) => `${ref.split("@")[0]} ${i}`).join("\n")}\n`),
    );
  });

  test("-l SELECTOR: the instances whose labels match, asked of the master; an empty match is exit 1", async () => {
    const label = async (ref: string, set: Record<string, string>) => {
      const response = await fetch(`${master.apiUrl}/api/v1/instances/${ref}/labels`, {
        method: "POST",
        headers: { authorization: `Bearer ${master.apiToken}`, "content-type": "application/json" },
        body: JSON.stringify({ set }),
      });
      expect(response.status).toBe(200);
    };
    for (const ref of ["a01", "a02", "c01"]) await label(ref, { role: "web" });
    await label("b01", { role: "web", env: "prod" });
    const r = await client(master, ["exec", "-l", "role=web,env!=prod", "--", "echo", "web"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split("\n").sort()).toEqual(["a01@n1 | web", "a02@n1 | web", "c01@n3 | web"]);
    const bare = await client(master, ["exec", "-l", "role=web,env!=prod", "echo", "no", "dashes"]);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toContain("c01@n3 | no dashes\n");
    const none = await client(master, ["exec", "-l", "role=db", "--", "echo", "db"]);
    expect(none.code).toBe(1);
    expect(none.stdout).toBe("");
    expect(none.stderr).toContain('no instances match selector "role=db"');
  });

  test("a stopped instance is skipped with its state; the rest run", async () => {
    expect((await client(master, ["stop", "a10"])).code).toBe(0);
    const r = await client(master, ["exec", "a09", "a10", "--", "true"]);
    expect(r.code).toBe(0);
    expect(summaryLine(r.stderr, "ok 1")).toEqual(["a09@n1"]);
    expect(summaryLine(r.stderr, "skipped 1")).toEqual(["a10@n1 (Stopped)"]);
    const none = await client(master, ["exec", "a10", "--json", "--", "true"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("none of the 1 instances of the instances named is Running");
  });

  test("bad options are refused before anything runs", async () => {
    for (const [args, message] of [
      [["exec", "--all", "a01", "--", "true"], "Name the instances one way"],
      [["exec", "--all", "--parallel", "0", "--", "true"], 'Invalid --parallel "0"'],
      [["exec", "--all", "--group", "--json", "--", "true"], "Choose one of --group and --json"],
      [["exec", "--all", "-t", "--", "true"], "runs without a terminal"],
      [["exec", "-l", "role in (web", "--", "true"], "role in (web"],
    ] as const) {
      const r = await client(master, [...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });

  test("Ctrl-C hangs every session up: exit 130, no command left running on any host", async () => {
    const dashDash = ["exec", "--all", "--", "sh", "-c", "echo started; sleep 60"];
    const proc = Bun.spawn([...roleCommand("client"), ...dashDash.slice(0, 2), "--master", master.apiUrl, "--token", master.apiToken, ...dashDash.slice(2)], {
      env: envWithBun({ HOME: tempDir("home") }),
      stdout: "pipe",
      stderr: "pipe",
    });
    const stdout = new Response(proc.stdout).text();
    const stderr = new Response(proc.stderr).text();
    const sleeps = () => workers.flatMap((w) => hostProcesses(w.simDir, w.proc.pid).filter((p) => /^\d+ sleep 60$/.test(p)));
    // --parallel's default: 16 at once, the other 13 Running ones waiting for a turn.
    await waitFor("16 commands running", () => sleeps().length === 16, 30_000);
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(130);
    const summary = summaryLine(await stderr, "interrupted 29");
    expect(summary?.length).toBe(29);
    expect((await stdout).split("\n").filter((l) => l.endsWith("| started")).length).toBeGreaterThan(0);
    await waitFor("no sleep left on any host", () => sleeps().length === 0, 15_000);
  });
});

describe("a node that hangs or is down never holds back the rest", () => {
  test("n3's multipass hangs: with --timeout its ten are reported timed out, the twenty others complete, exit 1", async () => {
    simConfig(workers[2]!.simDir, { stepMs: 1, fault: "hang" });
    try {
      const r = await client(master, ["exec", "--all", "--timeout", "3s", "--", "echo", "ok"], { timeoutMs: 60_000 });
      expect(r.code).toBe(1);
      expect(r.stdout.split("\n").filter((l) => l.endsWith("| ok")).length).toBe(19);
      expect(summaryLine(r.stderr, "ok 19")).toEqual(ALL.filter((ref) => !ref.endsWith("@n3") && ref !== "a10@n1"));
      expect(summaryLine(r.stderr, "timed out 10")).toEqual(ALL.filter((ref) => ref.endsWith("@n3")));
      expect(summaryLine(r.stderr, "skipped 1")).toEqual(["a10@n1 (Stopped)"]);
    } finally {
      simConfig(workers[2]!.simDir, { stepMs: 1 });
    }
  });

  test("n2's worker frozen (SIGSTOP): its ten are unreachable after the master's accept limit, no --timeout needed", async () => {
    workers[1]!.proc.kill("SIGSTOP");
    try {
      const r = await client(master, ["exec", "--all", "--json", "--", "echo", "ok"], { timeoutMs: 60_000 });
      expect(r.code).toBe(1);
      const { summary } = JSON.parse(r.stdout.trimEnd().split("\n").at(-1)!);
      expect(summary.ok.length).toBe(19);
      expect(summary.unreachable.map((u: { instance: string }) => u.instance).sort()).toEqual(ALL.filter((ref) => ref.endsWith("@n2")));
      // Listed while still Ready, the master tried and gave up; listed once NotReady, they were not tried.
      for (const u of summary.unreachable) expect(u.error).toMatch(/^Node "n2" .*did not accept the session within 10s|^Node "n2" stopped answering|^not run: its node "n2" is NotReady$/);
    } finally {
      workers[1]!.proc.kill("SIGCONT");
    }
    await waitFor("n2 and n3 Ready, their instances Running", async () => (await apiInstances(master)).filter((i) => i.node !== "n1" && i.state === "Running").length === 20, 30_000);
  });

  test("n1's worker killed (Down): its instances (Unknown now) are reported unreachable, not run", async () => {
    workers[0]!.proc.kill("SIGKILL");
    await waitFor("n1 Down", async () => (await apiNodes(master)).find((n) => n.name === "n1")?.state === "Down", 15_000);
    const r = await client(master, ["exec", "--all", "--", "echo", "ok"]);
    expect(r.code).toBe(1);
    const unreachable = r.stderr.split("\n").find((l) => l.startsWith("unreachable "));
    expect(unreachable).toStartWith("unreachable 10: ");
    expect(unreachable).toContain('a01@n1 (not run: its node "n1" is Down)');
    expect(summaryLine(r.stderr, "ok 20")?.length).toBe(20);
  });
});
