/** Records and a clock the audit trail's tests share (the JSON-lines file's and the SQLite table's). */
import type { AuditEvent } from "../../lib/protocol/audit.ts";

export const T0 = Date.parse("2024-05-01T12:00:00.000Z");

/** A clock that advances one minute per reading. */
export function clock(start = T0): () => number {
  let t = start - 60_000;
  return () => (t += 60_000);
}

export const requested = (requestId: string, action = "start", params: Record<string, unknown> = { name: "vm1" }): Omit<AuditEvent, "id" | "time"> => ({
  requestId,
  phase: "requested",
  token: "0123456789ab",
  action,
  node: "n1",
  instance: "vm1",
  params,
});

export const done = (requestId: string): Omit<AuditEvent, "id" | "time"> => ({
  requestId,
  phase: "done",
  token: "0123456789ab",
  action: "start",
  node: "n1",
  instance: "vm1",
  result: "error",
  error: { code: "E_MULTIPASS", message: "boom" },
});
