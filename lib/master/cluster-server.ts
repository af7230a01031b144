/**
 * The master's cluster server (default localhost:1337): workers join here
 * over a WebSocket and keep their cached state current.
 *
 * Routes:
 * - `GET /healthz` — open;
 * - `GET /cluster/v1/ping` — join token; lets a worker tell "token refused"
 *   from "master unreachable" (a refused WebSocket upgrade shows only as 1006);
 * - `GET /cluster/v1/join` — join token; the join socket.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Hono } from "hono";
import type { ConsolaInstance } from "consola";
import { formatHostPort, normalizePeerAddress, parseHostPort } from "../core/address.ts";
import { AppError, messageOf } from "../core/errors.ts";
import { createBaseApp, requireToken } from "../net/http.ts";
import { createFailureLimiter, type FailureLimits } from "../net/rate-limit.ts";
import type { ClusterCounters } from "../protocol/api.ts";
import { JOIN_CLOSE, PROTOCOL_VERSION, parseWorkerMessage, type MasterMessage, type WorkerMessage } from "../protocol/join.ts";
import type { Registry } from "./registry.ts";
import { fingerprint } from "../net/tls.ts";
import { tokenKind } from "../net/tokens.ts";
import { validateNodeName } from "../core/validate.ts";
import { peerAddress, upgrade, type BunEnv, type Socket, type WsSession } from "../net/ws.ts";

/** What the cluster server has taken in since the master started (`GET /api/v1/stats`). */
export function newClusterCounters(): ClusterCounters {
  return { joins: 0, states: 0, heartbeats: 0, rejected: 0 };
}

export interface ClusterDeps {
  registry: Registry;
  counters: ClusterCounters;
  /** Sockets of joined workers; the master sends them heartbeats (see master.ts). */
  members: Set<Socket>;
  joinToken: () => string;
  heartbeatMs: number;
  log: ConsolaInstance;
  authLimits?: FailureLimits;
}

/** How long a new connection may take to say hello. */
const HELLO_TIMEOUT_MS = 10_000;

/** Sends a heartbeat to every joined worker. */
export function beatMembers(members: Set<Socket>): void {
  const frame = JSON.stringify({ type: "heartbeat" } satisfies MasterMessage);
  for (const ws of members) ws.send(frame);
}

/** The cluster server's Hono app. Serve it with `websocketHandler()` from net/ws.ts. */
export function createClusterApp(deps: ClusterDeps): Hono<BunEnv> {
  // No route of the cluster server takes a body.
  const app = createBaseApp({ log: deps.log, maxBodyBytes: 64 * 1024, name: "cluster" });
  app.get("/healthz", (c) => c.json({ ok: true, role: "master-cluster", protocolVersion: PROTOCOL_VERSION }));

  const auth = requireToken({
    expected: deps.joinToken,
    realm: "join",
    wrongKind: (t) => (tokenKind(t) === "api" ? "This is the API token; workers join with the join token" : null),
    limiter: createFailureLimiter(deps.authLimits),
  });
  app.use("/cluster/*", auth);
  app.get("/cluster/v1/ping", (c) => c.json({ ok: true, protocolVersion: PROTOCOL_VERSION }));
  app.get("/cluster/v1/join", (c) => {
    const peer = normalizePeerAddress(peerAddress(c) ?? "127.0.0.1");
    return upgrade(c, createJoinSession(deps, peer));
  });
  return app;
}

function send(ws: Socket, message: MasterMessage): void {
  ws.send(JSON.stringify(message));
}

function reject(ws: Socket, code: (typeof JOIN_CLOSE)[keyof typeof JOIN_CLOSE], error: AppError): void {
  send(ws, { type: "error", code: error.code, message: error.message });
  ws.close(code, error.message.slice(0, 120));
}

/** A worker's agent certificate must at least parse, or every later dial would fail obscurely. */
function checkedCert(pem: string | null): string | null {
  if (pem === null) return null;
  try {
    fingerprint(pem);
  } catch {
    throw new AppError("E_PROTOCOL", "The agent certificate in hello is not a valid PEM certificate");
  }
  return pem;
}

