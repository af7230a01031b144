/**
 * A fleet of hosts without processes, for benchmarks that need many
 * instances on a real master: each fake host is a {@link HostMonitor} whose
 * snapshot the benchmark changes at will, joined to the master with the real
 * join protocol (lib/worker/cluster-client.ts, the code the worker runs); one
 * agent server answers the master's identity check for every host.
 */
import type { HostMonitor } from "../../lib/worker/host-monitor.ts";
import type { InstanceSummary } from "../../lib/protocol/instances.ts";
import type { HostSnapshot } from "../../lib/protocol/join.ts";
import type { NodeKey } from "../../lib/net/node-key.ts";
import { agentProofText } from "../../lib/protocol/identity.ts";

/** A host whose instances change when the benchmark says so. */
export interface FakeHost {
  monitor: HostMonitor;
  /** Flips one instance, chosen at random, between Running and Stopped. */
  change(): void;
  /** Flips the instances at `indices` between Running and Stopped in one change; returns them as they are now. */
  flip(indices: readonly number[]): InstanceSummary[];
}

/** Host number `index` with `count` instances named `vm-INDEX-I`, one in four stopped. */
export function fakeHost(index: number, count: number): FakeHost {
  const listeners = new Set<(s: HostSnapshot) => void>();
  const instances: InstanceSummary[] = Array.from({ length: count }, (_, i) => ({
    name: `vm-${index}-${i}`,
    state: i % 4 === 0 ? "Stopped" : "Running",
    ipv4: i % 4 === 0 ? [] : [`10.${index >> 8}.${index & 255}.${(i % 250) + 2}`],
    release: "Ubuntu 24.04 LTS",
  }));
  let snapshot: HostSnapshot = {
    multipassVersion: "1.16.3",
    multipassError: null,
    resources: { cpus: 8, load: [0.5, 0.4, 0.3], memory: { total: 32 * 1024 ** 3, available: 20 * 1024 ** 3 }, disk: { total: 500 * 1024 ** 3, available: 300 * 1024 ** 3 } },
    allocated: { cpus: count, memory: count * 1024 ** 3, disk: count * 5 * 1024 ** 3, unknown: 0 },
    instances,
  };
  const flip = (indices: readonly number[]): InstanceSummary[] => {
    const missing = indices.filter((at) => at < 0 || at >= count);
    if (missing.length > 0) throw new Error(`host ${index} has no instance ${missing.join(", ")}`);
    const changed: InstanceSummary[] = [];
    const next = snapshot.instances.map((inst, j) => {
      if (!indices.includes(j)) return inst;
      const flipped: InstanceSummary = { ...inst, state: inst.state === "Running" ? "Stopped" : "Running" };
      changed.push(flipped);
      return flipped;
    });
    snapshot = { ...snapshot, instances: next };
    for (const l of listeners) l(snapshot);
    return changed;
  };
  return {
    monitor: {
      current: () => snapshot,
      onChange(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      refresh: async () => snapshot,
      forget: () => {},
      noteChange: () => {},
      run: async () => {},
      ready: Promise.resolve(),
    },
    change: () => void flip([Math.floor(Math.random() * count)]),
    flip,
  };
}

/**
 * The fleet's one agent server: it answers only the master's identity check
 * (every host advertises it), for whichever node the master names, with the
 * key the whole fleet shares — a master pins a key per name, not per host.
 */
export function startFleetAgent(key: NodeKey): ReturnType<typeof Bun.serve> {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const url = new URL(request.url);
      const nonce = url.searchParams.get("nonce") ?? "";
      const node = url.searchParams.get("node") ?? "";
      if (url.pathname !== "/identity") return new Response("{}", { status: 404 });
      return Response.json({ name: node, publicKey: key.publicKey, signature: key.sign(agentProofText(nonce, node, key.publicKey)) });
    },
  });
}
