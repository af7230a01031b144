/**
 * A node joined straight into a master's Registry, without a worker: for the
 * tests of what the master does with its cache (targets, routes, outcomes).
 */
import type { Registry } from "../../lib/master/registry.ts";
import type { InstanceState, InstanceSummary } from "../../lib/protocol/instances.ts";
import { resources } from "./in-process.ts";

/** Instances as `[name, state]` pairs, or whole summaries. */
export type Seed = [string, InstanceState][] | InstanceSummary[];

function summaries(seed: Seed): InstanceSummary[] {
  return seed.map((s) => (Array.isArray(s) ? { name: s[0], state: s[1], ipv4: [], release: null } : s));
}

/** Joins node `name` with these instances; the join's id defaults to the name. */
export function joinNode(registry: Registry, name: string, seed: Seed, options: { id?: string; multipassVersion?: string | null } = {}) {
  return registry.join({
    id: options.id ?? name,
    name,
    address: "10.0.0.1:1339",
    version: "test",
    agentToken: "t",
    agentCert: null,
    snapshot: { multipassVersion: options.multipassVersion ?? null, multipassError: null, resources, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instances: summaries(seed) },
    close: () => {},
  });
}
