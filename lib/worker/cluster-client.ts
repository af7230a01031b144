/**
 * The worker's side of the join socket (the cluster client). This module
 * alone owns the connection and its reconnects: it joins, pushes state
 * changes and heartbeats, and when the master goes away it reconnects
 * forever with capped, jittered backoff — a loop, not recursion, holding one
 * socket and a fixed set of timers at a time.
 *
 * Joining is `hello` (the name and the node's public key), the master's
 * `challenge`, the worker's `proof` (its key's signature of the nonce), then
 * `welcome`: the name is bound to the key, and a proof is good for one
 * connection only.
 *
 * The link is a state machine:
 *
 *     idle ──▶ connecting ──welcome──▶ joined
 *                  ▲   │                 │
 *                  │   └─── socket ends ─┴──▶ backing-off
 *                  └────────────────────────────────┘
 *
 * and any state goes to `stopped` once the worker shuts down.
 * {@link classifyEnd} alone decides what an ended connection means for the
 * next attempt.
 */
import type { ShellEndOutbox } from "./shell-ends.ts";
import type { ConsolaInstance } from "consola";
import { AppError, describeNetworkError, messageOf } from "../core/errors.ts";
import type { HostMonitor } from "./host-monitor.ts";
import { WS_CLOSE } from "../protocol/close.ts";
import {
  JOIN_CLOSE,
  PROTOCOL_VERSION,
  parseMasterMessage,
  type HostSnapshot,
  type MasterMessage,
  type WorkerMessage,
} from "../protocol/join.ts";
import { joinProofText } from "../protocol/identity.ts";
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffPolicy } from "../core/backoff.ts";
import { fetchPeer } from "../net/fetch.ts";
import type { NodeKey } from "../net/node-key.ts";

export interface LinkDeps {
  /** Base URL of the master's cluster server, `http://host:port`. */
  masterUrl: string;
  joinToken: string;
  name: string;
  /** The node's key: its public half goes in hello, and it signs the master's challenge. */
  key: NodeKey;
  agentPort: number;
  advertiseAddr: string | null;
  /** PEM of the agent server's certificate, when it serves TLS. */
  agentCert?: string | null;
  /** TLS options for reaching the master (its CA), when it serves TLS. */
  masterTls?: { ca: string };
  version: string;
  monitor: HostMonitor;
  log: ConsolaInstance;
  /** Told the agent secret of each membership, and null when it ends. */
  onMembership: (agentToken: string | null) => void;
  backoff?: BackoffPolicy;
  /** The ends of kept shells, sent to the master while joined. */
  shellEnds?: ShellEndOutbox;
}

/** Where the link is. */
export type LinkState = "idle" | "connecting" | "joined" | "backing-off" | "stopped";

const TRANSITIONS: Readonly<Record<LinkState, readonly LinkState[]>> = {
  idle: ["connecting", "stopped"],
  connecting: ["joined", "backing-off"],
  joined: ["backing-off"],
  "backing-off": ["connecting", "stopped"],
  stopped: [],
};

/** How one connection ended. */
export interface LinkEnd {
  /** Whether the master had welcomed it. */
  welcomed: boolean;
  code: number;
  reason: string;
  /** The master's own explanation, when it sent one before closing. */
  error: string | null;
}

/**
 * What an ended connection means for the next attempt. Every end but a
 * shutdown is retried — a worker outlives any master outage or
 * misconfiguration, and says why in its log:
 * - `stop`: the worker is shutting down;
 * - `replaced`: another worker joined under this name; the backoff keeps
 *   growing, or the two would take turns at once;
 * - `lost`: a joined link broke; the backoff starts over;
 * - `refused`: the master never welcomed it; the backoff keeps growing.
 */
export type Reconnect = "stop" | "replaced" | "lost" | "refused";

/** The one place that decides what an ended connection means (see {@link Reconnect}). */
export function classifyEnd(end: LinkEnd, shuttingDown: boolean): Reconnect {
  if (shuttingDown) return "stop";
  if (end.welcomed && end.code === JOIN_CLOSE.replaced) return "replaced";
  return end.welcomed ? "lost" : "refused";
}

/** Connection attempts before the first welcome that may take this long. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Heartbeat intervals of silence after which the master counts as lost (it beats every interval). */
const SILENT_HEARTBEATS = 4;

/** How long the master's ping route may take to explain a refused join. */
const DIAGNOSE_TIMEOUT_MS = 5_000;

/** The socket of one connection and what belongs to it alone. */
interface Connection {
  ws: WebSocket;
  masterError: string | null;
  /** Whether the master's challenge has been answered: one per connection. */
  proved: boolean;
  lastSent: number;
  lastHeard: number;
  connectTimer?: ReturnType<typeof setTimeout>;
  heartbeat?: ReturnType<typeof setInterval>;
  unsubscribe: () => void;
  /** Unhooks the shutdown signal. */
  release: () => void;
  resolve: (end: LinkEnd) => void;
}

