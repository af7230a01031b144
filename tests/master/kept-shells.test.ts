/**
 * Kept shells through the master (issue 12), with stand-in agents that keep
 * shells (tests/support/kept-agent.ts) on real sockets: what the shell's
 * start frame carries, the `session` frame, a client that goes away or
 * detaches, the merged listing, and attaching by id — found on its node,
 * refused to anyone but its owner — with no state on the master.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Context } from "hono";
import { createAgentClient } from "../../lib/master/agent-client.ts";
import type { AuditLog } from "../../lib/master/audit-log.ts";
import { auditTrailIn, closeAuditTrails } from "../support/audit-trail.ts";
import { createKeptSessions } from "../../lib/master/kept-sessions.ts";
import { Registry } from "../../lib/master/registry.ts";
import { createSessionRelay } from "../../lib/master/session-relay.ts";
import type { ClientEnd, SessionOutcome } from "../../lib/master/session-ends.ts";
import { registerSessionRoutes } from "../../lib/master/session-routes.ts";
import { createBaseApp } from "../../lib/net/http.ts";
import { websocketHandler } from "../../lib/net/ws.ts";
import { arrayOf, parseJson } from "../../lib/core/parse.ts";
import { parseErrorBody, parseSessionView } from "../../lib/protocol/api.ts";
import { controlFrame, parseSessionControl, type SessionControl, type SessionSpec } from "../../lib/protocol/session.ts";
import { createTestLog } from "../support/test-log.ts";
import { keptSession, SCREEN, startKeptAgent, type KeptAgent } from "../support/kept-agent.ts";
import { API, runCleanups, startMaster } from "../support/in-process.ts";
import { waitFor } from "../e2e/harness.ts";

const MINE = "a1b2c3d4e5f6";
const THEIRS = "0f0f0f0f0f0f";
const ID = "3f2a9c1e-7b4d-4e8a-9c2f-0a1b2c3d4e5f";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  closeAuditTrails();
  for (const c of cleanups.splice(0).reverse()) await c();
  await runCleanups();
});

/** A master's session routes on a real port, its nodes the stand-in agents; the caller's token id is the `x-token` header. */
function master(agents: KeptAgent[]) {
  const dir = mkdtempSync(join(tmpdir(), "mv-kept-"));
  const audit: AuditLog = auditTrailIn(dir);
  const { log } = createTestLog();
  const registry = new Registry({ now: Date.now, heartbeatMs: 60_000, downGraceMs: 60_000 });
  agents.forEach((a, i) => registry.join(a.node(`n${i + 1}`)));
  const relay = createSessionRelay({ log });
  const kept = createKeptSessions({ registry, agents: createAgentClient(), log, lookupMs: 300 });
  const app = createBaseApp({ log, maxBodyBytes: 1 << 20, name: "api" });
  registerSessionRoutes(app, { registry, relay, kept, audit, log, caller: (c: Context) => ({ tokenId: c.req.header("x-token") ?? MINE }) });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }) });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => server.stop(true));
  return { url: `127.0.0.1:${server.port}`, audit, relay };
}

function agent(): KeptAgent {
  const a = startKeptAgent();
  cleanups.push(() => a.server.stop(true));
  return a;
}

interface Probe {
  ws: WebSocket;
  controls: SessionControl[];
  output: string;
  closed: Promise<CloseEvent>;
}

function connect(url: string, path: string, token = MINE): Probe {
  const ws = new WebSocket(`ws://${url}${path}`, { headers: { "x-token": token } });
  ws.binaryType = "arraybuffer";
  const probe: Probe = { ws, controls: [], output: "", closed: new Promise((resolve) => (ws.onclose = resolve)) };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") probe.controls.push(parseSessionControl(event.data));
    else if (event.data instanceof ArrayBuffer) probe.output += new TextDecoder().decode(event.data);
  };
  cleanups.push(() => ws.close());
  return probe;
}

async function get(url: string, path: string, token = MINE) {
  const response = await fetch(`http://${url}${path}`, { headers: { "x-token": token } });
  return { status: response.status, body: parseJson(await response.text(), "answer") };
}

