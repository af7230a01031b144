/**
 * The lifecycle, purge and launch routes over a real Bun server, with the
 * operations played by a fake whose calls end when the test says so: streamed
 * answers (each outcome as it finishes, then `done`), JSON answers exactly as
 * before, and long calls never cut by the server's idle timer.
 */
import { joinNode } from "../support/registry.ts";
import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { createBaseApp } from "../../lib/net/http.ts";
import { websocketHandler, type WsData } from "../../lib/net/ws.ts";
import { registerOperationRoutes } from "../../lib/master/operation-routes.ts";
import type { Operations } from "../../lib/master/operations.ts";
import { Registry } from "../../lib/master/registry.ts";
import type { Target } from "../../lib/master/targets.ts";
import { parseJson } from "../../lib/core/parse.ts";
import { parseActionAnswer, parseActionEvent, parseActionResult, parsePurgeAnswer, parsePurgeEvent, type ActionResult, type PurgeResult } from "../../lib/protocol/operations.ts";
import type { InstanceState } from "../../lib/protocol/instances.ts";
import { selfSignedCertificate } from "../support/certificate.ts";
import { createTestLog } from "../support/test-log.ts";


function cluster(): Registry {
  const registry = new Registry({ now: () => Date.now(), heartbeatMs: 60_000, downGraceMs: 60_000 });
  const join = (name: string, instances: [string, InstanceState][]) => joinNode(registry, name, instances);
  join("n1", [["web", "Running"], ["db", "Running"]]);
  join("n2", [["cache", "Running"]]);
  return registry;
}

/** Operations whose every call takes `delays[name]` ms (default 0) and then succeeds, except the names in `failing`. */
function fakeOps(delays: Record<string, number>, failing: string[] = []): Operations {
  const wait = (key: string) => Bun.sleep(delays[key] ?? 0);
  const result = (target: Target, state: InstanceState): ActionResult =>
    failing.includes(target.name)
      ? { node: target.node.name, name: target.name, ok: false, state: "Running", error: { code: "E_MULTIPASS", message: `Cannot stop instance "${target.name}"` } }
      : { node: target.node.name, name: target.name, ok: true, state, error: null };
  return {
    async act(_action, targets, _options, _caller, onResult) {
      const results = await Promise.all(
        targets.map(async (target) => {
          await wait(target.name);
          const r = result(target, "Stopped");
          onResult?.(r);
          return r;
        }),
      );
      return results.sort((a, b) => (a.name < b.name ? -1 : 1));
    },
    async purge(nodes, _caller, onResult) {
      return Promise.all(
        nodes.map(async (node) => {
          await wait(node.name);
          const r: PurgeResult = { node: node.name, ok: true, purged: [], error: null };
          onResult?.(r);
          return r;
        }),
      );
    },
    planLaunch: () => ({ node: "n1", reason: "test", name: null }),
    candidates: () => [],
    launchingOn: () => null,
    prepareLaunch: (body) => ({ node: cluster().get("n1")!, placement: null, spec: { name: body.name ?? "x" }, requestId: "r", labels: {} }),
    async runLaunch(prepared, _caller, emit) {
      emit({ type: "placed", node: "n1", reason: "test" });
      await wait(prepared.spec.name);
      return { type: "launched", node: "n1", name: prepared.spec.name, state: "Running", ipv4: [] };
    },
  };
}

let server: Server<WsData> | undefined;
afterEach(() => {
  void server?.stop(true);
  server = undefined;
});

const certificate = selfSignedCertificate("routes");

/**
 * The routes on a Bun server over TLS with an idle timer of 1 s (Bun counts
 * idle time in ticks of 4 s, so a silent request dies within 4 s); `base`
 * is its URL. Over TLS because there Bun's idle
 * timer cuts a POST still waiting for its answer, while over plain HTTP a
 * request with a body happens to escape it.
 */
function serve(ops: Operations): string {
  const app = createBaseApp({ log: createTestLog().log, maxBodyBytes: 1 << 20, name: "api" });
  registerOperationRoutes(app, { registry: cluster(), ops, caller: () => ({ tokenId: "tok" }) });
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 1, tls: certificate, fetch: app.fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }) });
  return `https://127.0.0.1:${server.port}`;
}

function post(url: string, body: unknown, accept?: string): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(accept ? { accept } : {}) },
    body: JSON.stringify(body),
    tls: { ca: certificate.cert },
  });
}

/** The NDJSON lines of a streamed answer, each with when it arrived (ms after `start`). */
async function timedLines(response: Response, start: number): Promise<{ at: number; value: unknown }[]> {
  const lines: { at: number; value: unknown }[] = [];
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of response.body!) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let at = buffered.indexOf("\n"); at >= 0; at = buffered.indexOf("\n")) {
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      if (line.trim() !== "") lines.push({ at: Date.now() - start, value: parseJson(line, "line") });
    }
  }
  return lines;
}

