/**
 * The master and workers in one process: real servers on port 0, real
 * sockets, the in-memory Multipass fake.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { arrayOf } from "../../lib/core/parse.ts";
import { parseErrorBody, parseInfoResponse, parseInstanceView, parseMasterStats } from "../../lib/protocol/api.ts";
import { parseMasterMessage, PROTOCOL_VERSION } from "../../lib/protocol/join.ts";
import type { WsData } from "../../lib/net/ws.ts";
import { createFakeMultipass, daemonDown } from "../support/fake-multipass.ts";
import { waitFor } from "../e2e/harness.ts";
import { generateNodeKey } from "../../lib/net/node-key.ts";
import { API, JOIN, listInstances, readyCount, resources, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

afterEach(runCleanups);

async function apiGet(api: Server<WsData>, path: string): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`http://127.0.0.1:${api.port}${path}`, { headers: { authorization: `Bearer ${API}` } });
  return { status: r.status, body: await r.json() };
}

const parseInstanceViews = arrayOf(parseInstanceView);

describe("join, cache and live calls", () => {
  test("workers join, their instances are cached, a change is pushed at once, and info is live", async () => {
    const m = startMaster();
    const mp1 = createFakeMultipass([{ name: "web" }]);
    const mp2 = createFakeMultipass([{ name: "db", state: "Stopped" }]);
    const w1 = startWorker(m.cluster.port!, "n1", mp1);
    startWorker(m.cluster.port!, "n2", mp2);
    await waitFor("two nodes", () => readyCount(m.master) === 2);
    expect(w1.lines.some((l) => /joined with id [0-9a-f-]{36}/.test(l))).toBe(true);
    expect(m.lines.some((l) => l.includes('node "n1" joined with id'))).toBe(true);

    mp1.instances.get("web")!.state = "Stopped";
    await waitFor("web Stopped", async () => parseInstanceViews((await apiGet(m.api, "/api/v1/instances")).body, "instances").some((i) => i.name === "web" && i.state === "Stopped"));

    mp1.instances.get("web")!.state = "Running";
    await waitFor("web Running", async () => (await listInstances(m.master)).find((i) => i.name === "web")?.state === "Running");
    const info = await apiGet(m.api, "/api/v1/info");
    expect(parseInfoResponse(info.body)).toMatchObject({ errors: [], instances: [{ node: "n1", name: "web", state: "Running", cpus: 1 }, { node: "n2", name: "db", state: "Stopped", cpus: null, load: null }] });

    // The master's own figures count what it took in: two joins, two state changes pushed, heartbeats.
    const stats = parseMasterStats((await apiGet(m.api, "/api/v1/stats")).body);
    expect(stats).toMatchObject({ version: "test", nodes: { Ready: 2, NotReady: 0, Down: 0 }, instances: 2, sessions: 0, cluster: { joins: 2, rejected: 0 } });
    expect(stats.cluster.states).toBeGreaterThanOrEqual(2);
    const beats = stats.cluster.heartbeats;
    await waitFor("more heartbeats", async () => parseMasterStats((await apiGet(m.api, "/api/v1/stats")).body).cluster.heartbeats > beats);
    expect(stats.process.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(stats.process.cpuSeconds).toBeGreaterThan(0);
  });

  test("two hosts under one name: the second (another key) is refused and told why; the first keeps its name", async () => {
    const m = startMaster();
    const a = startWorker(m.cluster.port!, "twin", createFakeMultipass([{ name: "a" }]));
    await waitFor("first twin joined", () => readyCount(m.master) === 1);
    const b = startWorker(m.cluster.port!, "twin", createFakeMultipass([{ name: "b" }]));
    await waitFor("the second twin explains", () => b.lines.some((l) => l.includes('The node name "twin" belongs to another node') && l.includes("--name")));
    await waitFor("the master warns", () => m.lines.some((l) => l.includes('node "twin": refused a join from') && l.includes("another key")));
    expect(m.master.registry.get("twin")?.snapshot.instances.map((i) => i.name)).toEqual(["a"]);
    expect(a.lines.filter((l) => l.includes("replaced this one"))).toEqual([]);
  });

  test("the same node (its key) joining again replaces its earlier connection, and the replaced one says why", async () => {
    const m = startMaster();
    const a = startWorker(m.cluster.port!, "twin", createFakeMultipass([{ name: "a" }]));
    await waitFor("first joined", () => readyCount(m.master) === 1);
    const b = startWorker(m.cluster.port!, "twin", createFakeMultipass([{ name: "b" }]), JOIN, undefined, resources, a.key);
    const advice = 'another worker joined the master as "twin" and replaced this one; if two hosts share that name, give each its own --name';
    await waitFor("the replaced one explains", () => [...a.lines, ...b.lines].some((l) => l.includes(advice)));
    expect(m.master.registry.entries().length).toBe(1);
  });

  test("a failing multipass is reported by the node and clears when it recovers", async () => {
    const m = startMaster();
    const mp = createFakeMultipass([{ name: "web" }]);
    startWorker(m.cluster.port!, "n1", mp);
    await waitFor("joined", () => readyCount(m.master) === 1);
    mp.failAll(daemonDown());
    await waitFor("error cached", () => m.master.registry.get("n1")?.snapshot.multipassError?.includes("cannot connect"));
    expect(await listInstances(m.master)).toMatchObject([{ name: "web", state: "Unknown" }]);
    const info = await apiGet(m.api, "/api/v1/info?instance=web");
    expect(info.status).toBe(502);
    expect(parseErrorBody(info.body)).toMatchObject({ error: { code: "E_MULTIPASS", message: expect.stringContaining("cannot connect to the multipass socket") } });
    mp.failAll(null);
    await waitFor("error cleared", () => m.master.registry.get("n1")?.snapshot.multipassError === null);
  });

  test("a hung node costs its timeout; the others answer", async () => {
    const m = startMaster();
    const fast = createFakeMultipass([{ name: "fast" }]);
    const slow = createFakeMultipass([{ name: "slow" }]);
    startWorker(m.cluster.port!, "a", fast);
    startWorker(m.cluster.port!, "b", slow);
    await waitFor("joined", () => readyCount(m.master) === 2);
    slow.failNext("info", "hang");
    const started = performance.now();
    const info = await apiGet(m.api, "/api/v1/info?timeout=300");
    expect(performance.now() - started).toBeLessThan(2000);
    expect(parseInfoResponse(info.body)).toEqual({ instances: [expect.objectContaining({ name: "fast" })], errors: [{ node: "b", message: 'Node "b" did not answer within 0.3s' }] });
  });

  test("workers rejoin a restarted master on the same port", async () => {
    const first = startMaster();
    const port = first.cluster.port!;
    const w = startWorker(port, "n1", createFakeMultipass([{ name: "web" }]));
    await waitFor("joined", () => readyCount(first.master) === 1);
    await first.stop();
    const second = startMaster(port);
    await waitFor("rejoined", () => readyCount(second.master) === 1, 5000);
    expect(w.lines.filter((l) => l.includes("joined with id"))).toHaveLength(2);
    expect((await listInstances(second.master)).map((i) => i.name)).toEqual(["web"]);
  });

  test("a wrong join token is explained in the worker's log and never joins", async () => {
    const m = startMaster();
    const w = startWorker(m.cluster.port!, "n1", createFakeMultipass(), "mvj_not-the-right-token-000000000000000");
    await waitFor("explained", () => w.lines.some((l) => l.includes("the master refused the join token")));
    expect(m.master.registry.entries().length).toBe(0);
    expect(w.lines.join("\n")).not.toContain("mvj_not-the-right-token");
  });

  test("the agent server accepts only the master of the current membership", async () => {
    const m = startMaster();
    const w = startWorker(m.cluster.port!, "n1", createFakeMultipass([{ name: "web" }]));
    await waitFor("joined", () => readyCount(m.master) === 1);
    const url = `http://127.0.0.1:${w.agent.port}/agent/v1/info`;
    for (const token of [null, JOIN, API, "whatever"]) {
      const r = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      expect(r.status).toBe(401);
    }
    const secret = m.master.registry.get("n1")!.agentToken;
    expect((await fetch(url, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(200);
  });
});

describe("the join socket refuses what it cannot trust", () => {
  async function open(port: number, token: string | null = JOIN): Promise<{ ws: WebSocket; messages: string[]; closed: Promise<CloseEvent> }> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/cluster/v1/join`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const messages: string[] = [];
    ws.onmessage = (e) => messages.push(String(e.data));
    const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
    await new Promise<void>((resolve) => {
      ws.onopen = () => resolve();
      ws.onerror = () => resolve();
    });
    return { ws, messages, closed };
  }
  const hello = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ type: "hello", protocolVersion: PROTOCOL_VERSION, name: "n1", publicKey: generateNodeKey().key.publicKey, agentPort: 1234, advertiseAddr: null, agentCert: null, version: "t", multipassVersion: null, multipassError: null, resources, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instances: [], ...extra });

  const cases: [string, string | Uint8Array, RegExp][] = [
    ["garbage text", "}{ not json", /not valid JSON/],
    ["binary garbage", new Uint8Array([0, 1, 2, 255]), /text frames only/],
    ["a state before hello", JSON.stringify({ type: "heartbeat", resources }), /Expected hello/],
    ["an unknown protocol version", hello({ protocolVersion: 99 }), /Protocol version 99 is not supported/],
    ["an invalid node name", hello({ name: "../etc" }), /node name/i],
    ["a bad agent port", hello({ agentPort: 70000 }), /Invalid agent port/],
    ["an agent certificate that is not one", hello({ agentCert: "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n" }), /agent certificate in hello is not a valid/],
  ];
  for (const [what, frame, why] of cases) {
    test(what, async () => {
      const m = startMaster();
      const good = startWorker(m.cluster.port!, "good", createFakeMultipass([{ name: "x" }]));
      await waitFor("good joined", () => readyCount(m.master) === 1);
      const { ws, messages, closed } = await open(m.cluster.port!);
      ws.send(frame);
      const event = await closed;
      expect(event.code).toBe(4002);
      expect(messages).toHaveLength(1);
      expect(parseMasterMessage(messages[0]!)).toMatchObject({ type: "error", message: expect.stringMatching(why) });
      expect(m.master.registry.get("n1")).toBeUndefined();
      expect(readyCount(m.master)).toBe(1);
      expect(good.lines.filter((l) => l.includes("lost the master"))).toEqual([]);
      expect(parseMasterStats((await apiGet(m.api, "/api/v1/stats")).body)).toMatchObject({ cluster: { joins: 1, rejected: 1 } });
    });
  }

  test("an upgrade without the join token is refused", async () => {
    const m = startMaster();
    for (const token of [null, API]) {
      const { closed } = await open(m.cluster.port!, token);
      expect((await closed).code).toBe(1006);
    }
    expect(m.master.registry.entries().length).toBe(0);
  });
});