const sessionOf = (p: Probe) => p.controls.find((c) => c.type === "session");

describe("a shell its node may keep", () => {
  test("the start frame carries the session id and the caller's token id; the node's `session` reaches the client with the node's name", async () => {
    const a = agent();
    const m = master([a]);
    const shell = connect(m.url, "/api/v1/instances/web/shell?cols=100&rows=30");
    const session = await waitFor("session frame", () => sessionOf(shell));
    expect(session).toEqual({ type: "session", id: expect.any(String), node: "n1" });
    expect(a.starts[0]).toMatchObject({ kind: "shell", instance: "web", cols: 100, rows: 30, owner: MINE, id: (session as { id: string }).id });
    const exec = connect(m.url, "/api/v1/instances/web/exec?arg=true");
    await waitFor("exec started", () => a.starts.length === 2);
    expect(a.starts[1]).not.toHaveProperty("id");
    expect(a.starts[1]).not.toHaveProperty("owner");
    exec.ws.close();
  });

  test("a client that goes away: the node's socket closes normally, without an exit, and the audit trail records the detach", async () => {
    const a = agent();
    const m = master([a]);
    const shell = connect(m.url, "/api/v1/instances/web/shell");
    const { id } = (await waitFor("session frame", () => sessionOf(shell))) as { id: string };
    shell.ws.close();
    await waitFor("node socket closed", () => a.closes.length === 1);
    expect(a.closes).toEqual([1000]);
    expect(a.frames.filter((f) => typeof f !== "string" && f.type !== "ping" && f.type !== "pong")).toEqual([]);
    expect(a.kept.get(id)?.state).toBe("detached");
    await waitFor("recorded", () => m.audit.list().some((e) => e.action === "shell" && e.phase === "done"));
    expect(m.audit.list().map((e) => ({ action: e.action, phase: e.phase, params: e.params, result: e.result, error: e.error }))).toEqual([
      { action: "shell", phase: "requested", params: { tty: true, session: id }, result: undefined, error: undefined },
      { action: "detach", phase: "requested", params: { session: id }, result: undefined, error: undefined },
      { action: "detach", phase: "done", params: undefined, result: "ok", error: undefined },
      { action: "shell", phase: "done", params: undefined, result: "ok", error: undefined },
    ]);
  });

  test("detach: the node's `detached` and its close 4010 reach the client as they are, with no error and no exit", async () => {
    const a = agent();
    const m = master([a]);
    const shell = connect(m.url, "/api/v1/instances/web/shell");
    const { id } = (await waitFor("session frame", () => sessionOf(shell))) as { id: string };
    shell.ws.send(controlFrame({ type: "detach" }));
    const closed = await shell.closed;
    expect(closed.code).toBe(4010);
    expect(shell.controls.filter((c) => c.type !== "ping" && c.type !== "pong")).toEqual([
      { type: "session", id, node: "n1" },
      { type: "detached", id },
    ]);
    expect(a.frames).toContainEqual({ type: "detach" });
    await waitFor("recorded", () => m.audit.list().some((e) => e.action === "shell" && e.phase === "done"));
    expect(m.audit.list().filter((e) => e.action === "detach").map((e) => e.phase)).toEqual(["requested", "done"]);
  });

  test("the node's socket lost under a kept shell: the client hears why and `detached` (the node keeps it), not an exit", async () => {
    const a = agent();
    const m = master([a]);
    const shell = connect(m.url, "/api/v1/instances/web/shell");
    const { id } = (await waitFor("session frame", () => sessionOf(shell))) as { id: string };
    void a.server.stop(true);
    expect((await shell.closed).code).toBe(4010);
    const ends = shell.controls.filter((c) => c.type !== "ping" && c.type !== "pong").slice(1);
    expect(ends).toEqual([{ type: "error", code: "E_UNREACHABLE", message: expect.stringContaining('Lost the connection to node "n1"') }, { type: "detached", id }]);
    await waitFor("recorded", () => m.audit.list().some((e) => e.action === "shell" && e.phase === "done"));
    expect(m.audit.list().find((e) => e.action === "detach" && e.phase === "requested")?.params).toEqual({ session: id, why: expect.stringContaining("Lost the connection") });
  });

  test("a kept shell's client that goes silent hears no exit: the close 4004, as a dropped network, and the node keeps the shell", async () => {
    const a = agent();
    const registry = new Registry({ now: Date.now, heartbeatMs: 60_000, downGraceMs: 60_000 });
    const { entry } = registry.join(a.node("n1"));
    const relay = createSessionRelay({ log: createTestLog().log, liveness: { pingIntervalMs: 50, peerTimeoutMs: 200 } });
    const events: string[] = [];
    const end: ClientEnd = {
      binary: () => "more",
      control: (m) => void events.push(m.type),
      close: (code) => void events.push(`close ${code}`),
      ping: () => {},
      pauseInput: () => {},
      resumeInput: () => {},
    };
    let outcome: SessionOutcome | null = null;
    const spec: SessionSpec = { kind: "shell", instance: "web", command: [], tty: true, cols: 80, rows: 24, term: "xterm", id: ID, owner: MINE };
    relay.open(entry, spec, end, (o) => (outcome = o));
    await waitFor("ended", () => outcome !== null);
    expect(outcome!).toEqual({ exitCode: null, error: null, detached: true });
    expect(events.filter((e) => e !== "ping")).toEqual(["session", "close 4004"]);
    await waitFor("node socket closed", () => a.closes.length === 1);
    expect(a.closes).toEqual([1000]);
    expect(a.kept.get(ID)?.state).toBe("detached");
  });

  test("an exec is not kept: `detach` from its client is not passed on, and a client gone ends it as before", async () => {
    const a = agent();
    const m = master([a]);
    const exec = connect(m.url, "/api/v1/instances/web/exec?arg=sleep&arg=30");
    await waitFor("exec started", () => a.starts.length === 1);
    exec.ws.send(controlFrame({ type: "detach" }));
    exec.ws.close();
    await waitFor("recorded", () => m.audit.list().some((e) => e.phase === "done"));
    expect(a.frames).not.toContainEqual({ type: "detach" });
    expect(m.audit.list().find((e) => e.phase === "done")).toMatchObject({ action: "exec", result: "error", error: { code: "E_CANCELLED" } });
    expect(m.audit.list().some((e) => e.action === "detach")).toBe(false);
  });
});

