/**
 * Every message and API shape of multiverse, with the pure parsers that turn
 * untrusted JSON into them. Nothing here touches Bun, node or hono.
 *
 * Two wires:
 * - the join socket (worker → master WebSocket on the cluster address), text
 *   frames of JSON {@link WorkerMessage} / {@link MasterMessage};
 * - the HTTP APIs (client → master, master → worker agent), JSON bodies.
 */
import { INSTANCE_STATES, type InstanceInfo, type InstanceState, type InstanceSummary } from "../multipass/driver.ts";
import { isErrorCode, type ErrorCode } from "../core/errors.ts";
import {
  arrayOf,
  field,
  integer,
  nullable,
  number,
  object,
  oneOf,
  ParseError,
  parseJson,
  string,
  type Json,
} from "../core/parse.ts";

/** Bumped on any incompatible change of the join socket or the agent API. */
export const PROTOCOL_VERSION = 1;

/** Close codes of the join socket (4000–4999 are the application's). */
export const JOIN_CLOSE = {
  /** Another connection joined under the same node name. */
  replaced: 4000,
  rejected: 4001,
  protocol: 4002,
  helloTimeout: 4003,
  shutdown: 1001,
} as const;

/** Largest join-socket message accepted (a state with thousands of instances fits). */
export const MAX_JOIN_MESSAGE_BYTES = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Shared shapes

/** What a worker's host has, in bytes; disk is the filesystem holding Multipass's data. */
export interface HostResources {
  cpus: number;
  load: [number, number, number];
  memory: { total: number; available: number };
  disk: { total: number; available: number };
}

/**
 * What the host's live (not deleted) instances were given at launch, summed:
 * the capacity placement subtracts from the host's.
 */
export interface Allocation {
  cpus: number;
  memory: number;
  disk: number;
  /** Instances whose allocation could not be read (not counted above). */
  unknown: number;
}

/** What a worker knows of its Multipass host at one moment. */
export interface HostSnapshot {
  multipassVersion: string | null;
  /** Why the last `multipass` call failed, or null when it worked. */
  multipassError: string | null;
  resources: HostResources;
  allocated: Allocation;
  instances: InstanceSummary[];
}

export const NODE_STATES = ["Ready", "NotReady", "Down"] as const;
export type NodeState = (typeof NODE_STATES)[number];

// ---------------------------------------------------------------------------
// Join socket

/** Worker → master. The first message must be `hello`. */
export type WorkerMessage =
  | ({
      type: "hello";
      protocolVersion: number;
      name: string;
      /** The port the worker's agent server listens on. */
      agentPort: number;
      /** HOST:PORT the master should dial; null = the address the worker connects from. */
      advertiseAddr: string | null;
      /** PEM of the agent server's certificate when it serves TLS; the master pins it. */
      agentCert: string | null;
      /** The multiverse version of the worker. */
      version: string;
    } & HostSnapshot)
  | ({ type: "state" } & HostSnapshot)
  | { type: "heartbeat"; resources: HostResources };

/** Master → worker. */
export type MasterMessage =
  | {
      type: "welcome";
      /** A fresh id for this membership. */
      id: string;
      /** How often the worker must send something; silence for 3 intervals = NotReady. */
      heartbeatMs: number;
      /** The secret the master presents to the worker's agent server for this membership. */
      agentToken: string;
    }
  | { type: "error"; code: ErrorCode; message: string }
  /** Sent every heartbeat interval so a worker can tell a silent (cut-off) master from a quiet one. */
  | { type: "heartbeat" };

const parseState = oneOf(INSTANCE_STATES);

function parseLoad(value: unknown, path: string): [number, number, number] {
  const load = arrayOf(number)(value, path);
  if (load.length !== 3) throw new ParseError(path, `expected 3 load averages, got ${load.length}`);
  return [load[0]!, load[1]!, load[2]!];
}

function nonNegative(value: unknown, path: string): number {
  const n = number(value, path);
  if (n < 0) throw new ParseError(path, `expected a non-negative number, got ${n}`);
  return n;
}

export function parseHostResources(value: unknown, path = "resources"): HostResources {
  const o = object(value, path);
  const memory = field(o, "memory", path, object);
  const disk = field(o, "disk", path, object);
  return {
    cpus: field(o, "cpus", path, integer),
    load: field(o, "load", path, parseLoad),
    memory: {
      total: field(memory, "total", `${path}.memory`, nonNegative),
      available: field(memory, "available", `${path}.memory`, nonNegative),
    },
    disk: {
      total: field(disk, "total", `${path}.disk`, nonNegative),
      available: field(disk, "available", `${path}.disk`, nonNegative),
    },
  };
}

export function parseInstanceSummary(value: unknown, path: string): InstanceSummary {
  const o = object(value, path);
  return {
    name: field(o, "name", path, string),
    state: field(o, "state", path, parseState),
    ipv4: field(o, "ipv4", path, arrayOf(string)),
    release: field(o, "release", path, nullable(string)),
  };
}

