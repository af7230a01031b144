/**
 * `GET /api/v1/stats`: the master's own figures — nodes by state, cached
 * instances, live sessions, what the cluster server took in, CPU and RSS.
 */
import type { ClusterCounters, MasterStats } from "../protocol/api.ts";
import type { NodeState } from "../protocol/join.ts";
import type { Registry } from "./registry.ts";
import type { SessionRelay } from "./session-relay.ts";

export interface StatsDeps {
  registry: Registry;
  relay: SessionRelay;
  counters: ClusterCounters;
  /** When the master started (ms since the epoch). */
  startedAt: number;
  version: string;
}

/** The figures now. */
export function masterStats(deps: StatsDeps): MasterStats {
  const nodes: Record<NodeState, number> = { Ready: 0, NotReady: 0, Down: 0 };
  let instances = 0;
  for (const entry of deps.registry.entries()) {
    nodes[deps.registry.stateOf(entry)]++;
    instances += entry.snapshot.instances.length;
  }
  const cpu = process.cpuUsage();
  return {
    version: deps.version,
    startedAt: new Date(deps.startedAt).toISOString(),
    uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
    nodes,
    instances,
    sessions: deps.relay.list().length,
    cluster: { ...deps.counters },
    process: { rssBytes: process.memoryUsage.rss(), cpuSeconds: (cpu.user + cpu.system) / 1e6 },
  };
}
