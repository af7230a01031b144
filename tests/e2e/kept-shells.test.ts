/**
 * Shells that survive (issue 12), end to end: the real client in a real
 * terminal (read through @xterm/headless), the master and workers on the
 * simulated host, and a veth link the test takes down.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Terminal } from "@xterm/headless";
import type { SessionView } from "../../lib/protocol/api.ts";
import { arrayOf, parseJson } from "../../lib/core/parse.ts";
import { parseAuditEvent } from "../../lib/protocol/audit.ts";
import {
  apiSessions,
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
import { makeVethNamespace, netnsUnavailable, type VethNamespace } from "./netns.ts";
import { runInTerminal, type ScreenSession } from "./terminal.ts";

setDefaultTimeout(120_000);

const noNetns = netnsUnavailable();
if (noNetns) console.log(`kept shells: the network-cut tests are skipped: ${noNetns}`);

let veth: VethNamespace | null = null;
let master: MasterHandle;
/** Default grace (10 minutes). */
let n1: WorkerHandle;
/** Two detached shells at most, a short grace. */
let n2: WorkerHandle;

beforeAll(async () => {
  if (!noNetns) veth = makeVethNamespace("ks");
  master = await startMaster(veth ? { apiHost: veth.hostIp } : {});
  const sims = [tempDir("sim-k1"), tempDir("sim-k2")];
  for (const sim of sims) simConfig(sim, { stepMs: 5 });
  expect((await hostMultipass(sims[0]!, ["launch", "--name", "web"])).code).toBe(0);
  expect((await hostMultipass(sims[1]!, ["launch", "--name", "lim"])).code).toBe(0);
  [n1, n2] = await Promise.all([
    startWorker(master, "n1", { simDir: sims[0] }),
    startWorker(master, "n2", { simDir: sims[1], extraArgs: ["--max-detached-sessions", "2", "--session-grace", "6s"] }),
  ]);
});
afterAll(async () => {
  for (const t of clients) t.kill("SIGKILL");
  await stopAll();
  veth?.remove();
  removeTempDirs();
});

/** Every client started, so that none outlives a failed test. */
const clients: ScreenSession[] = [];

function clientIn(m: MasterHandle, args: string[], size = { cols: 100, rows: 30 }, wrap: (argv: string[]) => string[] = (a) => a): ScreenSession {
  const t = runInTerminal(wrap([...roleCommand("client"), ...args, "--master", m.apiUrl, "--token", m.apiToken]), { ...size, env: envWithBun({ HOME: tempDir("home") }) });
  clients.push(t);
  return t;
}

/** Every cell of the visible screen: text, colours, bold. */
function cells(terminal: Terminal): string[] {
  const buffer = terminal.buffer.active;
  const out: string[] = [];
  for (let y = 0; y < terminal.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    for (let x = 0; x < terminal.cols; x++) {
      const cell = line?.getCell(x);
      out.push(cell ? `${cell.getChars() || " "}|${cell.getFgColorMode()}:${cell.getFgColor()}|${cell.getBgColorMode()}:${cell.getBgColor()}|${cell.isBold()}` : "none");
    }
  }
  return out;
}

async function keptOn(m: MasterHandle, instance: string, state?: SessionView["state"]): Promise<SessionView[]> {
  return (await apiSessions(m)).filter((s) => s.instance === instance && (state === undefined || s.state === state));
}

/** A full-screen program: a title, the alternate screen, colours, the cursor moved; it waits for a line. */
const DRAW = `printf '\\033]0;kept-title\\007\\033[?1049h\\033[2J\\033[3;5H\\033[1;31mRED\\033[0m\\033[10;20H\\033[42;30mGREEN-BG\\033[0m\\033[6;7H'; read answer; printf '\\033[?1049l'; echo "got-$answer"\r`;