export function parseAllocation(value: unknown, path: string): Allocation {
  const o = object(value, path);
  return {
    cpus: field(o, "cpus", path, nonNegative),
    memory: field(o, "memory", path, nonNegative),
    disk: field(o, "disk", path, nonNegative),
    unknown: field(o, "unknown", path, nonNegative),
  };
}

function parseSnapshot(o: Record<string, Json>, path: string): HostSnapshot {
  return {
    multipassVersion: field(o, "multipassVersion", path, nullable(string)),
    multipassError: field(o, "multipassError", path, nullable(string)),
    resources: field(o, "resources", path, parseHostResources),
    allocated: field(o, "allocated", path, parseAllocation),
    instances: field(o, "instances", path, arrayOf(parseInstanceSummary)),
  };
}

/** Parses one text frame from a worker. @throws ParseError */
export function parseWorkerMessage(text: string): WorkerMessage {
  const o = object(parseJson(text, "message"), "message");
  const type = field(o, "type", "message", string);
  switch (type) {
    case "hello":
      return {
        type,
        protocolVersion: field(o, "protocolVersion", "hello", integer),
        name: field(o, "name", "hello", string),
        agentPort: field(o, "agentPort", "hello", integer),
        advertiseAddr: field(o, "advertiseAddr", "hello", nullable(string)),
        agentCert: field(o, "agentCert", "hello", nullable(string)),
        version: field(o, "version", "hello", string),
        ...parseSnapshot(o, "hello"),
      };
    case "state":
      return { type, ...parseSnapshot(o, "state") };
    case "heartbeat":
      return { type, resources: field(o, "resources", "heartbeat", parseHostResources) };
    default:
      throw new ParseError("message.type", `unknown message type ${JSON.stringify(type).slice(0, 40)}`);
  }
}

/** Parses one text frame from the master. @throws ParseError */
export function parseMasterMessage(text: string): MasterMessage {
  const o = object(parseJson(text, "message"), "message");
  const type = field(o, "type", "message", string);
  switch (type) {
    case "welcome":
      return {
        type,
        id: field(o, "id", "welcome", string),
        heartbeatMs: field(o, "heartbeatMs", "welcome", integer),
        agentToken: field(o, "agentToken", "welcome", string),
      };
    case "error":
      return {
        type,
        code: field(o, "code", "error", parseErrorCode),
        message: field(o, "message", "error", string),
      };
    case "heartbeat":
      return { type };
    default:
      throw new ParseError("message.type", `unknown message type ${JSON.stringify(type).slice(0, 40)}`);
  }
}

// ---------------------------------------------------------------------------
// Client API (master, port 1338)

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
export interface InfoView {
  node: string;
  name: string;
  state: InstanceState;
  cpus: number | null;
  load: [number, number, number] | null;
  memory: { used: number | null; total: number | null };
  disk: { used: number | null; total: number | null };
  release: string | null;
  imageRelease: string | null;
  ipv4: string[];
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

function parseErrorCode(value: unknown, path: string): ErrorCode {
  const s = string(value, path);
  return isErrorCode(s) ? s : "E_INTERNAL";
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

function parseUsage(value: unknown, path: string): { used: number | null; total: number | null } {
  const o = object(value, path);
  return { used: field(o, "used", path, nullable(number)), total: field(o, "total", path, nullable(number)) };
}

/** The live figures an info view and an agent's instance info have in common. */
function parseLiveFigures(o: Record<string, Json>, path: string): Omit<InfoView, "node"> {
  return {
    name: field(o, "name", path, string),
    state: field(o, "state", path, parseState),
    cpus: field(o, "cpus", path, nullable(integer)),
    load: field(o, "load", path, nullable(parseLoad)),
    memory: field(o, "memory", path, parseUsage),
    disk: field(o, "disk", path, parseUsage),
    release: field(o, "release", path, nullable(string)),
    imageRelease: field(o, "imageRelease", path, nullable(string)),
    ipv4: field(o, "ipv4", path, arrayOf(string)),
  };
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

// ---------------------------------------------------------------------------
// Agent API (worker, master only)

/** `GET /agent/v1/info` answer. */
export interface AgentInfoResponse {
  instances: InstanceInfo[];
}

function parseInstanceInfo(value: unknown, path: string): InstanceInfo {
  const o = object(value, path);
  const mount = (v: unknown, p: string) => {
    const m = object(v, p);
    return { target: field(m, "target", p, string), source: field(m, "source", p, string) };
  };
  return {
    ...parseLiveFigures(o, path),
    imageHash: field(o, "imageHash", path, nullable(string)),
    mounts: field(o, "mounts", path, arrayOf(mount)),
    snapshots: field(o, "snapshots", path, nullable(integer)),
  };
}

export function parseAgentInfoResponse(value: unknown): AgentInfoResponse {
  const o = object(value, "agent info");
  return { instances: field(o, "instances", "agent info", arrayOf(parseInstanceInfo)) };
}
