/**
 * The session host's platform rule: a Windows worker (Bun has no PTYs there)
 * refuses terminal sessions before anything runs, and still runs piped execs.
 */
import { describe, expect, test } from "bun:test";
import { createSessionHost, type SessionSocket } from "../../lib/worker/session-host.ts";
import { terminalUnavailable } from "../../lib/worker/hosted-session.ts";
import { parseSessionControl, type SessionControl } from "../../lib/protocol/session.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { createTestLog } from "../support/test-log.ts";

const MESSAGE = "Interactive terminals are not available on this Windows worker; use exec without -t";

/** A socket that records what the host sends; `closed` resolves on close. */
function fakeSocket() {
  const controls: SessionControl[] = [];
  const binary: Uint8Array[] = [];
  let onClose: (code: number) => void = () => {};
  const closed = new Promise<number>((resolve) => (onClose = resolve));
  const socket: SessionSocket = {
    send(data: string | Uint8Array) {
      if (typeof data === "string") controls.push(parseSessionControl(data));
      else binary.push(data);
      return 1;
    },
    close(code: number) {
      onClose(code);
    },
    getBufferedAmount: () => 0,
    pause() {},
    resume() {},
  };
  return { socket, controls, binary, closed };
}

function hostOn(platform: NodeJS.Platform, options: { startMs?: number; liveness?: { pingIntervalMs: number; peerTimeoutMs: number } } = {}) {
  const ensured: string[] = [];
  const multipass = createFakeMultipass([{ name: "web" }]);
  const host = createSessionHost({
    multipass,
    log: createTestLog().log,
    ensureRunning: async (instance) => {
      ensured.push(instance);
      // An instance that has to be started first takes a while.
      if (options.startMs) await Bun.sleep(options.startMs);
    },
    env: process.env,
    platform,
    ...(options.liveness ? { liveness: options.liveness } : {}),
  });
  return { host, ensured, multipass };
}

function stdoutOf(binary: Uint8Array[], tty: boolean): string {
  const frames = tty ? binary : binary.filter((frame) => frame[0] === 1).map((frame) => frame.subarray(1));
  return frames.map((frame) => new TextDecoder().decode(frame)).join("");
}

function startFrame(spec: { kind: "shell" | "exec"; tty: boolean; command?: readonly string[] }): string {
  return JSON.stringify({ instance: "web", cols: 80, rows: 24, term: "xterm", command: [], ...spec });
}

describe("terminalUnavailable", () => {
  test.each(["linux", "darwin", "freebsd"] as const)("%s has terminals", (platform) => {
    expect(terminalUnavailable(platform)).toBeNull();
  });

  test("win32 has none, with a reason the user can act on", () => {
    const error = terminalUnavailable("win32");
    expect(error?.code).toBe("E_UNAVAILABLE");
    expect(error?.status).toBe(501);
    expect(error?.message).toBe(MESSAGE);
  });
});

describe("a session host on Windows", () => {
  test.each([
    ["a shell", { kind: "shell", tty: true }],
    ["an interactive exec", { kind: "exec", tty: true, command: ["top"] }],
  ] as const)("refuses %s before starting the instance or any process", async (_what, spec) => {
    const { host, ensured } = hostOn("win32");
    const { socket, controls, closed } = fakeSocket();
    const session = host.session();
    session.open?.(socket);
    session.message?.(socket, startFrame(spec));
    await closed;
    expect(controls).toEqual([
      { type: "error", code: "E_UNAVAILABLE", message: MESSAGE },
      { type: "exit", code: null },
    ]);
    expect(ensured).toEqual([]);
    expect(host.running).toBe(0);
  });

  test.skipIf(process.platform === "win32")("still runs an exec without a terminal", async () => {
    const { host, ensured } = hostOn("win32");
    const { socket, controls, binary, closed } = fakeSocket();
    const session = host.session();
    session.open?.(socket);
    session.message?.(socket, startFrame({ kind: "exec", tty: false, command: ["sh", "-c", "printf hi; exit 3"] }));
    await closed;
    expect(ensured).toEqual(["web"]);
    expect(controls.at(-1)).toEqual({ type: "exit", code: 3 });
    expect(stdoutOf(binary, false)).toBe("hi");
  });
});

