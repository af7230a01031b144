import { describe, expect, test } from "bun:test";
import { arrayOf, parseJson } from "../../lib/core/parse.ts";
import { DEFAULT_DEMAND, place } from "../../lib/master/placement.ts";
import { compareNames, Registry } from "../../lib/master/registry.ts";
import { parseInstanceView, type InstanceView } from "../../lib/protocol/api.ts";
import type { HostSnapshot } from "../../lib/protocol/join.ts";
import type { InstanceSummary } from "../../lib/protocol/instances.ts";

const resources = { cpus: 4, load: [0.1, 0.2, 0.3] as [number, number, number], memory: { total: 8e9, available: 4e9 }, disk: { total: 1e11, available: 5e10 } };

function snapshot(instances: Partial<InstanceSummary>[]): HostSnapshot {
  return {
    multipassVersion: "1.16.3",
    multipassError: null,
    resources,
    allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 },
    instances: instances.map((i) => ({ name: "x", state: "Running", ipv4: [], release: "Ubuntu 24.04 LTS", ...i })),
  };
}

function setup() {
  let now = 1_000_000;
  const registry = new Registry({ now: () => now, heartbeatMs: 1000, downGraceMs: 60_000 });
  const closed: string[] = [];
  const join = (id: string, name: string, instances: Partial<InstanceSummary>[] = []) =>
    registry.join({ id, name, address: `10.0.0.1:${id.length}`, version: "0.1.0", agentToken: "t", agentCert: null, snapshot: snapshot(instances), close: () => closed.push(id) });
  return { registry, join, closed, advance: (ms: number) => (now += ms) };
}

/** The instances the registry lists (`GET /api/v1/instances`), read back through the API's parser. */
async function listed(registry: Registry): Promise<InstanceView[]> {
  return arrayOf(parseInstanceView)(parseJson(await registry.instanceViewsBody().text(), "instances"), "instances");
}

/** Every instance's view made afresh, one by one through instanceView (no cache), by node then name. */
function freshViews(registry: Registry): InstanceView[] {
  return registry.entries().flatMap((node) =>
    [...node.snapshot.instances].sort((a, b) => compareNames(a.name, b.name)).map((instance) => registry.instanceView({ node, instance })),
  );
}

