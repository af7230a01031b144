/**
 * Sessions through an in-process master and worker: keepalive, dead peers,
 * hostile frames, and the exit frame that always comes before the close.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { connect as tcpConnect } from "node:net";
import { field, object, parseJson, string } from "../../lib/core/parse.ts";
import { parseSessionControl, type SessionControl } from "../../lib/protocol/session.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { waitFor } from "../e2e/harness.ts";
import { lockDatabase } from "../support/database-lock.ts";
import { API, readyCount, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

afterEach(runCleanups);

const fast = { pingIntervalMs: 100, peerTimeoutMs: 400 };

interface Probe {
  ws: WebSocket;
  controls: SessionControl[];
  output: string;
  closed: Promise<CloseEvent>;
}

function connect(apiPort: number, path: string, options: { answerPings: boolean }): Probe {
  const ws = new WebSocket(`ws://127.0.0.1:${apiPort}${path}`, { headers: { authorization: `Bearer ${API}` } });
  ws.binaryType = "arraybuffer";
  const probe: Probe = { ws, controls: [], output: "", closed: new Promise((resolve) => (ws.onclose = resolve)) };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {
      const message = parseSessionControl(event.data);
      probe.controls.push(message);
      if (message.type === "ping" && options.answerPings) ws.send(JSON.stringify({ type: "pong" }));
    } else if (event.data instanceof ArrayBuffer) probe.output += new TextDecoder().decode(new Uint8Array(event.data).subarray(1));
  };
  return probe;
}

/** Frames a server sent (unmasked): opcode and payload. */
function serverFrames(bytes: Buffer): { opcode: number; payload: Buffer }[] {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let at = bytes.indexOf("\r\n\r\n") + 4;
  while (at + 2 <= bytes.length) {
    let length = bytes[at + 1]! & 0x7f;
    let start = at + 2;
    if (length === 126) [length, start] = [bytes.readUInt16BE(at + 2), at + 4];
    else if (length === 127) [length, start] = [Number(bytes.readBigUInt64BE(at + 2)), at + 10];
    if (start + length > bytes.length) break;
    frames.push({ opcode: bytes[at]! & 0x0f, payload: bytes.subarray(start, start + length) });
    at = start + length;
  }
  return frames;
}

/**
 * A WebSocket peer that goes silent right after the handshake: it answers
 * neither the JSON pings nor the protocol ones, like a client whose network
 * went away. Resolves with everything the server sent once it closes.
 */