describe.skipIf(process.platform === "win32")("frames that come while the instance is starting", () => {
  const encoder = new TextEncoder();

  test("input and eof are kept for the process: a piped cat gets its input and ends", async () => {
    const { host } = hostOn("linux", { startMs: 300 });
    const { socket, controls, binary, closed } = fakeSocket();
    const session = host.session();
    session.open?.(socket);
    session.message?.(socket, startFrame({ kind: "exec", tty: false, command: ["cat"] }));
    session.message?.(socket, Buffer.from(encoder.encode("hello\n")));
    session.message?.(socket, JSON.stringify({ type: "eof" }));
    await closed;
    expect(controls.at(-1)).toEqual({ type: "exit", code: 0 });
    expect(stdoutOf(binary, false)).toBe("hello\n");
  });

  test("the PTY opens at the latest size, and eof on a terminal is Ctrl-D", async () => {
    const { host } = hostOn("linux", { startMs: 300 });
    const { socket, controls, binary, closed } = fakeSocket();
    const session = host.session();
    session.open?.(socket);
    session.message?.(socket, startFrame({ kind: "exec", tty: true, command: ["sh", "-c", "stty size; cat"] }));
    session.message?.(socket, JSON.stringify({ type: "resize", cols: 132, rows: 50 }));
    session.message?.(socket, JSON.stringify({ type: "eof" }));
    await closed;
    expect(controls.at(-1)).toEqual({ type: "exit", code: 0 });
    expect(stdoutOf(binary, true)).toStartWith("50 132\r\n");
  });
});

describe.skipIf(process.platform === "win32")("a master that goes silent", () => {
  test("is told why with error and exit frames, then the socket closes with 4004 and the process is gone", async () => {
    const { host } = hostOn("linux", { liveness: { pingIntervalMs: 50, peerTimeoutMs: 300 } });
    const { socket, controls, closed } = fakeSocket();
    const session = host.session();
    session.open?.(socket);
    session.message?.(socket, startFrame({ kind: "exec", tty: false, command: ["sleep", "30"] }));
    expect(await closed).toBe(4004);
    expect(controls.filter((c) => c.type === "ping").length).toBeGreaterThan(0);
    expect(controls.slice(-2)).toEqual([
      { type: "error", code: "E_TIMEOUT", message: "The master stopped answering pings" },
      { type: "exit", code: null },
    ]);
    const deadline = Date.now() + 3000;
    while (host.running > 0 && Date.now() < deadline) await Bun.sleep(20);
    expect(host.running).toBe(0);
  });
});

describe.skipIf(process.platform === "win32")("the life of a session", () => {
  test("awaiting-start, starting while the instance starts, running, then ended with the exit frame", async () => {
    const { host } = hostOn("linux", { startMs: 200 });
    const { socket, controls, closed } = fakeSocket();
    const session = host.session();
    session.open?.(socket);
    expect(session.state).toBe("awaiting-start");
    session.message?.(socket, startFrame({ kind: "exec", tty: false, command: ["sh", "-c", "sleep 0.3"] }));
    expect(session.state).toBe("starting");
    const deadline = Date.now() + 3000;
    while (session.state === "starting" && Date.now() < deadline) await Bun.sleep(10);
    expect(session.state).toBe("running");
    expect(host.running).toBe(1);
    expect(await closed).toBe(1000);
    expect(session.state).toBe("ended");
    expect(controls.at(-1)).toEqual({ type: "exit", code: 0 });
    expect(host.running).toBe(0);
  });

  test("a socket that closes while the instance is starting ends the session, and no process starts", async () => {
    const { host, multipass } = hostOn("linux", { startMs: 200 });
    const { socket, controls } = fakeSocket();
    const session = host.session();
    session.open?.(socket);
    session.message?.(socket, startFrame({ kind: "exec", tty: false, command: ["sleep", "30"] }));
    session.close?.(socket, 1001, "");
    expect(session.state).toBe("ended");
    await Bun.sleep(400);
    expect(multipass.calls).not.toContain("exec");
    expect(host.running).toBe(0);
    expect(controls).toEqual([]);
  });

  test("a control frame that does not parse ends a running session with error and exit frames, and hangs the process up", async () => {
    const { host } = hostOn("linux");
    const { socket, controls, closed } = fakeSocket();
    const session = host.session();
    session.open?.(socket);
    session.message?.(socket, startFrame({ kind: "exec", tty: false, command: ["sleep", "30"] }));
    const deadline = Date.now() + 3000;
    while (session.state !== "running" && Date.now() < deadline) await Bun.sleep(10);
    session.message?.(socket, JSON.stringify({ type: "dance" }));
    expect(await closed).toBe(1000);
    expect(controls.map((c) => c.type)).toEqual(["error", "exit"]);
    expect(controls.at(-1)).toEqual({ type: "exit", code: null });
    while (host.running > 0 && Date.now() < deadline) await Bun.sleep(20);
    expect(host.running).toBe(0);
  });
});