describe("the session listing", () => {
  test("the relay's sessions merged with every node's kept shells, one row per id, `mine` for the caller", async () => {
    const [a, b] = [agent(), agent()];
    b.kept.set(ID, keptSession(ID, THEIRS, "detached", "db"));
    const m = master([a, b]);
    const shell = connect(m.url, "/api/v1/instances/web@n1/shell");
    const { id } = (await waitFor("session frame", () => sessionOf(shell))) as { id: string };
    const { status, body } = await get(m.url, "/api/v1/sessions");
    expect(status).toBe(200);
    const rows = arrayOf(parseSessionView)(body, "sessions");
    // Oldest first: the detached one was kept before the shell opened.
    expect(rows.map((r) => ({ id: r.id, node: r.node, instance: r.instance, owner: r.owner, state: r.state, mine: r.mine }))).toEqual([
      { id: ID, node: "n2", instance: "db", owner: THEIRS, state: "detached", mine: false },
      { id, node: "n1", instance: "web", owner: MINE, state: "attached", mine: true },
    ]);
    const theirs = arrayOf(parseSessionView)((await get(m.url, "/api/v1/sessions", THEIRS)).body, "sessions");
    expect(theirs.map((r) => [r.id, r.mine])).toContainEqual([ID, true]);
    expect(theirs.map((r) => [r.id, r.mine])).toContainEqual([id, false]);
  });

  test("a node that does not answer is left out; the listing does not wait for it", async () => {
    const [a, b] = [agent(), agent()];
    a.hang = true;
    b.kept.set(ID, keptSession(ID, MINE, "detached"));
    const m = master([a, b]);
    const { status, body } = await get(m.url, "/api/v1/sessions");
    expect(status).toBe(200);
    expect(arrayOf(parseSessionView)(body, "sessions").map((r) => [r.id, r.node])).toEqual([[ID, "n2"]]);
  });
});