describe("streamed lifecycle and purge answers", () => {
  test("a bulk verb streams each instance's result as it finishes, then done with the JSON answer's fields", async () => {
    const base = serve(fakeOps({ web: 50, db: 600, cache: 300 }, ["cache"]));
    const start = Date.now();
    const response = await post(`${base}/api/v1/actions/stop`, { instances: ["web", "db", "cache"] }, "application/x-ndjson");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = await timedLines(response, start);
    const events = lines.map((l) => parseActionEvent(l.value));
    expect(events.map((e) => (e.type === "result" ? e.result.name : "done"))).toEqual(["web", "cache", "db", "done"]);
    // Each result came when its instance finished, not all at the end.
    expect(lines[0]!.at).toBeLessThan(500);
    const done = events.at(-1)!;
    expect(done).toEqual({
      type: "done",
      ok: false,
      results: [
        { node: "n2", name: "cache", ok: false, state: "Running", error: { code: "E_MULTIPASS", message: 'Cannot stop instance "cache"' } },
        { node: "n1", name: "db", ok: true, state: "Stopped", error: null },
        { node: "n1", name: "web", ok: true, state: "Stopped", error: null },
      ],
    });
  });

  test("one instance's verb and a purge stream the same way; server-sent events when asked for", async () => {
    const base = serve(fakeOps({}));
    const one = (await (await post(`${base}/api/v1/instances/web@n1/stop`, {}, "application/x-ndjson")).text()).trim().split("\n");
    expect(one.map((l) => parseActionEvent(parseJson(l, "line")).type)).toEqual(["result", "done"]);

    const purge = (await (await post(`${base}/api/v1/purge`, {}, "application/x-ndjson")).text()).trim().split("\n").map((l) => parsePurgeEvent(parseJson(l, "line")));
    expect(purge.filter((e) => e.type === "result")).toHaveLength(2);
    expect(purge.at(-1)).toEqual({ type: "done", ok: true, results: [expect.objectContaining({ node: "n1" }), expect.objectContaining({ node: "n2" })] });

    const sse = await post(`${base}/api/v1/actions/stop`, { instances: ["web"] }, "text/event-stream");
    expect(sse.headers.get("content-type")).toBe("text/event-stream");
    expect((await sse.text()).trim().split("\n\n").map((block) => block.split("\n")[0])).toEqual(["event: result", "event: done"]);
  });

  test("a name that does not resolve is refused before any stream starts, in JSON", async () => {
    const base = serve(fakeOps({}));
    const response = await post(`${base}/api/v1/actions/stop`, { instances: ["nope"] }, "application/x-ndjson");
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toStartWith("application/json");
  });
});

describe("JSON answers", () => {
  test("are what they were: the bulk answer, one instance's result or its error, the purge answer", async () => {
    const base = serve(fakeOps({}, ["db"]));
    const bulk = await post(`${base}/api/v1/actions/stop`, { instances: ["web", "db"] });
    expect(bulk.status).toBe(200);
    expect(parseActionAnswer(await bulk.json())).toEqual({
      ok: false,
      results: [
        { node: "n1", name: "db", ok: false, state: "Running", error: { code: "E_MULTIPASS", message: 'Cannot stop instance "db"' } },
        { node: "n1", name: "web", ok: true, state: "Stopped", error: null },
      ],
    });
    const one = await post(`${base}/api/v1/instances/web/stop`, {});
    expect(parseActionResult(await one.json(), "result")).toEqual({ node: "n1", name: "web", ok: true, state: "Stopped", error: null });
    const failed = await post(`${base}/api/v1/instances/db/stop`, {});
    expect({ status: failed.status, body: await failed.json() }).toEqual({ status: 502, body: { error: { code: "E_MULTIPASS", message: 'Cannot stop instance "db"' } } });
    const purge = await post(`${base}/api/v1/purge`, { node: "n2" });
    expect(parsePurgeAnswer(await purge.json())).toEqual({ ok: true, results: [{ node: "n2", ok: true, purged: [], error: null }] });
  });

  // Proves a wait longer than the server's idle timer: each call takes 6 s, past the 4 s
  // within which Bun closes a silent connection here (idleTimeout 1).
  test("a call that waits longer than the server's idle timer is answered, not cut", async () => {
    const base = serve(fakeOps({ web: 6000, n1: 6000, n2: 6000, slow: 6000 }));
    const [one, bulk, purge, launch] = await Promise.all([
      post(`${base}/api/v1/instances/web/stop`, {}),
      post(`${base}/api/v1/actions/stop`, { instances: ["web"] }),
      post(`${base}/api/v1/purge`, {}),
      post(`${base}/api/v1/instances`, { name: "slow" }),
    ]);
    expect([one.status, bulk.status, purge.status, launch.status]).toEqual([200, 200, 200, 201]);
    expect(parseActionAnswer(await bulk.json()).ok).toBe(true);
    expect(await launch.json()).toEqual({ node: "n1", name: "slow", state: "Running", ipv4: [] });
  }, 20_000);
});
