import { describe, expect, test } from "bun:test";
import { driftOf, launchedWith, planEnvironment, type PlanWorld, type SeenInstance } from "../../lib/master/environment-plan.ts";
import type { Candidate } from "../../lib/master/placement.ts";
import { ENVIRONMENT_LABEL, type Environment, type EnvironmentMember } from "../../lib/protocol/environments.ts";

const GiB = 1024 ** 3;

function node(name: string, over: { memory?: number; state?: Candidate["state"]; cordoned?: boolean } = {}): Candidate {
  return {
    name,
    state: over.state ?? "Ready",
    multipassError: null,
    ...(over.cordoned === undefined ? {} : { cordoned: over.cordoned }),
    resources: { cpus: 4, load: [0, 0, 0], memory: { total: (over.memory ?? 16) * GiB, available: 8 * GiB }, disk: { total: 200 * GiB, available: 200 * GiB } },
    allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 },
    instanceCount: 0,
  };
}

function member(key: string, over: Partial<EnvironmentMember> = {}): EnvironmentMember {
  const entry = over.entry ?? key.replace(/-\d+$/, "");
  return { key, name: `lab-${key}`, entry, spread: false, labels: { [ENVIRONMENT_LABEL]: "lab" }, after: [], networks: [], memory: "1G", ...over };
}

function env(members: EnvironmentMember[]): Environment {
  return { name: "lab", members, envNames: [], secretNames: [] };
}

function world(over: Partial<PlanWorld> = {}): PlanWorld {
  return { instances: [], stored: [], candidates: [node("n1"), node("n2"), node("n3")], launchingOn: () => null, ...over };
}

function seen(name: string, nodeName: string, state: SeenInstance["state"] = "Running", labels: Record<string, string> = { [ENVIRONMENT_LABEL]: "lab" }): SeenInstance {
  return { name, node: nodeName, state, ipv4: state === "Running" ? ["10.0.0.2"] : [], labels };
}

