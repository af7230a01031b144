import { describe, expect, test } from "bun:test";
import { AppError } from "../../lib/core/errors.ts";
import { audited, recordRequest, type AuditSink } from "../../lib/master/audit-policy.ts";
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
    expect(await audited(deps, call, "E_MULTIPASS", async () => ++acted)).toEqual({ ok: true, value: 1 });
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
    expect(await audited(deps, call, "E_MULTIPASS", async () => "fine")).toEqual({ ok: true, value: "fine" });
    expect(lines).toEqual(['error: audit trail: cannot record the end of the stop of "web" on node "n1": the disk is full']);
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
