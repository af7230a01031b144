/**
 * Sessions through an in-process master and worker: keepalive, dead peers,
 * hostile frames, and the exit frame that always comes before the close.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { parseSessionControl, type SessionControl } from "../lib/session-protocol.ts";
import { createFakeMultipass } from "./fake-multipass.ts";
import { waitFor } from "./e2e/harness.ts";
import { API, runCleanups, startMaster, startWorker } from "./in-process.ts";

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
    } else probe.output += new TextDecoder().decode(new Uint8Array(event.data as ArrayBuffer).subarray(1));
  };
  return probe;
}

async function cluster() {
  const m = startMaster(0, fast);
  const w = startWorker(m.cluster.port!, "n1", createFakeMultipass([{ name: "web" }]), undefined, fast);
  await waitFor("joined", () => m.master.registry.readyEntries().length === 1);
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

  test("a client that stops answering is dropped, and its process is hung up", async () => {
    const m = await cluster();
    const p = connect(m.api.port!, "/api/v1/instances/web/exec?arg=sleep&arg=30", { answerPings: false });
    await waitFor("process running", () => m.w.worker.sessions.running === 1);
    const event = await p.closed;
    expect(event.code).toBe(4004);
    await waitFor("session gone", () => m.master.relay.list().length === 0);
    await waitFor("process ended", () => m.w.worker.sessions.running === 0, 3000);
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

  test("a missing instance and a bad query are HTTP errors before any upgrade", async () => {
    const m = await cluster();
    const get = (path: string) => fetch(`http://127.0.0.1:${m.api.port}${path}`, { headers: { authorization: `Bearer ${API}` } });
    expect((await get("/api/v1/instances/nope/shell")).status).toBe(404);
    expect((await get("/api/v1/instances/web/shell?cols=0")).status).toBe(400);
    expect((await get("/api/v1/instances/web/shell?term=%1b[31m")).status).toBe(400);
    expect((await get("/api/v1/instances/web/exec")).status).toBe(400);
    expect((await get("/api/v1/instances/web/shell")).status).toBe(400);
  });

  test("the token is accepted as a query parameter on WebSocket upgrades only", async () => {
    const m = await cluster();
    const ws = new WebSocket(`ws://127.0.0.1:${m.api.port}/api/v1/instances/web/exec?arg=true&token=${API}`);
    const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
    const frames: string[] = [];
    ws.onmessage = (e) => typeof e.data === "string" && frames.push(e.data);
    expect((await closed).code).toBe(1000);
    expect(frames.at(-1)).toBe('{"type":"exit","code":0}');
    const plain = await fetch(`http://127.0.0.1:${m.api.port}/api/v1/nodes?token=${API}`);
    expect(plain.status).toBe(401);
  });
});
