/**
 * The apply of an environment over a real cache, with the operations played by
 * a fake that records what it was asked and when: dependents wait for their
 * predecessors, independent steps run together, a failure skips what waits on
 * it and nothing else, cloud-init is rendered from the predecessor's address
 * and the stored secret, and removals need the caller's confirmation.
 */
import { describe, expect, test } from "bun:test";
import { joinNode } from "../support/registry.ts";
import { createTestLog } from "../support/test-log.ts";
import { AppError } from "../../lib/core/errors.ts";
import { reachableAddress, runApply } from "../../lib/master/environment-apply.ts";
import { planEnvironment, type PlannedStep } from "../../lib/master/environment-plan.ts";
import { createEnvironmentStore } from "../../lib/master/environment-store.ts";
import type { Operations } from "../../lib/master/operations.ts";
import { Registry } from "../../lib/master/registry.ts";
import { parseEnvironmentDocument } from "../../lib/protocol/environment-document.ts";
import type { EnvironmentEvent } from "../../lib/protocol/environments.ts";
import type { LaunchRequestBody } from "../../lib/protocol/operations.ts";

const GiB = 1024 ** 3;
const ROOMY = { cpus: 8, load: [0, 0, 0] as [number, number, number], memory: { total: 32 * GiB, available: 32 * GiB }, disk: { total: 500 * GiB, available: 500 * GiB } };

interface Call {
  what: string;
  name: string;
  at: number;
  body?: LaunchRequestBody;
}

/** Operations whose launches take `ms` and give `10.0.0.N`; names in `failing` fail. */
function fakeOps(registry: Registry, calls: Call[], options: { ms?: number; failing?: string[] } = {}): Operations {
  let n = 1;
  const ops: Partial<Operations> = {
    candidates: () => [],
    launchingOn: () => null,
    prepareLaunch: (body) => ({ node: registry.get(body.node!)!, placement: null, spec: { name: body.name!, ...(body.cloudInit ? { cloudInit: body.cloudInit } : {}) }, requestId: "r", labels: body.labels ?? {} }),
    async runLaunch(prepared, _caller, emit) {
      const name = prepared.spec.name;
      calls.push({ what: "launch", name, at: Date.now(), body: { ...prepared.spec, dryRun: false, labels: prepared.labels } });
      emit({ type: "progress", node: prepared.node.name, phase: "Creating", percent: null, text: `Creating ${name}` });
      await Bun.sleep(options.ms ?? 30);
      calls.push({ what: "launched", name, at: Date.now() });
      if (options.failing?.includes(name)) return { type: "error", code: "E_MULTIPASS", message: `launch failed: "${name}" broke` };
      const ipv4 = [`10.0.0.${++n}`, `192.168.1.${n}`];
      const node = prepared.node;
      registry.applyInstances(node.name, [...node.snapshot.instances, { name, state: "Running", ipv4, release: null }]);
      return { type: "launched", node: node.name, name, state: "Running", ipv4 };
    },
    async act(action, targets, options) {
      return targets.map((t) => {
        calls.push({ what: `${action}${options.purge ? " --purge" : ""}`, name: t.name, at: Date.now() });
        return { node: t.node.name, name: t.name, ok: true, state: action === "delete" ? null : "Running", error: null };
      });
    },
  };
  return ops as Operations;
}

