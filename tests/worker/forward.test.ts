/**
 * The worker's end of a forward (issue 14): the TCP adapter against real
 * local Bun servers (refused, reset, half-close both ways, backpressure),
 * where a forward may connect (the instance's own address only, one lookup
 * shared by many connections, never a start), and a crafted start frame at
 * the agent's session route that names an address: refused.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { AppError } from "../../lib/core/errors.ts";
import { createKeyedLock } from "../../lib/core/keyed-lock.ts";
import { websocketHandler } from "../../lib/net/ws.ts";
import { parseSessionControl, type SessionControl } from "../../lib/protocol/session.ts";
import type { InstanceSummary } from "../../lib/protocol/instances.ts";
import type { HostSnapshot } from "../../lib/protocol/join.ts";
import { createAgentApp } from "../../lib/worker/agent-server.ts";
import { ForwardSocket } from "../../lib/worker/forward-socket.ts";
import { createForwardTargets } from "../../lib/worker/forward-targets.ts";
import { createHostMonitor } from "../../lib/worker/host-monitor.ts";
import { createWorkerOps } from "../../lib/worker/host-ops.ts";
import { createSessionHost } from "../../lib/worker/session-host.ts";
import { generateNodeKey } from "../../lib/net/node-key.ts";
import { waitFor } from "../e2e/harness.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { resources } from "../support/in-process.ts";
import { createTestLog } from "../support/test-log.ts";

const listeners: TCPSocketListener<undefined>[] = [];
afterEach(() => {
  for (const l of listeners.splice(0)) l.stop(true);
});

/** A local TCP server; `handlers` as Bun's, half-open allowed. */
function server(handlers: Parameters<typeof Bun.listen<undefined>>[0]["socket"]): TCPSocketListener<undefined> {
  const l = Bun.listen<undefined>({ hostname: "127.0.0.1", port: 0, allowHalfOpen: true, socket: handlers });
  listeners.push(l);
  return l;
}

/** A port nothing listens on (bound, then let go). */
function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

function forward(port: number, extra: Partial<ConstructorParameters<typeof ForwardSocket>[0]> = {}) {
  const received: Uint8Array[] = [];
  let ended = false;
  let ready = 0;
  const socket = new ForwardSocket({
    host: "127.0.0.1",
    port,
    what: `port ${port} of "web"`,
    onOutput: (bytes) => received.push(bytes.slice()),
    onInputReady: () => ready++,
    onEnd: () => (ended = true),
    ...extra,
  });
  return { socket, text: () => Buffer.concat(received).toString(), bytes: () => Buffer.concat(received).length, ended: () => ended, ready: () => ready };
}

