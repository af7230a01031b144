/**
 * Where a launch goes when the user does not say. The rule, also in the README:
 *
 * 1. Candidates are the Ready nodes that are not cordoned (cordons.ts),
 *    whose multipass answers, and whose Multipass version launches the sizes asked for (1.17 raised the
 *    minimums from 128M memory / 512M disk to 512M / 1G: a request the API
 *    accepted against the lowest minimums goes only where it can succeed).
 * 2. A node's capacity is its memory, its disk, and its CPUs times the CPU
 *    overcommit ratio (default 4, the master's --cpu-overcommit): Multipass,
 *    like every hypervisor, shares host CPUs between VMs, and a two-core
 *    laptop routinely runs four one-CPU VMs, while memory and disk are really
 *    used up. Its free capacity is that minus what its live (not deleted)
 *    instances were launched with and what launches in flight asked for;
 *    free disk is also capped by what the filesystem really has free. An instance whose allocation could not be
 *    read counts as Multipass's defaults (1 CPU, 1G memory, 5G disk).
 * 3. A node fits when its free CPUs, memory and disk all cover the request,
 *    and it has at least as many real CPUs as one instance asks for.
 * 4. Among the nodes that fit, the one with the most headroom wins: the
 *    smallest of the three fractions (free − request) / capacity, so the
 *    most constrained resource decides. Fractions within one percentage
 *    point are even (free disk and memory drift by the second, and hosts
 *    often share a filesystem size); then the next most constrained
 *    resource decides, and so on. Ties go to the node with fewer
 *    instances, then to the first name.
 * 5. When nothing fits, the error names the node with the most room.
 */
import { AppError } from "../core/errors.ts";
import { formatBytes } from "../core/format.ts";
import { formatSize, minimumsFor, parseSize } from "../core/validate.ts";
import type { Allocation, HostResources, NodeState } from "../protocol/join.ts";

export interface Demand {
  cpus: number;
  memory: number;
  disk: number;
}

/** Multipass's own defaults for a launch without flags. */
export const DEFAULT_DEMAND: Demand = { cpus: 1, memory: 1024 ** 3, disk: 5 * 1024 ** 3 };

/**
 * What a launch asks for, with Multipass's defaults for what it leaves out.
 * @throws AppError E_USAGE for a size that does not parse.
 */
export function demandOf(request: { cpus?: number; memory?: string; disk?: string }): Demand {
  return {
    cpus: request.cpus ?? DEFAULT_DEMAND.cpus,
    memory: request.memory === undefined ? DEFAULT_DEMAND.memory : parseSize(request.memory),
    disk: request.disk === undefined ? DEFAULT_DEMAND.disk : parseSize(request.disk),
  };
}

/** Virtual CPUs placed per host CPU unless the master says otherwise (a common hypervisor default). */
export const DEFAULT_CPU_OVERCOMMIT = 4;

export interface Candidate {
  name: string;
  state: NodeState;
  multipassError: string | null;
  resources: HostResources;
  allocated: Allocation;
  /** Live (not deleted) instances on the node. */
  instanceCount: number;
  /** The node's Multipass version, which sets its size minimums; absent or null: unknown (the lowest apply). */
  multipassVersion?: string | null;
  /** Cordoned (`nodes cordon`): never a candidate. Absent: not cordoned. */
  cordoned?: boolean;
}

/**
 * Why a node's Multipass would refuse `demand`'s sizes, or null when it
 * launches them: `Multipass 1.17.0 needs at least 512M memory`.
 */
export function belowMinimums(version: string | null, demand: Demand): string | null {
  const minimums = minimumsFor(version);
  const short = [
    demand.memory < minimums.memory ? `${formatSize(minimums.memory)} memory` : null,
    demand.disk < minimums.disk ? `${formatSize(minimums.disk)} disk` : null,
  ].filter((part) => part !== null);
  if (short.length === 0) return null;
  return `Multipass ${(version ?? "of unknown version").slice(0, 40)} needs at least ${short.join(" and ")}`;
}

