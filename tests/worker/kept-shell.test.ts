/**
 * Kept shells on the worker (issue 12), through the session host with the
 * in-memory Multipass, whose shells are real login shells under real PTYs on
 * this machine: a shell outlives its client's socket, comes back with its
 * screen, is watched read-only, and ends by exit, by grace, by eviction or at
 * shutdown with nothing left running.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Terminal } from "@xterm/headless";
import { parseSessionControl, type SessionControl } from "../../lib/protocol/session.ts";
import type { ShellEnded } from "../../lib/protocol/join.ts";
import { createSessionHost, type SessionHost, type SessionHostDeps, type SessionSocket } from "../../lib/worker/session-host.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { createTestLog } from "../support/test-log.ts";

const ID = "5f0c2a9e-1b7d-4c1e-9a57-0d3c1f2b4e61";
const OWNER = "a1b2c3d4e5f6";
const decoder = new TextDecoder();

/** A client's socket: records what the host sends; `closed` resolves with the close code. */
function client(host: SessionHost) {
  const controls: SessionControl[] = [];
  const binary: Uint8Array[] = [];
  let onClose: (code: number) => void = () => {};
  const closed = new Promise<number>((resolve) => (onClose = resolve));
  const session = host.session();
  const socket: SessionSocket = {
    send(data: string | Uint8Array) {
      if (typeof data === "string") controls.push(parseSessionControl(data));
      else binary.push(data.slice());
      return 1;
    },
    close(code: number) {
      onClose(code);
      // Bun tells the handler once the socket has closed.
      queueMicrotask(() => session.close(socket, code, ""));
    },
    getBufferedAmount: () => 0,
    pause() {},
    resume() {},
  };
  session.open(socket);
  return {
    session,
    controls,
    binary,
    closed,
    text: () => binary.map((b) => decoder.decode(b)).join(""),
    start: (frame: object) => session.message(socket, JSON.stringify(frame)),
    type: (text: string) => session.message(socket, Buffer.from(text)),
    control: (message: SessionControl) => session.message(socket, JSON.stringify(message)),
    /** The socket goes away without a word (a lost network, a killed client). */
    lose: () => session.close(socket, 1006, ""),
  };
}

type Client = ReturnType<typeof client>;

const hosts: SessionHost[] = [];

function hostWith(keep: SessionHostDeps["keep"], now?: () => number, liveness?: SessionHostDeps["liveness"]) {
  const { log, lines } = createTestLog();
  const ends: ShellEnded[] = [];
  const host = createSessionHost({
    onShellEnded: (ended) => ends.push(ended),
    multipass: createFakeMultipass([{ name: "web" }]),
    log,
    ensureRunning: async () => {},
    // A plain shell, so that what it prints is the test's.
    env: { ...process.env, SHELL: "/bin/sh", ENV: "", PS1: "$ " },
    platform: "linux",
    graceMs: 200,
    ...(keep ? { keep } : {}),
    ...(now ? { now } : {}),
    ...(liveness ? { liveness } : {}),
  });
  hosts.push(host);
  return { host, lines, ends };
}

afterEach(async () => {
  for (const host of hosts.splice(0)) await host.closeAll();
});

