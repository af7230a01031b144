/**
 * The master's client of worker agent servers: every answer parsed, every
 * failure an AppError that names the node.
 *
 * Calls that change a host (launch, lifecycle verbs, purge) carry the audit
 * trail's request id (REQUEST_ID_HEADER) and are read as streams with a
 * silence watchdog, not a wall clock: the node is taken for lost only after
 * STREAM_SILENCE_MS without a byte (its keepalives count), so a stop that
 * takes the daemon's full 300 s is never cut. What remains of a wall clock
 * is the call's outer bound (call-bounds.ts), above the daemon's own.
 *
 * A change must also be answered promptly: its response headers come within
 * {@link AGENT_HEADERS_MS} (the agent opens its stream before Multipass
 * works; Bun sends the headers with its first bytes, a keepalive at the latest
 * after KEEPALIVE_MS, which is shorter), so an agent that accepts TCP and never answers (hung, stopped)
 * fails the call in seconds, not after the silence watchdog.
 *
 * A call whose answer is lost on the way — the stream broke or went silent,
 * the node dropped, the bound passed — may still have done its work on the
 * host. Such a failure says so ({@link answerLost}), and the caller asks the
 * node for the outcome (`operation`) instead of recording a failure it does
 * not know (outcomes.ts).
 */
import { formatDuration } from "../core/duration.ts";
import { AppError, describeNetworkError, errnoOf, messageOf } from "../core/errors.ts";
import { readLines } from "../core/ndjson.ts";
import { parseJson } from "../core/parse.ts";
import { STREAM_SILENCE_MS } from "../core/timers.ts";
import { fetchPeer, type PeerRequest } from "../net/fetch.ts";
import { heardChunks, watchSilence, type SilenceWatch } from "../net/silence.ts";
import { pinnedTls } from "../net/tls.ts";
import { parseAgentInfoResponse, parseAgentOperation, parseAgentSessions, REQUEST_ID_HEADER, type AgentOperation, type KeptSessionView } from "../protocol/agent.ts";
import { parseErrorBody } from "../protocol/api.ts";
import type { InstanceInfo, InstanceSummary, LaunchSpec } from "../protocol/instances.ts";
import {
  parseAgentActionEvent,
  parseAgentLaunchEvent,
  type ActionOptions,
  type AgentActionEvent,
  type AgentLaunchEvent,
  type LifecycleAction,
} from "../protocol/operations.ts";
import type { NodeEntry } from "./registry.ts";

/** The node fields a call needs. */
export type AgentTarget = Pick<NodeEntry, "name" | "address" | "agentToken" | "agentCert">;

/** Where a node's agent server is, and how to trust it: TLS pinned to its certificate, or plain. */
export function agentEndpoint(node: AgentTarget, scheme: "http" | "ws"): { url: string; tls?: ReturnType<typeof pinnedTls> } {
  if (node.agentCert === null) return { url: `${scheme}://${node.address}` };
  return { url: `${scheme}s://${node.address}`, tls: pinnedTls(node.agentCert) };
}

