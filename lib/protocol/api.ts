/**
 * The client API of the master (port 1338): the JSON views it answers with and
 * the error body of every failed call, with their pure parsers (the client
 * reads every answer through them).
 */
import type { ErrorCode } from "../core/errors.ts";
import type { Labels } from "../core/labels.ts";
import { parseLabels } from "./labels.ts";
import { arrayOf, boolean, field, integer, nonNegative, nullable, object, oneOf, optional, ParseError, parseErrorCode, string, type JsonObject } from "../core/parse.ts";
import type { SessionKind } from "./session.ts";
import { parseInstanceSummary, parseLiveFigures, type InstanceState, type LiveFigures } from "./instances.ts";
import { NODE_STATES, parseAllocation, parseHostResources, type Allocation, type HostResources, type NodeState } from "./join.ts";
import { parseCordonView, type CordonView } from "./cordon.ts";

/** `GET /api/v1/nodes` item. */
export interface NodeView {
  name: string;
  state: NodeState;
  /** HOST:PORT of the worker's agent server, as the master dials it. */
  address: string;
  /** ISO 8601 time of the last message from the worker. */
  lastSync: string;
  multipassVersion: string | null;
  /**
   * The multiverse version of the node's worker, as its hello gave it
   * (issue 16: `multiverse version`); null from a master before it, which
   * did not send it.
   */
  workerVersion?: string | null;
  multipassError: string | null;
  /**
   * ISO 8601 time since which the node's multipass has not answered a
   * listing (its daemon is busy: a list queues behind a stop, suspend or
   * delete); its instances are then the last ones listed, still shown with
   * their state. null when they are current.
   */
  staleSince: string | null;
  resources: HostResources;
  /** What the node's live instances were given; placement subtracts it. */
  allocated: Allocation;
  /** Number of instances (deleted ones included) the node reported. */
  instanceCount: number;
  /** The node's labels (issue 15), `{}` when none. */
  labels: Labels;
  /** The node's cordon (`nodes cordon`: no new launches placed there), or null. */
  cordoned: CordonView | null;
}

/** The answer of `DELETE /api/v1/nodes/:name[?force=1]`: the node dropped, and the state it was in. */
export interface NodeRemovedView {
  name: string;
  state: NodeState;
  removed: true;
}

/** @throws ParseError */
export function parseNodeRemoved(value: unknown): NodeRemovedView {
  const o = object(value, "removed");
  if (field(o, "removed", "removed", boolean) !== true) throw new ParseError("removed.removed", "expected true");
  return { name: field(o, "name", "removed", string), state: field(o, "state", "removed", oneOf(NODE_STATES)), removed: true };
}

/**
 * `GET /api/v1/instances` item. `state` is "Unknown" while the node is not
 * Ready or its multipass fails; a node whose multipass is only slow to answer
 * (its NodeView's `staleSince`) keeps its instances' last known states.
 */
export interface InstanceView {
  node: string;
  name: string;
  state: InstanceState;
  ipv4: string[];
  release: string | null;
  /** The instance's labels (issue 15), `{}` when none. */
  labels: Labels;
}

/** `GET /api/v1/info` item: live figures, `null` where Multipass gives nothing. */
export interface InfoView extends LiveFigures {
  node: string;
  /** SHA-256 of the instance's image (`info -o wide`); null when Multipass gives none, or from an older master. */
  imageHash: string | null;
}

export interface NodeError {
  node: string;
  message: string;
}

export interface InfoResponse {
  instances: InfoView[];
  errors: NodeError[];
}

/**
 * The longest per-node limit of `GET /api/v1/info` (`?timeout=MS`, and the
 * master's `--node-timeout`): above the daemon's 300 s bound, because `info`
 * costs 1–2 s per running VM and queues behind a running stop, suspend or
 * delete (lib/multipass/CONTRACT.md §3.3).
 */
export const MAX_INFO_TIMEOUT_MS = 600_000;

/** The body of every error answer. */
export interface ErrorBody {
  /** `plan`: the environment plan an apply was refused for (a removal not confirmed), unparsed. */
  error: { code: ErrorCode; message: string; candidates?: string[]; plan?: unknown };
}

