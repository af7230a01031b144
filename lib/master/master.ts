/**
 * The master: the cluster cache, the cluster server that workers join, and
 * the client API. `createMaster` wires them; the entry script serves the two
 * apps and calls `close()` on the way out.
 */
import type { ConsolaInstance } from "consola";
import { createAgentClient } from "./agent-client.ts";
import { createApiApp } from "./api-server.ts";
import { beatMembers, createClusterApp, newClusterCounters } from "./cluster-server.ts";
import type { Socket } from "../net/ws.ts";
import { Registry } from "./registry.ts";
import { createLabelStore } from "./labels.ts";
import { createCordonStore } from "./cordons.ts";
import { createEnvironmentStore } from "./environment-store.ts";
import { createSessionRelay, type SessionRelay } from "./session-relay.ts";
import type { LivenessTimes } from "../net/liveness.ts";
import type { AuditLog } from "./audit-log.ts";
import { createOperations } from "./operations.ts";
import { reconcile } from "./reconcile.ts";
import { messageOf } from "../core/errors.ts";
import type { AuditEvent } from "../protocol/audit.ts";
import type { FailureLimits } from "../net/rate-limit.ts";
import type { BunEnv } from "../net/ws.ts";
import type { Hono } from "hono";
import { createAgentVerifier, type AgentVerifier } from "./agent-proof.ts";
import type { NodeKeys } from "./node-keys.ts";
import { recordShellEnd } from "./audit-policy.ts";
import type { WebSessions } from "./web-sessions.ts";
import type { ConsolePage } from "./ui-assets.ts";
import type { MasterDatabase } from "./database.ts";
import { countingAudit, RequestMetrics } from "./metrics.ts";

export interface MasterOptions {
  log: ConsolaInstance;
  joinToken: string;
  apiToken: string;
  /** How often workers must report; NotReady after 3 silent intervals. */
  heartbeatMs: number;
  /** How long a Down node stays listed. */
  downGraceMs: number;
  /** Default per-node timeout of live calls. */
  nodeTimeoutMs: number;
  version: string;
  /** Ping spacing and silence limit of session hops (tests shorten them). */
  liveness?: LivenessTimes;
  /** The audit trail of mutating calls. */
  audit: AuditLog;
  /** Lockout after repeated token failures from one address (defaults in net/rate-limit.ts). */
  authLimits?: FailureLimits;
  /** Virtual CPUs placement puts on each host CPU (default 4, see placement.ts). */
  cpuOvercommit?: number;
  /** The keys pinned to node names, kept in the data dir (node-keys.ts `loadNodeKeys`). */
  nodeKeys: NodeKeys;
  /** How a joining node's agent server is checked (default: agent-proof.ts, over the network). */
  verifyAgent?: AgentVerifier;
  /** The web console's page, bundled by the entry (ui-assets.ts); without it `/` answers 503. */
  console?: ConsolePage;
  /** The console's login sessions (default: a fresh store; tests pass one with their clock). */
  webSessions?: WebSessions;
  /** The read-only token of `GET /metrics` (`--metrics-token-file`), or null; the API token opens it too. */
  metricsToken?: () => string | null;
  /** The master's own durable state (database.ts): labels, cordons (issue 15), environments (issue 17). The entry opens and closes it. */
  database?: MasterDatabase;
}

export interface Master {
  registry: Registry;
  relay: SessionRelay;
  clusterApp: Hono<BunEnv>;
  apiApp: Hono<BunEnv>;
  /**
   * Resolves once every call the last master left unfinished has its "done"
   * record (reconcile.ts), or once this master stops.
   */
  reconciled: Promise<void>;
  /** Stops the sweeper and the learning of outcomes. The servers are the caller's to stop. */
  close(): void;
}

/**
 * Builds the master and starts its sweeper, which logs node state changes and
 * drops Down nodes after their grace period, and its reconciliation of the
 * calls the last master left unfinished.
 */
export function createMaster(options: MasterOptions): Master {
  const { log } = options;
  // Every record goes through this wrapper, so /metrics counts the ones that could not be written.
  const counted = countingAudit(options.audit);
  const audit = counted.audit;
  const registry = new Registry({
    now: Date.now,
    heartbeatMs: options.heartbeatMs,
    downGraceMs: options.downGraceMs,
    nodeKeys: options.nodeKeys,
    labels: createLabelStore(options.database ?? null),
    cordons: createCordonStore(options.database ?? null),
  });
  const members = new Set<Socket>();
  const counters = newClusterCounters();
  const clusterApp = createClusterApp({
    registry,
    counters,
    members,
    joinToken: () => options.joinToken,
    verifyAgent: options.verifyAgent ?? createAgentVerifier(),
    heartbeatMs: options.heartbeatMs,
    log,
    authLimits: options.authLimits,
    onShellEnded: (node, ended) => recordShellEnd({ audit, log }, node, ended),
  });
  const relay = createSessionRelay({ log, liveness: options.liveness });
  const agents = createAgentClient();
  const stopping = new AbortController();
  const ops = createOperations({ registry, agents, audit, log, cpuOvercommit: options.cpuOvercommit, stopping: stopping.signal });
  // Launches the last master left in flight, while they are settled: an environment's apply waits for them.
  const settling = new Map<string, string>();
  const reconciled = reconcile({ registry, agents, audit, log, stopping: stopping.signal, settling }, interruptedCalls(options));
  const apiApp = createApiApp({
    counters,
    startedAt: Date.now(),
    relay,
    ops,
    audit,
    registry,
    agents,
    apiToken: () => options.apiToken,
    log,
    nodeTimeoutMs: options.nodeTimeoutMs,
    version: options.version,
    authLimits: options.authLimits,
    console: options.console,
    webSessions: options.webSessions,
    environments: createEnvironmentStore(options.database ?? null),
    settlingLaunches: settling,
    cpuOvercommit: options.cpuOvercommit,
    metrics: { requests: new RequestMetrics(), auditFailures: counted.failures, metricsToken: options.metricsToken ?? (() => null) },
  });
  const sweeper = setInterval(
    () => {
      for (const t of registry.sweep()) {
        if (t.to === "Removed") log.info(`node "${t.name}" removed after being Down for the grace period`);
        else if (t.to === "Ready") log.info(`node "${t.name}" is Ready again`);
        else if (t.to === "NotReady") log.warn(`node "${t.name}" is NotReady: nothing heard for 3 heartbeat intervals`);
      }
    },
    Math.max(100, Math.floor(options.heartbeatMs / 2)),
  );
  // Workers take a silent master for a lost one after 4 intervals and reconnect.
  const beat = setInterval(() => beatMembers(members), options.heartbeatMs);
  return {
    registry,
    relay,
    clusterApp,
    apiApp,
    reconciled,
    close() {
      clearInterval(sweeper);
      clearInterval(beat);
      stopping.abort();
    },
  };
}

/** The calls the audit trail shows unfinished; none, said in the log, when it cannot be read back. */
function interruptedCalls(options: Pick<MasterOptions, "audit" | "log">): AuditEvent[] {
  try {
    return options.audit.interrupted();
  } catch (error) {
    options.log.error(`audit trail: cannot read back the calls the last master left unfinished: ${messageOf(error)}`);
    return [];
  }
}
