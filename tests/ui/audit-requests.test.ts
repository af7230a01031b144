import { describe, expect, test } from "bun:test";
import type { AuditEvent } from "../../lib/protocol/audit.ts";
import { groupRequests, requestRecord } from "../../lib/ui/audit-requests.ts";
import { auditText, formatRequestOutcome, requestTone } from "../../lib/ui/format.ts";

const record = (id: number, requestId: string, phase: AuditEvent["phase"], extra: Partial<AuditEvent> = {}): AuditEvent => ({
  id,
  time: `2026-01-01T00:00:0${id}Z`,
  requestId,
  phase,
  token: "abc",
  action: "stop",
  node: "n1",
  instance: "web",
  ...extra,
});

describe("the audit trail by request", () => {
  test("a request's records become one entry, keyed by its newest record, the most recently requested first", () => {
    const events = [record(4, "b", "done", { result: "ok" }), record(5, "c", "requested"), record(1, "a", "requested"), record(3, "b", "requested"), record(2, "a", "done", { result: "error", error: { code: "E_MULTIPASS", message: "boom" } })];
    const requests = groupRequests(events);
    expect(requests.map((r) => [r.requestId, r.id, r.ids])).toEqual([
      ["c", 5, [5]],
      ["b", 4, [3, 4]],
      ["a", 2, [1, 2]],
    ]);
    expect(requests.map((r) => formatRequestOutcome(r.done))).toEqual(["pending", "ok", "error: boom"]);
    expect(requests.map((r) => requestTone(r.done))).toEqual(["busy", "ok", "bad"]);
    expect(requestRecord(requests[1]!).phase).toBe("requested");
  });

  test("a done record whose request is older than the page's window stands alone", () => {
    const [only] = groupRequests([record(9, "z", "done", { result: "ok", exitCode: 0 })]);
    expect(only).toMatchObject({ id: 9, ids: [9], requested: null });
    expect(requestRecord(only!).id).toBe(9);
    expect(formatRequestOutcome(only!.done)).toBe("ok (exit 0)");
  });

  test("the filter's text has the outcome, not the phase", () => {
    const [pending] = groupRequests([record(1, "a", "requested")]);
    expect(auditText(requestRecord(pending!), pending!.done)).toContain("pending");
    expect(auditText(requestRecord(pending!), pending!.done)).not.toContain("requested");
  });
});
