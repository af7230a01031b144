/**
 * Flow control on the master's hop, with a stand-in agent on a real socket:
 * a client slow to take output stops the node's socket being read (what the
 * client end holds stays bounded); a client that takes nothing for too long
 * has its session ended with `error` and `exit` before the close; a node
 * that takes no input stops the client's input being read.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server, ServerWebSocket } from "bun";
import { createSessionRelay } from "../../lib/master/session-relay.ts";
import type { ClientEnd, Delivery, RelayHandle, SessionOutcome } from "../../lib/master/session-ends.ts";
import type { NodeEntry } from "../../lib/master/registry.ts";
import { CHANNEL_STDOUT, channelFrame, controlFrame, SEND_BACKLOG_BYTES, type SessionControl, type SessionSpec } from "../../lib/protocol/session.ts";
import { createTestLog } from "../support/test-log.ts";
import { resources } from "../support/in-process.ts";
import { waitFor } from "../e2e/harness.ts";

const MB = 1024 * 1024;
const FRAME = 64 * 1024;
const spec: SessionSpec = { kind: "exec", instance: "web", command: ["yes"], tty: false, cols: 80, rows: 24, term: "dumb" };

let server: Server<undefined> | undefined;
afterEach(() => {
  void server?.stop(true);
  server = undefined;
});

/**
 * An agent that, once started, sends `total` bytes of output in 64 KiB frames
 * as fast as its socket takes them (as the worker does), then `exit` 0; with
 * `readInput: false` it reads no input at all, with `exit: false` it never exits.
 */
function agent(total: number, options: { readInput?: boolean; exit?: boolean } = {}) {
  let sent = 0;
  let socket: ServerWebSocket<undefined> | null = null;
  const pump = (ws: ServerWebSocket<undefined>) => {
    while (sent < total && ws.getBufferedAmount() <= SEND_BACKLOG_BYTES) {
      ws.send(channelFrame(CHANNEL_STDOUT, new Uint8Array(Math.min(FRAME, total - sent)).fill(0x61 + ((sent / FRAME) % 26))));
      sent += Math.min(FRAME, total - sent);
    }
    if (options.exit !== false && sent >= total && ws.getBufferedAmount() === 0 && ws.readyState === 1) {
      ws.send(controlFrame({ type: "exit", code: 0 }));
      ws.close(1000, "exit");
    }
  };
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => (srv.upgrade(req, { data: undefined }) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      message(ws, message) {
        if (typeof message !== "string" || !message.includes('"start"')) return;
        socket = ws;
        if (options.readInput === false) ws.pause();
        pump(ws);
      },
      drain: (ws) => pump(ws),
    },
  });
  const node: NodeEntry = {
    id: "m1",
    name: "n1",
    address: `127.0.0.1:${server.port}`,
    version: "test",
    agentToken: "t",
    agentCert: null,
    joinedAt: 0,
    lastSync: 0,
    disconnectedAt: null,
    snapshot: { multipassVersion: null, multipassError: null, resources, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instances: [] },
    close: () => {},
  };
  return { node, resumeInput: () => socket?.resume() };
}

/** A client end whose reader takes `bytesPerTick` every 5 ms (0: nothing), counting its backlog as a socket's buffered amount. */
function slowClient(bytesPerTick: number) {
  const controls: SessionControl[] = [];
  const events: string[] = [];
  let received: Uint8Array[] = [];
  let backlog = 0;
  let peak = 0;
  let inputPaused = false;
  let handle: RelayHandle | null = null;
  const end: ClientEnd = {
    binary(bytes): Delivery {
      received.push(bytes.slice(1));
      backlog += bytes.length;
      peak = Math.max(peak, backlog);
      return backlog > SEND_BACKLOG_BYTES ? "full" : "more";
    },
    control: (m) => void (controls.push(m), events.push(m.type)),
    close: (code) => void events.push(`close ${code}`),
    pauseInput: () => void (inputPaused = true),
    resumeInput: () => void (inputPaused = false),
  };
  const timer = setInterval(() => {
    if (backlog === 0 || bytesPerTick === 0) return;
    backlog = Math.max(0, backlog - bytesPerTick);
    if (backlog <= SEND_BACKLOG_BYTES) handle?.drained();
  }, 5);
  return {
    end,
    controls,
    events,
    attach: (h: RelayHandle) => (handle = h),
    stop: () => clearInterval(timer),
    bytes: () => Buffer.concat((received = [Buffer.concat(received)])),
    get peak() {
      return peak;
    },
    get inputPaused() {
      return inputPaused;
    },
  };
}

describe("the master's flow control", () => {
  test("a client slow to take output: its backlog stays bounded, and every byte comes in order before the exit", async () => {
    const total = 24 * MB;
    const { node } = agent(total);
    const client = slowClient(256 * 1024);
    let outcome: SessionOutcome | null = null;
    const relay = createSessionRelay({ log: createTestLog().log });
    client.attach(relay.open(node, spec, client.end, (o) => (outcome = o)));
    await waitFor("session over", () => outcome !== null, 30_000);
    client.stop();
    expect(outcome!).toEqual({ exitCode: 0, error: null });
    const bytes = client.bytes();
    expect(bytes.length).toBe(total);
    for (let frame = 0; frame < total / FRAME; frame += 37) expect(bytes[frame * FRAME]).toBe(0x61 + (frame % 26));
    expect(client.events.slice(-2)).toEqual(["exit", "close 1000"]);
    // The bound, plus what Bun had read from the node's socket before it was paused.
    expect(client.peak).toBeLessThan(2 * SEND_BACKLOG_BYTES);
  });

  test("a client that takes nothing for too long: error and exit, then the close", async () => {
    const { node } = agent(64 * MB);
    const client = slowClient(0);
    let outcome: SessionOutcome | null = null;
    const relay = createSessionRelay({ log: createTestLog().log, stallMs: 300 });
    client.attach(relay.open(node, spec, client.end, (o) => (outcome = o)));
    await waitFor("session over", () => outcome !== null, 10_000);
    client.stop();
    expect(client.events.slice(-3)).toEqual(["error", "exit", "close 1000"]);
    expect(client.controls.at(-2)).toEqual({ type: "error", code: "E_TIMEOUT", message: "The client took none of the output for 0.3s" });
    expect(client.controls.at(-1)).toEqual({ type: "exit", code: null });
    expect(outcome!.error?.code).toBe("E_TIMEOUT");
    expect(client.peak).toBeLessThan(2 * SEND_BACKLOG_BYTES);
  });

  test("a node that takes no input: the client's input stops being read, and flows again when the node reads", async () => {
    const { node, resumeInput } = agent(0, { readInput: false, exit: false });
    const client = slowClient(MB);
    const relay = createSessionRelay({ log: createTestLog().log });
    const handle = relay.open(node, { ...spec, command: ["sleep", "60"] }, client.end, () => {});
    client.attach(handle);
    await waitFor("open", () => (handle as { state?: string }).state === "open");
    const chunk = new Uint8Array(FRAME);
    let fed = 0;
    while (!client.inputPaused && fed < 256 * MB) {
      handle.input(chunk);
      fed += chunk.length;
      // Let the socket write what the kernel takes.
      if (fed % MB === 0) await Bun.sleep(1);
    }
    expect(client.inputPaused).toBe(true);
    // The bound on the master, plus what the kernel's socket buffers took.
    expect(fed).toBeLessThan(32 * MB);
    resumeInput();
    await waitFor("input flows again", () => !client.inputPaused, 10_000);
    handle.clientGone();
    client.stop();
  });
});
