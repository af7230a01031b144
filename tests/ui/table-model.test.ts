import { describe, expect, test } from "bun:test";
import type { InstanceView } from "../../lib/protocol/api.ts";
import { filterWords, instanceRef, matchesFilter, nextSort, rowCells, sameOrder, sortInstances } from "../../lib/ui/table-model.ts";

const vm = (name: string, node: string, state: InstanceView["state"] = "Running", ipv4: string[] = []): InstanceView => ({ name, node, state, ipv4, release: null, labels: {} });

describe("the instances table's model", () => {
  test("the key is NAME@NODE", () => {
    expect(instanceRef(vm("web", "n1"))).toBe("web@n1");
  });

  test("the filter matches every word in name, node, state or an address, ignoring case", () => {
    const web = vm("web", "rack-1", "Running", ["10.0.0.5"]);
    expect(matchesFilter(web, filterWords(""))).toBe(true);
    expect(matchesFilter(web, filterWords("WEB"))).toBe(true);
    expect(matchesFilter(web, filterWords("rack-1 running"))).toBe(true);
    expect(matchesFilter(web, filterWords("10.0.0"))).toBe(true);
    expect(matchesFilter(web, filterWords("web stopped"))).toBe(false);
    expect(filterWords(Array.from({ length: 50 }, (_, i) => `w${i}`).join(" "))).toHaveLength(20);
  });

  test("the filter matches labels as key=value: an environment's instances by multiverse/env=NAME", () => {
    const agent = { ...vm("lab-agent-1", "n2"), labels: { "multiverse/env": "lab", role: "agent" } };
    expect(matchesFilter(agent, filterWords("multiverse/env=lab"))).toBe(true);
    expect(matchesFilter(agent, filterWords("role=agent n2"))).toBe(true);
    expect(matchesFilter(agent, filterWords("multiverse/env=shop"))).toBe(false);
    expect(matchesFilter(vm("lab", "n1"), filterWords("multiverse/env=lab"))).toBe(false);
  });

  test("sorting is natural, total (ties by name then node, ascending) and flips on a second click", () => {
    const list = [vm("web10", "n1"), vm("web2", "n1"), vm("web2", "n0", "Stopped"), vm("db", "n2", "Suspended")];
    expect(sortInstances(list, { key: "name", dir: 1 }).map(instanceRef)).toEqual(["db@n2", "web2@n0", "web2@n1", "web10@n1"]);
    expect(sortInstances(list, { key: "name", dir: -1 }).map(instanceRef)).toEqual(["web10@n1", "web2@n0", "web2@n1", "db@n2"]);
    expect(sortInstances(list, { key: "state", dir: 1 }).map(instanceRef)).toEqual(["web2@n1", "web10@n1", "web2@n0", "db@n2"]);
    expect(list.map(instanceRef)).toEqual(["web10@n1", "web2@n1", "web2@n0", "db@n2"]);
    expect(nextSort({ key: "name", dir: 1 }, "name")).toEqual({ key: "name", dir: -1 });
    expect(nextSort({ key: "name", dir: -1 }, "node")).toEqual({ key: "node", dir: 1 });
  });

  test("2,000 instances sort and filter in well under a frame's budget per snapshot", () => {
    const list = Array.from({ length: 2000 }, (_, i) => vm(`vm-${i}`, `node-${i % 7}`, i % 3 === 0 ? "Stopped" : "Running", [`10.0.${i >> 8}.${i & 255}`]));
    const started = performance.now();
    for (let i = 0; i < 10; i++) sortInstances(list.filter((v) => matchesFilter(v, filterWords("node-3"))), { key: "state", dir: 1 });
    expect((performance.now() - started) / 10).toBeLessThan(50);
  });

  test("order comparison and the cells a row shows", () => {
    expect(sameOrder(["a", "b"], ["a", "b"])).toBe(true);
    expect(sameOrder(["a", "b"], ["b", "a"])).toBe(false);
    expect(sameOrder(["a"], ["a", "b"])).toBe(false);
    expect(rowCells(vm("web", "n1", "Stopped"))).toEqual({ name: "web", node: "n1", state: "Stopped", ipv4: "—", release: "—" });
    expect(rowCells({ ...vm("web", "n1", "Running", ["10.0.0.2", "172.17.0.1"]), release: "Ubuntu 24.04 LTS" }).ipv4).toBe("10.0.0.2, 172.17.0.1");
  });
});