async function until(what: string, condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

const shellStart = (extra: object = {}) => ({ kind: "shell", instance: "web", command: [], tty: true, cols: 80, rows: 24, term: "xterm-256color", id: ID, owner: OWNER, ...extra });
const attachStart = (extra: object = {}) => ({ kind: "attach", id: ID, owner: OWNER, readOnly: false, cols: 80, rows: 24, ...extra });

/** Opens a kept shell and waits for its `session` frame. */
async function openShell(host: SessionHost, extra: object = {}): Promise<Client> {
  const c = client(host);
  c.start(shellStart(extra));
  await until("the session frame", () => c.controls.some((m) => m.type === "session"));
  return c;
}

/** Types a command whose output is `marker` only once it has run (the echo of the line shows the arithmetic, not the result). */
async function run(c: Client, command: string, marker: string): Promise<void> {
  c.type(`${command}\r`);
  await until(`"${marker}"`, () => c.text().includes(marker));
}

function write(terminal: Terminal, data: Uint8Array | string): Promise<void> {
  return new Promise((resolve) => terminal.write(data, resolve));
}

/** Every cell of the active screen, with colours and bold; the cursor; the buffer. */
function screenOf(terminal: Terminal) {
  const buffer = terminal.buffer.active;
  const cells: string[] = [];
  for (let y = 0; y < terminal.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    for (let x = 0; x < terminal.cols; x++) {
      const cell = line?.getCell(x);
      cells.push(cell ? `${cell.getChars() || " "}|${cell.getFgColorMode()}:${cell.getFgColor()}|${cell.getBgColorMode()}:${cell.getBgColor()}|${cell.isBold()}` : "none");
    }
  }
  return { cells, cursor: [buffer.cursorX, buffer.cursorY], type: buffer.type };
}

async function terminalFed(chunks: Uint8Array[], cols = 80, rows = 24) {
  const terminal = new Terminal({ cols, rows, allowProposedApi: true });
  let title = "";
  terminal.onTitleChange((t) => (title = t));
  for (const chunk of chunks) await write(terminal, chunk);
  return { terminal, title: () => title };
}

/** A full-screen drawing: the alternate buffer, a title, colours, the cursor moved; then the shell becomes `cat`, which prints nothing more. */
const DRAW = `printf '\\033]0;build on web\\007\\033[?1049h\\033[H\\033[2J\\033[1;31mRED\\033[0m \\033[42mgreen\\033[0m\\033[5;10Hat-5-10 %s' $((6*7)); exec cat`;

describe.skipIf(process.platform === "win32")("kept shells", () => {
  test("a shell whose socket goes away is detached and keeps running; an attach gets `attached`, then the screen exactly as it was, then typing works", async () => {
    const { host } = hostWith({ graceMs: 60_000 });
    const first = await openShell(host);
    expect(first.controls.find((m) => m.type === "session")).toEqual({ type: "session", id: ID, node: null });
    await run(first, DRAW, "at-5-10 42");
    first.lose();
    expect(host.running).toBe(1);
    expect(host.list()).toMatchObject([{ id: ID, instance: "web", owner: OWNER, state: "detached", cols: 80, rows: 24, viewers: 0 }]);
    expect(host.list()[0]?.detachedUntil).not.toBeNull();

    const second = client(host);
    second.start(attachStart());
    await until("the screen", () => second.binary.length > 0);
    expect(second.controls[0]).toEqual({ type: "attached", id: ID, readOnly: false });
    expect(decoder.decode(second.binary[0]!.subarray(0, 2))).toBe("\x1bc");
    expect(host.list()).toMatchObject([{ state: "attached", detachedUntil: null }]);

    const seen = await terminalFed(first.binary);
    const restored = await terminalFed(second.binary);
    expect(screenOf(restored.terminal)).toEqual(screenOf(seen.terminal));
    expect(screenOf(restored.terminal).type).toBe("alternate");
    expect(restored.title()).toBe("build on web");

    await run(second, "typed-after-attach", "typed-after-attach\r\ntyped-after-attach");
    expect(first.text()).not.toContain("typed-after-attach");
  });

  test("an attach at another size resizes the PTY before the screen is taken", async () => {
    const { host } = hostWith({ graceMs: 60_000 });
    const first = await openShell(host);
    first.lose();
    const second = client(host);
    second.start(attachStart({ cols: 100, rows: 30 }));
    await until("attached", () => second.controls.some((m) => m.type === "attached"));
    expect(host.list()).toMatchObject([{ cols: 100, rows: 30 }]);
    await run(second, "stty size; echo $((2+3))END", "5END");
    expect(second.text()).toContain("30 100");
  });

  test("only the owner may attach; a refusal is error then exit, and the shell goes on", async () => {
    const { host } = hostWith({ graceMs: 60_000 });
    const first = await openShell(host);
    first.lose();
    for (const start of [attachStart({ owner: "ffff00001111" }), attachStart({ owner: "ffff00001111", readOnly: true }), attachStart({ id: "0000aaaa-bbbb" })]) {
      const stranger = client(host);
      stranger.start(start);
      expect(await stranger.closed).toBe(1000);
      expect(stranger.controls).toEqual([
        { type: "error", code: "E_NOT_FOUND", message: expect.stringContaining("of yours on this node") },
        { type: "exit", code: null },
      ]);
    }
    expect(host.list()).toMatchObject([{ id: ID, state: "detached" }]);
    expect(host.running).toBe(1);
  });

  test("the owner's attach takes an attached shell over: the old writer is told why and leaves, the new one types", async () => {
    const { host } = hostWith({ graceMs: 60_000 });
    // The first writer's connection is dead but nobody has noticed yet.
    const stale = await openShell(host);
    const taker = client(host);
    taker.start(attachStart());
    expect(await stale.closed).toBe(4010);
    expect(stale.controls.at(-1)).toEqual({ type: "detached", id: ID, reason: "another client of the same token attached to this shell" });
    expect(stale.controls.some((m) => m.type === "exit" || m.type === "error")).toBe(false);
    await until("attached", () => taker.controls.some((m) => m.type === "attached"));
    await run(taker, "echo $((40+2))TAKEN", "42TAKEN");
    expect(host.list()).toMatchObject([{ id: ID, state: "attached" }]);
    stale.type("echo never\r");
    expect(taker.text()).not.toContain("never");
    expect(host.running).toBe(1);
  });

  test("detach: `detached`, the close 4010, and the shell keeps running", async () => {
    const { host, lines } = hostWith({ graceMs: 60_000 });
    const first = await openShell(host);
    first.control({ type: "detach" });
    expect(await first.closed).toBe(4010);
    expect(first.controls.at(-1)).toEqual({ type: "detached", id: ID });
    expect(first.controls.some((m) => m.type === "exit")).toBe(false);
    await Bun.sleep(0);
    expect(host.list()).toMatchObject([{ state: "detached" }]);
    expect(host.running).toBe(1);
    expect(lines.some((l) => l.includes(`shell ${ID} on "web" detached (detached by its client)`))).toBe(true);
  });

  test("a master gone silent: error, `detached` and the close 4004, and the shell is kept", async () => {
    const { host } = hostWith({ graceMs: 60_000 }, undefined, { pingIntervalMs: 50, peerTimeoutMs: 300 });
    const c = client(host);
    c.start(shellStart());
    expect(await c.closed).toBe(4004);
    expect(c.controls.slice(-2)).toEqual([
      { type: "error", code: "E_TIMEOUT", message: "The master stopped answering pings" },
      { type: "detached", id: ID },
    ]);
    await Bun.sleep(0);
    expect(host.list()).toMatchObject([{ state: "detached" }]);
    expect(host.running).toBe(1);
  });

  test("a read-only viewer sees the output live, and its keys, resizes and detach do nothing to the shell", async () => {
    const { host } = hostWith({ graceMs: 60_000 });
    const writer = await openShell(host);
    const viewer = client(host);
    viewer.start(attachStart({ readOnly: true, cols: 120, rows: 40 }));
    await until("the viewer's screen", () => viewer.binary.length > 0);
    expect(viewer.controls[0]).toEqual({ type: "attached", id: ID, readOnly: true });
    viewer.type("echo hacked $((1+1))\r");
    viewer.control({ type: "resize", cols: 120, rows: 40 });
    await run(writer, "echo $((3*4))VIEW", "12VIEW");
    await until("the viewer's copy", () => viewer.text().includes("12VIEW"));
    expect(writer.text()).not.toContain("hacked");
    expect(host.list()).toMatchObject([{ state: "attached", cols: 80, rows: 24, viewers: 1 }]);
    // The writer may still attach elsewhere: the viewer is not a writer.
    writer.lose();
    expect(host.list()).toMatchObject([{ state: "detached", viewers: 1 }]);
    viewer.control({ type: "detach" });
    expect(await viewer.closed).toBe(4010);
    await Bun.sleep(0);
    expect(host.list()).toMatchObject([{ state: "detached", viewers: 0 }]);
    expect(host.running).toBe(1);
  });

  test("the shell's exit ends the writer and every viewer with its status, and is reported", async () => {
    const { host, ends } = hostWith({ graceMs: 60_000 });
    const writer = await openShell(host);
    const viewer = client(host);
    viewer.start(attachStart({ readOnly: true }));
    await until("attached", () => viewer.controls.some((m) => m.type === "attached"));
    writer.type("exit 3\r");
    expect(await writer.closed).toBe(1000);
    expect(await viewer.closed).toBe(1000);
    expect(writer.controls.at(-1)).toEqual({ type: "exit", code: 3 });
    expect(viewer.controls.at(-1)).toEqual({ type: "exit", code: 3 });
    expect(host.list()).toEqual([]);
    expect(host.running).toBe(0);
    expect(ends).toEqual([{ id: ID, instance: "web", owner: OWNER, exitCode: 3, reason: "exited with status 3" }]);
  });

  test("grace 0: no shell is kept; it ends with its client, as before", async () => {
    const { host } = hostWith({ graceMs: 0 });
    const c = client(host);
    c.start(shellStart());
    await until("running", () => host.running === 1);
    await run(c, "echo $((5*5))UP", "25UP");
    expect(c.controls.some((m) => m.type === "session")).toBe(false);
    expect(host.list()).toEqual([]);
    c.lose();
    await until("the process gone", () => host.running === 0);
  });

  test("nobody attaching within the grace period ends the shell and its process; a viewer is told why; the end is reported for the audit trail", async () => {
    const { host, lines, ends } = hostWith({ graceMs: 300 });
    const writer = await openShell(host);
    const viewer = client(host);
    viewer.start(attachStart({ readOnly: true }));
    await until("attached", () => viewer.controls.some((m) => m.type === "attached"));
    writer.lose();
    expect(await viewer.closed).toBe(1000);
    expect(viewer.controls.slice(-2)).toEqual([
      { type: "error", code: "E_CANCELLED", message: `Shell ${ID} on "web" was ended: nobody attached within 0.3s` },
      { type: "exit", code: null },
    ]);
    expect(host.list()).toEqual([]);
    await until("the process gone", () => host.running === 0);
    expect(lines).toContain(`info: shell ${ID} on "web" ended: nobody attached within 0.3s`);
    await until("the end reported", () => ends.length === 1);
    expect(ends).toEqual([{ id: ID, instance: "web", owner: OWNER, exitCode: null, reason: "nobody attached within 0.3s" }]);
  });

  test("past the bound, the detached shell idle the longest is evicted and its process ends", async () => {
    // A clock that never stands still, so that the later output is later.
    let clock = Date.now();
    const { host, lines } = hostWith({ graceMs: 60_000, maxDetached: 1 }, () => ++clock);
    const old = await openShell(host);
    // The shell becomes cat: it prints nothing after the marker.
    await run(old, "printf 'OLD%s' $((1+1)); exec cat", "OLD2");
    old.lose();
    const other = "7a7a7a7a-0000-4000-8000-000000000002";
    const fresh = await openShell(host, { id: other });
    await run(fresh, "printf 'NEW%s' $((1+1)); exec cat", "NEW2");
    fresh.lose();
    await until("the old process gone", () => host.running === 1);
    expect(host.list()).toMatchObject([{ id: other, state: "detached" }]);
    expect(lines.some((l) => l.includes(`shell ${ID} on "web" evicted: more than 1 detached shells`))).toBe(true);
  });

  test("shutdown ends kept shells, attached or not, and waits for their processes", async () => {
    const { host } = hostWith({ graceMs: 60_000 });
    const detached = await openShell(host);
    detached.lose();
    const attached = await openShell(host, { id: "7a7a7a7a-0000-4000-8000-000000000003" });
    await host.closeAll();
    expect(host.running).toBe(0);
    expect(host.list()).toEqual([]);
    expect(attached.controls.slice(-2)).toEqual([
      { type: "error", code: "E_CANCELLED", message: 'Shell 7a7a7a7a-0000-4000-8000-000000000003 on "web" was ended: the worker is stopping' },
      { type: "exit", code: null },
    ]);
  });

  test("an exec, even with a terminal and an id, is not kept: it ends with its socket", async () => {
    const { host } = hostWith({ graceMs: 60_000 });
    const c = client(host);
    c.start({ kind: "exec", instance: "web", command: ["sleep", "30"], tty: true, cols: 80, rows: 24, term: "xterm", id: ID, owner: OWNER });
    await until("running", () => host.running === 1);
    expect(c.controls.some((m) => m.type === "session")).toBe(false);
    expect(host.list()).toEqual([]);
    c.lose();
    await until("the process gone", () => host.running === 0);
  });
});
