/**
 * An agent that accepts TCP and never answers (hung, stopped): the master's
 * changes and sessions on it fail within the headers deadline, with a clear
 * error, instead of waiting for a silence watchdog or a peer timeout.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { answerLost, createAgentClient, type AgentTarget } from "../../lib/master/agent-client.ts";
import { createSessionRelay } from "../../lib/master/session-relay.ts";
import type { SessionOutcome } from "../../lib/master/session-ends.ts";
import type { NodeEntry } from "../../lib/master/registry.ts";
import type { SessionControl } from "../../lib/protocol/session.ts";
import { createTestLog } from "../support/test-log.ts";
import { resources } from "../support/in-process.ts";

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

/** A TCP server that accepts every connection, reads it, and never writes a byte. */
async function hungAgent(): Promise<string> {
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("data", () => {});
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return `127.0.0.1:${address.port}`;
}

function entry(address: string): NodeEntry {
  return {
    id: "m1",
    name: "n3",
    address,
    version: "test",
    agentToken: "t",
    agentCert: null,
    joinedAt: 0,
    lastSync: 0,
    disconnectedAt: null,
    snapshot: { multipassVersion: null, multipassError: null, resources, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instances: [] },
    close: () => {},
  };
}

describe("a hung agent", () => {
  test("a change fails within the headers deadline, as a lost answer naming the node", async () => {
    const node: AgentTarget = { name: "n3", address: await hungAgent(), agentToken: "t", agentCert: null };
    const agents = createAgentClient({ headersMs: 200, silenceMs: 60_000 });
    const started = performance.now();
    const error = await agents.act(node, "start", "web", { force: false, purge: false }, { requestId: "r1", boundMs: 60_000 }).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(error).toMatchObject({ code: "E_UNREACHABLE" });
    expect(String((error as Error).message)).toMatch(/Node "n3" at 127\.0\.0\.1:\d+ did not answer the start of "web" within/);
    expect(answerLost(error)).toBe("connection");
  });

  test("the deadline covers the headers only: a stream whose last event comes later is not cut", async () => {
    const done = JSON.stringify({ type: "done", instances: [] }) + "\n";
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () =>
        new Response(
          new ReadableStream<Uint8Array>({
            async start(controller) {
              // Bun sends the headers with the first bytes: a keepalive.
              controller.enqueue(new TextEncoder().encode("\n"));
              await Bun.sleep(400);
              controller.enqueue(new TextEncoder().encode(done));
              controller.close();
            },
          }),
          { headers: { "content-type": "application/x-ndjson" } },
        ),
    });
    try {
      const node: AgentTarget = { name: "n1", address: `127.0.0.1:${server.port}`, agentToken: "t", agentCert: null };
      const agents = createAgentClient({ headersMs: 100, silenceMs: 60_000 });
      expect(await agents.purge(node, { requestId: "r2", boundMs: 60_000 })).toEqual([]);
    } finally {
      void server.stop(true);
    }
  });

  test("a session fails within the connect deadline with an error and a null exit", async () => {
    const relay = createSessionRelay({ log: createTestLog().log, connectMs: 200 });
    const controls: SessionControl[] = [];
    const closed: number[] = [];
    let outcome: SessionOutcome | null = null;
    const started = performance.now();
    relay.open(
      entry(await hungAgent()),
      { kind: "exec", instance: "web", command: ["sleep", "60"], tty: false, cols: 80, rows: 24, term: "xterm" },
      { binary: () => "more", control: (m) => controls.push(m), close: (code) => closed.push(code), pauseInput() {}, resumeInput() {} },
      (o) => (outcome = o),
    );
    while (outcome === null && performance.now() - started < 5_000) await Bun.sleep(20);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(controls[0]).toMatchObject({ type: "error", code: "E_UNREACHABLE" });
    expect(controls[0]?.type === "error" ? controls[0].message : "").toMatch(/Node "n3" at 127\.0\.0\.1:\d+ did not accept the session within/);
    expect(controls[1]).toEqual({ type: "exit", code: null });
    expect(closed).toHaveLength(1);
    expect(relay.list()).toEqual([]);
  });
});
