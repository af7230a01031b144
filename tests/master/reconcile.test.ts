/**
 * A restarted master settles the calls the last one left without a "done"
 * record: sessions at once, changes once their node joins and its worker
 * says how they went (or that it cannot), and nothing is ever called ok that
 * nobody saw end.
 */
import { joinNode } from "../support/registry.ts";
import { afterEach, describe, expect, test } from "bun:test";
import { parseJson } from "../../lib/core/parse.ts";
import { parseAuditEvent } from "../../lib/protocol/audit.ts";
import type { AgentClient } from "../../lib/master/agent-client.ts";
import type { AuditSink } from "../../lib/master/audit-policy.ts";
import { reconcile } from "../../lib/master/reconcile.ts";
import { Registry } from "../../lib/master/registry.ts";
import { OPERATION_LOG_MAX_AGE_MS } from "../../lib/protocol/agent.ts";
import type { AuditEvent } from "../../lib/protocol/audit.ts";
import type { InstanceSummary } from "../../lib/protocol/instances.ts";
import { parseLaunchEvent } from "../../lib/protocol/operations.ts";
import { websocketHandler } from "../../lib/net/ws.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { createTestLog } from "../support/test-log.ts";
import { waitFor } from "../e2e/harness.ts";
import { readDatabase } from "../support/database-lock.ts";
import { API, listInstances, readyCount, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

afterEach(runCleanups);

const web: InstanceSummary = { name: "web", state: "Running", ipv4: [], release: "Ubuntu 24.04 LTS" };

function setup(operation: AgentClient["operation"]) {
  const written: Omit<AuditEvent, "id" | "time">[] = [];
  const audit: AuditSink = {
    append(record) {
      written.push(record);
      return { ...record, id: written.length, time: new Date().toISOString() };
    },
  };
  const registry = new Registry({ now: Date.now, heartbeatMs: 60_000, downGraceMs: 60_000 });
  const join = () => joinNode(registry, "n1", [web], { id: crypto.randomUUID(), multipassVersion: "1.16.3" });
  const stopping = new AbortController();
  const { log, lines } = createTestLog();
  const deps = { agents: { operation } as AgentClient, registry, stopping: stopping.signal, audit, log, joinPollMs: 10, backoff: { baseMs: 10, maxMs: 20 } };
  return { deps, written, join, stopping, lines };
}

function requested(requestId: string, action: string, node: string | null, time = new Date().toISOString()): AuditEvent {
  return { id: 1, time, requestId, phase: "requested", token: "0123456789ab", action, node, instance: node === null ? null : "web" };
}

describe("reconcile", () => {
  test("a session ended with its master: settled at once, without asking anyone", async () => {
    const { deps, written } = setup(async () => {
      throw new Error("not asked");
    });
    await reconcile(deps, [requested("s1", "exec", "n1"), requested("s2", "shell", "n1")]);
    expect(written).toEqual([
      expect.objectContaining({ requestId: "s1", phase: "done", result: "error", error: { code: "E_CANCELLED", message: expect.stringContaining("Ended with the master") } }),
      expect.objectContaining({ requestId: "s2", phase: "done", result: "error", error: { code: "E_CANCELLED", message: expect.stringContaining("shell") } }),
    ]);
  });

  test("a change waits for its node; a worker that restarted has no record: outcome unknown, never ok", async () => {
    const asked: string[] = [];
    const { deps, written, join } = setup(async (_node, requestId) => {
      asked.push(requestId);
      return null;
    });
    const settling = reconcile(deps, [requested("r1", "stop", "n1")]);
    await Bun.sleep(50);
    expect(asked).toEqual([]);
    join();
    await settling;
    expect(written).toEqual([
      {
        requestId: "r1",
        token: "0123456789ab",
        action: "stop",
        node: "n1",
        instance: "web",
        phase: "done",
        result: "error",
        error: { code: "E_NOT_FOUND", message: expect.stringMatching(/^Outcome unknown: node "n1" has no record of it .*; instance "web" is Running there now$/) },
      },
    ]);
  });

  test("a node that has not joined by the time its worker would have forgotten: outcome unknown; no node: the same", async () => {
    const { deps, written } = setup(async () => null);
    const old = new Date(Date.now() - OPERATION_LOG_MAX_AGE_MS - 1000).toISOString();
    await reconcile(deps, [requested("r1", "launch", "gone", old), requested("r2", "purge", null)]);
    expect(written.map((w) => [w.requestId, w.result, w.error?.code, w.error?.message])).toEqual([
      ["r2", "error", "E_UNREACHABLE", "Outcome unknown: the record names no node to ask"],
      ["r1", "error", "E_UNREACHABLE", expect.stringContaining('Outcome unknown: node "gone" did not join within 24h of the request')],
    ]);
  });

  test("a master that stops while waiting writes nothing: the next one settles it", async () => {
    const { deps, written, stopping } = setup(async () => null);
    const settling = reconcile(deps, [requested("r1", "stop", "n1")]);
    stopping.abort();
    await settling;
    expect(written).toEqual([]);
  });
});

describe("the master killed during a launch, in one process", () => {
  test("the restarted master records the launch's real outcome once the worker rejoins, and lists the instance", async () => {
    const GiB = 1024 ** 3;
    const host = { cpus: 4, load: [0, 0, 0] as [number, number, number], memory: { total: 16 * GiB, available: 16 * GiB }, disk: { total: 100 * GiB, available: 100 * GiB } };
    const first = startMaster();
    const fake = createFakeMultipass();
    let release = (): void => {};
    let enter = (): void => {};
    const opened = new Promise<void>((resolve) => (release = resolve));
    const entered = new Promise<void>((resolve) => (enter = resolve));
    const launch = fake.launch.bind(fake);
    fake.launch = async (...args) => (enter(), await opened, launch(...args));
    const w = startWorker(first.cluster.port!, "n1", fake, undefined, undefined, host);
    await waitFor("ready", () => readyCount(first.master) === 1);

    const answer = fetch(`http://127.0.0.1:${first.api.port}/api/v1/instances`, {
      method: "POST",
      headers: { authorization: `Bearer ${API}`, "content-type": "application/json", accept: "application/x-ndjson" },
      body: JSON.stringify({ name: "big" }),
    });
    const firstLine = (await (await answer).body!.getReader().read()).value;
    expect(parseLaunchEvent(parseJson(new TextDecoder().decode(firstLine).split("\n")[0]!, "event")).type).toBe("placed");
    await entered;
    // As good as killed: it stops, and its stream from the worker breaks before the launch ends.
    const clusterPort = first.cluster.port!;
    await first.stop();
    const port = w.agent.port;
    await w.agent.stop(true);
    const agentAgain = Bun.serve({ hostname: "127.0.0.1", port, fetch: w.worker.agentApp.fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }) });
    try {
      // What the stopped master left in its database (its own connection is closed).
      const db = readDatabase(first.dataDir);
      const left = db.query<{ record: string }, []>("SELECT record FROM events ORDER BY id").all().map((r) => parseAuditEvent(parseJson(r.record, "record")));
      db.close();
      expect(left.filter((e) => e.action === "launch").map((e) => e.phase)).toEqual(["requested"]);

      const second = startMaster(clusterPort, undefined, undefined, { dataDir: first.dataDir });
      await waitFor("the worker rejoined", () => readyCount(second.master) === 1, 10_000);
      release();
      await second.master.reconciled;
      const launches = second.audit.list().filter((e) => e.action === "launch");
      expect(launches.map((e) => [e.phase, e.result ?? null])).toEqual([
        ["requested", null],
        ["done", "ok"],
      ]);
      expect(launches[1]?.requestId).toBe(launches[0]!.requestId);
      expect((await listInstances(second.master)).find((i) => i.name === "big")).toMatchObject({ state: "Running" });
    } finally {
      agentAgain.stop(true);
    }
  });
});
