/**
 * One worker connection on the join socket, on the master's side. A node
 * joins in four steps, each a state of the connection:
 *
 *     hello ──hello──▶ proof ──proof──▶ verifying ──agent proved──▶ joined
 *       │                │                  │                          │
 *       └────────────────┴── refused ───────┴──────── socket ends ─────┴──▶ closed
 *
 * - `hello`: the name, the node's public key, the agent's address. A name
 *   pinned to another key is refused at once (and logged as a warning).
 * - `proof`: the node's signature of this connection's fresh nonce — it
 *   holds the private key; a proof is good for this connection only.
 * - `verifying`: the agent server at the address given proves it holds the
 *   same key (agent-proof.ts), so no node can pass another's agent off as its
 *   own; then the key is pinned (first join) and the node welcomed.
 * - `joined`: states and heartbeats update the registry.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { ConsolaInstance } from "consola";
import { formatHostPort, parseHostPort } from "../core/address.ts";
import { AppError, messageOf } from "../core/errors.ts";
import { verifyNodeSignature } from "../net/node-key.ts";
import { fingerprint } from "../net/tls.ts";
import type { Socket, WsSession } from "../net/ws.ts";
import type { ClusterCounters } from "../protocol/api.ts";
import { JOIN_CLOSE, parseWorkerMessage, PROTOCOL_VERSION, type MasterMessage, type ShellEnded, type WorkerMessage } from "../protocol/join.ts";
import { joinProofText } from "../protocol/identity.ts";
import { validateNodeName } from "../core/validate.ts";
import type { AgentVerifier } from "./agent-proof.ts";
import type { Registry } from "./registry.ts";

export interface JoinSessionDeps {
  registry: Registry;
  counters: ClusterCounters;
  members: Set<Socket>;
  verifyAgent: AgentVerifier;
  heartbeatMs: number;
  log: ConsolaInstance;
  /** A shell the node kept has ended (the audit trail records it). */
  onShellEnded?: (node: string, ended: ShellEnded) => void;
}

/** How long a new connection may take to say hello and prove its key. */
const HELLO_TIMEOUT_MS = 10_000;

export type JoinState = "hello" | "proof" | "verifying" | "joined" | "closed";

type Hello = Extract<WorkerMessage, { type: "hello" }>;

/** The node a connection speaks for, once its hello is in. */
interface Claim {
  hello: Hello;
  address: string;
  agentCert: string | null;
  nonce: string;
}

/** A refusal of who the node says it is: its own close code, so the worker knows it is not a protocol fault. */
class IdentityError extends AppError {}

function send(ws: Socket, message: MasterMessage): void {
  ws.send(JSON.stringify(message));
}

function reject(ws: Socket, code: number, error: AppError): void {
  send(ws, { type: "error", code: error.code, message: error.message });
  ws.close(code, error.message.slice(0, 120));
}

/** A worker's agent certificate must at least parse, or every later dial would fail obscurely. */
function checkedCert(pem: string | null): string | null {
  if (pem === null) return null;
  try {
    fingerprint(pem);
  } catch {
    throw new AppError("E_PROTOCOL", "The agent certificate in hello is not a valid PEM certificate");
  }
  return pem;
}

/** Checks a hello and what it claims. @throws AppError E_PROTOCOL / E_USAGE, IdentityError for a name pinned to another key */
function claimOf(deps: JoinSessionDeps, peer: string, hello: Hello): Claim {
  if (hello.protocolVersion !== PROTOCOL_VERSION) {
    throw new AppError("E_PROTOCOL", `Protocol version ${hello.protocolVersion} is not supported; this master speaks ${PROTOCOL_VERSION}. Upgrade the older side.`);
  }
  validateNodeName(hello.name);
  if (hello.agentPort < 1 || hello.agentPort > 65535) throw new AppError("E_PROTOCOL", `Invalid agent port ${hello.agentPort}`);
  const address = hello.advertiseAddr
    ? formatHostPort(parseHostPort(hello.advertiseAddr, "advertise address"))
    : formatHostPort({ host: peer, port: hello.agentPort });
  const claim = { hello, address, agentCert: checkedCert(hello.agentCert), nonce: randomBytes(32).toString("base64url") };
  const pinned = deps.registry.keys.get(hello.name);
  if (pinned !== null && pinned !== hello.publicKey) throw keyRefused(deps, peer, hello.name);
  return claim;
}

/** The refusal of a join under a name pinned to another key, with the master's warning. */
function keyRefused(deps: JoinSessionDeps, peer: string, name: string): IdentityError {
  deps.log.warn(`node "${name}": refused a join from ${peer} with another key than the one pinned at its first join; if that host was replaced, remove the node (DELETE /api/v1/nodes/${name}) to let the new one join`);
  return new IdentityError(
    "E_CONFLICT",
    `The node name "${name}" belongs to another node: the master pinned a different key for it at its first join. If this host replaces that node, remove it first (multiverse nodes remove ${name}, or DELETE /api/v1/nodes/${name}); otherwise give this worker its own --name`,
  );
}

