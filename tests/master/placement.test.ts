import { describe, expect, test } from "bun:test";
import { checkNodeMinimums, createPendingLaunches, DEFAULT_DEMAND, demandOf, freeCapacity, place, type Candidate } from "../../lib/master/placement.ts";

const GiB = 1024 ** 3;

function node(name: string, over: { cpus?: number; memory?: number; disk?: number; used?: Partial<Candidate["allocated"]>; count?: number; state?: Candidate["state"]; error?: string; version?: string; cordoned?: boolean } = {}): Candidate {
  return {
    ...(over.version === undefined ? {} : { multipassVersion: over.version }),
    ...(over.cordoned === undefined ? {} : { cordoned: over.cordoned }),
    name,
    state: over.state ?? "Ready",
    multipassError: over.error ?? null,
    resources: {
      cpus: over.cpus ?? 8,
      load: [0, 0, 0],
      memory: { total: (over.memory ?? 16) * GiB, available: 10 * GiB },
      disk: { total: (over.disk ?? 200) * GiB, available: (over.disk ?? 200) * GiB },
    },
    allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0, ...over.used },
    instanceCount: over.count ?? 0,
  };
}

describe("placement", () => {
  test("the emptiest node wins, measured by its most constrained resource", () => {
    const busy = node("a", { used: { cpus: 6, memory: 4 * GiB, disk: 20 * GiB }, count: 3 });
    const roomy = node("b", { used: { cpus: 1, memory: 12 * GiB, disk: 10 * GiB }, count: 1 });
    const empty = node("c", { cpus: 4, memory: 8, used: { cpus: 1, memory: 1 * GiB, disk: 5 * GiB }, count: 1 });
    const p = place([busy, roomy, empty], DEFAULT_DEMAND, 1);
    expect(p.node).toBe("c");
    expect(p.reason).toStartWith("the most free capacity after allocations: 3 CPUs, 7.0GiB memory, 195.0GiB disk free (b: ");
    // Headroom: c 0.5 (CPU), b 0.19 (memory), a 0.125 (CPU).
    expect(p.rooms.map((r) => r.node)).toEqual(["c", "b", "a"]);
  });

  test("ties go to the node with fewer instances, then to the name", () => {
    expect(place([node("a", { count: 2 }), node("b", { count: 1 })], DEFAULT_DEMAND).node).toBe("b");
    expect(place([node("b"), node("a")], DEFAULT_DEMAND).node).toBe("a");
  });

  test("fractions within a percentage point are even, and the next most constrained resource decides", () => {
    // Three workers on one filesystem: free disk drifts by a few bytes between their reports.
    const busy = node("a", { cpus: 2, used: { cpus: 4, memory: 8 * GiB } });
    const mid = node("b", { cpus: 2, used: { cpus: 2, memory: 2 * GiB }, count: 2 });
    const empty = node("c", { cpus: 2, used: { cpus: 1, memory: 1 * GiB }, count: 1 });
    for (const n of [busy, mid, empty]) n.resources.disk.available = 60 * GiB - (n === empty ? 4096 : 0);
    const p = place([mid, busy, empty], DEFAULT_DEMAND);
    // Disk decides nothing (55 of 200 GiB left everywhere, c 4 KiB less); CPUs do: c has 6 of 8 left.
    expect(p.node).toBe("c");
    expect(p.rooms.map((r) => r.node)).toEqual(["c", "b", "a"]);
    // Even on every resource: fewer instances, then the name.
    expect(place([node("b", { count: 1 }), node("a", { count: 1 }), node("c", { count: 0, disk: 199 })], DEFAULT_DEMAND).node).toBe("c");
    // A real difference still counts: 2 points more disk headroom wins over fewer instances.
    expect(place([node("a", { count: 0, disk: 190 }), node("b", { count: 5, disk: 200, used: { disk: 0 } })], { cpus: 1, memory: GiB, disk: 150 * GiB }).node).toBe("b");
  });

  test("only Ready nodes whose multipass answers are candidates", () => {
    expect(place([node("a", { state: "Down" }), node("b", { error: "daemon down" }), node("c", { cpus: 1 })], DEFAULT_DEMAND).node).toBe("c");
    expect(() => place([node("a", { state: "NotReady" })], DEFAULT_DEMAND)).toThrow('No Ready node to launch on (a is NotReady)');
  });

  test("only nodes whose Multipass version launches the sizes asked for (1.17: at least 512M memory, 1G disk)", () => {
    const MiB = 1024 ** 2;
    const small = { cpus: 1, memory: 256 * MiB, disk: 768 * MiB };
    // The roomier node runs 1.17, which would refuse 256M: the 1.16 node gets it, and the reason says why.
    const p = place([node("new", { version: "1.17.0", memory: 64 }), node("old", { version: "1.16.3" })], small);
    expect(p.node).toBe("old");
    expect(p.reason).toContain("new: Multipass 1.17.0 needs at least 512M memory and 1G disk");
    expect(p.rooms.map((r) => r.node)).toEqual(["old"]);
    // Sizes every version takes go anywhere; an unknown version is held to the lowest minimums.
    expect(place([node("new", { version: "1.17.0-dev.5+gabc", memory: 64 }), node("old", { version: "1.16.3" })], DEFAULT_DEMAND).node).toBe("new");
    expect(place([node("unknown")], small).node).toBe("unknown");
    // Nowhere: a usage error naming each node's version and minimum.
    expect(() => place([node("a", { version: "1.17.0" }), node("b", { version: "1.18.1" })], { ...small, disk: 5 * GiB })).toThrow(
      expect.objectContaining({ code: "E_USAGE", message: "No node can launch 1 CPU, 256.0MiB memory, 5.0GiB disk: a: Multipass 1.17.0 needs at least 512M memory; b: Multipass 1.18.1 needs at least 512M memory" }),
    );
  });

  test("a launch pinned to a node: refused when that node's version would refuse its sizes", () => {
    const MiB = 1024 ** 2;
    expect(() => checkNodeMinimums("n1", "1.16.3", { cpus: 1, memory: 256 * MiB, disk: 768 * MiB })).not.toThrow();
    expect(() => checkNodeMinimums("n2", "1.17.0", { cpus: 1, memory: 256 * MiB, disk: 5 * GiB })).toThrow(
      expect.objectContaining({ code: "E_USAGE", message: 'Cannot launch 1 CPU, 256.0MiB memory, 5.0GiB disk on node "n2": Multipass 1.17.0 needs at least 512M memory' }),
    );
    expect(() => checkNodeMinimums("n2", "1.17.0", DEFAULT_DEMAND)).not.toThrow();
  });

  test("a cordoned node is never a candidate, however roomy; the reason says so", () => {
    const p = place([node("n1", { cpus: 2, count: 3 }), node("n2", { cordoned: true })], DEFAULT_DEMAND);
    expect(p.node).toBe("n1");
    expect(p.reason).toEndWith("(n2 is cordoned)");
    expect(p.rooms.map((r) => r.node)).toEqual(["n1"]);
    // Not cordoned (false) is a candidate like any other.
    expect(place([node("n1", { cpus: 2, count: 3 }), node("n2", { cordoned: false })], DEFAULT_DEMAND).node).toBe("n2");
  });

  test("every Ready node cordoned: a conflict naming each and how to lift it; nothing fits: the cordoned ones are named too", () => {
    const all = () => place([node("n1", { cordoned: true }), node("n2", { state: "Down" }), node("n3", { cordoned: true, state: "NotReady" })], DEFAULT_DEMAND);
    expect(all).toThrow(expect.objectContaining({ code: "E_CONFLICT" }));
    expect(all).toThrow('No node to launch on: every Ready node is cordoned (n1 is cordoned, n2 is Down, n3 is NotReady); uncordon one with "multiverse nodes uncordon NODE"');
    // No Ready node at all, cordoned or not: unreachable, as before.
    expect(() => place([node("n3", { cordoned: true, state: "Down" })], DEFAULT_DEMAND)).toThrow(expect.objectContaining({ code: "E_UNREACHABLE" }));
    const tooBig = () => place([node("a", { memory: 16 }), node("b", { memory: 64, cordoned: true })], { cpus: 1, memory: 32 * GiB, disk: GiB }, 1);
    expect(tooBig).toThrow('No node can fit 1 CPU, 32.0GiB memory, 1.0GiB disk; the most room is on node "a": 8 CPUs, 16.0GiB memory, 200.0GiB disk free (b is cordoned)');
  });

  test("nothing fits: a clear error naming the node with the most room", () => {
    const demand = { cpus: 2, memory: 64 * GiB, disk: 10 * GiB };
    try {
      place([node("a", { memory: 16 }), node("b", { memory: 32 })], demand, 1);
      throw new Error("placed");
    } catch (error) {
      expect(error).toMatchObject({ code: "E_CONFLICT" });
      expect((error as Error).message).toBe('No node can fit 2 CPUs, 64.0GiB memory, 10.0GiB disk; the most room is on node "b": 8 CPUs, 32.0GiB memory, 200.0GiB disk free');
    }
  });

  test("a node that does not fit is skipped even when it is roomier on the other resources", () => {
    const manyCpus = node("a", { cpus: 64, memory: 2 });
    const enoughMemory = node("b", { cpus: 2, memory: 8 });
    expect(place([manyCpus, enoughMemory], { cpus: 1, memory: 4 * GiB, disk: 5 * GiB }).node).toBe("b");
  });

  test("CPUs are shared up to the overcommit ratio: 4 VM CPUs per host CPU by default, 1 for none", () => {
    const busyCpus = node("a", { cpus: 2, used: { cpus: 6, memory: 1 * GiB } });
    expect(place([busyCpus], DEFAULT_DEMAND).node).toBe("a");
    expect(() => place([busyCpus], DEFAULT_DEMAND, 1)).toThrow(/No node can fit 1 CPU/);
    const full = node("a", { cpus: 2, used: { cpus: 8 } });
    expect(() => place([full], DEFAULT_DEMAND)).toThrow('the most room is on node "a": 0 CPUs');
    // Less oversubscribed ranks first.
    const calm = node("b", { cpus: 2, used: { cpus: 1, memory: 1 * GiB } });
    expect(place([busyCpus, calm], DEFAULT_DEMAND).node).toBe("b");
    // One VM never gets more CPUs than its host has, whatever the ratio.
    expect(() => place([node("c", { cpus: 2 })], { ...DEFAULT_DEMAND, cpus: 4 })).toThrow(/No node can fit 4 CPUs/);
  });

  test("unknown allocations count as Multipass's defaults; disk is capped by real free space", () => {
    const c = node("a", { cpus: 4, used: { cpus: 1, unknown: 2 } });
    c.resources.disk.available = 7 * GiB;
    expect(freeCapacity(c, 1)).toEqual({ cpus: 1, memory: 14 * GiB, disk: 7 * GiB });
    expect(freeCapacity(c).cpus).toBe(13);
  });

  test("a launch's demand: what it asks for, Multipass's defaults for the rest", () => {
    expect(demandOf({})).toEqual(DEFAULT_DEMAND);
    expect(demandOf({ cpus: 2, memory: "4G", disk: "20G" })).toEqual({ cpus: 2, memory: 4 * GiB, disk: 20 * GiB });
  });

  test("launches in flight count against their node until it lists them", () => {
    const pending = createPendingLaunches();
    pending.add("one", { node: "a", demand: { cpus: 2, memory: 4 * GiB, disk: 10 * GiB } });
    pending.add("two", { node: "a", demand: DEFAULT_DEMAND });
    pending.add("elsewhere", { node: "b", demand: DEFAULT_DEMAND });
    const a = node("a", { used: { cpus: 1, memory: GiB, disk: 5 * GiB }, count: 1 });
    expect(pending.charge(a, () => false)).toMatchObject({ allocated: { cpus: 4, memory: 6 * GiB, disk: 20 * GiB, unknown: 0 }, instanceCount: 3 });
    // Once listed, a launch is in the node's own figures and counts no more.
    expect(pending.charge(a, (name) => name === "one")).toMatchObject({ allocated: { cpus: 2, memory: 2 * GiB, disk: 10 * GiB }, instanceCount: 2 });
    expect(a.allocated).toEqual({ cpus: 1, memory: GiB, disk: 5 * GiB, unknown: 0 });
    pending.delete("two");
    expect(pending.get("two")).toBeUndefined();
    expect(pending.charge(a, () => false).instanceCount).toBe(2);
  });
});
