/**
 * The agent API a worker serves and only its master calls: the answers of its
 * read-only routes, with their parsers. Lifecycle and launch shapes are in
 * operations.ts, sessions in session.ts.
 */
import { arrayOf, field, object } from "../core/parse.ts";
import { parseInstanceInfo, type InstanceInfo } from "./instances.ts";

/** `GET /agent/v1/info` answer. */
export interface AgentInfoResponse {
  instances: InstanceInfo[];
}

export function parseAgentInfoResponse(value: unknown): AgentInfoResponse {
  const o = object(value, "agent info");
  return { instances: field(o, "instances", "agent info", arrayOf(parseInstanceInfo)) };
}