/** The join link of one worker; see the diagram at the top. */
export class ClusterClient {
  #state: LinkState = "idle";
  /** The current connection; null between connections. Events of any other socket are stale. */
  #connection: Connection | null = null;
  /** The last reason a join failed, said once at warn level. */
  #lastProblem = "";
  readonly #deps: LinkDeps;

  constructor(deps: LinkDeps) {
    this.#deps = deps;
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Keeps the worker joined until `signal` aborts. Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    const deps = this.#deps;
    let attempt = 0;
    for (;;) {
      if (signal.aborted) break;
      const end = await this.#connect(signal);
      deps.onMembership(null);
      const next = classifyEnd(end, signal.aborted);
      if (next === "stop") break;
      if (next === "lost") attempt = 0;
      await this.#report(next, end);
      await sleep(backoffDelay(attempt++, deps.backoff ?? DEFAULT_BACKOFF), signal);
    }
    this.#to("stopped");
  }

  #to(next: LinkState): void {
    if (!TRANSITIONS[this.#state].includes(next)) throw new AppError("E_INTERNAL", `join link: no transition from ${this.#state} to ${next}`);
    this.#state = next;
  }

  /** → connecting: dials the master; resolves when that connection has ended, whatever ended it. */
  #connect(signal: AbortSignal): Promise<LinkEnd> {
    const deps = this.#deps;
    this.#to("connecting");
    return new Promise((resolve) => {
      const url = deps.masterUrl.replace(/^http/, "ws") + "/cluster/v1/join";
      let ws: WebSocket;
      try {
        ws = new WebSocket(url, { headers: { authorization: `Bearer ${deps.joinToken}` }, ...(deps.masterTls ? { tls: deps.masterTls } : {}) });
      } catch (error) {
        this.#to("backing-off");
        resolve({ welcomed: false, code: 0, reason: "", error: messageOf(error) });
        return;
      }
      const onAbort = (): void => {
        ws.close(JOIN_CLOSE.shutdown, "worker shutting down");
        this.#drop(connection, { code: JOIN_CLOSE.shutdown, reason: "worker shutting down", error: null });
      };
      const connection: Connection = {
        ws,
        masterError: null,
        proved: false,
        lastSent: 0,
        lastHeard: Date.now(),
        unsubscribe: () => {},
        release: () => signal.removeEventListener("abort", onAbort),
        resolve,
      };
      this.#connection = connection;
      connection.connectTimer = setTimeout(() => {
        ws.terminate();
        this.#drop(connection, { code: JOIN_CLOSE.helloTimeout, reason: "no welcome in time", error: connection.masterError });
      }, CONNECT_TIMEOUT_MS);
      signal.addEventListener("abort", onAbort, { once: true });
      ws.onopen = () => this.#hello(connection);
      ws.onmessage = (event) => this.#receive(connection, event.data);
      ws.onclose = (event) => this.#drop(connection, { code: event.code, reason: event.reason, error: connection.masterError });
    });
  }

  /**
   * connecting|joined → backing-off: ends the connection now, even if the
   * close handshake never completes (a cut-off master).
   */
  #drop(connection: Connection, end: Omit<LinkEnd, "welcomed">): void {
    if (connection !== this.#connection) return;
    const welcomed = this.#state === "joined";
    this.#connection = null;
    this.#to("backing-off");
    clearTimeout(connection.connectTimer);
    clearInterval(connection.heartbeat);
    connection.unsubscribe();
    connection.release();
    connection.resolve({ welcomed, ...end });
  }

