import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import { audited, recordEnd, recordRequest, recordShellEnd, type AuditSink, type CallEnd } from "../../lib/master/audit-policy.ts";
import type { AuditEvent } from "../../lib/protocol/audit.ts";
import { createTestLog } from "../support/test-log.ts";

type Record = Omit<AuditEvent, "id" | "time">;

/** An audit sink that keeps what it is given, and fails the appends it is told to. */
function sink(failing: ("requested" | "done")[] = []) {
  const records: Record[] = [];
  const { log, lines } = createTestLog();
  const audit: AuditSink = {
    append(record) {
      if (failing.includes(record.phase)) throw new AppError("E_STORAGE", "the disk is full");
      records.push(record);
      return { ...record, id: records.length, time: "2024-05-01T12:00:00.000Z" };
    },
  };
  return { deps: { audit, log }, records, lines };
}

const call = { requestId: "r1", token: "0123456789ab", action: "stop", node: "n1", instance: "web", params: { force: false } };

describe("audited", () => {
  test("records the request, acts, and records the end with the same request id", async () => {
    const { deps, records } = sink();
    let acted = 0;
    expect(await audited(deps, call, "E_MULTIPASS", async () => ++acted)).toMatchObject({ ok: true, value: 1 });
    expect(records).toEqual([
      { requestId: "r1", token: "0123456789ab", action: "stop", node: "n1", instance: "web", phase: "requested", params: { force: false } },
      { requestId: "r1", token: "0123456789ab", action: "stop", node: "n1", instance: "web", phase: "done", result: "ok" },
    ]);
  });

  test("a failure of the act is recorded and returned as an AppError, with the fallback code for other errors", async () => {
    const { deps, records } = sink();
    const outcome = await audited(deps, call, "E_MULTIPASS", async () => {
      throw new Error("boom");
    });
    expect(outcome).toMatchObject({ ok: false, acted: true, error: { code: "E_MULTIPASS", message: "boom" } });
    expect(records[1]).toMatchObject({ phase: "done", result: "error", error: { code: "E_MULTIPASS", message: "boom" } });
  });

  test("a request that cannot be recorded is not acted on", async () => {
    const { deps, records } = sink(["requested"]);
    let acted = false;
    const outcome = await audited(deps, call, "E_MULTIPASS", async () => (acted = true));
    expect(outcome).toMatchObject({ ok: false, acted: false, error: { code: "E_STORAGE", message: "the disk is full" } });
    expect(acted).toBe(false);
    expect(records).toEqual([]);
  });

  test("an end that cannot be recorded is logged, and the outcome stands", async () => {
    const { deps, lines } = sink(["done"]);
    expect(await audited(deps, call, "E_MULTIPASS", async () => "fine")).toMatchObject({ ok: true, value: "fine" });
    expect(lines).toEqual(['error: audit trail: cannot record the end of the stop of "web" on node "n1": the disk is full']);
  });
});

