/**
 * The worker's join link against a scripted master: a master that welcomes
 * and then falls silent (a cut-off network, no FIN) is left and rejoined.
 */
import { afterEach, expect, test } from "bun:test";
import { parseWorkerMessage, type HostSnapshot } from "../../lib/protocol/join.ts";
import { runMasterLink } from "../../lib/worker/cluster-client.ts";
import type { HostMonitor } from "../../lib/worker/host-monitor.ts";
import { createTestLog } from "../support/test-log.ts";
import { waitFor } from "../e2e/harness.ts";

const snapshot: HostSnapshot = {
  multipassVersion: "1.16.3",
  multipassError: null,
  resources: { cpus: 1, load: [0, 0, 0], memory: { total: 1, available: 1 }, disk: { total: 1, available: 1 } },
  allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 },
  instances: [],
};
const monitor: HostMonitor = {
  current: () => snapshot,
  onChange: () => () => {},
  refresh: async () => snapshot,
  forget: () => {},
  run: async () => {},
  ready: Promise.resolve(),
};

const stops: (() => unknown)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

test("a master that goes silent after its welcome is left, and the worker joins again", async () => {
  let joins = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      return srv.upgrade(req) ? undefined : new Response("no", { status: 400 });
    },
    websocket: {
      message(ws, message) {
        if (parseWorkerMessage(String(message)).type === "hello") {
          joins++;
          // Welcome, then never a heartbeat: what a worker sees when the network is cut.
          ws.send(JSON.stringify({ type: "welcome", id: `m${joins}`, heartbeatMs: 100, agentToken: "t" }));
        }
      },
    },
  });
  stops.push(() => server.stop(true));
  const { log, lines } = createTestLog();
  const controller = new AbortController();
  const running = runMasterLink(
    { masterUrl: `http://127.0.0.1:${server.port}`, joinToken: "x", name: "n1", agentPort: 1, advertiseAddr: null, version: "t", monitor, log, onMembership: () => {}, backoff: { baseMs: 50, maxMs: 100 } },
    controller.signal,
  );
  stops.push(async () => {
    controller.abort();
    await running;
  });
  await waitFor("a second join", () => joins >= 2, 5000);
  expect(lines.some((l) => l.includes("has been silent for 4 heartbeat intervals; reconnecting"))).toBe(true);
  expect(lines.filter((l) => l.includes("joined with id")).length).toBeGreaterThanOrEqual(2);
});
