import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DAEMON_BOUND_MS } from "../../lib/core/timers.ts";
import { createMultipassCli, type Runner } from "../../lib/multipass/cli.ts";
import { MultipassError } from "../../lib/multipass/driver.ts";
import type { HostResources, HostSnapshot } from "../../lib/protocol/join.ts";
import { selfCommand, simulatedMultipassCommand } from "../../lib/multipass/simulated.ts";
import { createHostMonitor, POLL_BOUND_MS, type HostMonitorDeps } from "../../lib/worker/host-monitor.ts";
import { createFakeMultipass, daemonDown, type FakeMultipass } from "../support/fake-multipass.ts";
import { createTestLog } from "../support/test-log.ts";

const resources: HostResources = { cpus: 4, load: [0, 0, 0], memory: { total: 8e9, available: 4e9 }, disk: { total: 1e11, available: 5e10 } };

function monitorOf(multipass: FakeMultipass | ReturnType<typeof createMultipassCli>, over: Partial<HostMonitorDeps> = {}) {
  const { log, lines } = createTestLog();
  let clock = 1_000_000;
  const monitor = createHostMonitor({ multipass, readResources: () => resources, pollMs: 10, log, now: () => clock, ...over });
  const seen: HostSnapshot[] = [];
  monitor.onChange((s) => seen.push(s));
  return { monitor, seen, lines, advance: (ms: number) => (clock += ms) };
}

