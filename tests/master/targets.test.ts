import { joinNode } from "../support/registry.ts";
import { describe, expect, test } from "bun:test";
import { Registry } from "../../lib/master/registry.ts";
import { bulkTargets, instanceTarget, purgeTargets, sessionTarget, type Target } from "../../lib/master/targets.ts";
import type { InstanceState } from "../../lib/protocol/instances.ts";


function cluster() {
  const registry = new Registry({ now: () => 1_000_000, heartbeatMs: 1000, downGraceMs: 60_000 });
  const join = (name: string, instances: [string, InstanceState][]) => joinNode(registry, name, instances);
  join("n1", [["web", "Running"], ["db", "Stopped"], ["old", "Deleted"]]);
  join("n2", [["web", "Running"], ["cache", "Running"]]);
  join("n3", [["gone", "Running"]]);
  registry.disconnect("n3", "n3");
  return registry;
}

const names = (targets: Target[]) => targets.map((t) => `${t.name}@${t.node.name}`);

describe("targets", () => {
  test("an instance by NAME@NODE, or by a bare name held by one node only", () => {
    const registry = cluster();
    expect(names([instanceTarget(registry, { name: "web", node: "n2" }), instanceTarget(registry, { name: "db" })])).toEqual(["web@n2", "db@n1"]);
    expect(() => instanceTarget(registry, { name: "web" })).toThrow(expect.objectContaining({ code: "E_AMBIGUOUS" }));
    expect(() => instanceTarget(registry, { name: "nope" })).toThrow(expect.objectContaining({ code: "E_NOT_FOUND" }));
  });

  test("bulk: all means what the verb applies to on the nodes not Down", () => {
    const registry = cluster();
    expect(names(bulkTargets(registry, "stop", { all: true, instances: [] }))).toEqual(["web@n1", "web@n2", "cache@n2"]);
    expect(names(bulkTargets(registry, "start", { all: true, instances: [] }))).toEqual(["db@n1"]);
    expect(names(bulkTargets(registry, "recover", { all: true, instances: [] }))).toEqual(["old@n1"]);
  });

  test("bulk: named instances each once, and one bad name stops the whole call", () => {
    const registry = cluster();
    expect(names(bulkTargets(registry, "stop", { all: false, instances: [{ name: "db" }, { name: "web", node: "n1" }, { name: "db", node: "n1" }] }))).toEqual(["db@n1", "web@n1"]);
    expect(() => bulkTargets(registry, "stop", { all: false, instances: [{ name: "db" }, { name: "web" }] })).toThrow(expect.objectContaining({ code: "E_AMBIGUOUS" }));
  });

  test("purge: the named node, or every node not Down", () => {
    const registry = cluster();
    expect(purgeTargets(registry, undefined).map((n) => n.name)).toEqual(["n1", "n2"]);
    expect(purgeTargets(registry, "n3").map((n) => n.name)).toEqual(["n3"]);
    expect(() => purgeTargets(registry, "n9")).toThrow('Node "n9" is not part of the cluster');
    expect(() => purgeTargets(registry, "../x")).toThrow(expect.objectContaining({ code: "E_USAGE" }));
  });

  test("a primary the cache does not know on the chosen node is refused, saying why (Multipass would launch one)", () => {
    const registry = cluster();
    const why = /not passing the call on: for a "primary" that does not exist, Multipass would launch a new VM with the home directory of the worker's account mounted in it/;
    for (const ref of [{ name: "primary", node: "n1" }, { name: "primary" }]) {
      for (const target of [() => instanceTarget(registry, ref), () => sessionTarget(registry, ref), () => bulkTargets(registry, "start", { all: false, instances: [ref] })]) {
        expect(target).toThrow(expect.objectContaining({ code: "E_NOT_FOUND", message: expect.stringMatching(why) }));
      }
    }
    expect(() => instanceTarget(registry, { name: "primary", node: "n1" })).toThrow(/^Instance "primary" does not exist on node "n1"; not passing/);
    // Other unknown names keep the plain answer.
    expect(() => instanceTarget(registry, { name: "nope", node: "n1" })).toThrow(/^Instance "nope" does not exist on node "n1"$/);
    // A primary the node lists is an instance like any other.
    registry.applyInstances("n2", [{ name: "primary", state: "Stopped", ipv4: [], release: null }]);
    expect(names([instanceTarget(registry, { name: "primary" }), sessionTarget(registry, { name: "primary", node: "n2" })])).toEqual(["primary@n2", "primary@n2"]);
    expect(() => instanceTarget(registry, { name: "primary", node: "n1" })).toThrow(why);
  });

  test("a session never opens on a Down node", () => {
    const registry = cluster();
    expect(names([sessionTarget(registry, { name: "cache" })])).toEqual(["cache@n2"]);
    expect(() => sessionTarget(registry, { name: "gone" })).toThrow('Node "n3" is Down; cannot open a session on "gone"');
  });
});