describe("ForwardSocket", () => {
  test("carries bytes both ways; the client's half-close reaches the service, which still answers; a clean end is exit 0", async () => {
    let serverGotEnd = false;
    const l = server({
      data: (s, d) => void s.write(`echo:${d.toString()}`),
      end(s) {
        serverGotEnd = true;
        s.end("bye");
      },
    });
    const f = forward(l.port);
    await f.socket.connect();
    expect(f.socket.write(new TextEncoder().encode("hi"))).toBe(true);
    await waitFor("echo", () => f.text() === "echo:hi");
    f.socket.endInput();
    await waitFor("the server's end", () => serverGotEnd);
    expect(await f.socket.exited).toBe(0);
    expect(f.text()).toBe("echo:hibye");
    expect(f.socket.failure).toBeNull();
  });

  test("the service's half-close is reported, and input still reaches it", async () => {
    let got = "";
    const l = server({
      open: (s) => void s.shutdown(),
      data: (_s, d) => void (got += d.toString()),
      end: (s) => void s.end(),
    });
    const f = forward(l.port);
    await f.socket.connect();
    await waitFor("the service's end", () => f.ended());
    f.socket.write(new TextEncoder().encode("late"));
    f.socket.endInput();
    expect(await f.socket.exited).toBe(0);
    expect(got).toBe("late");
    expect(f.socket.failure).toBeNull();
  });

  test("a refused port is an E_UNAVAILABLE naming the port and the reason", async () => {
    const f = forward(freePort());
    const error = await f.socket.connect().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe("E_UNAVAILABLE");
    expect((error as AppError).message).toMatch(/^Cannot connect to port \d+ of "web": connection refused$/);
  });

  test("a reset by the service is a failure saying so", async () => {
    const l = server({ open: (s) => void setTimeout(() => s.terminate(), 20), data() {} });
    const f = forward(l.port);
    await f.socket.connect();
    expect(await f.socket.exited).toBe(0);
    expect(f.socket.failure?.message).toBe(`port ${l.port} of "web": connection reset`);
  });

  test("a connect that is never answered gives up at the limit, saying so", async () => {
    const f = forward(80, { connectTimeoutMs: 1500, connect: () => new Promise(() => {}) });
    const error = (await f.socket.connect().then(() => null, (e: unknown) => e)) as AppError;
    expect(error).toBeInstanceOf(AppError);
    expect(error.code).toBe("E_TIMEOUT");
    expect(error.message).toBe('Cannot connect to port 80 of "web": no answer within 2 s');
  });

  test("input the service does not read is kept, write says false, and onInputReady comes once it is written", async () => {
    let got = 0;
    let peer: Socket<undefined> | null = null;
    const l = server({
      open(s) {
        peer = s;
        s.pause();
      },
      data: (_s, d) => void (got += d.length),
    });
    const f = forward(l.port);
    await f.socket.connect();
    const chunk = new Uint8Array(1024 * 1024);
    let writes = 0;
    while (f.socket.write(chunk)) if (++writes > 256) break;
    // The kernel's buffers hold far less than 256 MB: the adapter said stop.
    expect(writes).toBeLessThan(256);
    expect(f.ready()).toBe(0);
    await waitFor("the server's socket", () => peer);
    peer!.resume();
    await waitFor("input ready", () => f.ready() === 1, 10_000);
    await waitFor("every byte", () => got === (writes + 1) * chunk.length, 10_000);
    f.socket.hangUp();
    expect(await f.socket.exited).toBe(0);
  });

  test("paused output is not read until resumed", async () => {
    const l = server({ open: (s) => void s.write("x".repeat(1000)), data() {} });
    const f = forward(l.port);
    f.socket.pauseOutput();
    await f.socket.connect();
    await Bun.sleep(100);
    expect(f.bytes()).toBe(0);
    f.socket.resumeOutput();
    await waitFor("the output", () => f.bytes() === 1000);
    f.socket.hangUp();
    await f.socket.exited;
  });
});

function snapshotOf(instances: InstanceSummary[]): HostSnapshot {
  return { instances } as HostSnapshot;
}

