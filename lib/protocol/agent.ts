/**
 * The agent API a worker serves and only its master calls: the answers of its
 * read-only routes, with their parsers. Lifecycle and launch shapes are in
 * operations.ts, sessions in session.ts.
 */
import type { ErrorCode } from "../core/errors.ts";
import { arrayOf, field, nullable, object, oneOf, parseErrorCode, string } from "../core/parse.ts";
import { parseInstanceInfo, type InstanceInfo } from "./instances.ts";

/** `GET /agent/v1/info` answer. */
export interface AgentInfoResponse {
  instances: InstanceInfo[];
}

export function parseAgentInfoResponse(value: unknown): AgentInfoResponse {
  const o = object(value, "agent info");
  return { instances: field(o, "instances", "agent info", arrayOf(parseInstanceInfo)) };
}

/**
 * The header that carries the master's request id (the audit trail's) on
 * every call that changes a host, so the worker can say later how that call
 * ended even if the master never heard the answer.
 */
export const REQUEST_ID_HEADER = "x-multiverse-request";

/** `GET /agent/v1/operations/:requestId`: how a call that changed the host ended, or that it still runs. */
export interface AgentOperation {
  requestId: string;
  /** "launch", a lifecycle verb, or "purge". */
  action: string;
  instance: string | null;
  state: "running" | "ok" | "error";
  error: { code: ErrorCode; message: string } | null;
  /** ISO 8601; null while running. */
  finishedAt: string | null;
}

export function parseAgentOperation(value: unknown): AgentOperation {
  const o = object(value, "operation");
  const error = field(o, "error", "operation", nullable(object));
  return {
    requestId: field(o, "requestId", "operation", string),
    action: field(o, "action", "operation", string),
    instance: field(o, "instance", "operation", nullable(string)),
    state: field(o, "state", "operation", oneOf(["running", "ok", "error"] as const)),
    error: error === null ? null : { code: field(error, "code", "operation.error", parseErrorCode), message: field(error, "message", "operation.error", string) },
    finishedAt: field(o, "finishedAt", "operation", nullable(string)),
  };
}