export function parseNodeView(value: unknown, path: string): NodeView {
  const o = object(value, path);
  return {
    name: field(o, "name", path, string),
    state: field(o, "state", path, oneOf(NODE_STATES)),
    address: field(o, "address", path, string),
    lastSync: field(o, "lastSync", path, string),
    multipassVersion: field(o, "multipassVersion", path, nullable(string)),
    workerVersion: field(o, "workerVersion", path, optional(nullable(string))) ?? null,
    multipassError: field(o, "multipassError", path, nullable(string)),
    staleSince: field(o, "staleSince", path, nullable(string)),
    resources: field(o, "resources", path, parseHostResources),
    allocated: field(o, "allocated", path, parseAllocation),
    instanceCount: field(o, "instanceCount", path, integer),
    labels: field(o, "labels", path, optional(parseLabels)) ?? {},
    cordoned: field(o, "cordoned", path, optional(nullable(parseCordonView))) ?? null,
  };
}

export function parseInstanceView(value: unknown, path: string): InstanceView {
  const o = object(value, path);
  return { node: field(o, "node", path, string), ...parseInstanceSummary(o, path), labels: field(o, "labels", path, optional(parseLabels)) ?? {} };
}

export function parseInfoView(value: unknown, path: string): InfoView {
  const o = object(value, path);
  return { node: field(o, "node", path, string), ...parseLiveFigures(o, path), imageHash: field(o, "imageHash", path, optional(nullable(string))) ?? null };
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
        ...(e["plan"] === undefined ? {} : { plan: e["plan"] }),
      },
    };
  } catch {
    return null;
  }
}

/** Which server answers `GET /healthz` on a port: the master's API or cluster server, or a worker's agent server. */
export const HEALTH_ROLES = ["master-api", "master-cluster", "worker-agent"] as const;
export type HealthRole = (typeof HEALTH_ROLES)[number];

/** The `role` of a `GET /healthz` answer; null when the body names none of {@link HEALTH_ROLES}. */
export function parseHealthRole(value: unknown): HealthRole | null {
  try {
    return field(object(value, "health"), "role", "health", oneOf(HEALTH_ROLES));
  } catch {
    return null;
  }
}

/** What the cluster server took in since the master started (`GET /api/v1/stats` `cluster`). */
export interface ClusterCounters {
  /** Workers welcomed. */
  joins: number;
  /** Of those, joins of a node the master already listed (a worker or network coming back). */
  rejoins: number;
  /** State messages applied. */
  states: number;
  heartbeats: number;
  /** Join sockets the master closed for a protocol error or a missing hello. */
  rejected: number;
}

/** `GET /api/v1/stats`: the master's own figures, for curl and dashboards. */
export interface MasterStats {
  version: string;
  /** ISO 8601 time the master started. */
  startedAt: string;
  uptimeSeconds: number;
  nodes: Record<NodeState, number>;
  instances: number;
  sessions: number;
  cluster: ClusterCounters;
  process: { rssBytes: number; cpuSeconds: number };
}

export function parseMasterStats(value: unknown): MasterStats {
  const o = object(value, "stats");
  const count = (from: JsonObject, key: string, path: string) => field(from, key, path, nonNegative);
  const nodes = field(o, "nodes", "stats", object);
  const cluster = field(o, "cluster", "stats", object);
  const proc = field(o, "process", "stats", object);
  return {
    version: field(o, "version", "stats", string),
    startedAt: field(o, "startedAt", "stats", string),
    uptimeSeconds: count(o, "uptimeSeconds", "stats"),
    nodes: { Ready: count(nodes, "Ready", "stats.nodes"), NotReady: count(nodes, "NotReady", "stats.nodes"), Down: count(nodes, "Down", "stats.nodes") },
    instances: count(o, "instances", "stats"),
    sessions: count(o, "sessions", "stats"),
    cluster: {
      joins: count(cluster, "joins", "stats.cluster"),
      rejoins: count(cluster, "rejoins", "stats.cluster"),
      states: count(cluster, "states", "stats.cluster"),
      heartbeats: count(cluster, "heartbeats", "stats.cluster"),
      rejected: count(cluster, "rejected", "stats.cluster"),
    },
    process: { rssBytes: count(proc, "rssBytes", "stats.process"), cpuSeconds: count(proc, "cpuSeconds", "stats.process") },
  };
}

