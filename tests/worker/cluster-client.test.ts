/**
 * The worker's join link against a scripted master: a master that welcomes
 * and then falls silent (a cut-off network, no FIN) is left and rejoined; the
 * link's states; what each end of a connection means for the next attempt.
 */
import { ShellEndOutbox } from "../../lib/worker/shell-ends.ts";
import { afterEach, expect, test } from "bun:test";
import { parseWorkerMessage, type HostSnapshot, type WorkerMessage } from "../../lib/protocol/join.ts";
import type { ServerWebSocket } from "bun";
import { ClusterClient, classifyEnd, runMasterLink, type LinkDeps } from "../../lib/worker/cluster-client.ts";
import type { HostMonitor } from "../../lib/worker/host-monitor.ts";
import { createTestLog } from "../support/test-log.ts";
import { generateNodeKey, verifyNodeSignature } from "../../lib/net/node-key.ts";
import { joinProofText } from "../../lib/protocol/identity.ts";
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
  noteChange: () => {},
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
    { masterUrl: `http://127.0.0.1:${server.port}`, joinToken: "x", name: "n1", key: generateNodeKey().key, agentPort: 1, advertiseAddr: null, version: "t", monitor, log, onMembership: () => {}, backoff: { baseMs: 50, maxMs: 100 } },
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

function linkDeps(port: number | undefined, log: LinkDeps["log"], overrides: Partial<LinkDeps> = {}): LinkDeps {
  return { masterUrl: `http://127.0.0.1:${port}`, joinToken: "x", name: "n1", key: generateNodeKey().key, agentPort: 1, advertiseAddr: null, version: "t", monitor, log, onMembership: () => {}, backoff: { baseMs: 50, maxMs: 100 }, ...overrides };
}

test.each([
  ["a shutdown, whatever the code", { welcomed: true, code: 4000 }, true, "stop"],
  ["another worker joining under the same name", { welcomed: true, code: 4000 }, false, "replaced"],
  ["a joined link that broke", { welcomed: true, code: 1006 }, false, "lost"],
  ["a master that went silent", { welcomed: true, code: 4005 }, false, "lost"],
  ["a replaced code before any welcome", { welcomed: false, code: 4000 }, false, "refused"],
  ["a refused upgrade", { welcomed: false, code: 1006 }, false, "refused"],
  // Not a hot loop: an operator must act first (remove the node, or give this one its own --name).
  ["a name pinned to another key", { welcomed: false, code: 4006 }, false, "refused"],
] as const)("classifyEnd: %s", (_what, end, shuttingDown, expected) => {
  expect(classifyEnd({ ...end, reason: "", error: null }, shuttingDown)).toBe(expected);
});

test("the link goes idle → connecting → joined → backing-off → connecting … → stopped", async () => {
  let joins = 0;
  const seen: string[] = [];
  let link: ClusterClient | null = null;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      return srv.upgrade(req) ? undefined : new Response("no", { status: 400 });
    },
    websocket: {
      message(ws, message) {
        if (parseWorkerMessage(String(message)).type !== "hello") return;
        joins++;
        seen.push(`hello while ${link?.state}`);
        ws.send(JSON.stringify({ type: "welcome", id: `m${joins}`, heartbeatMs: 10_000, agentToken: `t${joins}` }));
        if (joins === 1) ws.close(1011, "master restarting");
      },
    },
  });
  stops.push(() => server.stop(true));
  const { log, lines } = createTestLog();
  link = new ClusterClient(linkDeps(server.port, log, { onMembership: (token) => seen.push(`${token} while ${link?.state}`) }));
  expect(link.state).toBe("idle");
  const controller = new AbortController();
  const running = link.run(controller.signal);
  await waitFor("a second join", () => joins >= 2 && link?.state === "joined", 5000);
  controller.abort();
  await running;
  expect(link.state).toBe("stopped");
  expect(seen).toEqual(["hello while connecting", "t1 while joined", "null while backing-off", "hello while connecting", "t2 while joined", "null while backing-off"]);
  expect(lines.some((l) => l.includes("lost the master at") && l.includes("(code 1011: master restarting); reconnecting"))).toBe(true);
});

