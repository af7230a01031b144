/**
 * The worker's side of the join socket. One module owns the connection: it
 * joins, pushes state changes and heartbeats, and when the master goes away
 * it reconnects forever with capped, jittered backoff — a loop, not
 * recursion, holding one socket and a fixed set of timers at a time.
 */
import type { ConsolaInstance } from "consola";
import { AppError, messageOf } from "../core/errors.ts";
import type { HostMonitor } from "./host-monitor.ts";
import { JOIN_CLOSE, PROTOCOL_VERSION, parseMasterMessage, type HostSnapshot, type WorkerMessage } from "../protocol/join.ts";
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffPolicy } from "../core/backoff.ts";

export interface LinkDeps {
  /** Base URL of the master's cluster server, `http://host:port`. */
  masterUrl: string;
  joinToken: string;
  name: string;
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
}

/** How a session ended. */
interface SessionEnd {
  welcomed: boolean;
  code: number;
  reason: string;
  /** The master's own explanation, when it sent one before closing. */
  error: string | null;
}

/** Connection attempts before the first welcome that may take this long. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Heartbeat intervals of silence after which the master counts as lost (it beats every interval). */
const SILENT_HEARTBEATS = 4;

/**
 * Keeps the worker joined until `signal` aborts. Never rejects.
 */
export async function runMasterLink(deps: LinkDeps, signal: AbortSignal): Promise<void> {
  const { log } = deps;
  let attempt = 0;
  let lastProblem = "";
  while (!signal.aborted) {
    const end = await runSession(deps, signal);
    deps.onMembership(null);
    if (signal.aborted) break;
    if (end.welcomed && end.code === JOIN_CLOSE.replaced) {
      // Another process joined under this name. Rejoining at once would just take turns with it,
      // so keep backing off (up to the cap) until one of the two is renamed or stopped.
      log.error(`another worker joined the master as "${deps.name}" and replaced this one; if two hosts share that name, give each its own --name. Retrying with backoff`);
      lastProblem = "";
    } else if (end.welcomed) {
      attempt = 0;
      lastProblem = "";
      log.warn(`lost the master at ${deps.masterUrl} (code ${end.code}${end.reason ? `: ${end.reason}` : ""}); reconnecting`);
    } else {
      const problem = end.error ?? (await diagnose(deps));
      // Say each distinct problem once at warn level; repeats would flood the log during a long outage.
      if (problem !== lastProblem) log.warn(`cannot join the master at ${deps.masterUrl}: ${problem}; retrying`);
      else log.debug(`still cannot join: ${problem}`);
      lastProblem = problem;
    }
    await sleep(backoffDelay(attempt++, deps.backoff ?? DEFAULT_BACKOFF), signal);
  }
}

function runSession(deps: LinkDeps, signal: AbortSignal): Promise<SessionEnd> {
  const { log, monitor } = deps;
  return new Promise((resolve) => {
    const url = deps.masterUrl.replace(/^http/, "ws") + "/cluster/v1/join";
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, { headers: { authorization: `Bearer ${deps.joinToken}` }, ...(deps.masterTls ? { tls: deps.masterTls } : {}) });
    } catch (error) {
      resolve({ welcomed: false, code: 0, reason: "", error: messageOf(error) });
      return;
    }
    let welcomed = false;
    let masterError: string | null = null;
    let lastSent = 0;
    let lastHeard = Date.now();
    let ended = false;
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    let unsubscribe: () => void = () => {};
    const connectTimer = setTimeout(() => {
      ws.terminate();
      finish({ welcomed: false, code: 4003, reason: "no welcome in time", error: masterError });
    }, CONNECT_TIMEOUT_MS);
    const onAbort = () => {
      ws.close(1001, "worker shutting down");
      finish({ welcomed, code: 1001, reason: "worker shutting down", error: null });
    };
    /** Ends the session now, even if the close handshake never completes (a cut-off master). */
    const finish = (end: SessionEnd) => {
      if (ended) return;
      ended = true;
      clearTimeout(connectTimer);
      clearInterval(heartbeat);
      unsubscribe();
      signal.removeEventListener("abort", onAbort);
      resolve(end);
    };
    signal.addEventListener("abort", onAbort, { once: true });

    const send = (message: WorkerMessage) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(JSON.stringify(message));
      lastSent = Date.now();
    };
    const sendState = (snapshot: HostSnapshot) => send({ type: "state", ...snapshot });

    ws.onopen = () => {
      const snapshot = monitor.current();
      if (!snapshot) return ws.close(1011, "no host snapshot yet");
      send({
        type: "hello",
        protocolVersion: PROTOCOL_VERSION,
        name: deps.name,
        agentPort: deps.agentPort,
        advertiseAddr: deps.advertiseAddr,
        agentCert: deps.agentCert ?? null,
        version: deps.version,
        ...snapshot,
      });
    };
    ws.onmessage = (event) => {
      lastHeard = Date.now();
      try {
        if (typeof event.data !== "string") throw new AppError("E_PROTOCOL", "binary frame on the join socket");
        const message = parseMasterMessage(event.data);
        if (message.type === "error") {
          masterError = message.message;
          return;
        }
        if (message.type === "heartbeat") return;
        if (welcomed) throw new AppError("E_PROTOCOL", "second welcome");
        welcomed = true;
        clearTimeout(connectTimer);
        deps.onMembership(message.agentToken);
        log.info(`joined with id ${message.id}`);
        // A change between hello and welcome would otherwise wait for the next one.
        const now = monitor.current();
        if (now) sendState(now);
        unsubscribe = monitor.onChange(sendState);
        heartbeat = setInterval(
          () => {
            if (Date.now() - lastHeard > SILENT_HEARTBEATS * message.heartbeatMs) {
              log.warn(`the master at ${deps.masterUrl} has been silent for ${SILENT_HEARTBEATS} heartbeat intervals; reconnecting`);
              ws.terminate();
              finish({ welcomed, code: 4005, reason: "master silent", error: null });
              return;
            }
            const snapshot = monitor.current();
            if (snapshot && Date.now() - lastSent >= message.heartbeatMs * 0.9) {
              send({ type: "heartbeat", resources: snapshot.resources });
            }
          },
          Math.max(50, Math.floor(message.heartbeatMs / 2)),
        );
      } catch (error) {
        log.warn(`master sent something unexpected: ${messageOf(error)}`);
        ws.close(4002, "protocol error");
      }
    };
    ws.onclose = (event) => finish({ welcomed, code: event.code, reason: event.reason, error: masterError });
  });
}

/**
 * Explains a failed join. A refused WebSocket upgrade is only a 1006 close to
 * the client, so ask the master's ping route, which answers with a status.
 */
async function diagnose(deps: LinkDeps): Promise<string> {
  try {
    const response = await fetch(`${deps.masterUrl}/cluster/v1/ping`, {
      ...(deps.masterTls ? { tls: deps.masterTls } : {}),
      headers: { authorization: `Bearer ${deps.joinToken}` },
      signal: AbortSignal.timeout(5_000),
    });
    if (response.status === 401) return "the master refused the join token";
    if (!response.ok) return `the master answered HTTP ${response.status}`;
    return "the join socket was refused although the master answers";
  } catch (error) {
    return `master unreachable (${messageOf(error)})`;
  }
}
