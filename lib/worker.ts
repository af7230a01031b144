/**
 * The worker: watches its Multipass host, stays joined to the master, and
 * serves the master's live calls through its agent server.
 */
import type { ConsolaInstance } from "consola";
import type { Hono } from "hono";
import { createHostMonitor, type HostMonitor } from "./host-monitor.ts";
import type { Multipass } from "./multipass.ts";
import type { HostResources } from "./protocol.ts";
import type { BackoffPolicy } from "./reconnect.ts";
import { createAgentApp } from "./worker-agent.ts";
import { runMasterLink } from "./worker-link.ts";
import type { BunEnv } from "./ws.ts";

export interface WorkerOptions {
  multipass: Multipass;
  log: ConsolaInstance;
  name: string;
  /** `http://host:port` of the master's cluster server. */
  masterUrl: string;
  joinToken: string;
  /** HOST:PORT the master should dial; null = where the worker connects from. */
  advertiseAddr: string | null;
  version: string;
  pollMs: number;
  readResources: () => HostResources;
  backoff?: BackoffPolicy;
}

export interface Worker {
  agentApp: Hono<BunEnv>;
  monitor: HostMonitor;
  /**
   * Polls the host and keeps joined until `signal` aborts; `agentPort` is where
   * the agent server (served by the caller) listens. Resolves when stopped.
   */
  run(agentPort: number, signal: AbortSignal): Promise<void>;
}

export function createWorker(options: WorkerOptions): Worker {
  let agentToken: string | null = null;
  const monitor = createHostMonitor({
    multipass: options.multipass,
    readResources: options.readResources,
    pollMs: options.pollMs,
    log: options.log,
  });
  const agentApp = createAgentApp({
    multipass: options.multipass,
    agentToken: () => agentToken,
    log: options.log,
    name: options.name,
  });
  return {
    agentApp,
    monitor,
    async run(agentPort, signal) {
      const polling = monitor.run(signal);
      await Promise.race([monitor.ready, polling]);
      await runMasterLink(
        {
          masterUrl: options.masterUrl,
          joinToken: options.joinToken,
          name: options.name,
          agentPort,
          advertiseAddr: options.advertiseAddr,
          version: options.version,
          monitor,
          log: options.log,
          onMembership: (token) => (agentToken = token),
          backoff: options.backoff,
        },
        signal,
      );
      await polling;
    },
  };
}