function setup(yaml: object, options: { ms?: number; failing?: string[]; seed?: [string, "Running"][]; launchingOn?: (name: string) => string | null; launchesPerNode?: number } = {}) {
  const registry = new Registry({ now: () => Date.now(), heartbeatMs: 60_000, downGraceMs: 60_000 });
  for (const name of ["n1", "n2", "n3"]) joinNode(registry, name, name === "n1" ? (options.seed ?? []) : []);
  const calls: Call[] = [];
  const store = createEnvironmentStore(null);
  const ops = fakeOps(registry, calls, options);
  const env = parseEnvironmentDocument(yaml);
  const seen = registry.entries().flatMap((e) => e.snapshot.instances.map((i) => ({ name: i.name, node: e.name, state: i.state, ipv4: i.ipv4, labels: registry.labels.instanceLabels(e.name, i.name) })));
  const { steps } = planEnvironment(env, { instances: seen, stored: [], candidates: registry.entries().map((e) => ({ name: e.name, state: "Ready" as const, multipassError: null, resources: ROOMY, allocated: e.snapshot.allocated, instanceCount: 0 })), launchingOn: () => null });
  const events: EnvironmentEvent[] = [];
  const run = (more: { confirmed?: boolean; values?: Record<string, string>; steps?: PlannedStep[] } = {}) =>
    runApply({ registry, ops, store, log: createTestLog().log, launchingOn: options.launchingOn ?? (() => null), pollMs: 10, launchesPerNode: options.launchesPerNode }, { env, steps: more.steps ?? steps, values: more.values ?? {}, confirmed: more.confirmed ?? false, caller: { tokenId: "t" }, emit: (e) => events.push(e) });
  return { registry, calls, store, env, steps, events, run };
}

const K3S = {
  name: "lab",
  defaults: { network: "bridged" },
  instances: [
    { name: "server", cloudInit: "#cloud-config\nruncmd: [echo '{{ secrets.token }}']\n" },
    { name: "agent", count: 2, cloudInit: "#cloud-config\nruncmd: [echo '{{ instances.server.ipv4 }} {{ instances.server.node }} {{ secrets.token }} {{ env.GREETING }}']\n" },
    { name: "solo" },
  ],
};

