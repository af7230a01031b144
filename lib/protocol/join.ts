/**
 * The join socket: the worker → master WebSocket on the cluster address,
 * text frames of JSON {@link WorkerMessage} / {@link MasterMessage}, and the
 * host shapes they carry, with the pure parsers that turn untrusted JSON into
 * them. Nothing here touches Bun, node or hono.
 */
import { AppError, type ErrorCode } from "../core/errors.ts";
import { stripControl } from "../core/format.ts";
import { quoteValue, validateInstanceName, validateNodeName } from "../core/validate.ts";
import { WS_CLOSE } from "./close.ts";
import { arrayOf, field, integer, nonNegative, nullable, object, optional, ParseError, parseErrorCode, parseJson, string, type Json } from "../core/parse.ts";
import { parseInstanceSummary, parseLoad, type InstanceSummary } from "./instances.ts";
import { parseNonce, parsePublicKey, parseSignature } from "./identity.ts";

/** Bumped on any incompatible change of the join socket or the agent API (2: node keys). */
export const PROTOCOL_VERSION = 2;

/** Close codes of the join socket (4000–4999 are the application's). */
export const JOIN_CLOSE = {
  /** Another connection joined under the same node name. */
  replaced: 4000,
  rejected: 4001,
  protocol: 4002,
  helloTimeout: 4003,
  /** The worker heard nothing from the master (not even a heartbeat) for too long. */
  masterSilent: 4005,
  /**
   * The node could not prove it is the node of that name: its key is not the
   * one the master pinned, its proof was wrong, or its agent server proved
   * another key. Retried (an operator may remove the node), never in a hurry.
   */
  identity: 4006,
  shutdown: WS_CLOSE.goingAway,
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
  /**
   * Present while multipass has not answered the worker's listing for a
   * while: the ISO 8601 time that listing began. The daemon is busy (`list`
   * queues behind a stop, suspend or delete, up to the daemon's 300 s bound,
   * CONTRACT.md §3.3), not down: `instances` are the last ones listed, still
   * the best knowledge, never to be shown `Unknown` for it. Should the
   * listing fail (at the latest past that bound) `multipassError` says so
   * instead. Absent: the instances are current. Optional on the wire, so a
   * worker that never sends it still parses.
   */
  staleSince?: string;
  resources: HostResources;
  allocated: Allocation;
  instances: InstanceSummary[];
}

export const NODE_STATES = ["Ready", "NotReady", "Down"] as const;
export type NodeState = (typeof NODE_STATES)[number];

// ---------------------------------------------------------------------------
// Join socket

/**
 * Worker → master. The first message must be `hello`; the master answers
 * with a `challenge`, which the worker answers with its `proof`, and only
 * then comes `welcome` (or an error and the close).
 */
export type WorkerMessage =
  | ({
      type: "hello";
      protocolVersion: number;
      name: string;
      /** The node's Ed25519 public key (base64url, 43 characters); the master pins it at the first join. */
      publicKey: string;
      /** The port the worker's agent server listens on. */
      agentPort: number;
      /** HOST:PORT the master should dial; null = the address the worker connects from. */
      advertiseAddr: string | null;
      /** PEM of the agent server's certificate when it serves TLS; the master pins it. */
      agentCert: string | null;
      /** The multiverse version of the worker. */
      version: string;
    } & HostSnapshot)
  /** The node's signature (base64url) of identity.ts `joinProofText` for the master's challenge. */
  | { type: "proof"; signature: string }
  | ({ type: "state" } & HostSnapshot)
  | { type: "heartbeat"; resources: HostResources }
  | ({ type: "sessionEnded" } & ShellEnded);

/**
 * A shell the worker kept (issue 12) has ended: the master records it in the
 * audit trail, as nobody else may be there to see it (a shell whose grace
 * period passed while detached). Sent once, when joined; a worker that is not
 * joined keeps a bounded number for its next join.
 */
