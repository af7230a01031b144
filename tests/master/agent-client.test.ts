/**
 * The agent client's calls that change a host, against small agent servers
 * scripted here: a silence watchdog instead of a wall clock (keepalives keep
 * a call alive, silence ends it), the request id on every call, and failures
 * that say whether the answer was lost or the call never arrived.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { DAEMON_BOUND_MS } from "../../lib/core/timers.ts";
import { answerLost, createAgentClient, type AgentTarget } from "../../lib/master/agent-client.ts";
import { actionBoundMs, createNodeLoad, launchBoundMs, LAUNCH_DOWNLOAD_MS } from "../../lib/master/call-bounds.ts";
import { REQUEST_ID_HEADER } from "../../lib/protocol/agent.ts";
import type { InstanceSummary } from "../../lib/protocol/instances.ts";

const servers: { stop(force: boolean): unknown }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
});

const web: InstanceSummary = { name: "web", state: "Stopped", ipv4: [], release: "Ubuntu 24.04 LTS" };
const encoder = new TextEncoder();

/** An agent server whose every answer is `lines` written at the given delays (ms after the request), then the end. */
function agent(script: [number, string][], seen: Request[] = [], options: { end?: boolean } = {}): AgentTarget {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      seen.push(request);
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          let at = 0;
          for (const [delay, line] of script) {
            await Bun.sleep(delay - at);
            at = delay;
            controller.enqueue(encoder.encode(line));
          }
          if (options.end ?? true) controller.close();
        },
      });
      return new Response(body, { headers: { "content-type": "application/x-ndjson" } });
    },
  });
  servers.push(server);
  return { name: "n1", address: `127.0.0.1:${server.port}`, agentToken: "secret", agentCert: null };
}

const done = JSON.stringify({ type: "done", instances: [web] }) + "\n";
const stop = { force: false, purge: false };

