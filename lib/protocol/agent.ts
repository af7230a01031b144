/**
 * The agent API a worker serves and only its master calls: the answers of its
 * read-only routes, with their parsers. Lifecycle and launch shapes are in
 * operations.ts, sessions in session.ts.
 */
import { AppError, type ErrorCode } from "../core/errors.ts";
import { arrayOf, field, integer, nullable, object, oneOf, parseErrorCode, string } from "../core/parse.ts";
import { parseSessionId } from "./session.ts";
import { parseInstanceInfo, parseInstanceSummary, type InstanceInfo, type InstanceSummary } from "./instances.ts";
import { parsePublicKey, parseSignature } from "./identity.ts";

/** `GET /agent/v1/info` answer. */
export interface AgentInfoResponse {
  instances: InstanceInfo[];
}

export function parseAgentInfoResponse(value: unknown): AgentInfoResponse {
  const o = object(value, "agent info");
  return { instances: field(o, "instances", "agent info", arrayOf(parseInstanceInfo)) };
}

/**
 * `GET /identity?nonce=N&node=NAME` answer (open, like /healthz): the agent
 * server proves which node it serves by signing `agentProofText(N, name,
 * publicKey)` with its own name, whatever NAME the master expects (NAME is
 * for a stand-in answering for many nodes, such as the scale benchmark's).
 * The master asks before it welcomes a node, so a node that advertises
 * another's agent address is refused at its join.
 */
export interface AgentIdentity {
  name: string;
  publicKey: string;
  signature: string;
}

/** @throws ParseError */
export function parseAgentIdentity(value: unknown): AgentIdentity {
  const o = object(value, "agent identity");
  return {
    name: field(o, "name", "agent identity", string),
    publicKey: field(o, "publicKey", "agent identity", parsePublicKey),
    signature: field(o, "signature", "agent identity", parseSignature),
  };
}

/**
 * The header that carries the master's request id (the audit trail's) on
 * every call that changes a host, so the worker can say later how that call
 * ended even if the master never heard the answer.
 */
export const REQUEST_ID_HEADER = "x-multiverse-request";

/** A request id as the header carries it: the master's are UUIDs; anything short and plain is accepted. */
const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

/** Checks a request id from the header or a URL. @throws AppError E_USAGE */
export function parseRequestId(text: string): string {
  if (!REQUEST_ID.test(text)) throw new AppError("E_USAGE", `Invalid request id "${text.slice(0, 40)}": expected up to 100 letters, digits or ._:-`);
  return text;
}

/**
 * How much a worker remembers of the calls that changed its host (its
 * operation log): the newest OPERATION_LOG_MAX records started within
 * OPERATION_LOG_MAX_AGE_MS, whichever is fewer, in memory only. A master
 * asking about an older call, or one from before the worker restarted, gets 404.
 */
export const OPERATION_LOG_MAX = 1000;
export const OPERATION_LOG_MAX_AGE_MS = 24 * 60 * 60_000;

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
  /**
   * The host's instances as the worker knows them now (its latest listing,
   * taken after the operation when it has finished), so a master that lost
   * the operation's own answer can refresh its cache from this one.
   */
  instances: InstanceSummary[];
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
    instances: field(o, "instances", "operation", arrayOf(parseInstanceSummary)),
  };
}

/** A shell a worker keeps (issue 12), as `GET /agent/v1/sessions` lists it. */
export interface KeptSessionView {
  id: string;
  instance: string;
  /** The token id that opened it. */
  owner: string;
  /** Attached: a client types into it; detached: kept for `detachedUntil`. */
  state: "attached" | "detached";
  /** ISO 8601 times. */
  startedAt: string;
  lastActivityAt: string;
  /** When a detached shell ends unless a client attaches; null while attached. */
  detachedUntil: string | null;
  cols: number;
  rows: number;
  /** Read-only watchers. */
  viewers: number;
}

/** `GET /agent/v1/sessions` answer. */
export interface AgentSessions {
  sessions: KeptSessionView[];
}

export function parseKeptSessionView(value: unknown, path: string): KeptSessionView {
  const o = object(value, path);
  return {
    id: field(o, "id", path, parseSessionId),
    instance: field(o, "instance", path, string),
    owner: field(o, "owner", path, string),
    state: field(o, "state", path, oneOf(["attached", "detached"] as const)),
    startedAt: field(o, "startedAt", path, string),
    lastActivityAt: field(o, "lastActivityAt", path, string),
    detachedUntil: field(o, "detachedUntil", path, nullable(string)),
    cols: field(o, "cols", path, integer),
    rows: field(o, "rows", path, integer),
    viewers: field(o, "viewers", path, integer),
  };
}

export function parseAgentSessions(value: unknown): AgentSessions {
  const o = object(value, "sessions");
  return { sessions: field(o, "sessions", "sessions", arrayOf(parseKeptSessionView)) };
}
