/**
 * A master and a worker in one process, and the answer of a change lost on
 * the way: the worker's agent server goes away mid-operation (its
 * connections cut) while the join link stays. The audit trail's "done" is
 * what really happened on the host, never a failure nobody saw, and the
 * cache shows it.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { parseJson } from "../../lib/core/parse.ts";
import { parseActionResult, parseLaunchEvent, type LaunchEvent } from "../../lib/protocol/operations.ts";
import type { AuditEvent } from "../../lib/protocol/audit.ts";
import { websocketHandler, type WsData } from "../../lib/net/ws.ts";
import { createFakeMultipass, type FakeMultipass } from "../support/fake-multipass.ts";
import { waitFor } from "../e2e/harness.ts";
import { API, listInstances, readyCount, runCleanups, startMaster, startWorker } from "../support/in-process.ts";

afterEach(runCleanups);

const GiB = 1024 ** 3;
const host = { cpus: 4, load: [0, 0, 0] as [number, number, number], memory: { total: 16 * GiB, available: 16 * GiB }, disk: { total: 100 * GiB, available: 100 * GiB } };

/** Makes `method` of the fake wait for `release()`; `entered` resolves once it is called. */
function gate(fake: FakeMultipass, method: "launch" | "stop") {
  let release = (): void => {};
  let enter = (): void => {};
  const opened = new Promise<void>((resolve) => (release = resolve));
  const entered = new Promise<void>((resolve) => (enter = resolve));
  const original = fake[method].bind(fake) as (...args: unknown[]) => Promise<unknown>;
  Object.assign(fake, {
    [method]: async (...args: unknown[]) => {
      enter();
      await opened;
      return original(...args);
    },
  });
  return { release, entered };
}

/** Cuts the agent server's connections; `back()` serves the same agent app on the same port again. */
function cut(agent: Server<WsData>, fetch: (request: Request, server: Server<WsData>) => Response | Promise<Response>) {
  const port = agent.port;
  void agent.stop(true);
  let again: Server<WsData> | null = null;
  return {
    back() {
      again = Bun.serve({ hostname: "127.0.0.1", port, fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }) });
    },
    stop: () => again?.stop(true),
  };
}

function records(events: AuditEvent[], action: string) {
  return events.filter((e) => e.action === action).map((e) => ({ phase: e.phase, result: e.result, error: e.error?.message }));
}

async function post(port: number, path: string, body: unknown, accept?: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${API}`, "content-type": "application/json", ...(accept ? { accept } : {}) },
    body: JSON.stringify(body),
  });
}

describe("an answer lost between master and worker", () => {
  test("a launch whose node's agent server drops: the client hears of the loss; the trail and the cache get the real outcome", async () => {
    const m = startMaster();
    const fake = createFakeMultipass();
    const launching = gate(fake, "launch");
    const w = startWorker(m.cluster.port!, "n1", fake, undefined, undefined, host);
    await waitFor("ready", () => readyCount(m.master) === 1);

    const answer = post(m.api.port!, "/api/v1/instances", { name: "big" }, "application/x-ndjson");
    await launching.entered;
    const link = cut(w.agent, w.worker.agentApp.fetch);
    try {
      const text = await (await answer).text();
      const events: LaunchEvent[] = text.split("\n").filter((l) => l.trim()).map((l) => parseLaunchEvent(parseJson(l, "event")));
      expect(events.at(-1)).toEqual({
        type: "error",
        code: "E_UNREACHABLE",
        message: expect.stringMatching(/^Lost node "n1" during the launch of "big" \(.*\); it may still finish there: the audit trail records its outcome once node "n1" can say it/),
      });
      expect(records(m.audit.list(), "launch")).toEqual([{ phase: "requested", result: undefined, error: undefined }]);
      // Its name stays taken while its outcome is unknown.
      const again = await post(m.api.port!, "/api/v1/instances", { name: "big" });
      expect(again.status).toBe(409);

      link.back();
      launching.release();
      await waitFor("the launch's done record", () => m.audit.list().some((e) => e.action === "launch" && e.phase === "done"), 15_000);
      expect(records(m.audit.list(), "launch")).toEqual([
        { phase: "requested", result: undefined, error: undefined },
        { phase: "done", result: "ok", error: undefined },
      ]);
      expect((await listInstances(m.master)).find((i) => i.name === "big")).toMatchObject({ node: "n1", state: "Running" });
    } finally {
      link.stop();
    }
  });

  test("a client that leaves mid-launch changes nothing: the launch goes on, and the trail records how it ended", async () => {
    const m = startMaster();
    const fake = createFakeMultipass();
    const launching = gate(fake, "launch");
    startWorker(m.cluster.port!, "n1", fake, undefined, undefined, host);
    await waitFor("ready", () => readyCount(m.master) === 1);
    const leaving = new AbortController();
    const response = await fetch(`http://127.0.0.1:${m.api.port}/api/v1/instances`, {
      method: "POST",
      headers: { authorization: `Bearer ${API}`, "content-type": "application/json", accept: "application/x-ndjson" },
      body: JSON.stringify({ name: "left" }),
      signal: leaving.signal,
    });
    expect(response.status).toBe(202);
    await launching.entered;
    leaving.abort();
    launching.release();
    await waitFor("the launch's done record", () => m.audit.list().some((e) => e.action === "launch" && e.phase === "done"), 5_000);
    expect(records(m.audit.list(), "launch")).toEqual([
      { phase: "requested", result: undefined, error: undefined },
      { phase: "done", result: "ok", error: undefined },
    ]);
    expect((await listInstances(m.master)).find((i) => i.name === "left")).toMatchObject({ state: "Running" });
  });

  test("a stop whose stream breaks while the node stays reachable: the caller gets the real result, not an error", async () => {
    const m = startMaster();
    const fake = createFakeMultipass([{ name: "web" }]);
    const w = startWorker(m.cluster.port!, "n1", fake);
    await waitFor("web listed", async () => (await listInstances(m.master)).some((i) => i.name === "web" && i.state === "Running"));
    const stopping = gate(fake, "stop");

    const answer = post(m.api.port!, "/api/v1/instances/web/stop", {});
    await stopping.entered;
    const link = cut(w.agent, w.worker.agentApp.fetch);
    link.back();
    try {
      setTimeout(() => stopping.release(), 300);
      const response = await answer;
      expect(response.status).toBe(200);
      expect(parseActionResult(await response.json(), "answer")).toEqual({ node: "n1", name: "web", ok: true, state: "Stopped", error: null });
      expect(records(m.audit.list(), "stop")).toEqual([
        { phase: "requested", result: undefined, error: undefined },
        { phase: "done", result: "ok", error: undefined },
      ]);
    } finally {
      link.stop();
    }
  });
});