/** Resolves once `check` holds, polling every few ms (a condition, not a sleep). */
async function until(what: string, check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

const WORKER_ENTRY = join(import.meta.dir, "..", "..", "worker.ts");

const states = (s: HostSnapshot | null) => s?.instances.map((i) => `${i.name}:${i.state}`);

describe("a busy daemon is not a dead one", () => {
  test("a list queued behind a stop: the last instances kept, marked stale, never an error; fresh once it answers", async () => {
    const mp = createFakeMultipass([{ name: "web" }, { name: "db" }]);
    const { monitor, seen } = monitorOf(mp, { staleAfterMs: 30 });
    await monitor.refresh();
    expect(monitor.current()?.staleSince).toBeUndefined();

    const busy = mp.hold("list");
    const polling = monitor.refresh();
    await busy.started;
    await until("the stale mark", () => monitor.current()?.staleSince !== undefined);
    const stale = monitor.current()!;
    expect(states(stale)).toEqual(["web:Running", "db:Running"]);
    expect(stale.multipassError).toBeNull();
    // Since when: the start of the unanswered poll, on the monitor's clock.
    expect(stale.staleSince).toBe(new Date(1_000_000).toISOString());
    expect(seen.at(-1)).toBe(stale);

    // The stop the list waited for has ended: the list answers with its outcome.
    mp.instances.get("db")!.state = "Stopped";
    busy.release();
    const fresh = await polling;
    expect(states(fresh)).toEqual(["web:Running", "db:Stopped"]);
    expect(fresh.staleSince).toBeUndefined();
    expect(fresh.multipassError).toBeNull();
    expect(seen.some((s) => s.multipassError !== null || s.instances.some((i) => i.state === "Unknown"))).toBe(false);
  });

  test("every poll waits past the daemon's 300 s bound, whatever the driver's own list timeout", async () => {
    const mp = createFakeMultipass([{ name: "web" }]);
    const { monitor } = monitorOf(mp);
    await monitor.refresh();
    await monitor.refresh();
    expect(mp.lists.map((l) => l.timeoutMs)).toEqual([POLL_BOUND_MS, POLL_BOUND_MS]);
    expect(POLL_BOUND_MS).toBeGreaterThan(DAEMON_BOUND_MS);

    // A worker that configured its CLI driver with a short list timeout (10 s) still polls patiently.
    const asked: number[] = [];
    const run: Runner = async (argv, options) => {
      asked.push(options.timeoutMs);
      const stdout = argv.includes("version") ? '{"multipass": "1.16.3", "multipassd": "1.16.3"}\n' : '{"list": []}\n';
      return { exitCode: 0, stdout, stderr: "" };
    };
    const cli = monitorOf(createMultipassCli({ run, timeouts: { list: 10_000, version: 10_000 } }));
    await cli.monitor.refresh();
    expect(asked).toEqual([POLL_BOUND_MS, POLL_BOUND_MS]);
  });

  test("past the bound the wait is a failure: the error is reported and the instances kept", async () => {
    const mp = createFakeMultipass([{ name: "web" }]);
    const { monitor } = monitorOf(mp, { staleAfterMs: 20, pollBoundMs: 80 });
    await monitor.refresh();
    mp.failNext("list", "hang");
    const snapshot = await monitor.refresh();
    expect(snapshot.multipassError).toBe("multipass list timed out after 80 ms");
    expect(snapshot.staleSince).toBeUndefined();
    expect(states(snapshot)).toEqual(["web:Running"]);
  });

  test("a daemon that cannot be reached is reported at once, not marked stale", async () => {
    const mp = createFakeMultipass([{ name: "web" }]);
    const { monitor, seen } = monitorOf(mp, { staleAfterMs: 1000 });
    await monitor.refresh();
    mp.failAll(daemonDown());
    const started = Date.now();
    const snapshot = await monitor.refresh();
    expect(Date.now() - started).toBeLessThan(500);
    expect(snapshot.multipassError).toContain("cannot connect to the multipass socket");
    expect(seen.every((s) => s.staleSince === undefined)).toBe(true);
  });

  test("one poll at a time: refreshes and the schedule wait for the list that is running", async () => {
    const mp = createFakeMultipass([{ name: "web" }]);
    const { monitor } = monitorOf(mp, { staleAfterMs: 20 });
    await monitor.refresh();
    const busy = mp.hold("list");
    const controller = new AbortController();
    const loop = monitor.run(controller.signal);
    await busy.started;
    const refreshes = [monitor.refresh(), monitor.refresh(), monitor.refresh()];
    await until("the stale mark", () => monitor.current()?.staleSince !== undefined);
    await Bun.sleep(50);
    expect(mp.calls.filter((c) => c === "list")).toHaveLength(2);
    busy.release();
    await Promise.all(refreshes);
    // The three refreshes share one poll after the one they waited for.
    expect(mp.calls.filter((c) => c === "list").length).toBeLessThanOrEqual(4);
    controller.abort();
    await loop;
  });
});

test("a change's own result is published at once, and a poll that listed during the change does not undo it", async () => {
  const mp = createFakeMultipass([{ name: "web" }, { name: "db" }]);
  const { monitor, seen } = monitorOf(mp);
  await monitor.refresh();
  // A poll lists while a stop of db is under way, and answers with what it saw then.
  const busy = mp.hold("list");
  const inFlight = monitor.refresh();
  await busy.started;
  const changed = monitor.current()!.instances.map((i) => (i.name === "db" ? { ...i, state: "Stopped" as const, ipv4: [] } : i));
  monitor.noteChange(changed);
  expect(states(monitor.current())).toEqual(["web:Running", "db:Stopped"]);
  expect(states(seen.at(-1)!)).toEqual(["web:Running", "db:Stopped"]);
  const heardBefore = seen.length;
  busy.release();
  await inFlight;
  expect(states(monitor.current())).toEqual(["web:Running", "db:Stopped"]);
  expect(seen.slice(heardBefore).some((s) => s.instances.some((i) => i.name === "db" && i.state === "Running"))).toBe(false);
  // A poll that begins after the change is the truth again, whatever it says.
  mp.instances.get("db")!.state = "Stopped";
  await monitor.refresh();
  expect(states(monitor.current())).toEqual(["web:Running", "db:Stopped"]);
});

test("a change noted while a poll reads allocations, after its list answered, is not undone either", async () => {
  const mp = createFakeMultipass([{ name: "web" }]);
  const { monitor, seen } = monitorOf(mp);
  await monitor.refresh();
  // A new instance makes the next poll read its allocation (multipass get) after listing.
  mp.instances.set("db", { ...mp.instances.get("web")!, name: "db" });
  const reading = mp.hold("get");
  const inFlight = monitor.refresh();
  await reading.started;
  const purged = monitor.current()!.instances.filter((i) => i.name !== "web");
  monitor.noteChange(purged);
  const heardBefore = seen.length;
  reading.release();
  await inFlight;
  expect(states(monitor.current())).toEqual(states({ ...monitor.current()!, instances: purged }));
  expect(seen.slice(heardBefore).some((s) => s.instances.some((i) => i.name === "web"))).toBe(false);
});

test("stopping the monitor ends the poll in flight, a refresh's too", async () => {
  const mp = createFakeMultipass([{ name: "web" }]);
  const { monitor } = monitorOf(mp);
  const controller = new AbortController();
  const loop = monitor.run(controller.signal);
  await monitor.ready;
  mp.failNext("list", "hang");
  const refreshed = monitor.refresh();
  await until("the hung list", () => mp.calls.filter((c) => c === "list").length === 2);
  controller.abort();
  await loop;
  expect((await refreshed).multipassError).toBe("aborted");
});

test("against the simulated host: a list queued behind a 3 s stop keeps the node's instances, even with a 1 s list timeout in the driver", async () => {
  const simDir = mkdtempSync(join(tmpdir(), "host-monitor-sim-"));
  try {
    writeFileSync(join(simDir, "state.json"), JSON.stringify({ instances: [{ name: "web", state: "Running", ipv4: ["10.0.0.2"] }] }));
    writeFileSync(join(simDir, "config.json"), JSON.stringify({ timing: { stop: 3000 } }));
    const multipass = createMultipassCli({ command: simulatedMultipassCommand(selfCommand(process.execPath, WORKER_ENTRY), simDir), timeouts: { list: 1000, version: 1000 } });
    const { monitor, seen } = monitorOf(multipass, { staleAfterMs: 500, now: Date.now });
    await monitor.refresh();
    const stopping = multipass.stop(["web"]);
    // The stop holds the daemon (daemon.busy) before the list asks.
    await until("the stop holding the daemon", () => existsSync(join(simDir, "daemon.busy")), 5000);
    const after = await monitor.refresh();
    await stopping;
    expect(seen.some((s) => s.staleSince !== undefined && states(s)?.[0] === "web:Running" && s.multipassError === null)).toBe(true);
    expect(seen.every((s) => s.multipassError === null && !s.instances.some((i) => i.state === "Unknown"))).toBe(true);
    expect(states(after)).toEqual(["web:Stopped"]);
    expect(after.staleSince).toBeUndefined();
  } finally {
    rmSync(simDir, { recursive: true, force: true });
  }
}, 20_000);

describe("cheap polling", () => {
  test("list --no-ipv4 every poll; addresses kept, and looked up when an instance starts running or every 30 s", async () => {
    const mp = createFakeMultipass([{ name: "a" }, { name: "b" }, { name: "c", state: "Stopped" }]);
    const { monitor, advance } = monitorOf(mp);
    const first = await monitor.refresh();
    expect(mp.lists.at(-1)?.noIpv4).toBe(false);
    expect(mp.addressLookups).toBe(2);
    const addresses = first.instances.map((i) => i.ipv4);
    expect(addresses[0]).toHaveLength(1);

    for (let i = 0; i < 5; i++) {
      advance(2000);
      const s = await monitor.refresh();
      expect(s.instances.map((x) => x.ipv4)).toEqual(addresses);
    }
    expect(mp.lists.slice(1).every((l) => l.noIpv4)).toBe(true);
    expect(mp.addressLookups).toBe(2);

    // c starts: its addresses are new, so this poll looks them up.
    mp.instances.get("c")!.state = "Running";
    advance(2000);
    const started = await monitor.refresh();
    expect(started.instances.find((i) => i.name === "c")?.ipv4).toEqual(mp.instances.get("c")!.ipv4);
    expect(mp.addressLookups).toBe(5);

    // A stop needs no lookup (a stopped instance has none).
    mp.instances.get("a")!.state = "Stopped";
    advance(2000);
    expect((await monitor.refresh()).instances.find((i) => i.name === "a")?.ipv4).toEqual([]);
    expect(mp.addressLookups).toBe(5);

    advance(30_000);
    await monitor.refresh();
    expect(mp.lists.at(-1)?.noIpv4).toBe(false);
    expect(mp.addressLookups).toBe(7);
  });

  test("every-poll, the old behaviour: a plain list (one SSH per running VM) each poll", async () => {
    const mp = createFakeMultipass([{ name: "a" }, { name: "b" }]);
    const { monitor, advance } = monitorOf(mp, { addressLookup: "every-poll" });
    for (let i = 0; i < 4; i++) {
      await monitor.refresh();
      advance(2000);
    }
    expect(mp.lists.every((l) => !l.noIpv4)).toBe(true);
    expect(mp.addressLookups).toBe(8);
  });

  test("a Multipass that refuses --no-ipv4 is listed plainly from then on", async () => {
    const mp = createFakeMultipass([{ name: "a" }]);
    const { monitor, advance, lines } = monitorOf(mp);
    await monitor.refresh();
    mp.failNext("list", new MultipassError({ kind: "command-line", message: "multipass list failed (exit 1): Unknown option 'no-ipv4'.", argv: ["multipass", "list"], exitCode: 1, stderr: "Unknown option 'no-ipv4'.\n" }));
    advance(2000);
    const s = await monitor.refresh();
    expect(s.multipassError).toBeNull();
    expect(s.instances[0]?.ipv4).toHaveLength(1);
    advance(2000);
    await monitor.refresh();
    expect(mp.lists.map((l) => l.noIpv4)).toEqual([false, true, false, false]);
    expect(lines.some((l) => l.includes("refuses list --no-ipv4"))).toBe(true);
  });
});