export interface ShellEnded {
  /** The session id. */
  id: string;
  instance: string;
  /** The token id that opened it. */
  owner: string;
  /** The shell's own status, or null when the worker ended it. */
  exitCode: number | null;
  /** Why it ended, in a few words ("exited with status 0", "nobody attached within 10m", …). */
  reason: string;
}

/** Master → worker. */
export type MasterMessage =
  /** A fresh nonce the worker signs to prove it holds the key of its hello (see identity.ts `joinProofText`). */
  | { type: "challenge"; nonce: string }
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

/**
 * What a host may plausibly report, far above any machine Multipass runs on
 * today: figures past these are a bug or a lie, and would steer placement
 * (a node claiming a million CPUs wins every launch).
 */
export const RESOURCE_LIMITS = {
  cpus: 1024,
  /** 64 TiB of memory. */
  memoryBytes: 64 * 1024 ** 4,
  /** 1 PiB of disk: storage servers are larger than memory, but not without bound. */
  diskBytes: 1024 ** 5,
} as const;

function boundedInteger(min: number, max: number) {
  return (value: unknown, path: string): number => {
    const n = integer(value, path);
    if (n < min || n > max) throw new ParseError(path, `expected an integer from ${min} to ${max}, got ${n}`);
    return n;
  };
}

/** A total and what of it is available, each in 0..max, available ≤ total. */
function capacity(o: Record<string, Json>, key: string, path: string, max: number): { total: number; available: number } {
  const c = field(o, key, path, object);
  const at = `${path}.${key}`;
  const total = field(c, "total", at, boundedInteger(0, max));
  const available = field(c, "available", at, boundedInteger(0, max));
  if (available > total) throw new ParseError(`${at}.available`, `${available} is more than the total ${total}`);
  return { total, available };
}

/**
 * Parses a host's resources and checks they are plausible: 1 to 1024 CPUs,
 * whole bytes within {@link RESOURCE_LIMITS}, available ≤ total.
 * @throws ParseError (E_PROTOCOL) otherwise: a node that reports absurd figures is refused.
 */