describe("audited, when the outcome is learned later", () => {
  test("the act gets the request id the node is sent, and a fresh one when none is given", async () => {
    const { deps, records } = sink();
    const ids: string[] = [];
    await audited(deps, call, "E_MULTIPASS", async (ctx) => ids.push(ctx.requestId));
    await audited(deps, { ...call, requestId: undefined }, "E_MULTIPASS", async (ctx) => ids.push(ctx.requestId));
    expect(ids[0]).toBe("r1");
    expect(ids[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(records[2]?.requestId).toBe(ids[1]!);
  });

  test("the caller is answered at once; the done record says what really happened, once it is known", async () => {
    const { deps, records } = sink();
    let learn = (_end: CallEnd | null): void => {};
    const outcome = await audited(deps, call, "E_MULTIPASS", async (ctx) => {
      ctx.settleLater(new Promise((resolve) => (learn = resolve)));
      throw new AppError("E_UNREACHABLE", 'Lost node "n1" during the stop of "web"');
    });
    expect(outcome).toMatchObject({ ok: false, acted: true, error: { code: "E_UNREACHABLE" } });
    expect(records.map((r) => r.phase)).toEqual(["requested"]);
    learn({ error: null });
    await outcome.settled;
    expect(records[1]).toEqual({ requestId: "r1", token: "0123456789ab", action: "stop", node: "n1", instance: "web", phase: "done", result: "ok" });
  });

  test("nothing learned (the master is stopping): no done record, left for the next master", async () => {
    const { deps, records } = sink();
    const outcome = await audited(deps, call, "E_MULTIPASS", async (ctx) => {
      ctx.settleLater(Promise.resolve(null));
      throw new AppError("E_UNREACHABLE", "lost");
    });
    await outcome.settled;
    expect(records.map((r) => r.phase)).toEqual(["requested"]);
  });
});

describe("recordEnd", () => {
  test("writes the done record of a request read back from the trail", () => {
    const { deps, records } = sink();
    const requested = { id: 7, time: "2024-05-01T12:00:00.000Z", phase: "requested" as const, requestId: "r9", token: "t", action: "launch", node: "n2", instance: "big", params: { image: "noble" } };
    recordEnd(deps, requested, { error: { code: "E_NOT_FOUND", message: "Outcome unknown: …" } });
    expect(records).toEqual([{ requestId: "r9", token: "t", action: "launch", node: "n2", instance: "big", phase: "done", result: "error", error: { code: "E_NOT_FOUND", message: "Outcome unknown: …" } }]);
  });
});

describe("recordRequest", () => {
  test("a fresh request id when none is given; the end carries an exit status when there is one", () => {
    const { deps, records } = sink();
    const done = recordRequest(deps, { token: "t", action: "exec", node: "n1", instance: "web" });
    done({ exitCode: 3, error: null });
    expect(records[0]!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(records[1]).toEqual({ requestId: records[0]!.requestId, token: "t", action: "exec", node: "n1", instance: "web", phase: "done", result: "ok", exitCode: 3 });
    expect(records[0]).not.toHaveProperty("params");
  });

  test("throws the storage error when the request cannot be recorded", () => {
    const { deps } = sink(["requested"]);
    expect(() => recordRequest(deps, call)).toThrow(expect.objectContaining({ code: "E_STORAGE" }));
  });
});

describe("the end of a kept shell", () => {
  const ended = { id: "3f2a9c1e-7b4d-4e8a-9c2f-0a1b2c3d4e5f", instance: "web", owner: "a1b2c3d4e5f6", reason: "nobody attached within 10m" };

  test("is recorded under the token that opened it: its status, or why its worker ended it", () => {
    const { deps, records } = sink();
    recordShellEnd(deps, "n1", { ...ended, exitCode: 3, reason: "exited with status 3" });
    recordShellEnd(deps, "n1", { ...ended, exitCode: null });
    const who = { token: "a1b2c3d4e5f6", action: "end", node: "n1", instance: "web" };
    expect(records).toEqual([
      { ...who, requestId: expect.any(String), phase: "requested", params: { session: ended.id, reason: "exited with status 3" } },
      { ...who, requestId: expect.any(String), phase: "done", result: "ok", exitCode: 3 },
      { ...who, requestId: expect.any(String), phase: "requested", params: { session: ended.id, reason: ended.reason } },
      { ...who, requestId: expect.any(String), phase: "done", result: "error", error: { code: "E_CANCELLED", message: "Ended by its worker: nobody attached within 10m" } },
    ]);
  });

  test("a trail that cannot be written is logged, and nothing throws", () => {
    const { deps, lines } = sink(["requested"]);
    recordShellEnd(deps, "n1", { ...ended, exitCode: null });
    expect(lines.some((l) => l.includes(`cannot record the end of shell ${ended.id} on web@n1`))).toBe(true);
  });
});