describe("environment plans", () => {
  test("a fresh environment launches every member, each launch charged so the next one goes elsewhere", () => {
    const { plan } = planEnvironment(env([member("a"), member("b"), member("c")]), world());
    expect(plan.steps.map((s) => [s.name, s.action])).toEqual([["lab-a", "launch"], ["lab-b", "launch"], ["lab-c", "launch"]]);
    expect(new Set(plan.steps.map((s) => s.node)).size).toBe(3);
    expect(plan.steps[0]!.reason).toStartWith("the most free capacity after allocations");
  });

  test("existing members are kept, started or waited for by their state; after names become instance names", () => {
    const members = [member("server"), member("agent-1", { after: ["server"] }), member("agent-2", { after: ["server"] }), member("db")];
    const instances = [seen("lab-server", "n1"), seen("lab-agent-1", "n2", "Stopped"), seen("lab-agent-2", "n3", "Starting"), seen("lab-db", "n1", "Deleted")];
    const { plan } = planEnvironment(env(members), world({ instances }));
    expect(plan.steps.map((s) => [s.name, s.action, s.node])).toEqual([
      ["lab-server", "keep", "n1"],
      ["lab-agent-1", "start", "n2"],
      ["lab-agent-2", "wait", "n3"],
      ["lab-db", "start", "n1"],
    ]);
    expect(plan.steps[1]!.after).toEqual(["lab-server"]);
    expect(plan.steps[3]!.reason).toContain("deleted (not purged): recovered and started");
  });

  test("an instance of the same name that is not the environment's is a conflict, and nothing is planned", () => {
    const instances = [seen("lab-a", "n2", "Running", { role: "x" })];
    expect(() => planEnvironment(env([member("a")]), world({ instances }))).toThrow(expect.objectContaining({ code: "E_CONFLICT", message: expect.stringContaining('"lab-a" on node "n2"') }));
  });

  test("a recorded member without the label (its master died mid-launch) is adopted and relabelled", () => {
    const m = member("a", { labels: { [ENVIRONMENT_LABEL]: "lab", role: "web" } });
    const instances = [seen("lab-a", "n2", "Running", {})];
    const { steps } = planEnvironment(env([m]), world({ instances, stored: [{ instance: "lab-a", node: "n2", launched: launchedWith(m) }] }));
    expect(steps[0]!.action).toBe("keep");
    expect(steps[0]!.reason).toContain("adopted");
    expect(steps[0]!.relabel).toEqual({ [ENVIRONMENT_LABEL]: "lab", role: "web" });
  });

  test("instances the document no longer names are removed, a lowered count saying so", () => {
    const members = [member("agent-1", { entry: "agent" }), member("agent-2", { entry: "agent" })];
    const instances = [seen("lab-agent-1", "n1"), seen("lab-agent-2", "n2"), seen("lab-agent-3", "n3"), seen("lab-old", "n1"), seen("other", "n1", "Running", {})];
    const { plan } = planEnvironment(env(members), world({ instances }));
    const removals = plan.steps.filter((s) => s.action === "remove");
    expect(removals.map((s) => [s.name, s.reason])).toEqual([
      ["lab-agent-3", 'count of "agent" lowered to 2: deleted and purged'],
      ["lab-old", "no longer in the file: deleted and purged"],
    ]);
  });

  test("spread puts an entry's instances on different nodes, and says why when it cannot", () => {
    const agents = [1, 2, 3, 4].map((i) => member(`agent-${i}`, { entry: "agent", spread: true }));
    const { plan } = planEnvironment(env(agents), world());
    const nodes = plan.steps.map((s) => s.node);
    expect(new Set(nodes.slice(0, 3)).size).toBe(3);
    expect(plan.steps[1]!.reason).toStartWith("spread: apart from lab-agent-1");
    expect(plan.steps[3]!.reason).toContain("spread not possible (every Ready node has one of \"agent\" already)");
    expect(plan.notes).toHaveLength(1);
    expect(plan.notes[0]).toContain(`lab-agent-4: every Ready node has one of "agent" already; it shares node "${nodes[3]}"`);
  });

  test("spread counts an existing sibling's node, and skips a cordoned node", () => {
    const agents = [1, 2].map((i) => member(`agent-${i}`, { entry: "agent", spread: true }));
    const { plan } = planEnvironment(env(agents), world({ instances: [seen("lab-agent-2", "n1")], candidates: [node("n1"), node("n2", { cordoned: true }), node("n3")] }));
    expect(plan.steps[0]).toMatchObject({ name: "lab-agent-1", action: "launch", node: "n3" });
  });

  test("a pinned member goes to its node; a node that cannot take it refuses that step only", () => {
    const { plan, steps } = planEnvironment(env([member("a", { node: "n2" }), member("b", { node: "n9" }), member("c", { memory: "64G" })]), world());
    expect(plan.steps[0]).toMatchObject({ node: "n2", reason: 'pinned to node "n2" in the file' });
    expect(steps[1]!.refusal?.code).toBe("E_NOT_FOUND");
    expect(steps[2]!.refusal?.code).toBe("E_CONFLICT");
    expect(plan.steps[2]!.reason).toStartWith("cannot be placed: No node can fit");
  });

  test("drift compares the document with what the instance was launched with", () => {
    const launched = launchedWith(member("a", { cpus: 1, memory: "1024M", image: "24.04", cloudInit: "#cloud-config\n" }));
    expect(driftOf(member("a", { cpus: 1, memory: "1G", image: "24.04", cloudInit: "#cloud-config\n" }), launched)).toEqual([]);
    expect(driftOf(member("a", { cpus: 2, memory: "2G", image: "22.04", cloudInit: "#cloud-config\nruncmd: []\n" }), launched)).toEqual([
      'image: "22.04" in the file, launched with "24.04"',
      "cpus: 2 in the file, launched with 1",
      'memory: "2G" in the file, launched with "1024M"',
      "cloudInit: changed since the launch (cloud-init runs at first boot only)",
    ]);
    const instances = [seen("lab-a", "n1")];
    const { plan } = planEnvironment(env([member("a", { cpus: 2, memory: "1G", image: "24.04", cloudInit: "#cloud-config\n" })]), world({ instances, stored: [{ instance: "lab-a", node: "n1", launched }] }));
    expect(plan.steps[0]).toMatchObject({ action: "keep", drift: ["cpus: 2 in the file, launched with 1"] });
  });

  test("a launch already in flight by another call is waited for, not launched twice, even once it is listed Running", () => {
    const launchingOn = (n: string) => (n === "lab-a" ? "n2" : null);
    const { plan } = planEnvironment(env([member("a")]), world({ launchingOn }));
    expect(plan.steps[0]).toMatchObject({ action: "wait", node: "n2" });
    // Running comes before cloud-init is done: what waits on it must wait for the launch's end.
    const listed = planEnvironment(env([member("a")]), world({ launchingOn, instances: [seen("lab-a", "n2")] }));
    expect(listed.plan.steps[0]).toMatchObject({ action: "wait", node: "n2", state: "Running" });
    expect(listed.plan.steps[0]!.reason).toContain("its launch not ended yet");
  });

  test("a member recorded on a node that has not joined (or is not Ready) is not launched elsewhere", () => {
    const m = member("a");
    const stored = [{ instance: "lab-a", node: "n9", launched: launchedWith(m) }];
    const { plan, steps } = planEnvironment(env([m]), world({ stored }));
    expect(plan.steps[0]).toMatchObject({ action: "wait", node: "n9" });
    expect(plan.steps[0]!.reason).toContain('launched on node "n9", which is not in the cluster now');
    expect(steps[0]!.refusal?.code).toBe("E_UNREACHABLE");
    const down = planEnvironment(env([m]), world({ stored: [{ ...stored[0]!, node: "n2" }], candidates: [node("n1"), node("n2", { state: "Down" })] }));
    expect(down.plan.steps[0]!.reason).toContain("which is Down");
    // Back and Ready, not listing it (purged on the host): launched again.
    expect(planEnvironment(env([m]), world({ stored: [{ ...stored[0]!, node: "n2" }] })).plan.steps[0]!.action).toBe("launch");
  });
});
