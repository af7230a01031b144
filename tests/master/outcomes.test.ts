/**
 * Learning the truth of a change whose answer was lost: the node is asked
 * for the request id while it is there, waited for while it is away, and
 * what it says — or that nobody can say — is what the caller and the audit
 * trail get; never an "ok" nobody saw.
 */
import { joinNode } from "../support/registry.ts";
import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import type { AgentClient } from "../../lib/master/agent-client.ts";
import type { ActContext, CallEnd } from "../../lib/master/audit-policy.ts";
import { changeOrFollow, learnOutcome, type OutcomeDeps } from "../../lib/master/outcomes.ts";
import { Registry } from "../../lib/master/registry.ts";
import type { AgentOperation } from "../../lib/protocol/agent.ts";
import type { InstanceSummary } from "../../lib/protocol/instances.ts";

const stopped: InstanceSummary = { name: "web", state: "Stopped", ipv4: [], release: "Ubuntu 24.04 LTS" };
const running: InstanceSummary = { ...stopped, state: "Running" };

/** One answer of the node to "how did request r1 go": a record, no record (null), or a failure to answer. */
type Answer = Omit<AgentOperation, "requestId" | "action" | "instance" | "finishedAt" | "instances"> | null | Error;

const ok: Answer = { state: "ok", error: null };
const stillRunning: Answer = { state: "running", error: null };

function setup(answers: Answer[]) {
  const registry = new Registry({ now: Date.now, heartbeatMs: 60_000, downGraceMs: 60_000 });
  const join = (instances: InstanceSummary[] = [running]) => joinNode(registry, "n1", instances, { id: crypto.randomUUID(), multipassVersion: "1.16.3" }).entry;
  const asked: string[] = [];
  const agents: Pick<AgentClient, "operation"> = {
    async operation(node, requestId) {
      asked.push(`${node.agentToken}:${requestId}`);
      const next = answers.length > 0 ? answers.shift() : stillRunning;
      if (next instanceof Error) throw next;
      if (next === null || next === undefined) return null;
      return { requestId, action: "stop", instance: "web", finishedAt: null, instances: [stopped], ...next };
    },
  };
  const stopping = new AbortController();
  const deps: OutcomeDeps = { agents: agents as AgentClient, registry, stopping: stopping.signal, backoff: { baseMs: 10, maxMs: 20 } };
  return { deps, registry, join, asked, stopping };
}

const ask = { node: "n1", requestId: "r1", instance: "web", what: 'the stop of "web"', boundMs: 2_000 };

describe("learnOutcome", () => {
  test("asks again while the call runs, and returns what the node says in the end", async () => {
    const { deps, join, asked } = setup([stillRunning, stillRunning, ok]);
    join();
    expect(await learnOutcome(deps, ask)).toEqual({ kind: "ok", instances: [stopped] });
    expect(asked).toEqual(["t:r1", "t:r1", "t:r1"]);
  });

  test("waits while the node is away, and asks it once it is back", async () => {
    const { deps, registry, join, asked } = setup([new AppError("E_UNREACHABLE", "connection refused"), { state: "error", error: { code: "E_MULTIPASS", message: "stop failed" } }]);
    const entry = join();
    registry.disconnect(entry.id, "n1");
    let away = 0;
    const learning = learnOutcome(deps, { ...ask, onAway: () => away++ });
    await Bun.sleep(60);
    expect(asked).toEqual([]);
    join();
    expect(await learning).toEqual({ kind: "error", error: { code: "E_MULTIPASS", message: "stop failed" } });
    expect(asked).toEqual(["t:r1", "t:r1"]);
    expect(away).toBe(1);
  });

  test("a node without a record of the call: outcome unknown, with what the cache shows now, never ok", async () => {
    const { deps, join } = setup([null]);
    join([stopped]);
    expect(await learnOutcome(deps, ask)).toEqual({
      kind: "unknown",
      error: { code: "E_NOT_FOUND", message: expect.stringMatching(/^Outcome unknown: node "n1" has no record of it .*; instance "web" is Stopped there now$/) },
    });
  });

  test("a node that stays away past the bound: outcome unknown; a master that stops: nothing", async () => {
    const { deps } = setup([]);
    expect(await learnOutcome(deps, { ...ask, boundMs: 100 })).toEqual({
      kind: "unknown",
      error: { code: "E_UNREACHABLE", message: 'Outcome unknown: after 0.1s node "n1" could not be asked (node "n1" is not in the cluster); node "n1" is not in the cluster now' },
    });
    const stopping = setup([]);
    const learning = learnOutcome(stopping.deps, ask);
    stopping.stopping.abort();
    expect(await learning).toBeNull();
  });
});

/** An ActContext that keeps what is left for later. */
function context() {
  const later: Promise<CallEnd | null>[] = [];
  const ctx: ActContext = { requestId: "r1", settleLater: (p) => void later.push(p) };
  return { ctx, later };
}

const lost = new AppError("E_UNREACHABLE", 'Lost node "n1" during the stop of "web" (connection reset)', { details: { lost: "connection" } });
const target = { node: "n1", instance: "web", what: 'the stop of "web"', boundMs: 2_000 };

describe("changeOrFollow", () => {
  test("an answer lost while the node is there: the caller gets what the node says", async () => {
    const { deps, join } = setup([stillRunning, ok]);
    join();
    const { ctx, later } = context();
    expect(await changeOrFollow(deps, ctx, target, () => Promise.reject(lost))).toEqual([stopped]);
    expect(later).toEqual([]);
  });

  test("an answer lost with the node: the caller hears of the loss at once; the record and the cache wait for the truth", async () => {
    const { deps, registry, join } = setup([new AppError("E_UNREACHABLE", "connection refused"), ok]);
    join([running]);
    const { ctx, later } = context();
    const error = await changeOrFollow(deps, ctx, target, () => Promise.reject(lost)).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "E_UNREACHABLE",
      message: 'Lost node "n1" during the stop of "web" (connection reset); it may still finish there: the audit trail records its outcome once node "n1" can say it (see events)',
    });
    expect(later).toHaveLength(1);
    expect(await later[0]).toEqual({ error: null });
    expect(registry.get("n1")?.snapshot.instances).toEqual([stopped]);
  });

  test("an answer lost to the outer bound is answered at once, and followed for the record", async () => {
    const { deps, join } = setup([stillRunning, { state: "error", error: { code: "E_MULTIPASS", message: "stop failed: timed out" } }]);
    join();
    const { ctx, later } = context();
    const byBound = new AppError("E_TIMEOUT", 'Node "n1" did not finish the stop of "web" within 7m', { details: { lost: "bound" } });
    await expect(changeOrFollow(deps, ctx, target, () => Promise.reject(byBound))).rejects.toMatchObject({ code: "E_TIMEOUT" });
    expect(await later[0]).toEqual({ error: { code: "E_MULTIPASS", message: "stop failed: timed out" } });
  });

  test("a failure that is the node's own answer is not followed", async () => {
    const { deps, join, asked } = setup([]);
    join();
    const { ctx } = context();
    const refused = new AppError("E_NOT_FOUND", 'Instance "primary" does not exist on node "n1"');
    await expect(changeOrFollow(deps, ctx, target, () => Promise.reject(refused))).rejects.toBe(refused);
    expect(asked).toEqual([]);
  });
});