/**
 * For a launch pinned to a node: refuses sizes its Multipass version would refuse.
 * @throws AppError E_USAGE naming the node, its version and the minimum.
 */
export function checkNodeMinimums(node: string, version: string | null, demand: Demand): void {
  const why = belowMinimums(version, demand);
  if (why !== null) throw new AppError("E_USAGE", `Cannot launch ${describeDemand(demand)} on node "${node}": ${why}`);
}

/** A launch placed on a node, in flight until it ends. */
export interface PendingLaunch {
  node: string;
  demand: Demand;
}

/**
 * Launches in flight, by instance name. Each counts against its node until
 * the node lists its instance (whose allocation is then in the node's own
 * figures, read or counted as unknown), so launches close together spread
 * out instead of piling onto the node that looked emptiest.
 */
export interface PendingLaunches {
  add(name: string, launch: PendingLaunch): void;
  /** The launch has ended, whichever way. */
  delete(name: string): void;
  get(name: string): PendingLaunch | undefined;
  /** `candidate` with the launches pending on it that it does not list yet added to its allocation and instance count. */
  charge(candidate: Candidate, listed: (name: string) => boolean): Candidate;
}

export function createPendingLaunches(): PendingLaunches {
  const byName = new Map<string, PendingLaunch>();
  return {
    add: (name, launch) => void byName.set(name, launch),
    delete: (name) => void byName.delete(name),
    get: (name) => byName.get(name),
    charge(candidate, listed) {
      const allocated = { ...candidate.allocated };
      let instanceCount = candidate.instanceCount;
      for (const [name, pending] of byName) {
        if (pending.node !== candidate.name || listed(name)) continue;
        allocated.cpus += pending.demand.cpus;
        allocated.memory += pending.demand.memory;
        allocated.disk += pending.demand.disk;
        instanceCount++;
      }
      return { ...candidate, allocated, instanceCount };
    },
  };
}

export interface NodeRoom {
  node: string;
  free: Demand;
  fits: boolean;
  /** Smallest fraction of capacity left after the launch; higher is roomier. */
  headroom: number;
  /** The fractions left of CPUs, memory and disk after the launch, smallest first. */
  fractions: number[];
}

/** Headroom fractions closer than this count as even. */
export const HEADROOM_TOLERANCE = 0.01;

export interface Placement {
  node: string;
  reason: string;
  /** Every candidate's figures, the chosen one first, then by their fractions. */
  rooms: NodeRoom[];
}

export function freeCapacity(c: Candidate, cpuOvercommit = DEFAULT_CPU_OVERCOMMIT): Demand {
  const unknown = c.allocated.unknown;
  return {
    cpus: c.resources.cpus * cpuOvercommit - c.allocated.cpus - unknown * DEFAULT_DEMAND.cpus,
    memory: c.resources.memory.total - c.allocated.memory - unknown * DEFAULT_DEMAND.memory,
    disk: Math.min(c.resources.disk.available, c.resources.disk.total - c.allocated.disk - unknown * DEFAULT_DEMAND.disk),
  };
}

export function describeDemand(d: Demand): string {
  const cpus = Math.max(0, d.cpus);
  return `${cpus} CPU${cpus === 1 ? "" : "s"}, ${formatBytes(Math.max(0, d.memory))} memory, ${formatBytes(Math.max(0, d.disk))} disk`;
}

function room(c: Candidate, demand: Demand, cpuOvercommit: number): NodeRoom {
  const free = freeCapacity(c, cpuOvercommit);
  const fits = c.resources.cpus >= demand.cpus && free.cpus >= demand.cpus && free.memory >= demand.memory && free.disk >= demand.disk;
  const fraction = (left: number, total: number) => (total > 0 ? left / total : -Infinity);
  const fractions = [
    fraction(free.cpus - demand.cpus, c.resources.cpus * cpuOvercommit),
    fraction(free.memory - demand.memory, c.resources.memory.total),
    fraction(free.disk - demand.disk, c.resources.disk.total),
  ].sort((a, b) => a - b);
  return { node: c.name, free, fits, headroom: fractions[0]!, fractions };
}