/** How long a read-only call may take, and an optional signal that ends it sooner (the caller went away). */
export interface CallLimits {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** A call that changes a host: the audit trail's request id, sent to the node, and the call's outer bound. */
export interface ChangeCall {
  requestId: string;
  /** Above the daemon's own bounds (call-bounds.ts); the silence watchdog is what notices a lost node. */
  boundMs: number;
  /** Called once the node has begun to answer (its response headers came): it is there and working. */
  onAnswered?: () => void;
}

export interface AgentClient {
  /**
   * Live `multipass info` on one node (all instances when `names` is empty).
   * @throws AppError E_TIMEOUT when `signal` times out, E_UNREACHABLE when the
   *   node cannot be reached, or the node's own error (E_MULTIPASS, E_NOT_FOUND…).
   */
  info(node: AgentTarget, names: string[], options: CallLimits): Promise<InstanceInfo[]>;
  /**
   * Launches on one node; `onProgress` gets each progress event as it comes.
   * @returns the node's fresh instance list.
   * @throws AppError: the node's own error; E_UNREACHABLE when it cannot be
   *   reached; or, with {@link answerLost}, E_UNREACHABLE when its answer was
   *   lost (killed mid-launch, silent) and E_TIMEOUT past the bound.
   */
  launch(node: AgentTarget, spec: LaunchSpec, call: ChangeCall, onProgress: (event: Extract<AgentLaunchEvent, { type: "progress" }>) => void): Promise<InstanceSummary[]>;
  /** One lifecycle verb; @returns the node's fresh instance list. @throws AppError as `launch` does */
  act(node: AgentTarget, action: LifecycleAction, name: string, options: ActionOptions, call: ChangeCall): Promise<InstanceSummary[]>;
  /** Removes the node's deleted instances; @returns its fresh instance list. @throws AppError as `launch` does */
  purge(node: AgentTarget, call: ChangeCall): Promise<InstanceSummary[]>;
  /**
   * How the call with this request id went on the node, or null when the node
   * has no record of it (it never arrived, or the worker restarted since).
   * @throws AppError E_TIMEOUT / E_UNREACHABLE when the node cannot answer
   */
  operation(node: AgentTarget, requestId: string, limits: CallLimits): Promise<AgentOperation | null>;
  /**
   * The shells the node keeps (issue 12), attached or detached.
   * @throws AppError E_TIMEOUT / E_UNREACHABLE when the node cannot answer,
   *   E_PROTOCOL when its answer is malformed
   */
  sessions(node: AgentTarget, limits: CallLimits): Promise<KeptSessionView[]>;
}

export interface AgentClientOptions {
  /** How long a stream may carry nothing at all before its node is taken for lost (default STREAM_SILENCE_MS). */
  silenceMs?: number;
  /** How long a change may wait for its response headers (default {@link AGENT_HEADERS_MS}). */
  headersMs?: number;
}

/**
 * How long the master waits for an agent to answer a change or to accept a
 * session: connecting and the response headers, not the work. An agent opens
 * its stream (or accepts the upgrade) at once, so only a hung or unreachable
 * one takes longer.
 */
export const AGENT_HEADERS_MS = 10_000;

/** How an answer was lost: the connection (broke, went silent, ended early) or the call's outer bound. */
export type LostBy = "connection" | "bound";

/**
 * Whether a failure of a call that changes a host means its answer was lost
 * (the work may have happened) rather than refused or never sent.
 */
export function answerLost(error: unknown): LostBy | null {
  if (!(error instanceof AppError)) return null;
  const lost = error.details?.["lost"];
  return lost === "connection" || lost === "bound" ? lost : null;
}

const NDJSON = "application/x-ndjson";

export function createAgentClient(options: AgentClientOptions = {}): AgentClient {
  const silenceMs = options.silenceMs ?? STREAM_SILENCE_MS;
  const change = { silenceMs, headersMs: options.headersMs ?? AGENT_HEADERS_MS };
  return {
    async info(node, names, limits) {
      const query = names.map((n) => `name=${encodeURIComponent(n)}`).join("&");
      const body = await call(node, `/agent/v1/info${query ? `?${query}` : ""}`, limits);
      try {
        return parseAgentInfoResponse(body).instances;
      } catch (error) {
        throw new AppError("E_PROTOCOL", `Node "${node.name}" sent a malformed info answer: ${messageOf(error)}`);
      }
    },

    async operation(node, requestId, limits) {
      let body: unknown;
      try {
        body = await call(node, `/agent/v1/operations/${encodeURIComponent(requestId)}`, limits);
      } catch (error) {
        if (error instanceof AppError && error.code === "E_NOT_FOUND") return null;
        throw error;
      }
      try {
        return parseAgentOperation(body);
      } catch (error) {
        throw new AppError("E_PROTOCOL", `Node "${node.name}" sent a malformed operation record: ${messageOf(error)}`);
      }
    },

    async sessions(node, limits) {
      const body = await call(node, "/agent/v1/sessions", limits);
      try {
        return parseAgentSessions(body).sessions;
      } catch (error) {
        throw new AppError("E_PROTOCOL", `Node "${node.name}" sent a malformed sessions answer: ${messageOf(error)}`);
      }
    },

    act: (node, action, name, options, c) =>
      streamedChange({ ...change, node, path: `/agent/v1/instances/${encodeURIComponent(name)}/${action}`, payload: options, call: c, what: `the ${action} of "${name}"` }, actionEnd),

    purge: (node, c) => streamedChange({ ...change, node, path: "/agent/v1/purge", payload: {}, call: c, what: "the purge of deleted instances" }, actionEnd),

    launch: (node, spec, c, onProgress) =>
      streamedChange({ ...change, node, path: "/agent/v1/launch", payload: spec, call: c, what: `the launch of "${spec.name}"` }, (lines, n) => launchEnd(lines, n, onProgress)),
  };
}

/** A read-only call answered with JSON, within `limits`. */
async function call(node: AgentTarget, path: string, limits: CallLimits): Promise<unknown> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const signal = limits.signal ? AbortSignal.any([timeout, limits.signal]) : timeout;
  const fail = (error: unknown) => failure(node, error, timeout, limits);
  let response: Response;
  try {
    response = await fetchPeer(fetch, { ...agentRequest(node, path), signal });
  } catch (error) {
    throw fail(error);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch (error) {
    if (signal.aborted) throw fail(error);
    throw new AppError("E_PROTOCOL", `Node "${node.name}" sent an answer that is not JSON (HTTP ${response.status})`);
  }
  if (!response.ok) throw nodeError(node, body, response.status);
  return body;
}

/** The last event of a change: its value, or the node's own error. */
type ChangeEnd<T> = { ok: true; value: T } | { ok: false; error: AppError };

interface StreamedChange {
  node: AgentTarget;
  path: string;
  payload: unknown;
  call: ChangeCall;
  /** "the stop of "web"", for messages. */
  what: string;
  silenceMs: number;
  headersMs: number;
}

/**
 * Sends a change with its request id and reads its NDJSON answer under the
 * silence watchdog and the outer bound, until `readEnd` finds the last event.
 */
async function streamedChange<T>(c: StreamedChange, readEnd: (lines: AsyncIterable<string>, node: AgentTarget) => Promise<ChangeEnd<T> | null>): Promise<T> {
  const { node } = c;
  const watch = watchSilence(c.silenceMs);
  const bound = AbortSignal.timeout(c.call.boundMs);
  // Cancelled once the headers are in, so that it never cuts the stream itself.
  const headers = new AbortController();
  const headersTimer = setTimeout(() => headers.abort(), c.headersMs);
  const signal = AbortSignal.any([watch.signal, bound, headers.signal]);
  let end: ChangeEnd<T> | null;
  try {
    let response: Response;
    try {
      response = await fetchPeer(fetch, { ...agentRequest(node, c.path, c.call.requestId), json: c.payload, accept: NDJSON, signal });
    } catch (error) {
      if (neverSent(error)) throw new AppError("E_UNREACHABLE", `Cannot reach node "${node.name}" at ${node.address}: ${describeNetworkError(error)}`);
      if (headers.signal.aborted && !bound.aborted && !watch.silent) throw unanswered(c, error);
      throw lost(c, watch, bound, error);
    } finally {
      clearTimeout(headersTimer);
    }
    c.call.onAnswered?.();
    if (!response.ok || !response.body) throw nodeError(node, await response.json().catch(() => null), response.status);
    try {
      end = await readEnd(readLines(heardChunks(response.body, watch)), node);
    } catch (error) {
      throw lost(c, watch, bound, error);
    }
  } finally {
    watch.stop();
  }
  if (end === null) throw lost(c, watch, bound);
  if (!end.ok) throw end.error;
  return end.value;
}

/** Connection failures after which the request surely never reached the node. */
const NEVER_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);