export function parseHostResources(value: unknown, path = "resources"): HostResources {
  const o = object(value, path);
  return {
    cpus: field(o, "cpus", path, boundedInteger(1, RESOURCE_LIMITS.cpus)),
    load: field(o, "load", path, parseLoad),
    memory: capacity(o, "memory", path, RESOURCE_LIMITS.memoryBytes),
    disk: capacity(o, "disk", path, RESOURCE_LIMITS.diskBytes),
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

/** An ISO 8601 time as `Date.prototype.toISOString` writes it. */
function isoTime(value: unknown, path: string): string {
  const text = string(value, path);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/.test(text) || Number.isNaN(Date.parse(text))) {
    throw new ParseError(path, `expected an ISO 8601 time, got ${JSON.stringify(text.slice(0, 40))}`);
  }
  return text;
}

/** Longest version string kept (`1.17.0-dev.1234+g0123abcd.mac` fits many times over). */
export const MAX_VERSION_LENGTH = 100;
/** Longest release title kept (`Ubuntu 24.04.3 LTS`). */
export const MAX_RELEASE_LENGTH = 200;
/** Longest multipass failure kept: a few lines of stderr, enough to act on. */
export const MAX_ERROR_TEXT_LENGTH = 4096;
const MAX_REASON_LENGTH = 300;

/**
 * Free text a worker reports (versions, release titles, multipass's stderr):
 * cleaned rather than refused, because it is only ever shown — a progress
 * bar's escape codes in stderr must not take a node out of the cluster — but
 * it reaches terminals, so escape sequences and control characters go, and
 * its length is bounded (`…` marks a cut).
 */
function freeText(max: number) {
  return (value: unknown, path: string): string => {
    const text = stripControl(string(value, path));
    return text.length > max ? `${text.slice(0, max - 1)}…` : text;
  };
}

/** `a.b.c.d`, each part 0–255 without leading zeros: the only shape Multipass lists as ipv4. */
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * Instance names and addresses are identifiers: they are resolved, dialled
 * and printed, so a cleaned copy would be a different instance. One that
 * breaks its rule is refused with the whole message (E_PROTOCOL).
 */
function instanceName(value: unknown, path: string): string {
  const name = string(value, path);
  try {
    return validateInstanceName(name);
  } catch (error) {
    throw new ParseError(path, error instanceof AppError ? error.message : String(error));
  }
}

function checkedInstances(value: unknown, path: string): InstanceSummary[] {
  return arrayOf((item: unknown, at: string): InstanceSummary => {
    const instance = parseInstanceSummary(item, at);
    try {
      validateInstanceName(instance.name);
    } catch (error) {
      throw new ParseError(`${at}.name`, error instanceof AppError ? error.message : String(error));
    }
    instance.ipv4.forEach((ip, i) => {
      if (!IPV4.test(ip)) throw new ParseError(`${at}.ipv4[${i}]`, `expected an IPv4 address, got ${quoteValue(ip)}`);
    });
    const release = instance.release === null ? null : freeText(MAX_RELEASE_LENGTH)(instance.release, `${at}.release`);
    return { ...instance, release };
  })(value, path);
}

function parseSnapshot(o: Record<string, Json>, path: string): HostSnapshot {
  const staleSince = field(o, "staleSince", path, optional(isoTime));
  return {
    multipassVersion: field(o, "multipassVersion", path, nullable(freeText(MAX_VERSION_LENGTH))),
    multipassError: field(o, "multipassError", path, nullable(freeText(MAX_ERROR_TEXT_LENGTH))),
    ...(staleSince === undefined ? {} : { staleSince }),
    resources: field(o, "resources", path, parseHostResources),
    allocated: field(o, "allocated", path, parseAllocation),
    instances: field(o, "instances", path, checkedInstances),
  };
}

/** A node name in hello, by the node-name rule; refused (E_PROTOCOL) otherwise. */
function nodeName(value: unknown, path: string): string {
  const name = string(value, path);
  try {
    return validateNodeName(name);
  } catch (error) {
    throw new ParseError(path, error instanceof AppError ? error.message : String(error));
  }
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
        name: field(o, "name", "hello", nodeName),
        publicKey: field(o, "publicKey", "hello", parsePublicKey),
        agentPort: field(o, "agentPort", "hello", integer),
        advertiseAddr: field(o, "advertiseAddr", "hello", nullable(string)),
        agentCert: field(o, "agentCert", "hello", nullable(string)),
        version: field(o, "version", "hello", freeText(MAX_VERSION_LENGTH)),
        ...parseSnapshot(o, "hello"),
      };
    case "proof":
      return { type, signature: field(o, "signature", "proof", parseSignature) };
    case "state":
      return { type, ...parseSnapshot(o, "state") };
    case "heartbeat":
      return { type, resources: field(o, "resources", "heartbeat", parseHostResources) };
    case "sessionEnded": {
      const owner = field(o, "owner", "sessionEnded", string);
      if (!/^[0-9a-f]{1,64}$/.test(owner)) throw new ParseError("sessionEnded.owner", "not a token id");
      const id = field(o, "id", "sessionEnded", string);
      if (!/^[0-9a-f][0-9a-f-]{7,63}$/.test(id)) throw new ParseError("sessionEnded.id", "not a session id");
      return {
        type,
        id,
        instance: field(o, "instance", "sessionEnded", instanceName),
        owner,
        exitCode: field(o, "exitCode", "sessionEnded", nullable(integer)),
        reason: field(o, "reason", "sessionEnded", freeText(MAX_REASON_LENGTH)),
      };
    }
    default:
      throw new ParseError("message.type", `unknown message type ${JSON.stringify(type).slice(0, 40)}`);
  }
}

/** Parses one text frame from the master. @throws ParseError */
export function parseMasterMessage(text: string): MasterMessage {
  const o = object(parseJson(text, "message"), "message");
  const type = field(o, "type", "message", string);
  switch (type) {
    case "challenge":
      return { type, nonce: field(o, "nonce", "challenge", parseNonce) };
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

