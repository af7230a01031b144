/**
 * What the audit trail records and how its records are read back: the
 * record shape, the sanitizing of parameters, and the checked parsers of
 * records and of `since`/`limit`. The storage is in audit.ts.
 */
import { createHash } from "node:crypto";
import { AppError } from "../core/errors.ts";
import { field, integer, nullable, object, oneOf, optional, ParseError, string } from "../core/parse.ts";
import { tokenKind } from "../net/tokens.ts";

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
  /** Request parameters after {@link sanitizeParams}; only on "requested". */
  params?: Record<string, unknown>;
  /** Only on "done". */
  result?: "ok" | "error";
  /** Only on a failed "done". */
  error?: { code: string; message: string };
  /** Only on the "done" of a shell or exec that reported one: the program's exit status. */
  exitCode?: number;
}

export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 10_000;
/** Strings longer than this (cloud-init, …) are recorded as `{ bytes, sha256 }`. */
export const MAX_PARAM_STRING = 256;

const SECRET_KEY = /token|secret|passw|credential|authorization|private.?key|api.?key/i;
/** Documents a user hands over (a cloud-init may set passwords): only their size and hash are kept, whatever their length. */
const DOCUMENT_KEY = /cloud.?init|user.?data|stdin/i;
/** The user:password@ of a URL (an image from a private server). */
const URL_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i;
const MAX_PARAM_DEPTH = 8;

/**
 * Params safe to keep: secret-looking keys dropped, token-looking values
 * redacted, credentials in URLs redacted, documents and long strings hashed.
 */
export function sanitizeParams(params: Record<string, unknown>): Record<string, unknown> {
  return sanitizeObject(params, 0);
}

function sanitizeObject(params: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(params)) {
    if (SECRET_KEY.test(key)) continue;
    const clean = typeof value === "string" && DOCUMENT_KEY.test(key) ? digest(value) : sanitizeValue(value, depth + 1);
    if (clean !== undefined) out[key] = clean;
  }
  return out;
}

function sanitizeValue(value: unknown, depth: number): unknown {
  if (typeof value === "string") {
    if (tokenKind(value) !== null) return "[redacted]";
    if (value.length > MAX_PARAM_STRING) return digest(value);
    return value.replace(URL_USERINFO, "$1[redacted]@");
  }
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "boolean" || value === null) return value;
  if (typeof value !== "object") return undefined;
  if (depth > MAX_PARAM_DEPTH) return "[too deep]";
  if (Array.isArray(value)) return value.map((item) => sanitizeValue(item, depth + 1) ?? null);
  return sanitizeObject(Object.fromEntries(Object.entries(value)), depth);
}

function digest(value: string): { bytes: number; sha256: string } {
  return { bytes: Buffer.byteLength(value), sha256: createHash("sha256").update(value).digest("hex") };
}

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
    event.error = { code: field(error, "code", `${path}.error`, string), message: field(error, "message", `${path}.error`, string) };
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