describe("kept shells", () => {
  test("a client killed mid-program: the shell is kept, and attach brings the screen back cell by cell; typing works", async () => {
    const first = clientIn(master, ["shell", "web"]);
    let title = "";
    first.term.onTitleChange((t) => (title = t));
    await first.waitForScreen(/[$#] $/m);
    first.type(DRAW);
    await waitFor("the program's screen", async () => {
      await first.screen();
      return first.term.buffer.active.type === "alternate" && /GREEN-BG/.test((await first.screen()).join("\n"));
    });
    await Bun.sleep(300);
    const drawn = { cells: cells(first.term), cursor: [first.term.buffer.active.cursorX, first.term.buffer.active.cursorY], title };
    expect(drawn.title).toBe("kept-title");

    first.kill("SIGKILL");
    await first.exited;
    const [kept] = await waitFor("the shell detached", () => keptOn(master, "web", "detached").then((l) => (l.length === 1 ? l : null)));
    expect(kept).toMatchObject({ node: "n1", kind: "shell", mine: true, state: "detached" });
    expect(kept!.detachedUntil).not.toBeNull();
    expect(hostProcesses(n1.simDir, n1.proc.pid).length).toBeGreaterThan(0);

    const again = clientIn(master, ["attach", kept!.id]);
    let againTitle = "";
    again.term.onTitleChange((t) => (againTitle = t));
    await waitFor("the screen restored", async () => {
      await again.screen();
      return again.term.buffer.active.type === "alternate" && /GREEN-BG/.test((await again.screen()).join("\n"));
    });
    await Bun.sleep(300);
    await again.screen();
    expect(cells(again.term)).toEqual(drawn.cells);
    expect([again.term.buffer.active.cursorX, again.term.buffer.active.cursorY]).toEqual(drawn.cursor);
    expect(againTitle).toBe("kept-title");
    expect((await keptOn(master, "web"))[0]).toMatchObject({ id: kept!.id, state: "attached" });

    again.type("hello\r");
    await again.waitForScreen(/^got-hello$/m);
    again.type("exit 7\r");
    expect(await again.exited).toBe(7);
    await waitFor("the shell gone", async () => (await keptOn(master, "web")).length === 0);
    await waitFor("nothing left on the worker", () => hostProcesses(n1.simDir, n1.proc.pid).length === 0, 5_000);
  });

  test("Enter ~ d detaches on purpose and says how to come back; a read-only watcher sees the output live and cannot type", async () => {
    const writer = clientIn(master, ["shell", "web"]);
    await writer.waitForScreen(/[$#] $/m);
    const [live] = await waitFor("the shell listed", () => keptOn(master, "web", "attached").then((l) => (l.length === 1 ? l : null)));
    const watcher = clientIn(master, ["attach", live!.id, "--read-only"]);
    await waitFor("the watcher attached", async () => (await keptOn(master, "web"))[0]?.viewers === 1);
    writer.type("echo shared-$((6*7))\r");
    await watcher.waitForScreen(/^shared-42$/m);
    watcher.type("echo from-the-watcher\r");
    await Bun.sleep(1_000);
    expect((await writer.screen()).join("\n")).not.toContain("from-the-watcher");

    writer.type("\r~d");
    expect(await writer.exited).toBe(0);
    expect(writer.raw()).toContain(`multiverse attach ${live!.id}`);
    expect((await keptOn(master, "web"))[0]).toMatchObject({ id: live!.id, state: "detached" });

    watcher.type("\r~.");
    await watcher.exited;
    const back = clientIn(master, ["attach", live!.id]);
    await back.waitForScreen(/^shared-42$/m);
    back.type("exit\r");
    expect(await back.exited).toBe(0);
    await waitFor("nothing left on the worker", () => hostProcesses(n1.simDir, n1.proc.pid).length === 0, 5_000);
  });

  test("past the limit the detached shell idle the longest ends; past the grace a detached shell ends and leaves nothing", async () => {
    const opened: ScreenSession[] = [];
    for (const mark of ["one", "two", "three"]) {
      const t = clientIn(master, ["shell", "lim"]);
      await t.waitForScreen(/[$#] $/m);
      t.type(`echo mark-${mark}\r`);
      await t.waitForScreen(new RegExp(`^mark-${mark}$`, "m"));
      opened.push(t);
      await Bun.sleep(200);
    }
    const ids = (await keptOn(master, "lim")).sort((a, b) => (a.since < b.since ? -1 : 1)).map((s) => s.id);
    expect(ids).toHaveLength(3);
    for (const t of opened) {
      t.kill("SIGKILL");
      await t.exited;
      await Bun.sleep(200);
    }
    await waitFor("two kept", async () => (await keptOn(master, "lim", "detached")).length === 2 && (await keptOn(master, "lim")).length === 2);
    expect((await keptOn(master, "lim")).map((s) => s.id).sort()).toEqual(ids.slice(1).sort());
    expect(n2.proc.output).toMatch(/evicted: more than 2 detached shells/);
    // Grace 6 s: both end on their own, with nothing left behind.
    await waitFor("the grace passed", async () => (await keptOn(master, "lim")).length === 0, 15_000);
    await waitFor("nothing left on the worker", () => hostProcesses(n2.simDir, n2.proc.pid).length === 0, 5_000);
    expect(n2.proc.output).toMatch(/nobody attached within 6s/);
    // The master's audit trail has each end, under the token that opened the shell.
    const events = arrayOf(parseAuditEvent)(parseJson((await client(master, ["events", "--json", "--since", "1h"])).stdout, "events"), "events");
    const ends = events.filter((e) => e.action === "end" && e.node === "n2" && e.phase === "requested");
    expect(ends.map((e) => e.params?.["session"]).sort()).toEqual([...ids].sort());
    expect(ends.map((e) => e.params?.["reason"]).sort()).toEqual(["evicted: more than 2 detached shells, and it was idle the longest", "nobody attached within 6s", "nobody attached within 6s"]);
  });

  test("the master killed and restarted: the client rides it out and the screen comes back through the new master", async () => {
    const own = await startMaster();
    const sim = tempDir("sim-kr");
    simConfig(sim, { stepMs: 5 });
    await hostMultipass(sim, ["launch", "--name", "solo"]);
    const w = await startWorker(own, "kr", { simDir: sim });
    const t = clientIn(own, ["shell", "solo"]);
    await t.waitForScreen(/[$#] $/m);
    t.type("echo before-the-restart\r");
    await t.waitForScreen(/^before-the-restart$/m);
    own.proc.kill("SIGKILL");
    await own.proc.exited;
    await waitFor("the client says it is reconnecting", () => /reconnecting/.test(t.raw()), 15_000);
    const again = await startMaster({ dataDir: own.dataDir, clusterPort: own.clusterPort, apiPort: own.apiPort });
    await waitFor("the worker rejoined", () => /joined with id/.test(w.proc.output.split("lost the master").at(-1) ?? ""), 20_000);
    await waitFor("the client back, its screen restored", async () => (await t.screen()).some((l) => l === "before-the-restart") && (await keptOn(again, "solo", "attached")).length === 1, 30_000);
    t.type("echo after-the-restart\r");
    await t.waitForScreen(/^after-the-restart$/m);
    t.type("exit 4\r");
    expect(await t.exited).toBe(4);
  });

  test.skipIf(noNetns !== null)("a network cut of 10 s: the client reconnects by itself with the screen intact, and input typed meanwhile is not sent late", async () => {
    const t = clientIn(master, ["shell", "web"], { cols: 100, rows: 30 }, (argv) => veth!.exec(argv));
    await t.waitForScreen(/[$#] $/m);
    t.type("echo before-the-cut\r");
    await t.waitForScreen(/^before-the-cut$/m);
    veth!.link(false);
    try {
      await waitFor("the client says it is reconnecting", () => /reconnecting/.test(t.raw()), 15_000);
      t.type("echo typed-while-cut\r");
      await Bun.sleep(10_000);
    } finally {
      veth!.link(true);
    }
    await waitFor("the client back", async () => (await keptOn(master, "web", "attached")).length === 1 && (await t.screen()).some((l) => l === "before-the-cut"), 30_000);
    t.type("echo after-the-cut\r");
    await t.waitForScreen(/^after-the-cut$/m);
    expect((await t.screen()).join("\n")).not.toContain("typed-while-cut\n");
    t.type("exit\r");
    expect(await t.exited).toBe(0);
  });

  test.skipIf(noNetns !== null)("a cut longer than the grace ends the session with a clear message, and nothing is left on the worker", async () => {
    const t = clientIn(master, ["shell", "lim"], { cols: 100, rows: 30 }, (argv) => veth!.exec(argv));
    await t.waitForScreen(/[$#] $/m);
    veth!.link(false);
    try {
      await waitFor("the shell detached and then ended (grace 6 s)", async () => (await keptOn(master, "lim")).length === 0 && /reconnecting/.test(t.raw()), 40_000);
    } finally {
      veth!.link(true);
    }
    expect(await t.exited).toBe(255);
    expect(t.raw()).toMatch(/multiverse: .*(ended|no longer)/);
    await waitFor("nothing left on the worker", () => hostProcesses(n2.simDir, n2.proc.pid).length === 0, 5_000);
  });
});