test("a refused join is explained by the master's ping route, once at warn level", async () => {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("no", { status: 401 }) });
  stops.push(() => server.stop(true));
  const { log, lines } = createTestLog();
  const controller = new AbortController();
  const running = runMasterLink(linkDeps(server.port, log), controller.signal);
  stops.push(async () => {
    controller.abort();
    await running;
  });
  await waitFor("a repeat", () => lines.some((l) => l.includes("still cannot join: the master refused the join token")), 5000);
  expect(lines.filter((l) => l.includes("cannot join the master at") && l.includes(": the master refused the join token; retrying"))).toHaveLength(1);
});

test("a master that cannot be reached is said so in a few words, without Bun's advice", async () => {
  // A port nothing listens on: taken and released.
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port;
  probe.stop(true);
  const { log, lines } = createTestLog();
  const controller = new AbortController();
  const running = runMasterLink(linkDeps(port, log), controller.signal);
  stops.push(async () => {
    controller.abort();
    await running;
  });
  const line = await waitFor("the warning", () => lines.find((l) => l.includes("cannot join the master at")), 5000);
  expect(line).toMatch(/master unreachable \(connection refused\); retrying/);
  expect(line).not.toContain("able to access");
});

/** A master that speaks the join socket: `onMessage` hears each worker message and may answer on `ws`. */
function fakeMaster(onMessage: (ws: ServerWebSocket<unknown>, message: WorkerMessage) => void) {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      return srv.upgrade(req) ? undefined : new Response("no", { status: 400 });
    },
    websocket: { message: (ws, message) => onMessage(ws, parseWorkerMessage(String(message))) },
  });
  stops.push(() => server.stop(true));
  return server;
}

/** Runs a link until the test ends. */
function runLink(deps: LinkDeps): ClusterClient {
  const link = new ClusterClient(deps);
  const controller = new AbortController();
  const running = link.run(controller.signal);
  stops.push(async () => {
    controller.abort();
    await running;
  });
  return link;
}

/** The master's side of a join: a challenge for the hello, a welcome for the proof. */
function join(ws: ServerWebSocket<unknown>, m: WorkerMessage, nonce = "N".repeat(43)): void {
  if (m.type === "hello") ws.send(JSON.stringify({ type: "challenge", nonce }));
  else if (m.type === "proof") ws.send(JSON.stringify({ type: "welcome", id: "m1", heartbeatMs: 10_000, agentToken: "t" }));
}

test("the worker answers the master's challenge with its key's signature of that nonce, then joins", async () => {
  const key = generateNodeKey().key;
  const nonce = "N".repeat(43);
  const seen: string[] = [];
  const server = fakeMaster((ws, m) => {
    seen.push(m.type);
    if (m.type === "hello") expect(m.publicKey).toBe(key.publicKey);
    if (m.type === "proof") seen.push(`proof ${verifyNodeSignature(key.publicKey, joinProofText(nonce, "n1", key.publicKey), m.signature) ? "good" : "bad"}`);
    join(ws, m, nonce);
  });
  const { log } = createTestLog();
  const link = runLink(linkDeps(server.port, log, { key }));
  await waitFor("joined", () => link.state === "joined", 5000);
  expect(seen.slice(0, 3)).toEqual(["hello", "proof", "proof good"]);
});

test("the ends of kept shells: those that waited for a join go out after the welcome, later ones at once; past the bound the oldest are dropped and said so", async () => {
  const ended = (i: number) => ({ id: `0000000${i}-0000-4000-8000-000000000000`, instance: "web", owner: "a1b2", exitCode: null, reason: `reason ${i}` });
  const outbox = new ShellEndOutbox(2);
  for (const i of [1, 2, 3]) outbox.push(ended(i));
  const received: unknown[] = [];
  const server = fakeMaster((ws, m) => {
    if (m.type === "sessionEnded") received.push(m);
    else join(ws, m);
  });
  const { log, lines } = createTestLog();
  runLink(linkDeps(server.port, log, { shellEnds: outbox }));
  await waitFor("the pending ends", () => received.length === 2, 5000);
  expect(received).toEqual([{ type: "sessionEnded", ...ended(2) }, { type: "sessionEnded", ...ended(3) }]);
  expect(lines.some((l) => l.includes("1 kept shell end(s) were not reported to the master"))).toBe(true);
  outbox.push(ended(4));
  await waitFor("the new end", () => received.length === 3, 5000);
  expect(received[2]).toEqual({ type: "sessionEnded", ...ended(4) });
});