describe("applying an environment", () => {
  test("dependents launch once their predecessor has, together; independent ones at once; cloud-init rendered", async () => {
    const { calls, run, events, store } = setup(K3S);
    const results = await run({ values: { GREETING: "hello" } });
    expect(results.map((r) => [r.name, r.ok])).toEqual([["lab-server", true], ["lab-agent-1", true], ["lab-agent-2", true], ["lab-solo", true]]);
    const at = (what: string, name: string) => calls.find((c) => c.what === what && c.name === name)!.at;
    for (const agent of ["lab-agent-1", "lab-agent-2"]) expect(at("launch", agent)).toBeGreaterThanOrEqual(at("launched", "lab-server"));
    expect(at("launch", "lab-solo")).toBeLessThan(at("launched", "lab-server"));
    const token = store.secrets("lab", ["token"]).get("token")!;
    const server = calls.find((c) => c.what === "launch" && c.name === "lab-server")!;
    const agent = calls.find((c) => c.what === "launch" && c.name === "lab-agent-1")!;
    // The server has an extra (bridged) network: its second address is the one given.
    const serverAddress = (events.find((e) => e.type === "result" && e.result.name === "lab-server") as Extract<EnvironmentEvent, { type: "result" }>).result.ipv4[1];
    expect(server.body!.cloudInit).toBe(`#cloud-config\nruncmd: [echo '${token}']\n`);
    expect(agent.body!.cloudInit).toBe(`#cloud-config\nruncmd: [echo '${serverAddress} ${results[0]!.node} ${token} hello']\n`);
    expect(agent.body!.labels).toEqual({ "multiverse/env": "lab" });
    expect(events.filter((e) => e.type === "step" && e.status === "progress")).toHaveLength(4);
  });

  test("a failed launch skips what waits on it, saying which, and nothing else", async () => {
    const { run, calls } = setup(K3S, { failing: ["lab-server"] });
    const results = await run({ values: { GREETING: "x" } });
    expect(results.find((r) => r.name === "lab-server")).toMatchObject({ ok: false, skipped: false, error: { code: "E_MULTIPASS" } });
    expect(results.find((r) => r.name === "lab-agent-1")).toMatchObject({ ok: false, skipped: true, error: { message: "not launched: lab-server, which it waits for, did not succeed" } });
    expect(results.find((r) => r.name === "lab-solo")?.ok).toBe(true);
    expect(calls.filter((c) => c.what === "launch").map((c) => c.name).sort()).toEqual(["lab-server", "lab-solo"]);
  });

  test("removals run only when confirmed", async () => {
    const { run, steps, calls } = setup({ name: "lab", instances: [{ name: "a" }] }, { seed: [["lab-b", "Running"]] });
    // lab-b is not labelled: make it the environment's for the plan by hand.
    const removal: PlannedStep = { name: "lab-b", key: null, action: "remove", node: "n1", reason: "no longer in the file", state: "Running", after: [], drift: [], member: null, refusal: null, relabel: null };
    const refused = await run({ steps: [...steps, removal] });
    expect(refused.find((r) => r.name === "lab-b")).toMatchObject({ ok: false, error: { message: 'Not removing "lab-b": removals were not confirmed' } });
    expect(calls.some((c) => c.what.startsWith("delete"))).toBe(false);
  });

  test("a step the plan could not place fails with the placement's reason; the rest go on", async () => {
    const { run, steps } = setup({ name: "lab", instances: [{ name: "a" }, { name: "b" }] });
    const refusal = new AppError("E_CONFLICT", "No node can fit 64 CPUs");
    const results = await run({ steps: [{ ...steps[0]!, node: null, refusal }, steps[1]!] });
    expect(results.map((r) => [r.name, r.ok, r.error?.message ?? null])).toEqual([["lab-a", false, "No node can fit 64 CPUs"], ["lab-b", true, null]]);
  });

  test("the address a template gets: the first on an extra network when there is one", () => {
    expect(reachableAddress(0, ["10.0.0.2", "192.168.1.2"])).toBe("10.0.0.2");
    expect(reachableAddress(1, ["10.0.0.2", "192.168.1.2"])).toBe("192.168.1.2");
    expect(reachableAddress(1, ["10.0.0.2"])).toBe("10.0.0.2");
    expect(reachableAddress(0, [])).toBeUndefined();
  });

  test("a waited-for instance listed Running counts only once its launch has ended (cloud-init runs after Running)", async () => {
    let inFlight = true;
    const { run, steps, calls, registry } = setup({ name: "lab", instances: [{ name: "db" }, { name: "app", after: ["db"] }] }, { launchingOn: (n) => (n === "lab-db" && inFlight ? "n1" : null) });
    registry.applyInstances("n1", [{ name: "lab-db", state: "Running", ipv4: ["10.0.0.9"], release: null }]);
    const wait: PlannedStep = { ...steps[0]!, action: "wait", node: "n1", state: "Running", refusal: null };
    const done = run({ steps: [wait, steps[1]!] });
    await Bun.sleep(100);
    expect(calls.filter((c) => c.what === "launch")).toEqual([]);
    const ended = Date.now();
    inFlight = false;
    const results = await done;
    expect(results.map((r) => [r.name, r.action, r.ok])).toEqual([["lab-db", "wait", true], ["lab-app", "launch", true]]);
    expect(calls.find((c) => c.what === "launch" && c.name === "lab-app")!.at).toBeGreaterThanOrEqual(ended);
  });

  test("at most launchesPerNode launches of an apply run at once on a node; the others wait their turn, saying so", async () => {
    const { run, calls, events } = setup({ name: "lab", instances: [{ name: "w", count: 5, node: "n1" }, { name: "x", node: "n2" }] }, { ms: 40, launchesPerNode: 2 });
    const results = await run();
    expect(results.every((r) => r.ok)).toBe(true);
    // Replay the launches' starts and ends in time order: never more than 2 on n1 at once.
    const n1 = calls.filter((c) => c.name.startsWith("lab-w-")).sort((a, b) => a.at - b.at || (a.what === "launched" ? -1 : 1));
    let active = 0;
    let most = 0;
    for (const c of n1) {
      active += c.what === "launch" ? 1 : -1;
      most = Math.max(most, active);
    }
    expect(most).toBe(2);
    // n2's launch did not wait for n1's turns.
    expect(calls.find((c) => c.what === "launch" && c.name === "lab-x")!.at).toBeLessThan(calls.find((c) => c.what === "launch" && c.name === "lab-w-3")!.at);
    expect(events.some((e) => e.type === "step" && e.name === "lab-w-3" && /waiting for a turn on n1: 2 launches of this apply ahead/.test(e.message ?? ""))).toBe(true);
  });
});