function neverSent(error: unknown): boolean {
  const code = errnoOf(error);
  return code !== null && NEVER_SENT.has(code);
}

/**
 * The failure of a change its node accepted but did not answer in time: the
 * node may yet run it (a stopped worker that resumes), so its answer counts
 * as lost and the caller asks for the outcome.
 */
function unanswered(c: StreamedChange, cause: unknown): AppError {
  const message = `Node "${c.node.name}" at ${c.node.address} did not answer ${c.what} within ${formatDuration(c.headersMs)} (it accepts connections but does not respond)`;
  return new AppError("E_UNREACHABLE", message, { cause, details: { lost: "connection", unanswered: true } });
}

/** Whether a change failed because its node accepted the connection and never began to answer (hung, stopped). */
export function notAnswering(error: unknown): error is AppError {
  return error instanceof AppError && error.details?.["unanswered"] === true;
}

/** The failure of a change whose answer did not arrive: it may have done its work all the same. */
function lost(c: StreamedChange, watch: SilenceWatch, bound: AbortSignal, cause?: unknown): AppError {
  const { node, what } = c;
  if (bound.aborted && !watch.silent) {
    return new AppError("E_TIMEOUT", `Node "${node.name}" did not finish ${what} within ${formatDuration(c.call.boundMs)}`, { cause, details: { lost: "bound" } });
  }
  const why = watch.silent
    ? `nothing heard for ${formatDuration(c.silenceMs)}`
    : cause === undefined
      ? "the answer ended early"
      : cause instanceof AppError
        ? cause.message
        : describeNetworkError(cause);
  return new AppError("E_UNREACHABLE", `Lost node "${node.name}" during ${what} (${why})`, { cause, details: { lost: "connection" } });
}

