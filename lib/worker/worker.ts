/**
 * The worker: watches its Multipass host, stays joined to the master, and
 * serves the master's live calls through its agent server.
 */
import type { ConsolaInstance } from "consola";
import type { Hono } from "hono";
import { createHostMonitor, type HostMonitor } from "./host-monitor.ts";
import type { Multipass } from "../multipass/driver.ts";
import type { HostResources } from "../protocol/join.ts";
import type { LivenessTimes } from "../net/liveness.ts";
import type { FailureLimits } from "../net/rate-limit.ts";
import type { BackoffPolicy } from "../core/backoff.ts";
import { createKeyedLock } from "../core/keyed-lock.ts";
import { createSessionHost, type SessionHost } from "./session-host.ts";
import { DEFAULT_SESSION_GRACE_MS } from "./session-keeper.ts";
import { createWorkerOps } from "./host-ops.ts";
import { createSnapshotOps } from "./snapshots.ts";
import { createForwardTargets } from "./forward-targets.ts";
import { createAgentApp } from "./agent-server.ts";
import { createMembership } from "./membership.ts";
import { runMasterLink } from "./cluster-client.ts";
import { ShellEndOutbox } from "./shell-ends.ts";
import type { BunEnv } from "../net/ws.ts";
import type { NodeKey } from "../net/node-key.ts";

export interface WorkerOptions {
  multipass: Multipass;
  log: ConsolaInstance;
  name: string;
  /** The node's key (identity.ts): it proves to the master that `name` is this node. */
  key: NodeKey;
  /** `http(s)://host:port` of the master's cluster server. */
  masterUrl: string;
  /** Trust for an https master (its CA, or its self-signed certificate). */
  masterTls?: { ca: string };
  /** PEM of the agent server's certificate when it serves TLS; sent to the master in hello. */
  agentCert?: string | null;
  joinToken: string;
  /** HOST:PORT the master should dial; null = where the worker connects from. */
  advertiseAddr: string | null;
  version: string;
  pollMs: number;
  readResources: () => HostResources;
  /** Environment of spawned `multipass exec` processes. */
  env: Record<string, string | undefined>;
  /** The host's platform (`process.platform`): Windows workers have no PTYs. */
  platform: NodeJS.Platform;
  backoff?: BackoffPolicy;
  liveness?: LivenessTimes;
  /** How long a shell whose client went away is kept (0: it ends with its client); default 10 min. */
  sessionGraceMs?: number;
  /** How many detached shells are kept at most; default 32. */
  maxDetachedSessions?: number;
  /** Failed tokens the agent server allows per address before a lockout (default DEFAULT_FAILURE_LIMITS). */
  authLimits?: FailureLimits;
}

export interface Worker {
  agentApp: Hono<BunEnv>;
  monitor: HostMonitor;
  sessions: SessionHost;
  /**
   * Polls the host and keeps joined until `signal` aborts; `agentPort` is where
   * the agent server (served by the caller) listens. Resolves when stopped.
   */
  run(agentPort: number, signal: AbortSignal): Promise<void>;
}

export function createWorker(options: WorkerOptions): Worker {
  const membership = createMembership();
  const monitor = createHostMonitor({
    multipass: options.multipass,
    readResources: options.readResources,
    pollMs: options.pollMs,
    log: options.log,
  });
  const forwardTargets = createForwardTargets({ multipass: options.multipass, monitor, node: options.name });
  const lock = createKeyedLock();
  const ops = createWorkerOps({
    multipass: options.multipass,
    monitor,
    lock,
    log: options.log,
    node: options.name,
    onGoing: (instance, action) => forwardTargets.going(instance, action),
  });
  const shellEnds = new ShellEndOutbox();
  const sessions = createSessionHost({
    multipass: options.multipass,
    log: options.log,
    ensureRunning: (instance) => ops.ensureRunning(instance),
    checkRunning: (instance) => ops.checkRunning(instance),
    forwardTargets,
    env: options.env,
    platform: options.platform,
    liveness: options.liveness,
    onShellEnded: (ended) => shellEnds.push(ended),
    keep: {
      graceMs: options.sessionGraceMs ?? DEFAULT_SESSION_GRACE_MS,
      ...(options.maxDetachedSessions === undefined ? {} : { maxDetached: options.maxDetachedSessions }),
    },
  });
  const agentApp = createAgentApp({
    multipass: options.multipass,
    agentToken: () => membership.current(),
    standing: (token) => membership.standing(token),
    log: options.log,
    name: options.name,
    key: options.key,
    sessions,
    ops,
    snapshots: createSnapshotOps({ multipass: options.multipass, lock, log: options.log, node: options.name }),
    authLimits: options.authLimits,
  });
  return {
    agentApp,
    monitor,
    sessions,
    async run(agentPort, signal) {
      const polling = monitor.run(signal);
      await Promise.race([monitor.ready, polling]);
      await runMasterLink(
        {
          masterUrl: options.masterUrl,
          ...(options.masterTls ? { masterTls: options.masterTls } : {}),
          agentCert: options.agentCert ?? null,
          joinToken: options.joinToken,
          name: options.name,
          key: options.key,
          agentPort,
          advertiseAddr: options.advertiseAddr,
          version: options.version,
          monitor,
          log: options.log,
          onMembership: (token) => membership.set(token),
          backoff: options.backoff,
          shellEnds,
        },
        signal,
      );
      await polling;
      await sessions.closeAll();
    },
  };
}