function silentPeer(port: number, path: string): Promise<{ opcode: number; payload: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = tcpConnect(port, "127.0.0.1", () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${API}\r\n\r\n`,
      );
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      // The server's close frame: the peer is done listening.
      if (serverFrames(Buffer.concat(chunks)).some((f) => f.opcode === 8)) socket.end();
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(serverFrames(Buffer.concat(chunks))));
  });
}

async function cluster() {
  const m = startMaster(0, fast);
  const w = startWorker(m.cluster.port!, "n1", createFakeMultipass([{ name: "web" }]), undefined, fast);
  await waitFor("joined", () => readyCount(m.master) === 1);
  return { ...m, w };
}

describe("sessions through the relay", () => {
  test("an idle session whose client answers pings stays open; pings flow both ways", async () => {
    const m = await cluster();
    const p = connect(m.api.port!, "/api/v1/instances/web/exec?arg=sleep&arg=1.2", { answerPings: true });
    const event = await p.closed;
    expect(event.code).toBe(1000);
    expect(p.controls.filter((c) => c.type === "ping").length).toBeGreaterThanOrEqual(3);
    expect(p.controls.at(-1)).toEqual({ type: "exit", code: 0 });
  });

  test("a client that answers only protocol pings (websocat, a browser) stays open; its own pings are answered", async () => {
    const m = await cluster();
    const p = connect(m.api.port!, "/api/v1/instances/web/exec?arg=sleep&arg=1.2", { answerPings: false });
    await new Promise((resolve) => (p.ws.onopen = resolve));
    p.ws.send(JSON.stringify({ type: "ping" }));
    const event = await p.closed;
    expect(event.code).toBe(1000);
    expect(p.controls).toContainEqual({ type: "pong" });
    expect(p.controls.at(-1)).toEqual({ type: "exit", code: 0 });
  });

  test("a client that goes silent is dropped with error and exit frames first, and its process is hung up", async () => {
    const m = await cluster();
    const frames = silentPeer(m.api.port!, "/api/v1/instances/web/exec?arg=sleep&arg=30");
    await waitFor("process running", () => m.w.worker.sessions.running === 1);
    const sent = await frames;
    expect(sent.some((f) => f.opcode === 9)).toBe(true);
    const texts = sent.filter((f) => f.opcode === 1).map((f) => parseSessionControl(f.payload.toString()));
    expect(texts.filter((t) => t.type === "ping").length).toBeGreaterThan(0);
    expect(texts.slice(-2)).toEqual([
      { type: "error", code: "E_TIMEOUT", message: "The client stopped answering pings" },
      { type: "exit", code: null },
    ]);
    const close = sent.find((f) => f.opcode === 8)!;
    expect(close.payload.readUInt16BE(0)).toBe(4004);
    await waitFor("session gone", () => m.master.relay.list().length === 0);
    await waitFor("process ended", () => m.w.worker.sessions.running === 0, 3000);
  });

  test("a streamed POST exec, which cannot answer pings, runs past the peer timeout", async () => {
    const m = await cluster();
    const response = await fetch(`http://127.0.0.1:${m.api.port}/api/v1/instances/web/exec`, {
      method: "POST",
      headers: { authorization: `Bearer ${API}`, "content-type": "application/json" },
      body: JSON.stringify({ command: ["sh", "-c", "sleep 1; echo done"] }),
    });
    const lines = (await response.text()).trim().split("\n").map((l) => object(parseJson(l, "line"), "line"));
    expect(lines.at(-1)).toEqual({ type: "exit", code: 0 });
    expect(lines.filter((l) => l["type"] === "stdout").map((l) => Buffer.from(field(l, "data", "line", string), "base64").toString()).join("")).toBe("done\n");
  });

  test("a malformed control frame closes that session only, with an exit frame first", async () => {
    const m = await cluster();
    const good = connect(m.api.port!, "/api/v1/instances/web/exec?arg=sh&arg=-c&arg=sleep%200.5%3B%20echo%20fine", { answerPings: true });
    const bad = connect(m.api.port!, "/api/v1/instances/web/exec?arg=sleep&arg=30", { answerPings: true });
    await new Promise((resolve) => (bad.ws.onopen = resolve));
    bad.ws.send('{"type":"resize","cols":"wide"}');
    expect((await bad.closed).code).toBe(1008);
    expect(bad.controls.slice(-2)).toEqual([
      { type: "error", code: "E_PROTOCOL", message: expect.stringContaining("resize.cols") },
      { type: "exit", code: null },
    ]);
    await good.closed;
    expect(good.output).toBe("fine\n");
    expect(good.controls.at(-1)).toEqual({ type: "exit", code: 0 });
  });

  test("every session is in the audit trail: who opened what, where, and how it ended", async () => {
    const m = await cluster();
    const ok = connect(m.api.port!, "/api/v1/instances/web/exec?arg=sh&arg=-c&arg=exit%203", { answerPings: true });
    await ok.closed;
    const left = connect(m.api.port!, "/api/v1/instances/web/exec?arg=sleep&arg=30", { answerPings: true });
    await waitFor("sleep running", () => m.w.worker.sessions.running === 1);
    left.ws.close();
    await waitFor("both recorded", () => m.audit.list().filter((e) => e.phase === "done").length === 2);
    const events = m.audit.list();
    expect(events.map((e) => ({ phase: e.phase, action: e.action, node: e.node, instance: e.instance, params: e.params, result: e.result, exitCode: e.exitCode, error: e.error?.code }))).toEqual([
      { phase: "requested", action: "exec", node: "n1", instance: "web", params: { command: ["sh", "-c", "exit 3"], tty: false }, result: undefined, exitCode: undefined, error: undefined },
      { phase: "done", action: "exec", node: "n1", instance: "web", params: undefined, result: "ok", exitCode: 3, error: undefined },
      { phase: "requested", action: "exec", node: "n1", instance: "web", params: { command: ["sleep", "30"], tty: false }, result: undefined, exitCode: undefined, error: undefined },
      { phase: "done", action: "exec", node: "n1", instance: "web", params: undefined, result: "error", exitCode: undefined, error: "E_CANCELLED" },
    ]);
    expect(new Set(events.map((e) => e.token)).size).toBe(1);
    expect(JSON.stringify(events)).not.toContain(API);
  });

  test("a session that cannot be recorded is refused before it opens", async () => {
    const m = await cluster();
    // The database's write lock held by another connection: nothing can be appended.
    const lock = lockDatabase(m.dataDir);
    const refused = await fetch(`http://127.0.0.1:${m.api.port}/api/v1/instances/web/exec`, {
      method: "POST",
      headers: { authorization: `Bearer ${API}`, "content-type": "application/json" },
      body: JSON.stringify({ command: ["touch", "/tmp/never"] }),
    }).finally(() => lock.release());
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: "E_STORAGE", message: expect.stringContaining('Not opening the exec on "web"') } });
    expect(m.w.worker.sessions.running).toBe(0);
    expect(m.audit.list()).toEqual([]);
  });

  test("a missing instance and a bad query are HTTP errors before any upgrade", async () => {
    const m = await cluster();
    const get = (path: string) => fetch(`http://127.0.0.1:${m.api.port}${path}`, { headers: { authorization: `Bearer ${API}` } });
    expect((await get("/api/v1/instances/nope/shell")).status).toBe(404);
    expect((await get("/api/v1/instances/web/shell?cols=0")).status).toBe(400);
    expect((await get("/api/v1/instances/web/shell?term=%1b[31m")).status).toBe(400);
    const keepalive = await get("/api/v1/instances/web/shell?keepalive=10");
    expect(keepalive.status).toBe(400);
    expect(await keepalive.json()).toMatchObject({ error: { code: "E_USAGE", message: expect.stringContaining("Invalid keepalive") } });
    expect((await get("/api/v1/instances/web/exec")).status).toBe(400);
    expect((await get("/api/v1/instances/web/shell")).status).toBe(400);
  });

  test("a token in the URL authenticates nothing, not even a WebSocket upgrade: the header does", async () => {
    const m = await cluster();
    const refused = new WebSocket(`ws://127.0.0.1:${m.api.port}/api/v1/instances/web/exec?arg=true&token=${API}`);
    const failed = new Promise<CloseEvent>((resolve) => (refused.onclose = resolve));
    expect((await failed).code).not.toBe(1000);
    const plain = await fetch(`http://127.0.0.1:${m.api.port}/api/v1/instances/web/exec?arg=true&token=${API}`, { headers: { upgrade: "websocket" } });
    expect(plain.status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${m.api.port}/api/v1/nodes?token=${API}`)).status).toBe(401);
    const ws = new WebSocket(`ws://127.0.0.1:${m.api.port}/api/v1/instances/web/exec?arg=true`, { headers: { authorization: `Bearer ${API}` } });
    const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
    const frames: string[] = [];
    ws.onmessage = (e) => typeof e.data === "string" && frames.push(e.data);
    expect((await closed).code).toBe(1000);
    expect(frames.at(-1)).toBe('{"type":"exit","code":0}');
  });
});