/** Joins a proven, verified node to the registry (pinning its key at its first join) and welcomes it. */
function admit(deps: JoinSessionDeps, ws: Socket, peer: string, claim: Claim): { id: string; name: string } {
  const { hello, address } = claim;
  const pinned = deps.registry.keys.pin(hello.name, hello.publicKey);
  // Two first joins under one name raced through verification: the first pin wins.
  if (pinned === "other") throw keyRefused(deps, peer, hello.name);
  const id = randomUUID();
  const agentToken = randomBytes(32).toString("base64url");
  const { replaced } = deps.registry.join({
    id,
    name: hello.name,
    address,
    version: hello.version,
    agentToken,
    agentCert: claim.agentCert,
    snapshot: {
      multipassVersion: hello.multipassVersion,
      multipassError: hello.multipassError,
      resources: hello.resources,
      allocated: hello.allocated,
      instances: hello.instances,
    },
    close: () => ws.close(JOIN_CLOSE.replaced, "replaced by a newer connection of the same node"),
  });
  send(ws, { type: "welcome", id, heartbeatMs: deps.heartbeatMs, agentToken });
  deps.counters.joins++;
  if (replaced) deps.counters.rejoins++;
  deps.members.add(ws);
  const again = replaced ? ` (replacing ${replaced.disconnectedAt === null ? "a live" : "its earlier"} connection)` : "";
  const tls = hello.agentCert ? ` (TLS, certificate ${fingerprint(hello.agentCert).slice(0, 23)}…)` : "";
  const key = pinned === "pinned" ? `, its key ${hello.publicKey.slice(0, 12)}… pinned` : "";
  deps.log.info(`node "${hello.name}" joined with id ${id}, agent at ${address}${tls}${key}${again}`);
  return { id, name: hello.name };
}

/** One worker connection; see the diagram at the top. */
export function createJoinSession(deps: JoinSessionDeps, peer: string): WsSession {
  const { registry, log, counters } = deps;
  let state: JoinState = "hello";
  let claim: Claim | null = null;
  let member: { id: string; name: string } | null = null;
  let helloTimer: ReturnType<typeof setTimeout> | undefined;

  const refuse = (ws: Socket, error: unknown, code: number = JOIN_CLOSE.protocol): void => {
    if (state === "closed") return;
    state = "closed";
    counters.rejected++;
    const e = error instanceof AppError ? error : new AppError("E_PROTOCOL", messageOf(error));
    const name = member?.name ?? claim?.hello.name;
    if (!(e instanceof IdentityError)) log.warn(`join socket from ${peer}${name ? ` (node "${name}")` : ""} closed: ${e.message}`);
    reject(ws, e instanceof IdentityError ? JOIN_CLOSE.identity : code, e);
  };

  /** verifying → joined: the agent proved the same key. */
  const verify = async (ws: Socket, proven: Claim): Promise<void> => {
    const { hello } = proven;
    try {
      await deps.verifyAgent({ name: hello.name, address: proven.address, agentCert: proven.agentCert, publicKey: hello.publicKey });
    } catch (error) {
      const e = error instanceof AppError && error.code === "E_UNAUTHORIZED" ? new IdentityError(error.code, error.message) : error;
      if (e instanceof IdentityError) log.warn(`node "${hello.name}": ${e.message} (join from ${peer})`);
      return refuse(ws, e);
    }
    if (state !== "verifying") return;
    try {
      member = admit(deps, ws, peer, proven);
      state = "joined";
    } catch (error) {
      refuse(ws, error);
    }
  };

  const receive = (ws: Socket, message: WorkerMessage): void => {
    if (state === "hello") {
      if (message.type !== "hello") throw new AppError("E_PROTOCOL", `Expected hello, got ${message.type}`);
      claim = claimOf(deps, peer, message);
      state = "proof";
      send(ws, { type: "challenge", nonce: claim.nonce });
      return;
    }
    if (state === "proof" && claim !== null) {
      if (message.type !== "proof") throw new AppError("E_PROTOCOL", `Expected the proof of the node's key, got ${message.type}`);
      const { hello } = claim;
      if (!verifyNodeSignature(hello.publicKey, joinProofText(claim.nonce, hello.name, hello.publicKey), message.signature)) {
        log.warn(`node "${hello.name}": refused a join from ${peer} whose proof does not match its key`);
        throw new IdentityError("E_UNAUTHORIZED", `The proof of node "${hello.name}" does not match its key: the join was refused`);
      }
      clearTimeout(helloTimer);
      state = "verifying";
      void verify(ws, claim);
      return;
    }
    if (state !== "joined" || member === null) throw new AppError("E_PROTOCOL", `Unexpected ${message.type} before the welcome`);
    if (message.type === "hello" || message.type === "proof") throw new AppError("E_PROTOCOL", `${message.type} sent twice`);
    if (message.type === "sessionEnded") {
      if (registry.current(member.id, member.name) === null) return void ws.close(JOIN_CLOSE.replaced, "membership replaced");
      const { type: _type, ...ended } = message;
      deps.onShellEnded?.(member.name, ended);
      return;
    }
    const ok =
      message.type === "state"
        ? (counters.states++, registry.update(member.id, member.name, message))
        : (counters.heartbeats++, registry.heartbeat(member.id, member.name, message.resources));
    if (!ok) ws.close(JOIN_CLOSE.replaced, "membership replaced");
  };

  return {
    open(ws) {
      helloTimer = setTimeout(() => refuse(ws, new AppError("E_PROTOCOL", "No hello and proof within the time limit"), JOIN_CLOSE.helloTimeout), HELLO_TIMEOUT_MS);
    },
    message(ws, raw) {
      if (state === "closed") return;
      try {
        if (typeof raw !== "string") throw new AppError("E_PROTOCOL", "The join socket carries text frames only");
        receive(ws, parseWorkerMessage(raw));
      } catch (error) {
        refuse(ws, error);
      }
    },
    close(ws, code) {
      clearTimeout(helloTimer);
      state = "closed";
      deps.members.delete(ws);
      if (member === null) return;
      const current = registry.current(member.id, member.name);
      registry.disconnect(member.id, member.name);
      if (current) log.warn(`node "${member.name}" disconnected (code ${code}); marked Down`);
    },
  };
}
