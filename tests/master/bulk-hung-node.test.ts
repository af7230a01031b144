/**
 * A verb on many instances with one node hung (it accepts TCP and never
 * answers), one healthy and one working slowly (it answers at once, then
 * keeps its stream alive for longer than the headers deadline): every
 * instance gets a result of its own as it comes; the hung node's are failed
 * with its reason at its first call's headers deadline — before the slow
 * node is done, which is never cut — and only one call is ever sent to it.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server, TCPSocketListener } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAgentClient } from "../../lib/master/agent-client.ts";
import { auditTrailIn, closeAuditTrails } from "../support/audit-trail.ts";
import { createOperations } from "../../lib/master/operations.ts";
import { Registry } from "../../lib/master/registry.ts";
import type { ActionResult } from "../../lib/protocol/operations.ts";
import type { InstanceSummary } from "../../lib/protocol/instances.ts";
import { resources } from "../support/in-process.ts";
import { createTestLog } from "../support/test-log.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  closeAuditTrails();
  for (const c of cleanups.splice(0).reverse()) await c();
});

const HEADERS_MS = 300;
/** The slow node's answer comes this long after its headers: well past HEADERS_MS. */
const SLOW_MS = 1_500;

const summary = (name: string, state: InstanceSummary["state"]): InstanceSummary => ({ name, state, ipv4: [], release: null });

/** An agent server that starts what it is asked to, answering after `delayMs` with keepalives meanwhile. */
function agent(names: string[], delayMs: number): Server<undefined> {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const started = new URL(request.url).pathname.split("/")[4] ?? "";
      const done = JSON.stringify({ type: "done", instances: names.map((n) => summary(n, n === started ? "Running" : "Stopped")) }) + "\n";
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          const encoder = new TextEncoder();
          // The headers go with the first bytes; a worker's keepalive is a blank line.
          controller.enqueue(encoder.encode("\n"));
          for (let waited = 0; waited < delayMs; waited += 250) {
            await Bun.sleep(250);
            controller.enqueue(encoder.encode("\n"));
          }
          controller.enqueue(encoder.encode(done));
          controller.close();
        },
      });
      return new Response(body, { headers: { "content-type": "application/x-ndjson" } });
    },
  });
  cleanups.push(() => server.stop(true));
  return server;
}

/** A TCP server that accepts every connection and never writes a byte; it keeps the request lines it read. */
function hungAgent(): { listener: TCPSocketListener<undefined>; requests: string[] } {
  const requests: string[] = [];
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_socket, data) {
        const line = data.toString("latin1").split("\r\n")[0] ?? "";
        if (/^[A-Z]+ \//.test(line)) requests.push(line);
      },
    },
  });
  cleanups.push(() => listener.stop(true));
  return { listener, requests };
}

function setup() {
  const registry = new Registry({ now: Date.now, heartbeatMs: 60_000, downGraceMs: 60_000 });
  const join = (name: string, address: string, names: string[]) =>
    registry.join({
      id: name,
      name,
      address,
      version: "test",
      agentToken: "t",
      agentCert: null,
      snapshot: { multipassVersion: "1.16.3", multipassError: null, resources, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instances: names.map((n) => summary(n, "Stopped")) },
      close: () => {},
    }).entry;
  const dir = mkdtempSync(join_(tmpdir(), "mv-bulk-"));
  const stopping = new AbortController();
  cleanups.push(() => {
    stopping.abort();
    rmSync(dir, { recursive: true, force: true });
  });
  const audit = auditTrailIn(dir);
  const ops = createOperations({ registry, agents: createAgentClient({ headersMs: HEADERS_MS }), audit, log: createTestLog().log, stopping: stopping.signal });
  return { registry, join, ops, audit };
}
const join_ = join;

describe("a bulk start with a hung node", () => {
  test("each instance's result as it comes; the hung node's fail with its reason at once, and only one call reaches it", async () => {
    const { join, ops, audit } = setup();
    const healthy = agent(["a", "b"], 0);
    const slow = agent(["c"], SLOW_MS);
    const hung = hungAgent();
    const n1 = join("n1", `127.0.0.1:${healthy.port}`, ["a", "b"]);
    const n2 = join("n2", `127.0.0.1:${slow.port}`, ["c"]);
    const n3 = join("n3", `127.0.0.1:${hung.listener.port}`, ["x", "y", "z"]);
    const targets = [
      { node: n3, name: "x" },
      { node: n1, name: "a" },
      { node: n3, name: "y" },
      { node: n2, name: "c" },
      { node: n1, name: "b" },
      { node: n3, name: "z" },
    ];

    const heard: ActionResult[] = [];
    const results = await ops.act("start", targets, { force: false, purge: false }, { tokenId: "test" }, (r) => heard.push(r));

    const byName = new Map(results.map((r) => [r.name, r]));
    for (const name of ["a", "b", "c"]) expect(byName.get(name)).toMatchObject({ ok: true, state: "Running", error: null });
    expect(byName.get("x")).toMatchObject({ node: "n3", ok: false, state: "Stopped", error: { code: "E_UNREACHABLE" } });
    expect(byName.get("x")?.error?.message).toMatch(
      /^Node "n3" at 127\.0\.0\.1:\d+ did not answer the start of "x" within 0\.3s \(it accepts connections but does not respond\); it may still finish there/,
    );
    for (const name of ["y", "z"]) {
      expect(byName.get(name)).toMatchObject({ node: "n3", ok: false, state: "Stopped", error: { code: "E_UNREACHABLE" } });
      expect(byName.get(name)?.error?.message).toMatch(
        new RegExp(`^Cannot start "${name}" on node "n3": not sent, as the node did not answer an earlier call of this request \\(Node "n3" .* did not answer the start of "x" within 0\\.3s .*\\); "${name}" was left as it was$`),
      );
    }
    // One call went to the hung node (and, behind the caller's back, the questions of how it went).
    expect(hung.requests.filter((r) => r.startsWith("POST "))).toEqual(["POST /agent/v1/instances/x/start HTTP/1.1"]);
    // The hung node's instances were reported while the slow node was still working, and it was not cut.
    const order = heard.map((r) => r.name);
    expect(order.indexOf("c")).toBe(order.length - 1);
    expect(order.slice(0, 2).sort()).toEqual(["a", "b"]);
    // Every call is in the trail; the ones not sent are done, as errors.
    const done = audit.list().filter((e) => e.phase === "done");
    expect(done.filter((e) => e.result === "ok").map((e) => e.instance).sort()).toEqual(["a", "b", "c"]);
    expect(done.filter((e) => e.result === "error").map((e) => e.instance).sort()).toEqual(["y", "z"]);
  });
});