/** The one event of a lifecycle or purge answer. */
async function actionEnd(lines: AsyncIterable<string>, node: AgentTarget): Promise<ChangeEnd<InstanceSummary[]> | null> {
  for await (const line of lines) {
    const event: AgentActionEvent = parseLine(node, line, parseAgentActionEvent);
    if (event.type === "done") return { ok: true, value: event.instances };
    return { ok: false, error: new AppError(event.code, event.message) };
  }
  return null;
}

/** Progress events, then the last one of a launch. */
async function launchEnd(
  lines: AsyncIterable<string>,
  node: AgentTarget,
  onProgress: (event: Extract<AgentLaunchEvent, { type: "progress" }>) => void,
): Promise<ChangeEnd<InstanceSummary[]> | null> {
  for await (const line of lines) {
    const event = parseLine(node, line, parseAgentLaunchEvent);
    if (event.type === "progress") onProgress(event);
    else if (event.type === "done") return { ok: true, value: event.instances };
    else return { ok: false, error: new AppError(event.code, event.message) };
  }
  return null;
}

/** The URL, token, TLS and request id of a call to `path` on a node's agent server. */
function agentRequest(node: AgentTarget, path: string, requestId?: string): PeerRequest {
  const endpoint = agentEndpoint(node, "http");
  return {
    url: `${endpoint.url}${path}`,
    token: node.agentToken,
    ...(endpoint.tls ? { tls: endpoint.tls } : {}),
    ...(requestId === undefined ? {} : { headers: { [REQUEST_ID_HEADER]: requestId } }),
  };
}

/** One line of a node's stream. @throws AppError E_PROTOCOL naming the node */
function parseLine<T>(node: AgentTarget, line: string, parse: (value: unknown) => T): T {
  try {
    return parse(parseJson(line, "event"));
  } catch (error) {
    throw new AppError("E_PROTOCOL", `node "${node.name}" sent a malformed event: ${messageOf(error)}`);
  }
}

function failure(node: AgentTarget, error: unknown, timeout: AbortSignal, limits: CallLimits): AppError {
  if (timeout.aborted) {
    return new AppError("E_TIMEOUT", `Node "${node.name}" did not answer within ${formatDuration(limits.timeoutMs)}`);
  }
  if (limits.signal?.aborted) return new AppError("E_UNREACHABLE", `Call to node "${node.name}" was cancelled`);
  return new AppError("E_UNREACHABLE", `Cannot reach node "${node.name}" at ${node.address}: ${describeNetworkError(error)}`);
}

/** A node's error answer; its message is prefixed with the node unless it names it already. */
function nodeError(node: AgentTarget, body: unknown, status: number): AppError {
  const e = parseErrorBody(body)?.error;
  const code = e?.code ?? "E_PROTOCOL";
  const message = e?.message ?? `HTTP ${status}`;
  return new AppError(code, message.includes(`node "${node.name}"`) ? message : `Node "${node.name}": ${message}`);
}

/** The plumbing of every agent call, for the snapshot calls (snapshots.ts): a read-only call, a streamed change, one line of it. */
export { call as agentCall, streamedChange, parseLine, type ChangeEnd, type StreamedChange };
