/**
 * The session host's platform rule: a Windows worker (Bun has no PTYs there)
 * refuses terminal sessions before anything runs, and still runs piped execs.
 */
import { describe, expect, test } from "bun:test";
import { createSessionHost, terminalUnavailable } from "../lib/session-host.ts";
import { parseSessionControl, type SessionControl } from "../lib/session-protocol.ts";
import type { Socket } from "../lib/ws.ts";
import { createFakeMultipass } from "./fake-multipass.ts";
import { createTestLog } from "./test-log.ts";

const MESSAGE = "Interactive terminals are not available on this Windows worker; use exec without -t";

/** A socket that records what the host sends; `closed` resolves on close. */
function fakeSocket() {
  const controls: SessionControl[] = [];
  const binary: Uint8Array[] = [];
  let onClose: () => void = () => {};
  const closed = new Promise<void>((resolve) => (onClose = resolve));
  const socket = {
    send(data: string | Uint8Array) {
      if (typeof data === "string") controls.push(parseSessionControl(data));
      else binary.push(data);
      return 1;
    },
    close() {
      onClose();
    },
  } as unknown as Socket;
  return { socket, controls, binary, closed };
}

function hostOn(platform: NodeJS.Platform) {
  const ensured: string[] = [];
  const host = createSessionHost({
    multipass: createFakeMultipass([{ name: "web" }]),
    log: createTestLog().log,
    ensureRunning: async (instance) => {
      ensured.push(instance);
    },
    env: process.env,
    platform,
  });
  return { host, ensured };
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
    const stdout = binary.filter((frame) => frame[0] === 1).map((frame) => new TextDecoder().decode(frame.subarray(1)));
    expect(stdout.join("")).toBe("hi");
  });
});