/**
 * `GET /api/v1/sessions` item: a session the master relays now, or a shell a
 * worker keeps (attached through this master or another, or detached).
 */
export interface SessionView {
  id: string;
  node: string;
  instance: string;
  kind: SessionKind;
  tty: boolean;
  /** ISO 8601 time the session opened. */
  since: string;
  size: { cols: number; rows: number };
  /** The token id that opened it; null when not known. */
  owner: string | null;
  /** running: relayed, not kept; attached or detached: a kept shell (issue 12). */
  state: SessionState;
  /** Whether the asking token opened it (and so may attach to it). */
  mine: boolean;
  /** ISO 8601 time of its last byte in or out; null when not known. */
  lastActivityAt: string | null;
  /** When a detached shell ends unless a client attaches; null otherwise. */
  detachedUntil: string | null;
  /** Read-only watchers. */
  viewers: number;
}

export const SESSION_STATES = ["running", "attached", "detached"] as const;
export type SessionState = (typeof SESSION_STATES)[number];

export function parseSessionView(value: unknown, path: string): SessionView {
  const o = object(value, path);
  const size = field(o, "size", path, object);
  return {
    id: field(o, "id", path, string),
    node: field(o, "node", path, string),
    instance: field(o, "instance", path, string),
    kind: field(o, "kind", path, oneOf(["shell", "exec", "forward"] as const)),
    tty: field(o, "tty", path, boolean),
    since: field(o, "since", path, string),
    size: { cols: field(size, "cols", `${path}.size`, integer), rows: field(size, "rows", `${path}.size`, integer) },
    owner: field(o, "owner", path, nullable(string)),
    state: field(o, "state", path, oneOf(SESSION_STATES)),
    mine: field(o, "mine", path, boolean),
    lastActivityAt: field(o, "lastActivityAt", path, nullable(string)),
    detachedUntil: field(o, "detachedUntil", path, nullable(string)),
    viewers: field(o, "viewers", path, nonNegative),
  };
}

/** The name of the web console's session cookie (its value: 256 random bits, base64url). */
export const WEB_SESSION_COOKIE = "multiverse_session";

/** Longest token a login body may carry: far above any real one, so a huge body is refused before it is hashed. */
export const MAX_LOGIN_TOKEN_LENGTH = 1024;

/** `POST /api/v1/session` body: the API token, pasted once into the console's login form. */
export interface LoginRequest {
  token: string;
}

/** @throws ParseError when `token` is missing, empty or longer than {@link MAX_LOGIN_TOKEN_LENGTH}. */
export function parseLoginRequest(value: unknown): LoginRequest {
  const token = field(object(value, "body"), "token", "body", string);
  if (token === "" || token.length > MAX_LOGIN_TOKEN_LENGTH) throw new ParseError("body.token", `expected a token of 1 to ${MAX_LOGIN_TOKEN_LENGTH} characters`);
  return { token };
}

/**
 * `POST` and `GET /api/v1/session` answer: whose token the caller is (a
 * 12-hex token id, never the token) and when its browser session ends (ISO
 * 8601; null for a caller with `Authorization: Bearer`, which has no session).
 */
export interface WebSessionView {
  tokenId: string;
  expiresAt: string | null;
}

export function parseWebSessionView(value: unknown): WebSessionView {
  const o = object(value, "session");
  return { tokenId: field(o, "tokenId", "session", string), expiresAt: field(o, "expiresAt", "session", nullable(string)) };
}

/**
 * `GET /api/v1/watch` event `snapshot`: the whole cache, as `GET
 * /api/v1/nodes` and `GET /api/v1/instances` answer it. (Its other event,
 * `audit`, carries one `AuditEvent` of protocol/audit.ts.)
 */
export interface WatchSnapshot {
  nodes: NodeView[];
  instances: InstanceView[];
}

export function parseWatchSnapshot(value: unknown): WatchSnapshot {
  const o = object(value, "snapshot");
  return {
    nodes: field(o, "nodes", "snapshot", arrayOf(parseNodeView)),
    instances: field(o, "instances", "snapshot", arrayOf(parseInstanceView)),
  };
}