describe("the silence watchdog", () => {
  test("keepalives keep a call alive past the silence limit: a long stop is not cut", async () => {
    const seen: Request[] = [];
    // The product's ratio (a keepalive every 5 s, a 30 s silence limit) scaled down: a keepalive every
    // 50 ms against a 300 ms limit, for 700 ms, more than twice the limit.
    const keepalives: [number, string][] = Array.from({ length: 13 }, (_, i): [number, string] => [50 * (i + 1), "\n"]);
    const node = agent([...keepalives, [700, done]], seen);
    const agents = createAgentClient({ silenceMs: 300 });
    expect(await agents.act(node, "stop", "web", stop, { requestId: "req-42", boundMs: 10_000 })).toEqual([web]);
    expect(seen[0]?.headers.get(REQUEST_ID_HEADER)).toBe("req-42");
    expect(seen[0]?.headers.get("accept")).toBe("application/x-ndjson");
  });

  test("a node silent for the limit is lost, and the failure says its answer was lost", async () => {
    const node = agent([[10, "\n"]], [], { end: false });
    const agents = createAgentClient({ silenceMs: 150 });
    const started = Date.now();
    const error = await agents.act(node, "stop", "web", stop, { requestId: "r", boundMs: 10_000 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toMatchObject({ code: "E_UNREACHABLE", message: 'Lost node "n1" during the stop of "web" (nothing heard for 0.15s)' });
    expect(answerLost(error)).toBe("connection");
  });

  test("a stream that ends without its last event, or breaks, lost the answer too", async () => {
    const agents = createAgentClient({ silenceMs: 1000 });
    const ended = await agents.purge(agent([[5, "\n"]]), { requestId: "r", boundMs: 10_000 }).catch((e: unknown) => e);
    expect(ended).toMatchObject({ message: 'Lost node "n1" during the purge of deleted instances (the answer ended early)' });
    expect(answerLost(ended)).toBe("connection");

    const progress = JSON.stringify({ type: "progress", phase: "Starting", percent: null, text: "Starting big" }) + "\n";
    const phases: string[] = [];
    const launch = agents.launch(agent([[5, progress]]), { name: "big" }, { requestId: "r", boundMs: 10_000 }, (p) => phases.push(p.phase));
    const lost = await launch.catch((e: unknown) => e);
    expect(phases).toEqual(["Starting"]);
    expect(lost).toMatchObject({ code: "E_UNREACHABLE", message: expect.stringContaining('Lost node "n1" during the launch of "big"') });
  });

  test("past the outer bound the answer is lost to the bound (E_TIMEOUT), even while keepalives come", async () => {
    const node = agent([50, 100, 150, 200, 250, 300].map((at) => [at, "\n"]), [], { end: false });
    const agents = createAgentClient({ silenceMs: 1000 });
    const error = await agents.act(node, "restart", "web", stop, { requestId: "r", boundMs: 200 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "E_TIMEOUT", message: 'Node "n1" did not finish the restart of "web" within 0.2s' });
    expect(answerLost(error)).toBe("bound");
  });
});

describe("failures that are answers", () => {
  test("the node's error event is its answer, not a lost one", async () => {
    const agents = createAgentClient({ silenceMs: 1000 });
    const refused = JSON.stringify({ type: "error", code: "E_NOT_FOUND", message: 'Instance "primary" does not exist on node "n1"' }) + "\n";
    const error = await agents.act(agent([[5, refused]]), "start", "primary", stop, { requestId: "r", boundMs: 10_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "E_NOT_FOUND", message: 'Instance "primary" does not exist on node "n1"' });
    expect(answerLost(error)).toBeNull();
  });

  test("a node that refuses the connection never got the call", async () => {
    const node = agent([]);
    servers.splice(0).forEach((s) => s.stop(true));
    const error = await createAgentClient().act(node, "stop", "web", stop, { requestId: "r", boundMs: 10_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "E_UNREACHABLE", message: expect.stringContaining('Cannot reach node "n1"') });
    expect(answerLost(error)).toBeNull();
  });
});

describe("asking a node how a call went", () => {
  test("its operation record, or null when it has none", async () => {
    const record = { requestId: "r1", action: "stop", instance: "web", state: "ok", error: null, finishedAt: "2024-05-01T12:00:00.000Z", instances: [web] };
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (request) =>
        new URL(request.url).pathname === "/agent/v1/operations/r1"
          ? Response.json(record)
          : Response.json({ error: { code: "E_NOT_FOUND", message: 'Node "n1" has no record of request "r2"' } }, { status: 404 }),
    });
    servers.push(server);
    const node = { name: "n1", address: `127.0.0.1:${server.port}`, agentToken: "secret", agentCert: null };
    const agents = createAgentClient();
    expect(await agents.operation(node, "r1", { timeoutMs: 1000 })).toEqual({ ...record, state: "ok" as const });
    expect(await agents.operation(node, "r2", { timeoutMs: 1000 })).toBeNull();
  });
});

describe("the outer bounds", () => {
  test("above the daemon's own: a verb per instance queued on the node, a launch with its download and both waits", () => {
    expect(actionBoundMs(0)).toBeGreaterThan(DAEMON_BOUND_MS);
    expect(actionBoundMs(4) - actionBoundMs(0)).toBe(4 * DAEMON_BOUND_MS);
    expect(launchBoundMs(undefined, 0)).toBeGreaterThan(LAUNCH_DOWNLOAD_MS + 2 * DAEMON_BOUND_MS);
    expect(launchBoundMs(600, 0)).toBeGreaterThan(LAUNCH_DOWNLOAD_MS + 2 * 600_000);
  });

  test("the calls in flight on a node are counted until each ends", () => {
    const load = createNodeLoad();
    const a = load.begin("n1");
    const b = load.begin("n1");
    expect([a.queued, b.queued, load.begin("n2").queued]).toEqual([0, 1, 0]);
    a.end();
    a.end();
    expect(load.begin("n1").queued).toBe(1);
  });
});