/** A monitor with a fixed listing, whose listeners the test calls. */
function fixedMonitor(instances: InstanceSummary[]) {
  const listeners = new Set<(s: HostSnapshot) => void>();
  let current = snapshotOf(instances);
  return {
    current: () => current,
    onChange(listener: (s: HostSnapshot) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    publish(next: InstanceSummary[]) {
      current = snapshotOf(next);
      for (const l of listeners) l(current);
    },
  };
}

describe("forward targets", () => {
  const running = (ipv4: string[]): InstanceSummary => ({ name: "web", state: "Running", ipv4, release: null });

  test("the monitor's address is used as it is: no multipass call", async () => {
    const multipass = createFakeMultipass([{ name: "web", ipv4: ["10.1.1.1"] }]);
    const targets = createForwardTargets({ multipass, monitor: fixedMonitor([running(["10.0.0.9", "192.168.1.5"])]), node: "n1" });
    expect(await targets.addressOf("web")).toBe("10.0.0.9");
    expect(multipass.calls).toEqual([]);
  });

  test("without an address in the listing, 50 forwards at once cost one multipass info, kept briefly", async () => {
    const multipass = createFakeMultipass([{ name: "web", ipv4: ["10.1.1.1"] }]);
    let now = 0;
    const targets = createForwardTargets({ multipass, monitor: fixedMonitor([running([])]), node: "n1", ttlMs: 5_000, now: () => now });
    const addresses = await Promise.all(Array.from({ length: 50 }, () => targets.addressOf("web")));
    expect(new Set(addresses)).toEqual(new Set(["10.1.1.1"]));
    expect(multipass.calls.filter((c) => c === "info")).toHaveLength(1);
    now = 4_999;
    await targets.addressOf("web");
    expect(multipass.calls.filter((c) => c === "info")).toHaveLength(1);
    now = 5_000;
    await targets.addressOf("web");
    expect(multipass.calls.filter((c) => c === "info")).toHaveLength(2);
  });

  test("a stopped instance is refused, never started; an unknown one is not found", async () => {
    const multipass = createFakeMultipass([{ name: "web", state: "Stopped", ipv4: [] }]);
    const targets = createForwardTargets({ multipass, monitor: fixedMonitor([{ name: "web", state: "Stopped", ipv4: [], release: null }]), node: "n1" });
    const stopped = (await targets.addressOf("web").catch((e: unknown) => e)) as AppError;
    expect(stopped.code).toBe("E_CONFLICT");
    expect(stopped.message).toBe('Instance "web" is not running on node "n1" (Stopped): start it first; a forward does not start it');
    const missing = (await targets.addressOf("db").catch((e: unknown) => e)) as AppError;
    expect(missing.code).toBe("E_NOT_FOUND");
    expect(multipass.calls).not.toContain("start");
  });

  test("a watch hears a verb taking the instance down, and a listing that shows it stopped", async () => {
    const monitor = fixedMonitor([running(["10.0.0.9"])]);
    const targets = createForwardTargets({ multipass: createFakeMultipass(), monitor, node: "n1" });
    const heard: string[] = [];
    targets.watch("web", (why) => heard.push(why.message));
    targets.going("web", "stop");
    expect(heard).toEqual(['Instance "web" on node "n1" is being stopped']);
    targets.watch("web", (why) => heard.push(why.message));
    const off = targets.watch("other", (why) => heard.push(why.message));
    off();
    monitor.publish([{ name: "web", state: "Stopped", ipv4: [], release: null }]);
    expect(heard).toEqual(['Instance "web" on node "n1" is being stopped', 'Instance "web" on node "n1" is no longer running (Stopped)']);
  });
});

describe("the agent's session route", () => {
  const TOKEN = "agent-token";

  async function agent(ipv4: string) {
    const { log } = createTestLog();
    const multipass = createFakeMultipass([{ name: "web", ipv4: [ipv4] }]);
    const monitor = createHostMonitor({ multipass, readResources: () => resources, pollMs: 50, log });
    await monitor.refresh();
    const ops = createWorkerOps({ multipass, monitor, lock: createKeyedLock(), log, node: "n1" });
    const forwardTargets = createForwardTargets({ multipass, monitor, node: "n1" });
    const sessions = createSessionHost({ multipass, log, ensureRunning: (i) => ops.ensureRunning(i), forwardTargets, env: {}, platform: process.platform });
    const app = createAgentApp({ multipass, agentToken: () => TOKEN, log, name: "n1", key: generateNodeKey().key, sessions, ops });
    const http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }) });
    return { http, multipass, sessions };
  }

  /** Sends `start` on a session socket; the controls it gets and the bytes, until it closes. */
  async function session(port: number, start: Record<string, unknown>, input?: string) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/agent/v1/session`, { headers: { authorization: `Bearer ${TOKEN}` } });
    ws.binaryType = "arraybuffer";
    const controls: SessionControl[] = [];
    let bytes = "";
    await new Promise<void>((resolve) => {
      ws.onopen = () => {
        ws.send(JSON.stringify({ type: "start", instance: "web", command: [], tty: false, cols: 80, rows: 24, term: "dumb", ...start }));
        if (input !== undefined) {
          ws.send(new TextEncoder().encode(input));
          ws.send(JSON.stringify({ type: "eof" }));
        }
      };
      ws.onmessage = (event) => {
        if (typeof event.data === "string") controls.push(parseSessionControl(event.data));
        else bytes += Buffer.from(event.data as ArrayBuffer).toString();
      };
      ws.onclose = () => resolve();
    });
    return { controls, bytes };
  }

  test.each([
    ["host", { host: "10.0.0.1" }],
    ["address", { address: "192.168.1.1" }],
    ["ipv4", { ipv4: "127.0.0.1" }],
  ])("a forward start frame naming an address (%s) is refused, and nothing is dialled", async (_key, extra) => {
    let dialled = 0;
    const target = server({ open: () => void dialled++, data() {} });
    const { http, multipass } = await agent("127.0.0.1");
    try {
      const { controls } = await session(Number(http.port), { kind: "forward", port: target.port, ...extra });
      expect(controls).toEqual([
        { type: "error", code: "E_USAGE", message: expect.stringContaining("it takes a port, never an address") },
        { type: "exit", code: null },
      ]);
      expect(dialled).toBe(0);
      expect(multipass.calls).not.toContain("start");
    } finally {
      http.stop(true);
    }
  });

  test("a forward without one reaches the port at the instance's own address", async () => {
    const target = server({ data: (s, d) => void s.end(`got ${d.toString()}`) });
    const { http } = await agent("127.0.0.1");
    try {
      const { controls, bytes } = await session(Number(http.port), { kind: "forward", port: target.port }, "ping");
      expect(bytes).toBe("got ping");
      // The worker had half-closed first (the client's eof), so the service's FIN comes as the close: exit 0, no eof.
      expect(controls.filter((c) => c.type !== "ping" && c.type !== "pong")).toEqual([{ type: "exit", code: 0 }]);
    } finally {
      http.stop(true);
    }
  });
});
