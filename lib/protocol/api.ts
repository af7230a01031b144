/**
 * The client API of the master (port 1338): the JSON views it answers with and
 * the error body of every failed call, with their pure parsers (the client
 * reads every answer through them).
 */
import type { ErrorCode } from "../core/errors.ts";
import { arrayOf, field, integer, nullable, object, oneOf, parseErrorCode, string } from "../core/parse.ts";
import { parseInstanceSummary, parseLiveFigures, type InstanceState, type LiveFigures } from "./instances.ts";
import { NODE_STATES, parseAllocation, parseHostResources, type Allocation, type HostResources, type NodeState } from "./join.ts";

/** `GET /api/v1/nodes` item. */
export interface NodeView {
  name: string;
  state: NodeState;
  /** HOST:PORT of the worker's agent server, as the master dials it. */
  address: string;
  /** ISO 8601 time of the last message from the worker. */
  lastSync: string;
  multipassVersion: string | null;
  multipassError: string | null;
  resources: HostResources;
  /** What the node's live instances were given; placement subtracts it. */
  allocated: Allocation;
  /** Number of instances (deleted ones included) the node reported. */
  instanceCount: number;
}

/** `GET /api/v1/instances` item. `state` is "Unknown" while the node is not Ready. */
export interface InstanceView {
  node: string;
  name: string;
  state: InstanceState;
  ipv4: string[];
  release: string | null;
}

/** `GET /api/v1/info` item: live figures, `null` where Multipass gives nothing. */
export interface InfoView extends LiveFigures {
  node: string;
}

export interface NodeError {
  node: string;
  message: string;
}

export interface InfoResponse {
  instances: InfoView[];
  errors: NodeError[];
}

/** The body of every error answer. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; candidates?: string[] };
}

export function parseNodeView(value: unknown, path: string): NodeView {
  const o = object(value, path);
  return {
    name: field(o, "name", path, string),
    state: field(o, "state", path, oneOf(NODE_STATES)),
    address: field(o, "address", path, string),
    lastSync: field(o, "lastSync", path, string),
    multipassVersion: field(o, "multipassVersion", path, nullable(string)),
    multipassError: field(o, "multipassError", path, nullable(string)),
    resources: field(o, "resources", path, parseHostResources),
    allocated: field(o, "allocated", path, parseAllocation),
    instanceCount: field(o, "instanceCount", path, integer),
  };
}

export function parseInstanceView(value: unknown, path: string): InstanceView {
  const o = object(value, path);
  return { node: field(o, "node", path, string), ...parseInstanceSummary(o, path) };
}

export function parseInfoView(value: unknown, path: string): InfoView {
  const o = object(value, path);
  return { node: field(o, "node", path, string), ...parseLiveFigures(o, path) };
}

export function parseNodeError(value: unknown, path: string): NodeError {
  const o = object(value, path);
  return { node: field(o, "node", path, string), message: field(o, "message", path, string) };
}

export function parseInfoResponse(value: unknown): InfoResponse {
  const o = object(value, "info");
  return {
    instances: field(o, "instances", "info", arrayOf(parseInfoView)),
    errors: field(o, "errors", "info", arrayOf(parseNodeError)),
  };
}

/** Reads `{ "error": { code, message } }`; null when the body is not that shape. */
export function parseErrorBody(value: unknown): ErrorBody | null {
  try {
    const e = field(object(value, "body"), "error", "body", object);
    const candidates = e["candidates"];
    return {
      error: {
        code: field(e, "code", "error", parseErrorCode),
        message: field(e, "message", "error", string),
        ...(candidates === undefined ? {} : { candidates: arrayOf(string)(candidates, "error.candidates") }),
      },
    };
  } catch {
    return null;
  }
}
