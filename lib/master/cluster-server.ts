/**
 * The master's cluster server (default localhost:1337): workers join here
 * over a WebSocket and keep their cached state current.
 *
 * Routes:
 * - `GET /healthz` — open;
 * - `GET /cluster/v1/ping` — join token; lets a worker tell "token refused"
 *   from "master unreachable" (a refused WebSocket upgrade shows only as 1006);
 * - `GET /cluster/v1/join` — join token; the join socket (join-session.ts:
 *   hello, the proof of the node's key, the check of its agent, welcome).
 */
import type { Hono } from "hono";
import type { ConsolaInstance } from "consola";
import { normalizePeerAddress } from "../core/address.ts";
import { createBaseApp, requireToken } from "../net/http.ts";
import { createFailureLimiter, type FailureLimits } from "../net/rate-limit.ts";
import type { ClusterCounters } from "../protocol/api.ts";
import { PROTOCOL_VERSION, type MasterMessage, type ShellEnded } from "../protocol/join.ts";
import type { Registry } from "./registry.ts";
import type { AgentVerifier } from "./agent-proof.ts";
import { createJoinSession } from "./join-session.ts";
import { tokenKind } from "../net/tokens.ts";
import { peerAddress, upgrade, type BunEnv, type Socket } from "../net/ws.ts";

/** What the cluster server has taken in since the master started (`GET /api/v1/stats`). */
export function newClusterCounters(): ClusterCounters {
  return { joins: 0, rejoins: 0, states: 0, heartbeats: 0, rejected: 0 };
}

export interface ClusterDeps {
  registry: Registry;
  counters: ClusterCounters;
  /** Sockets of joined workers; the master sends them heartbeats (see master.ts). */
  members: Set<Socket>;
  joinToken: () => string;
  /** Checks that a joining node's agent address serves that node (agent-proof.ts). */
  verifyAgent: AgentVerifier;
  heartbeatMs: number;
  log: ConsolaInstance;
  authLimits?: FailureLimits;
  /** A shell a node kept has ended (join-session.ts). */
  onShellEnded?: (node: string, ended: ShellEnded) => void;
}

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
