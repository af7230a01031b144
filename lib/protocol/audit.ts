/**
 * What the audit trail records and how its records are read back: the
 * record shape and the checked parsers of records and of `since`/`limit`.
 * The master sanitizes parameters (master/audit-sanitize.ts) and stores the
 * records (master/audit-log.ts).
 */
import { AppError, type ErrorCode } from "../core/errors.ts";
import { field, integer, nullable, object, oneOf, optional, ParseError, parseErrorCode, string } from "../core/parse.ts";

/** One audit record. A call has a "requested" record and, once it ends, a "done" one with the same requestId. */
export interface AuditEvent {
  /** 1, 2, 3…; never reused, continues across master restarts. */
  id: number;
  /** ISO 8601, from the master's clock. */
  time: string;
  requestId: string;
  phase: "requested" | "done";
  /** tokenId() of the caller's token, never the token. */
  token: string;
  /** "launch", "start", "stop", "restart", "suspend", "delete", "recover", "purge", "shell", "exec". */
  action: string;
  node: string | null;
  instance: string | null;
  /** Request parameters, sanitized by the master (no secrets, documents as size and hash); only on "requested". */
  params?: Record<string, unknown>;
  /** Only on "done". */
  result?: "ok" | "error";
  /** Only on a failed "done". */
  error?: { code: ErrorCode; message: string };
  /** Only on the "done" of a shell or exec that reported one: the program's exit status. */
  exitCode?: number;
}

export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 10_000;
/** A record read back from the file or off the wire. @throws ParseError */
export function parseAuditEvent(value: unknown, path = "event"): AuditEvent {
  const o = object(value, path);
  const event: AuditEvent = {
    id: field(o, "id", path, integer),
    time: field(o, "time", path, string),
    requestId: field(o, "requestId", path, string),
    phase: field(o, "phase", path, oneOf(["requested", "done"] as const)),
    token: field(o, "token", path, string),
    action: field(o, "action", path, string),
    node: field(o, "node", path, nullable(string)),
    instance: field(o, "instance", path, nullable(string)),
  };
  if (event.id < 1) throw new ParseError(`${path}.id`, `expected a positive id, got ${event.id}`);
  if (Number.isNaN(Date.parse(event.time))) throw new ParseError(`${path}.time`, `expected an ISO time, got ${JSON.stringify(event.time)}`);
  const params = field(o, "params", path, optional(object));
  if (params !== undefined) event.params = params;
  const result = field(o, "result", path, optional(oneOf(["ok", "error"] as const)));
  if (result !== undefined) event.result = result;
  const exitCode = field(o, "exitCode", path, optional(integer));
  if (exitCode !== undefined) event.exitCode = exitCode;
  const error = field(o, "error", path, optional(object));
  if (error !== undefined) {
    event.error = { code: field(error, "code", `${path}.error`, parseErrorCode), message: field(error, "message", `${path}.error`, string) };
  }
  return event;
}

export type EventsSince = { kind: "id"; id: number } | { kind: "time"; ms: number };

// A date-time needs its zone: without one, JavaScript reads it in the master's local time.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}))?$/i;

/** `since` of a listing: an event id or an ISO time. @throws AppError E_USAGE */
export function parseEventsSince(text: string): EventsSince {
  if (/^\d{1,16}$/.test(text) && Number.isSafeInteger(Number(text))) return { kind: "id", id: Number(text) };
  const ms = ISO_TIME.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new AppError("E_USAGE", `Invalid since "${text.slice(0, 40)}": expected an ISO time such as 2024-05-01T12:00:00Z or an event id`);
  }
  return { kind: "time", ms };
}

/** `limit` of a listing, as text from a query or a flag. @throws AppError E_USAGE */
export function parseEventsLimit(text: string): number {
  const n = /^\d{1,6}$/.test(text) ? Number(text) : 0;
  if (n < 1 || n > MAX_LIST_LIMIT) throw new AppError("E_USAGE", `Invalid limit "${text.slice(0, 20)}": expected a number between 1 and ${MAX_LIST_LIMIT}`);
  return n;
}

