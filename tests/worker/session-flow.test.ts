/**
 * Flow control on the worker's hop: a master that takes output slowly stops
 * the program's output being read (the socket's buffered amount stays
 * bounded, and every byte still comes, before the exit frame); a program that
 * takes no input stops the socket being read.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createSessionHost, type SessionSocket } from "../../lib/worker/session-host.ts";
import { parseSessionControl, SEND_BACKLOG_BYTES, type SessionControl } from "../../lib/protocol/session.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { createTestLog } from "../support/test-log.ts";

const MB = 1024 * 1024;

/**
 * A socket to a master that takes `bytesPerTick` every 5 ms: what is sent
 * waits in `buffered` (as Bun's buffered amount does), and the host's `drain`
 * is called as it goes out.
 */
function slowSocket(bytesPerTick: number, tty = false) {
  const controls: SessionControl[] = [];
  let received = 0;
  let buffered = 0;
  let peak = 0;
  let paused = false;
  let pauses = 0;
  let onClose: (code: number) => void = () => {};
  const closed = new Promise<number>((resolve) => (onClose = resolve));
  let drain: () => void = () => {};
  const socket: SessionSocket = {
    send(data: string | Uint8Array) {
      if (typeof data === "string") controls.push(parseSessionControl(data));
      else {
        // Without a terminal, the first byte names the stream.
        received += tty ? data.length : data.length - 1;
        buffered += data.length;
        peak = Math.max(peak, buffered);
      }
      return 1;
    },
    close: (code: number) => onClose(code),
    getBufferedAmount: () => buffered,
    pause: () => void ((paused = true), pauses++),
    resume: () => void (paused = false),
  };
  const timer = setInterval(() => {
    if (buffered === 0) return;
    buffered = Math.max(0, buffered - bytesPerTick);
    drain();
  }, 5);
  return {
    socket,
    controls,
    closed,
    stop: () => clearInterval(timer),
    onDrain: (fn: () => void) => (drain = fn),
    get received() {
      return received;
    },
    get peak() {
      return peak;
    },
    get paused() {
      return paused;
    },
    get pauses() {
      return pauses;
    },
  };
}

function host() {
  return createSessionHost({ multipass: createFakeMultipass([{ name: "web" }]), log: createTestLog().log, ensureRunning: async () => {}, env: process.env, platform: "linux", graceMs: 100 });
}

const start = (command: string[], tty = false) => JSON.stringify({ kind: "exec", instance: "web", cols: 80, rows: 24, term: "dumb", command, tty });

describe.skipIf(process.platform === "win32")("the worker's flow control", () => {
  test.each([false, true])("a master taking output slowly (tty %p): the backlog stays bounded, every byte comes, then exit", async (tty) => {
    const h = host();
    const slow = slowSocket(256 * 1024, tty);
    const session = h.session();
    slow.onDrain(() => session.drain(slow.socket));
    session.open(slow.socket);
    session.message(slow.socket, start(["sh", "-c", "head -c 20000000 /dev/zero | tr '\\0' x"], tty));
    expect(await slow.closed).toBe(1000);
    slow.stop();
    expect(slow.received).toBe(20_000_000);
    expect(slow.controls.at(-1)).toEqual({ type: "exit", code: 0 });
    // The bound, plus what was in flight when the program was stopped (a pipe's or a PTY's buffer).
    expect(slow.peak).toBeLessThan(SEND_BACKLOG_BYTES + MB);
  });

  test("a kept shell's writer taking output slowly: the backlog stays bounded, every byte comes, then exit", async () => {
    // The "login shell" prints 20 MB: a script, as an interactive shell would run the pipeline in a process
    // group of its own, which the fake driver's pause (a SIGSTOP of the PTY's first group) does not reach.
    const shell = join(mkdtempSync(join(tmpdir(), "kept-flow-")), "shell");
    writeFileSync(shell, "#!/bin/sh\nhead -c 20000000 /dev/zero | tr '\\0' x\n", { mode: 0o755 });
    const h = createSessionHost({ multipass: createFakeMultipass([{ name: "web" }]), log: createTestLog().log, ensureRunning: async () => {}, env: { ...process.env, SHELL: shell }, platform: "linux", graceMs: 100 });
    const slow = slowSocket(256 * 1024, true);
    const session = h.session();
    slow.onDrain(() => session.drain(slow.socket));
    session.open(slow.socket);
    const id = "5f0c2a9e-1b7d-4c1e-9a57-0d3c1f2b4e61";
    session.message(slow.socket, JSON.stringify({ kind: "shell", instance: "web", command: [], tty: true, cols: 80, rows: 24, term: "dumb", id, owner: "a1b2c3d4e5f6" }));
    expect(await slow.closed).toBe(1000);
    slow.stop();
    expect(slow.controls[0]).toEqual({ type: "session", id, node: null });
    expect(slow.controls.at(-1)).toEqual({ type: "exit", code: 0 });
    expect(slow.received).toBe(20_000_000);
    rmSync(dirname(shell), { recursive: true });
    expect(slow.peak).toBeLessThan(SEND_BACKLOG_BYTES + MB);
  });

  test("a program that takes no input: the socket stops being read within the bound", async () => {
    const h = host();
    const slow = slowSocket(MB);
    const session = h.session();
    session.open(slow.socket);
    session.message(slow.socket, start(["sleep", "30"]));
    const deadline = Date.now() + 5000;
    while (session.state !== "running" && Date.now() < deadline) await Bun.sleep(10);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let fed = 0;
    // Bun still delivers what it had read before the pause; a paused socket feeds nothing more.
    while (!slow.paused && fed < 64 * MB) {
      session.message(slow.socket, chunk);
      fed += chunk.length;
    }
    expect(slow.paused).toBe(true);
    expect(fed).toBeLessThanOrEqual(2 * SEND_BACKLOG_BYTES);
    session.close(slow.socket, 1000, "");
    slow.stop();
    while (h.running > 0 && Date.now() < deadline + 5000) await Bun.sleep(20);
    expect(h.running).toBe(0);
  });

  test("input sent before the program starts is bounded too", async () => {
    const h = createSessionHost({ multipass: createFakeMultipass([{ name: "web" }]), log: createTestLog().log, ensureRunning: () => Bun.sleep(300), env: process.env, platform: "linux", graceMs: 100 });
    const slow = slowSocket(MB);
    const session = h.session();
    session.open(slow.socket);
    session.message(slow.socket, start(["sh", "-c", "wc -c"]));
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let fed = 0;
    while (!slow.paused && fed < 64 * MB) {
      session.message(slow.socket, chunk);
      fed += chunk.length;
    }
    expect(slow.paused).toBe(true);
    expect(fed).toBeLessThanOrEqual(SEND_BACKLOG_BYTES + chunk.length);
    // Once the program has taken it, the socket is read again.
    const deadline = Date.now() + 5000;
    while (slow.paused && Date.now() < deadline) await Bun.sleep(10);
    expect(slow.paused).toBe(false);
    session.message(slow.socket, JSON.stringify({ type: "eof" }));
    expect(await slow.closed).toBe(1000);
    slow.stop();
    expect(slow.controls.at(-1)).toEqual({ type: "exit", code: 0 });
  });
});