describe("Registry", () => {
  test("states: Ready, NotReady after three silent heartbeat intervals, Down when disconnected", () => {
    const { registry, join, advance } = setup();
    const { entry } = join("a", "n1");
    expect(registry.stateOf(entry)).toBe("Ready");
    advance(3000);
    expect(registry.stateOf(entry)).toBe("Ready");
    advance(1);
    expect(registry.stateOf(entry)).toBe("NotReady");
    registry.heartbeat("a", "n1", resources);
    expect(registry.stateOf(entry)).toBe("Ready");
    registry.disconnect("a", "n1");
    expect(registry.stateOf(entry)).toBe("Down");
  });

  test("sweep reports transitions once and removes Down nodes after the grace period", () => {
    const { registry, join, advance } = setup();
    join("a", "n1");
    expect(registry.sweep()).toEqual([]);
    advance(3500);
    expect(registry.sweep()).toEqual([{ name: "n1", from: "Ready", to: "NotReady" }]);
    expect(registry.sweep()).toEqual([]);
    registry.disconnect("a", "n1");
    expect(registry.sweep()).toEqual([{ name: "n1", from: "NotReady", to: "Down" }]);
    advance(59_000);
    expect(registry.sweep()).toEqual([]);
    expect(registry.entries().length).toBe(1);
    advance(2000);
    expect(registry.sweep()).toEqual([{ name: "n1", from: "Down", to: "Removed" }]);
    expect(registry.entries().length).toBe(0);
  });

  test("a rejoin under the same name replaces the entry, closes the old connection, and ignores the old membership", async () => {
    const { registry, join, closed } = setup();
    join("a", "n1", [{ name: "old" }]);
    const { replaced } = join("b", "n1", [{ name: "new" }]);
    expect(replaced?.id).toBe("a");
    expect(closed).toEqual(["a"]);
    expect(registry.update("a", "n1", snapshot([{ name: "stale" }]))).toBe(false);
    registry.disconnect("a", "n1");
    expect(registry.stateOf(registry.get("n1")!)).toBe("Ready");
    expect((await listed(registry)).map((i) => i.name)).toEqual(["new"]);
  });

  test("a rejoin after a disconnect does not try to close the dead connection", () => {
    const { registry, join, closed } = setup();
    join("a", "n1");
    registry.disconnect("a", "n1");
    join("b", "n1");
    expect(closed).toEqual([]);
  });

  test("instances of nodes that are not Ready, or whose multipass fails, are Unknown", async () => {
    const { registry, join } = setup();
    join("a", "n1", [{ name: "web", state: "Running" }]);
    join("bb", "n2", [{ name: "db", state: "Stopped" }]);
    registry.disconnect("bb", "n2");
    expect(await listed(registry)).toEqual([
      { node: "n1", name: "web", state: "Running", ipv4: [], release: "Ubuntu 24.04 LTS", labels: {} },
      { node: "n2", name: "db", state: "Unknown", ipv4: [], release: "Ubuntu 24.04 LTS", labels: {} },
    ]);
    registry.update("a", "n1", { ...snapshot([{ name: "web" }]), multipassError: "daemon down" });
    expect((await listed(registry))[0]!.state).toBe("Unknown");
  });

  test("a node whose multipass is only busy stays Ready and placeable, its instances keep their states, and its view says since when", async () => {
    const { registry, join, advance } = setup();
    join("a", "n1", [{ name: "web", state: "Running" }, { name: "db", state: "Stopped" }]);
    expect(registry.nodeViews()[0]?.staleSince).toBeNull();
    const since = new Date(1_000_000).toISOString();
    registry.update("a", "n1", { ...snapshot([{ name: "web", state: "Running" }, { name: "db", state: "Stopped" }]), staleSince: since });
    // A stop can hold the daemon for minutes; heartbeats keep coming meanwhile.
    for (let i = 0; i < 10; i++) {
      advance(1000);
      registry.heartbeat("a", "n1", resources);
    }
    const [node] = registry.nodeViews();
    expect(node).toMatchObject({ state: "Ready", multipassError: null, staleSince: since });
    expect((await listed(registry)).map((i) => `${i.name}:${i.state}`)).toEqual(["db:Stopped", "web:Running"]);
    const candidate = { name: node!.name, state: node!.state, multipassError: node!.multipassError, resources: node!.resources, allocated: node!.allocated, instanceCount: 2 };
    expect(place([candidate], DEFAULT_DEMAND).node).toBe("n1");
    // Past the daemon's bound the worker reports a failure: then, and only then, Unknown.
    registry.update("a", "n1", { ...snapshot([{ name: "web" }]), multipassError: "multipass list timed out after 7m" });
    expect((await listed(registry))[0]!.state).toBe("Unknown");
    expect(registry.nodeViews()[0]?.staleSince).toBeNull();
  });

  test("resolve: NAME@NODE, unique bare names, ambiguity with candidates, not found", () => {
    const { registry, join } = setup();
    join("a", "n1", [{ name: "primary" }, { name: "web" }]);
    join("bb", "n2", [{ name: "primary" }]);
    expect(registry.resolve("web").node.name).toBe("n1");
    expect(registry.resolve("primary", "n2").node.name).toBe("n2");
    try {
      registry.resolve("primary");
      throw new Error("not thrown");
    } catch (error) {
      expect(error).toMatchObject({ code: "E_AMBIGUOUS", details: { candidates: ["primary@n1", "primary@n2"] } });
      expect((error as Error).message).toContain("n1, n2");
    }
    expect(() => registry.resolve("nope")).toThrow(/does not exist on any node/);
    expect(() => registry.resolve("web", "n2")).toThrow(/does not exist on node "n2"/);
    expect(() => registry.resolve("web", "n9")).toThrow(/Node "n9" is not part of the cluster/);
  });

  test("the cached JSON of instances is always the same as the views made afresh, through every kind of change", async () => {
    const { registry, join, advance } = setup();
    const check = async () => {
      expect(await listed(registry)).toEqual(freshViews(registry));
    };
    await check();
    join("a", "zeta", [{ name: "b" }, { name: "a", state: "Stopped" }]);
    join("bb", "alpha", []);
    await check();
    join("ccc", "mid", [{ name: "c" }]);
    await check();
    registry.update("a", "zeta", snapshot([{ name: "b", state: "Suspended" }]));
    await check();
    registry.heartbeat("a", "zeta", resources);
    await check();
    advance(3500);
    await check();
    expect((await listed(registry)).every((i) => i.state === "Unknown")).toBe(true);
    registry.heartbeat("a", "zeta", resources);
    await check();
    registry.applyInstances("mid", []);
    await check();
    registry.disconnect("ccc", "mid");
    advance(61_000);
    registry.sweep();
    await check();
    expect(await registry.instanceViewsBody().text()).toBe(JSON.stringify(freshViews(registry)));
    expect(registry.instanceViewsBody()).toBe(registry.instanceViewsBody());
  });

  test("views are sorted by node then instance name", async () => {
    const { registry, join } = setup();
    join("a", "zeta", [{ name: "b" }, { name: "a" }]);
    join("bb", "alpha", [{ name: "c" }]);
    expect(registry.nodeViews().map((n) => n.name)).toEqual(["alpha", "zeta"]);
    expect((await listed(registry)).map((i) => `${i.node}/${i.name}`)).toEqual(["alpha/c", "zeta/a", "zeta/b"]);
    expect(registry.nodeViews()[0]).toMatchObject({ lastSync: new Date(1_000_000).toISOString(), instanceCount: 1, multipassVersion: "1.16.3", workerVersion: "0.1.0" });
  });
});

