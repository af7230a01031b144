/**
 * The audit trail as the events page shows it: one entry per request, its
 * "requested" and "done" records (protocol/audit.ts) folded together by their
 * requestId. Pure: no DOM.
 */
import type { AuditEvent } from "../protocol/audit.ts";

export interface AuditRequest {
  requestId: string;
  /** The id of its newest record. */
  id: number;
  /** The ids of all its records, oldest first. */
  ids: number[];
  /** Null when that record is older than what the page holds. */
  requested: AuditEvent | null;
  /** Null while the call has not ended. */
  done: AuditEvent | null;
}

/** The requests of `events` (in any order), the most recently requested first. */
export function groupRequests(events: readonly AuditEvent[]): AuditRequest[] {
  const byRequest = new Map<string, AuditRequest>();
  for (const event of [...events].sort((a, b) => a.id - b.id)) {
    let request = byRequest.get(event.requestId);
    if (request === undefined) {
      request = { requestId: event.requestId, id: event.id, ids: [], requested: null, done: null };
      byRequest.set(event.requestId, request);
    }
    request.id = event.id;
    request.ids.push(event.id);
    if (event.phase === "requested") request.requested ??= event;
    else request.done = event;
  }
  return [...byRequest.values()].sort((a, b) => b.ids[0]! - a.ids[0]!);
}

/** The record that names a request's who, what and when: its "requested" one, else its "done" one. */
export function requestRecord(request: AuditRequest): AuditEvent {
  return request.requested ?? request.done!;
}
