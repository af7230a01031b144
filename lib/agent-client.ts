/**
 * The master's client of worker agent servers: live calls with a timeout,
 * every answer parsed, every failure an AppError that names the node.
 */
import { AppError, isErrorCode, messageOf } from "./errors.ts";
import type { InstanceInfo } from "./multipass.ts";
import { parseAgentInfoResponse, parseErrorBody } from "./protocol.ts";
import type { NodeEntry } from "./registry.ts";

/** The node fields a call needs. */
export type AgentTarget = Pick<NodeEntry, "name" | "address" | "agentToken">;

export interface AgentClient {
  /**
   * Live `multipass info` on one node (all instances when `names` is empty).
   * @throws AppError E_TIMEOUT when `signal` times out, E_UNREACHABLE when the
   *   node cannot be reached, or the node's own error (E_MULTIPASS, E_NOT_FOUND…).
   */
  info(node: AgentTarget, names: string[], options: CallLimits): Promise<InstanceInfo[]>;
}

/** How long a call may take, and an optional signal that ends it sooner (the caller went away). */
export interface CallLimits {
  timeoutMs: number;
  signal?: AbortSignal;
}

export function createAgentClient(deps: { fetch?: typeof fetch } = {}): AgentClient {
  const doFetch = deps.fetch ?? fetch;

  async function call(node: AgentTarget, path: string, limits: CallLimits): Promise<unknown> {
    const timeout = AbortSignal.timeout(limits.timeoutMs);
    const signal = limits.signal ? AbortSignal.any([timeout, limits.signal]) : timeout;
    const fail = (error: unknown) => failure(node, error, timeout, limits);
    let response: Response;
    try {
      response = await doFetch(`http://${node.address}${path}`, {
        headers: { authorization: `Bearer ${node.agentToken}` },
        signal,
      });
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
    if (!response.ok) {
      const e = parseErrorBody(body)?.error;
      const code = e && isErrorCode(e.code) ? e.code : "E_PROTOCOL";
      throw new AppError(code, `Node "${node.name}": ${e?.message ?? `HTTP ${response.status}`}`);
    }
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
  };
}

function failure(node: AgentTarget, error: unknown, timeout: AbortSignal, limits: CallLimits): AppError {
  if (timeout.aborted) {
    return new AppError("E_TIMEOUT", `Node "${node.name}" did not answer within ${formatSeconds(limits.timeoutMs)}`);
  }
  if (limits.signal?.aborted) return new AppError("E_UNREACHABLE", `Call to node "${node.name}" was cancelled`);
  return new AppError("E_UNREACHABLE", `Cannot reach node "${node.name}" at ${node.address}: ${messageOf(error)}`);
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