describe("attaching by id", () => {
  test("needs the API token, as every route", async () => {
    const m = startMaster();
    const response = await fetch(`http://127.0.0.1:${m.api.port}/api/v1/sessions/${ID}/attach`);
    expect(response.status).toBe(401);
    const authorized = await fetch(`http://127.0.0.1:${m.api.port}/api/v1/sessions/${ID}/attach`, { headers: { authorization: `Bearer ${API}` } });
    expect(authorized.status).toBe(404);
  });

  test("finds the node that keeps it (a shell this master never relayed, as after a restart) and sends it the attach; the client gets `attached`, then the screen", async () => {
    const [a, b] = [agent(), agent()];
    b.kept.set(ID, keptSession(ID, MINE, "detached"));
    const m = master([a, b]);
    const probe = connect(m.url, `/api/v1/sessions/${ID}/attach?cols=120&rows=40`);
    await waitFor("screen", () => probe.output === SCREEN);
    expect(b.starts).toEqual([{ kind: "attach", id: ID, owner: MINE, readOnly: false, cols: 120, rows: 40 }]);
    expect(a.starts).toEqual([]);
    expect(probe.controls.filter((c) => c.type !== "ping")).toEqual([{ type: "attached", id: ID, readOnly: false }]);
    probe.ws.send(controlFrame({ type: "detach" }));
    expect((await probe.closed).code).toBe(4010);
    await waitFor("recorded", () => m.audit.list().some((e) => e.action === "attach" && e.phase === "done"));
    expect(m.audit.list().map((e) => [e.action, e.phase, e.node, e.result])).toEqual([
      ["attach", "requested", "n2", undefined],
      ["detach", "requested", "n2", undefined],
      ["detach", "done", "n2", "ok"],
      ["attach", "done", "n2", "ok"],
    ]);
    expect(m.audit.list()[0]?.params).toEqual({ session: ID, readOnly: false });
  });

  test("an id no node keeps, and another token's, are the same E_NOT_FOUND; a bad id is a usage error", async () => {
    const a = agent();
    a.kept.set(ID, keptSession(ID, THEIRS, "detached"));
    const m = master([a]);
    const unknown = await get(m.url, "/api/v1/sessions/0123abcd-0000-4000-8000-000000000000/attach");
    const foreign = await get(m.url, `/api/v1/sessions/${ID}/attach`);
    expect(unknown.status).toBe(404);
    expect(foreign.status).toBe(404);
    expect(parseErrorBody(foreign.body)?.error.code).toBe("E_NOT_FOUND");
    expect(parseErrorBody(foreign.body)?.error.message.replace(ID, "X")).toBe(parseErrorBody(unknown.body)?.error.message.replace("0123abcd-0000-4000-8000-000000000000", "X"));
    const refused = connect(m.url, `/api/v1/sessions/${ID}/attach`);
    expect((await refused.closed).code).toBe(1006);
    expect(a.starts).toEqual([]);
    expect((await get(m.url, "/api/v1/sessions/..%2Fetc/attach")).status).toBe(400);
    expect((await get(m.url, `/api/v1/sessions/${ID}/attach?readOnly=maybe`, THEIRS)).status).toBe(400);
    expect(m.audit.list()).toEqual([]);
  });

  test("read-only: the watcher's input, resizes and detach never reach the node", async () => {
    const a = agent();
    a.kept.set(ID, keptSession(ID, MINE, "attached"));
    const m = master([a]);
    const probe = connect(m.url, `/api/v1/sessions/${ID}/attach?readOnly=1`);
    await waitFor("screen", () => probe.output === SCREEN);
    probe.ws.send(new TextEncoder().encode("rm -rf /\r"));
    probe.ws.send(controlFrame({ type: "resize", cols: 10, rows: 5 }));
    probe.ws.send(controlFrame({ type: "detach" }));
    probe.ws.send(controlFrame({ type: "ping" }));
    await waitFor("pong", () => probe.controls.some((c) => c.type === "pong"));
    expect(a.frames.filter((f) => typeof f === "string" || f.type !== "ping")).toEqual([]);
    expect(m.relay.list()).toMatchObject([{ id: ID, viewers: 1 }]);
  });
});