  #send(connection: Connection, message: WorkerMessage): void {
    if (connection.ws.readyState !== WebSocket.OPEN) return;
    connection.ws.send(JSON.stringify(message));
    connection.lastSent = Date.now();
  }

  #hello(connection: Connection): void {
    if (connection !== this.#connection) return;
    const deps = this.#deps;
    const snapshot = deps.monitor.current();
    if (!snapshot) return connection.ws.close(WS_CLOSE.internalError, "no host snapshot yet");
    this.#send(connection, {
      type: "hello",
      protocolVersion: PROTOCOL_VERSION,
      name: deps.name,
      publicKey: deps.key.publicKey,
      agentPort: deps.agentPort,
      advertiseAddr: deps.advertiseAddr,
      agentCert: deps.agentCert ?? null,
      version: deps.version,
      ...snapshot,
    });
  }

  #receive(connection: Connection, data: unknown): void {
    if (connection !== this.#connection) return;
    connection.lastHeard = Date.now();
    try {
      if (typeof data !== "string") throw new AppError("E_PROTOCOL", "binary frame on the join socket");
      const message = parseMasterMessage(data);
      if (message.type === "error") connection.masterError = message.message;
      else if (message.type === "challenge") this.#prove(connection, message.nonce);
      else if (message.type === "welcome") this.#welcome(connection, message);
    } catch (error) {
      this.#deps.log.warn(`master sent something unexpected: ${messageOf(error)}`);
      connection.ws.close(JOIN_CLOSE.protocol, "protocol error");
    }
  }

  /** Answers the master's challenge with the key's signature; one challenge per connection, before the welcome. */
  #prove(connection: Connection, nonce: string): void {
    if (this.#state !== "connecting" || connection.proved) throw new AppError("E_PROTOCOL", "unexpected challenge");
    connection.proved = true;
    const { key, name } = this.#deps;
    this.#send(connection, { type: "proof", signature: key.sign(joinProofText(nonce, name, key.publicKey)) });
  }

  /** connecting → joined: the membership starts, and with it state pushes and heartbeats. */
  #welcome(connection: Connection, welcome: Extract<MasterMessage, { type: "welcome" }>): void {
    const deps = this.#deps;
    if (this.#state === "joined") throw new AppError("E_PROTOCOL", "second welcome");
    this.#to("joined");
    clearTimeout(connection.connectTimer);
    deps.onMembership(welcome.agentToken);
    deps.log.info(`joined with id ${welcome.id}`);
    const sendState = (snapshot: HostSnapshot) => this.#send(connection, { type: "state", ...snapshot });
    // A change between hello and welcome would otherwise wait for the next one.
    const now = deps.monitor.current();
    if (now) sendState(now);
    const unsubscribe = deps.monitor.onChange(sendState);
    const stopEnds = this.#sendShellEnds(connection);
    connection.unsubscribe = () => {
      unsubscribe();
      stopEnds();
    };
    const tick = Math.max(50, Math.floor(welcome.heartbeatMs / 2));
    connection.heartbeat = setInterval(() => this.#beat(connection, welcome.heartbeatMs), tick);
  }

  /** Sends the ends of kept shells, those pending and those to come, while this membership lasts. */
  #sendShellEnds(connection: Connection): () => void {
    const outbox = this.#deps.shellEnds;
    if (!outbox) return () => {};
    const flush = () => {
      const { ends, dropped } = outbox.take();
      if (dropped > 0) this.#deps.log.warn(`${dropped} kept shell end(s) were not reported to the master: more than ${outbox.max} waited for a join`);
      for (const ended of ends) this.#send(connection, { type: "sessionEnded", ...ended });
    };
    flush();
    return outbox.listen(flush);
  }

  /** Sends a heartbeat when the socket has been quiet, and leaves a master that has been silent too long. */
  #beat(connection: Connection, heartbeatMs: number): void {
    const deps = this.#deps;
    if (Date.now() - connection.lastHeard > SILENT_HEARTBEATS * heartbeatMs) {
      deps.log.warn(`the master at ${deps.masterUrl} has been silent for ${SILENT_HEARTBEATS} heartbeat intervals; reconnecting`);
      connection.ws.terminate();
      this.#drop(connection, { code: JOIN_CLOSE.masterSilent, reason: "master silent", error: null });
      return;
    }
    const snapshot = deps.monitor.current();
    if (snapshot && Date.now() - connection.lastSent >= heartbeatMs * 0.9) {
      this.#send(connection, { type: "heartbeat", resources: snapshot.resources });
    }
  }

  /** Says what happened to the connection, each distinct join problem once at warn level. */
  async #report(next: Exclude<Reconnect, "stop">, end: LinkEnd): Promise<void> {
    const deps = this.#deps;
    const { log } = deps;
    if (next === "replaced") {
      log.error(`another worker joined the master as "${deps.name}" and replaced this one; if two hosts share that name, give each its own --name. Retrying with backoff`);
      this.#lastProblem = "";
    } else if (next === "lost") {
      this.#lastProblem = "";
      log.warn(`lost the master at ${deps.masterUrl} (code ${end.code}${end.reason ? `: ${end.reason}` : ""}); reconnecting`);
    } else {
      const problem = end.error ?? (await diagnose(deps));
      // Repeats would flood the log during a long outage.
      if (problem !== this.#lastProblem) log.warn(`cannot join the master at ${deps.masterUrl}: ${problem}; retrying`);
      else log.debug(`still cannot join: ${problem}`);
      this.#lastProblem = problem;
    }
  }
}

/** Keeps the worker joined until `signal` aborts. Never rejects. */
export function runMasterLink(deps: LinkDeps, signal: AbortSignal): Promise<void> {
  return new ClusterClient(deps).run(signal);
}

/**
 * Explains a failed join. A refused WebSocket upgrade is only a 1006 close to
 * the client, so ask the master's ping route, which answers with a status.
 */
async function diagnose(deps: LinkDeps): Promise<string> {
  try {
    const response = await fetchPeer(fetch, {
      url: `${deps.masterUrl}/cluster/v1/ping`,
      token: deps.joinToken,
      ...(deps.masterTls ? { tls: deps.masterTls } : {}),
      signal: AbortSignal.timeout(DIAGNOSE_TIMEOUT_MS),
    });
    if (response.status === 401) return "the master refused the join token";
    if (!response.ok) return `the master answered HTTP ${response.status}`;
    return "the join socket was refused although the master answers";
  } catch (error) {
    return `master unreachable (${describeNetworkError(error)})`;
  }
}