/**
 * Checks a worker's hello and joins it to the registry, replacing any
 * earlier membership under its name, then welcomes it.
 * @returns the new membership. @throws AppError E_PROTOCOL / E_USAGE for a hello it cannot trust.
 */
function welcome(deps: ClusterDeps, ws: Socket, peer: string, hello: Extract<WorkerMessage, { type: "hello" }>): { id: string; name: string } {
  if (hello.protocolVersion !== PROTOCOL_VERSION) {
    throw new AppError("E_PROTOCOL", `Protocol version ${hello.protocolVersion} is not supported; this master speaks ${PROTOCOL_VERSION}. Upgrade the older side.`);
  }
  validateNodeName(hello.name);
  if (hello.agentPort < 1 || hello.agentPort > 65535) throw new AppError("E_PROTOCOL", `Invalid agent port ${hello.agentPort}`);
  const address = hello.advertiseAddr
    ? formatHostPort(parseHostPort(hello.advertiseAddr, "advertise address"))
    : formatHostPort({ host: peer, port: hello.agentPort });
  const id = randomUUID();
  const agentToken = randomBytes(32).toString("base64url");
  const { replaced } = deps.registry.join({
    id,
    name: hello.name,
    address,
    version: hello.version,
    agentToken,
    agentCert: checkedCert(hello.agentCert),
    snapshot: {
      multipassVersion: hello.multipassVersion,
      multipassError: hello.multipassError,
      resources: hello.resources,
      allocated: hello.allocated,
      instances: hello.instances,
    },
    close: () => ws.close(JOIN_CLOSE.replaced, "replaced by a newer connection of the same node"),
  });
  send(ws, { type: "welcome", id, heartbeatMs: deps.heartbeatMs, agentToken });
  deps.counters.joins++;
  deps.members.add(ws);
  const again = replaced ? ` (replacing ${replaced.disconnectedAt === null ? "a live" : "its earlier"} connection)` : "";
  const tls = hello.agentCert ? ` (TLS, certificate ${fingerprint(hello.agentCert).slice(0, 23)}…)` : "";
  deps.log.info(`node "${hello.name}" joined with id ${id}, agent at ${address}${tls}${again}`);
  return { id, name: hello.name };
}

/** One worker connection: waits for `hello`, then applies state and heartbeats. */
function createJoinSession(deps: ClusterDeps, peer: string): WsSession {
  const { registry, log, counters } = deps;
  let member: { id: string; name: string } | null = null;
  let helloTimer: ReturnType<typeof setTimeout> | undefined;

  return {
    open(ws) {
      helloTimer = setTimeout(() => {
        counters.rejected++;
        reject(ws, JOIN_CLOSE.helloTimeout, new AppError("E_PROTOCOL", "No hello within the time limit"));
      }, HELLO_TIMEOUT_MS);
    },
    message(ws, raw) {
      try {
        if (typeof raw !== "string") throw new AppError("E_PROTOCOL", "The join socket carries text frames only");
        const message = parseWorkerMessage(raw);
        if (member === null) {
          if (message.type !== "hello") throw new AppError("E_PROTOCOL", `Expected hello, got ${message.type}`);
          clearTimeout(helloTimer);
          member = welcome(deps, ws, peer, message);
          return;
        }
        if (message.type === "hello") throw new AppError("E_PROTOCOL", "hello sent twice");
        const ok =
          message.type === "state"
            ? (counters.states++, registry.update(member.id, member.name, message))
            : (counters.heartbeats++, registry.heartbeat(member.id, member.name, message.resources));
        if (!ok) ws.close(JOIN_CLOSE.replaced, "membership replaced");
      } catch (error) {
        counters.rejected++;
        const e = error instanceof AppError ? error : new AppError("E_PROTOCOL", messageOf(error));
        log.warn(`join socket from ${peer}${member ? ` (node "${member.name}")` : ""} closed: ${e.message}`);
        reject(ws, JOIN_CLOSE.protocol, e);
      }
    },
    close(ws, code) {
      clearTimeout(helloTimer);
      deps.members.delete(ws);
      if (member === null) return;
      const current = registry.current(member.id, member.name);
      registry.disconnect(member.id, member.name);
      if (current) log.warn(`node "${member.name}" disconnected (code ${code}); marked Down`);
    },
  };
}