/**
 * The roomiest of `rooms` (not empty): keeps those within the tolerance of the
 * best on the most constrained resource, then on the next, then on the last;
 * of what is left, fewer instances, then the first name.
 */
function roomiest(rooms: NodeRoom[], counts: Map<string, number>): NodeRoom {
  let pool = rooms;
  for (let k = 0; k < 3 && pool.length > 1; k++) {
    const top = Math.max(...pool.map((r) => r.fractions[k]!));
    pool = pool.filter((r) => r.fractions[k]! >= top - HEADROOM_TOLERANCE);
  }
  return [...pool].sort((a, b) => counts.get(a.node)! - counts.get(b.node)! || (a.node < b.node ? -1 : 1))[0]!;
}

/**
 * Picks the node for `demand`.
 * @throws AppError E_USAGE when every Ready node's Multipass refuses the
 *   sizes (naming each node's version and minimum), E_CONFLICT when no node fits (naming the roomiest)
 *   or every Ready node is cordoned, E_UNREACHABLE when no node is Ready.
 */
export function place(candidates: Candidate[], demand: Demand, cpuOvercommit = DEFAULT_CPU_OVERCOMMIT): Placement {
  const up = candidates.filter((c) => c.state === "Ready" && c.multipassError === null);
  const cordoned = up.filter((c) => c.cordoned === true).map((c) => `${c.name} is cordoned`);
  const ready = up.filter((c) => c.cordoned !== true);
  if (ready.length === 0) {
    const states = candidates.map((c) => `${c.name} is ${c.multipassError ? "failing" : c.cordoned && c.state === "Ready" ? "cordoned" : c.state}`).join(", ");
    if (cordoned.length > 0) throw new AppError("E_CONFLICT", `No node to launch on: every Ready node is cordoned (${states}); uncordon one with "multiverse nodes uncordon NODE"`);
    throw new AppError("E_UNREACHABLE", `No Ready node to launch on${states ? ` (${states})` : ""}`);
  }
  const refusals = ready.flatMap((c) => {
    const why = belowMinimums(c.multipassVersion ?? null, demand);
    return why === null ? [] : [`${c.name}: ${why}`];
  });
  const usable = ready.filter((c) => belowMinimums(c.multipassVersion ?? null, demand) === null);
  if (usable.length === 0) {
    throw new AppError("E_USAGE", `No node can launch ${describeDemand(demand)}: ${refusals.join("; ")}`);
  }
  const counts = new Map(usable.map((c) => [c.name, c.instanceCount]));
  const all = usable.map((c) => room(c, demand, cpuOvercommit));
  const fitting = all.filter((r) => r.fits);
  if (fitting.length === 0) {
    const most = roomiest(all, counts);
    throw new AppError(
      "E_CONFLICT",
      `No node can fit ${describeDemand(demand)}; the most room is on node "${most.node}": ${describeDemand(most.free)} free` +
        (cordoned.length > 0 ? ` (${cordoned.join(", ")})` : ""),
    );
  }
  const best = roomiest(fitting, counts);
  const lexically = (a: NodeRoom, b: NodeRoom) => b.fractions.map((f, k) => f - a.fractions[k]!).find((d) => d > 0 || d < 0) ?? (a.node < b.node ? -1 : 1);
  const rooms = [best, ...all.filter((r) => r !== best).sort(lexically)];
  const others = [
    ...rooms.filter((r) => r !== best).map((r) => `${r.node}: ${describeDemand(r.free)} free${r.fits ? "" : ", does not fit"}`),
    ...refusals,
    ...cordoned,
  ];
  const reason =
    `the most free capacity after allocations: ${describeDemand(best.free)} free` + (others.length > 0 ? ` (${others.join("; ")})` : "");
  return { node: best.node, reason, rooms };
}