describe("Registry.onChange (the watch stream's trigger)", () => {
  test("fires on join, report, heartbeat, an operation's instances, disconnect, removal and a sweep that changed a state; not on stale or empty calls", () => {
    const { registry, join, advance } = setup();
    let changes = 0;
    const off = registry.onChange(() => changes++);
    const step = (what: string, act: () => unknown, expected: number) => {
      const before = changes;
      act();
      expect({ what, fired: changes - before }).toEqual({ what, fired: expected });
    };
    step("join", () => join("a", "n1", [{ name: "web" }]), 1);
    step("update", () => registry.update("a", "n1", snapshot([{ name: "web", state: "Stopped" }])), 1);
    step("stale update", () => registry.update("old", "n1", snapshot([])), 0);
    step("heartbeat", () => registry.heartbeat("a", "n1", resources), 1);
    step("applyInstances", () => registry.applyInstances("n1", []), 1);
    step("applyInstances of an unknown node", () => registry.applyInstances("nope", []), 0);
    step("sweep with nothing changed", () => registry.sweep(), 0);
    advance(3001);
    step("sweep: NotReady", () => registry.sweep(), 1);
    step("disconnect", () => registry.disconnect("a", "n1"), 1);
    step("disconnect again", () => registry.disconnect("a", "n1"), 0);
    step("remove", () => registry.remove("n1", { force: false }), 1);
    off();
    step("after the listener is removed", () => join("b", "n2"), 0);
  });

  test("a listener that throws stops neither the others nor the change", () => {
    const { registry, join } = setup();
    let heard = 0;
    registry.onChange(() => {
      throw new Error("boom");
    });
    registry.onChange(() => heard++);
    join("a", "n1");
    expect(heard).toBe(1);
    expect(registry.get("n1")).toBeDefined();
  });
});
