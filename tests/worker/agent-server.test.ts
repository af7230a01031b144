/**
 * The agent server's routes that change the host, driven through the app
 * with the in-memory Multipass: streamed lifecycle answers, the operation log
 * behind the request id, the refusal of a missing `primary`, and handlers
 * that wait longer than the server's idle timeout.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createKeyedLock } from "../../lib/core/keyed-lock.ts";
import { parseJson } from "../../lib/core/parse.ts";
import { MultipassError } from "../../lib/multipass/driver.ts";
import { parseErrorBody } from "../../lib/protocol/api.ts";
import { parseAgentOperation, REQUEST_ID_HEADER } from "../../lib/protocol/agent.ts";
import { parseAgentActionEvent } from "../../lib/protocol/operations.ts";
import { createAgentApp } from "../../lib/worker/agent-server.ts";
import { createHostMonitor } from "../../lib/worker/host-monitor.ts";
import { createWorkerOps } from "../../lib/worker/host-ops.ts";
import { createSessionHost } from "../../lib/worker/session-host.ts";
import { createFakeMultipass, type FakeMultipass } from "../support/fake-multipass.ts";
import { resources } from "../support/in-process.ts";
import { createTestLog } from "../support/test-log.ts";
import { generateNodeKey, verifyNodeSignature } from "../../lib/net/node-key.ts";
import { parseAgentIdentity, parseAgentSessions } from "../../lib/protocol/agent.ts";
import type { SessionSocket } from "../../lib/worker/session-host.ts";
import { agentProofText } from "../../lib/protocol/identity.ts";

const TOKEN = "agent-secret-for-tests";

function agentOn(multipass: FakeMultipass) {
  const { log } = createTestLog();
  const monitor = createHostMonitor({ multipass, readResources: () => resources, pollMs: 50, log });
  const ops = createWorkerOps({ multipass, monitor, lock: createKeyedLock(), log, node: "n1" });
  const sessions = createSessionHost({ multipass, log, ensureRunning: (i) => ops.ensureRunning(i), env: {}, platform: process.platform });
  const app = createAgentApp({ multipass, agentToken: () => TOKEN, log, name: "n1", key: generateNodeKey().key, sessions, ops });
  const call = (path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) =>
    app.request(path, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...init.headers },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  return { app, ops, call };
}

/** The events of an NDJSON answer, keepalive lines skipped. */
async function events(response: Response) {
  const text = await response.text();
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => parseAgentActionEvent(parseJson(l, "event")));
}

/** The calls that would change the host: all but the reads. */
function changes(multipass: FakeMultipass): string[] {
  return multipass.calls.filter((c) => !["list", "version", "get", "info"].includes(c));
}

/** A Multipass whose `method` waits for `release()` before doing its work. */
function gated(multipass: FakeMultipass, method: "stop" | "start" | "launch") {
  let release = (): void => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const original = multipass[method].bind(multipass) as (...args: unknown[]) => Promise<unknown>;
  Object.assign(multipass, { [method]: async (...args: unknown[]) => (await gate, original(...args)) });
  return { release };
}

describe("lifecycle answers", () => {
  test("streamed as one AgentActionEvent when the master asks for NDJSON; JSON for other callers", async () => {
    const { call } = agentOn(createFakeMultipass([{ name: "web" }]));
    const streamed = await call("/agent/v1/instances/web/stop", { body: {}, headers: { accept: "application/x-ndjson" } });
    expect(streamed.headers.get("content-type")).toBe("application/x-ndjson");
    expect(await events(streamed)).toEqual([{ type: "done", instances: [expect.objectContaining({ name: "web", state: "Stopped" })] }]);

    const failed = await call("/agent/v1/instances/ghost/start", { body: {}, headers: { accept: "application/x-ndjson" } });
    expect(await events(failed)).toEqual([{ type: "error", code: "E_NOT_FOUND", message: expect.stringContaining('Cannot start instance "ghost" on node "n1"') }]);

    const purged = await call("/agent/v1/purge", { body: {}, headers: { accept: "application/x-ndjson" } });
    expect(await events(purged)).toEqual([{ type: "done", instances: [expect.objectContaining({ name: "web" })] }]);

    const plain = await call("/agent/v1/instances/web/start", { body: {} });
    expect(plain.headers.get("content-type")).toContain("application/json");
    expect(await plain.json()).toEqual({ instances: [expect.objectContaining({ name: "web", state: "Running" })] });
  });
});

