/**
 * The master's client of worker agent servers: live calls with a timeout,
 * every answer parsed, every failure an AppError that names the node.
 */
import { formatDuration } from "../core/duration.ts";
import { AppError, describeNetworkError, messageOf } from "../core/errors.ts";
import { readLines } from "../core/ndjson.ts";
import { arrayOf, field, object, parseJson } from "../core/parse.ts";
import { fetchPeer, type PeerRequest } from "../net/fetch.ts";
import { pinnedTls } from "../net/tls.ts";
import { parseAgentInfoResponse } from "../protocol/agent.ts";
import { parseErrorBody } from "../protocol/api.ts";
import { parseInstanceSummary, type InstanceInfo, type InstanceSummary, type LaunchSpec } from "../protocol/instances.ts";
import { parseAgentLaunchEvent, type ActionOptions, type AgentLaunchEvent, type LifecycleAction } from "../protocol/operations.ts";
import type { NodeEntry } from "./registry.ts";

/** The node fields a call needs. */
export type AgentTarget = Pick<NodeEntry, "name" | "address" | "agentToken" | "agentCert">;

/** Where a node's agent server is, and how to trust it: TLS pinned to its certificate, or plain. */
export function agentEndpoint(node: AgentTarget, scheme: "http" | "ws"): { url: string; tls?: ReturnType<typeof pinnedTls> } {
  if (node.agentCert === null) return { url: `${scheme}://${node.address}` };
  return { url: `${scheme}s://${node.address}`, tls: pinnedTls(node.agentCert) };
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
   * @throws AppError: the node's own error, or E_UNREACHABLE when the node is
   *   lost before it answered (killed mid-launch), E_TIMEOUT after `timeoutMs`.
   */
  launch(node: AgentTarget, spec: LaunchSpec, limits: CallLimits, onProgress: (event: Extract<AgentLaunchEvent, { type: "progress" }>) => void): Promise<InstanceSummary[]>;
  /** One lifecycle verb; @returns the node's fresh instance list. */
  act(node: AgentTarget, action: LifecycleAction, name: string, options: ActionOptions, limits: CallLimits): Promise<InstanceSummary[]>;
  /** Removes the node's deleted instances; @returns its fresh instance list. */
  purge(node: AgentTarget, limits: CallLimits): Promise<InstanceSummary[]>;
}

function instancesOf(node: AgentTarget, body: unknown): InstanceSummary[] {
  try {
    return field(object(body, "answer"), "instances", "answer", arrayOf(parseInstanceSummary));
  } catch (error) {
    throw new AppError("E_PROTOCOL", `Node "${node.name}" sent a malformed answer: ${messageOf(error)}`);
  }
}

/** How long a call may take, and an optional signal that ends it sooner (the caller went away). */
export interface CallLimits {
  timeoutMs: number;
  signal?: AbortSignal;
}

export function createAgentClient(): AgentClient {

  async function call(node: AgentTarget, path: string, limits: CallLimits, payload?: unknown): Promise<unknown> {
    const { timeout, signal } = callSignals(limits);
    const fail = (error: unknown) => failure(node, error, timeout, limits);
    let response: Response;
    try {
      response = await fetchPeer(fetch, { ...agentRequest(node, path), json: payload, signal });
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

    async act(node, action, name, options, limits) {
      return instancesOf(node, await call(node, `/agent/v1/instances/${encodeURIComponent(name)}/${action}`, limits, options));
    },

    async purge(node, limits) {
      return instancesOf(node, await call(node, "/agent/v1/purge", limits, {}));
    },

    async launch(node, spec, limits, onProgress) {
      const { timeout, signal } = callSignals(limits);
      const lost = (error?: unknown) =>
        timeout.aborted
          ? new AppError("E_TIMEOUT", `Node "${node.name}" did not finish the launch of "${spec.name}" within ${formatDuration(limits.timeoutMs)}`)
          : new AppError("E_UNREACHABLE", `Lost node "${node.name}" during the launch of "${spec.name}"${error ? ` (${describeNetworkError(error)})` : ""}; the instance may still appear there`);
      let response: Response;
      try {
        response = await fetchPeer(fetch, { ...agentRequest(node, "/agent/v1/launch"), json: spec, signal });
      } catch (error) {
        throw failure(node, error, timeout, limits);
      }
      if (!response.ok || !response.body) throw nodeError(node, await response.json().catch(() => null), response.status);
      try {
        for await (const line of readLines(response.body)) {
          const event = parseLaunchLine(node, line);
          if (event.type === "progress") onProgress(event);
          else if (event.type === "done") return event.instances;
          else throw new AppError(event.code, event.message);
        }
      } catch (error) {
        if (error instanceof AppError) throw error;
        throw lost(error);
      }
      throw lost();
    },
  };
}

/** The URL, token and TLS of a call to `path` on a node's agent server. */
function agentRequest(node: AgentTarget, path: string): PeerRequest {
  const endpoint = agentEndpoint(node, "http");
  return { url: `${endpoint.url}${path}`, token: node.agentToken, ...(endpoint.tls ? { tls: endpoint.tls } : {}) };
}

/** A call's own timeout, and the signal that ends it: that timeout, or the caller's signal first. */
function callSignals(limits: CallLimits): { timeout: AbortSignal; signal: AbortSignal } {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  return { timeout, signal: limits.signal ? AbortSignal.any([timeout, limits.signal]) : timeout };
}

/** One line of a launch stream. @throws AppError E_PROTOCOL naming the node */
function parseLaunchLine(node: AgentTarget, line: string): AgentLaunchEvent {
  try {
    return parseAgentLaunchEvent(parseJson(line, "event"));
  } catch (error) {
    throw new AppError("E_PROTOCOL", `Node "${node.name}" sent a malformed launch event: ${messageOf(error)}`);
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