describe("the operation log behind the request id", () => {
  test("running while Multipass works, then ok with the host's listing; errors kept; unknown ids are 404", async () => {
    const multipass = createFakeMultipass([{ name: "web" }]);
    const { call } = agentOn(multipass);
    const gate = gated(multipass, "stop");
    const stopping = call("/agent/v1/instances/web/stop", { body: {}, headers: { accept: "application/x-ndjson", [REQUEST_ID_HEADER]: "req-1" } });
    const read = async (id: string) => parseAgentOperation(await (await call(`/agent/v1/operations/${id}`)).json());
    await (async () => {
      for (let i = 0; i < 100 && !(await call("/agent/v1/operations/req-1")).ok; i++) await Bun.sleep(5);
    })();
    expect(await read("req-1")).toMatchObject({ requestId: "req-1", action: "stop", instance: "web", state: "running", error: null, finishedAt: null });

    gate.release();
    await (await stopping).text();
    expect(await read("req-1")).toEqual({
      requestId: "req-1",
      action: "stop",
      instance: "web",
      state: "ok",
      error: null,
      finishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      instances: [expect.objectContaining({ name: "web", state: "Stopped" })],
    });

    // The fake names its lifecycle calls by the state they lead to.
    multipass.failNext("Running", new MultipassError({ kind: "failed", message: "start failed: boom", argv: ["start"], exitCode: 2, stderr: "" }));
    await (await call("/agent/v1/instances/web/start", { body: {}, headers: { [REQUEST_ID_HEADER]: "req-2" } })).text();
    expect(await read("req-2")).toMatchObject({ state: "error", error: { code: "E_MULTIPASS", message: expect.stringContaining("start failed: boom") } });

    const missing = await call("/agent/v1/operations/never-sent");
    expect(missing.status).toBe(404);
    expect(parseErrorBody(await missing.json())?.error.message).toContain('Node "n1" has no record of request "never-sent"');
  });

  test("a malformed request id is refused before anything is done", async () => {
    const multipass = createFakeMultipass([{ name: "web" }]);
    const { call } = agentOn(multipass);
    const refused = await call("/agent/v1/instances/web/stop", { body: {}, headers: { [REQUEST_ID_HEADER]: "bad id with spaces" } });
    expect(refused.status).toBe(400);
    expect(multipass.calls).not.toContain("Stopped");
    expect((await call("/agent/v1/operations/bad%20id")).status).toBe(400);
  });

  test("every agent route, this one too, needs the master's token", async () => {
    const { app } = agentOn(createFakeMultipass());
    expect((await app.request("/agent/v1/operations/req-1")).status).toBe(401);
  });
});

describe("the kept shells", () => {
  test.skipIf(process.platform === "win32")("GET /agent/v1/sessions lists them, for the master's token only", async () => {
    const multipass = createFakeMultipass([{ name: "web" }]);
    const { log } = createTestLog();
    const sessions = createSessionHost({ multipass, log, ensureRunning: async () => {}, env: { ...process.env, SHELL: "/bin/sh" }, platform: process.platform });
    const app = createAgentApp({ multipass, agentToken: () => TOKEN, log, name: "n1", key: generateNodeKey().key, sessions, ops: createWorkerOps({ multipass, monitor: createHostMonitor({ multipass, readResources: () => resources, pollMs: 50, log }), lock: createKeyedLock(), log, node: "n1" }) });
    const list = async () => parseAgentSessions(await (await app.request("/agent/v1/sessions", { headers: { authorization: `Bearer ${TOKEN}` } })).json());
    expect(await list()).toEqual({ sessions: [] });

    const session = sessions.session();
    const socket: SessionSocket = { send: () => 1, close: () => {}, getBufferedAmount: () => 0, pause() {}, resume() {} };
    session.open(socket);
    const id = "5f0c2a9e-1b7d-4c1e-9a57-0d3c1f2b4e61";
    session.message(socket, JSON.stringify({ kind: "shell", instance: "web", command: [], tty: true, cols: 100, rows: 30, term: "xterm", id, owner: "a1b2c3d4e5f6" }));
    const deadline = Date.now() + 5000;
    while (sessions.running === 0 && Date.now() < deadline) await Bun.sleep(10);
    session.close(socket, 1006, "");
    const [view] = (await list()).sessions;
    expect(view).toMatchObject({ id, instance: "web", owner: "a1b2c3d4e5f6", state: "detached", cols: 100, rows: 30, viewers: 0 });
    expect(Date.parse(view!.detachedUntil ?? "") - Date.now()).toBeGreaterThan(9 * 60_000);

    expect((await app.request("/agent/v1/sessions")).status).toBe(401);
    expect((await app.request("/agent/v1/sessions", { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    await sessions.closeAll();
    expect(sessions.running).toBe(0);
  });
});

describe("a primary that does not exist", () => {
  for (const action of ["start", "stop", "restart", "suspend"] as const) {
    test(`${action} is refused from a fresh listing, before multipass is asked to ${action} anything`, async () => {
      const multipass = createFakeMultipass([{ name: "web" }]);
      const { call } = agentOn(multipass);
      const answer = await call(`/agent/v1/instances/primary/${action}`, { body: {}, headers: { accept: "application/x-ndjson" } });
      const [event] = await events(answer);
      expect(event).toEqual({ type: "error", code: "E_NOT_FOUND", message: expect.stringContaining('Instance "primary" does not exist on node "n1"') });
      if (event?.type === "error") expect(event.message).toContain("Multipass launches a new instance");
      expect(changes(multipass)).toEqual([]);
    });
  }

  test("a session on it is refused the same way; an existing primary is started as any instance", async () => {
    const multipass = createFakeMultipass([{ name: "web" }]);
    const { ops } = agentOn(multipass);
    await expect(ops.ensureRunning("primary")).rejects.toMatchObject({ code: "E_NOT_FOUND", message: expect.stringContaining("not asking Multipass to open a session in it") });
    expect(changes(multipass)).toEqual([]);

    multipass.instances.set("primary", { name: "primary", state: "Stopped", cpus: 1, memory: 1, disk: 1, ipv4: [] });
    await ops.ensureRunning("primary");
    expect(multipass.instances.get("primary")?.state).toBe("Running");
    expect(await ops.act("stop", "primary", { force: false, purge: false })).toContainEqual(expect.objectContaining({ name: "primary", state: "Stopped" }));
  });
});

describe("handlers that wait longer than the idle timeout", () => {
  const servers: { stop(force: boolean): unknown }[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.stop(true);
  });

  test("info and a JSON lifecycle answer outlast the server's idle timeout", async () => {
    const multipass = createFakeMultipass([{ name: "web" }]);
    const { app } = agentOn(multipass);
    // Slower than Bun's 1 s idle timeout takes to close a silent connection (it checks every few seconds).
    for (const method of ["info", "stop"] as const) {
      const original = multipass[method].bind(multipass) as (...args: unknown[]) => Promise<unknown>;
      Object.assign(multipass, { [method]: async (...args: unknown[]) => (await Bun.sleep(4500), original(...args)) });
    }
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 1, fetch: app.fetch });
    servers.push(server);
    const base = `http://127.0.0.1:${server.port}`;
    const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
    const [info, stop] = await Promise.all([
      fetch(`${base}/agent/v1/info?name=web`, { headers }),
      fetch(`${base}/agent/v1/instances/web/stop`, { method: "POST", headers, body: "{}" }),
    ]);
    expect(info.status).toBe(200);
    expect(stop.status).toBe(200);
    expect(await stop.json()).toEqual({ instances: [expect.objectContaining({ name: "web", state: "Stopped" })] });
  }, 15_000);
});

describe("who may lock the master out", () => {
  test("30 requests without the master's secret lock their address out, but not a call with the secret from it", async () => {
    const { app, call } = agentOn(createFakeMultipass([{ name: "web" }]));
    // app.request has no peer address: every caller shares one, as a proxy or a NAT makes them do.
    for (let i = 0; i < 30; i++) expect((await app.request("/agent/v1/info", { headers: { authorization: "Bearer guess" } })).status).toBe(401);
    const locked = await app.request("/agent/v1/info");
    expect(locked.status).toBe(429);
    expect(parseErrorBody(await locked.json())).toMatchObject({ error: { code: "E_RATE_LIMITED" } });
    const master = await call("/agent/v1/info");
    expect(master.status).toBe(200);
  });
});

describe("the node's identity", () => {
  test("signs the master's nonce with the node key, for anyone, and refuses a malformed nonce", async () => {
    const key = generateNodeKey().key;
    const { log } = createTestLog();
    const multipass = createFakeMultipass();
    const monitor = createHostMonitor({ multipass, readResources: () => resources, pollMs: 50, log });
    const ops = createWorkerOps({ multipass, monitor, lock: createKeyedLock(), log, node: "n1" });
    const sessions = createSessionHost({ multipass, log, ensureRunning: (i) => ops.ensureRunning(i), env: {}, platform: process.platform });
    const app = createAgentApp({ multipass, agentToken: () => TOKEN, log, name: "n1", key, sessions, ops });
    const nonce = "A".repeat(43);
    const answer = parseAgentIdentity(await (await app.request(`/identity?nonce=${nonce}&node=other`)).json());
    expect(answer).toMatchObject({ name: "n1", publicKey: key.publicKey });
    expect(verifyNodeSignature(key.publicKey, agentProofText(nonce, "n1", key.publicKey), answer.signature)).toBe(true);
    // Bound to the nonce: the same answer does not prove anything for another.
    expect(verifyNodeSignature(key.publicKey, agentProofText("B".repeat(43), "n1", key.publicKey), answer.signature)).toBe(false);
    for (const bad of ["", "short", `${"A".repeat(40)}%0A${"A".repeat(10)}`, "A".repeat(129)]) {
      const r = await app.request(`/identity?nonce=${bad}`);
      expect(r.status).toBe(400);
      expect(parseErrorBody(await r.json())).toMatchObject({ error: { code: "E_USAGE", message: expect.stringContaining("Invalid identity request") } });
    }
  });
});
