/**
 * The master's side of shells and execs: for each client session it opens
 * one WebSocket to the worker's agent and relays frames both ways, in order.
 * It answers pings on each hop itself, keeps a table of live sessions, and
 * guarantees the client an `exit` frame before the end — with a null code
 * and an error when the node could not be reached or went away.
 */
import { randomUUID } from "node:crypto";
import type { ConsolaInstance } from "consola";
import { agentEndpoint } from "./agent-client.ts";
import { AppError, messageOf, type ErrorCode } from "../core/errors.ts";
import { DEFAULT_LIVENESS, watchPeer, type LivenessTimes } from "../net/liveness.ts";
import type { NodeEntry } from "./registry.ts";
import { controlFrame, parseSessionControl, SESSION_CLOSE, type SessionControl, type SessionKind, type SessionSpec } from "../protocol/session.ts";

/** The client side of a relayed session: a WebSocket, or a streamed HTTP answer. */
export interface ClientEnd {
  /** Program output; false when the client cannot take it (the session then ends). */
  binary(bytes: Uint8Array): boolean;
  control(message: SessionControl): void;
  close(code: number, reason: string): void;
  /**
   * Sends a protocol-level ping, which every WebSocket peer answers by itself
   * (websocat, browsers), beside the JSON one. Absent for a streamed HTTP
   * answer: it cannot answer pings, its end shows as a cancel, and it is not
   * watched for silence.
   */
  ping?(): void;
}

/** What the client side feeds into a session. */
export interface RelayHandle {
  input(bytes: Uint8Array): void;
  control(message: SessionControl): void;
  /** The client went away: the node hangs the program up. */
  clientGone(): void;
  /** The client answered a protocol-level ping. */
  heard(): void;
}

/** `GET /api/v1/sessions` item. */
export interface SessionView {
  id: string;
  node: string;
  instance: string;
  kind: SessionKind;
  tty: boolean;
  since: string;
  size: { cols: number; rows: number };
}

export interface SessionRelayDeps {
  log: ConsolaInstance;
  liveness?: LivenessTimes;
}

/** Input held while the node's socket opens; a client that types faster than that is unusual. */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;

/** How a session ended: the program's exit status, or why there is none. */
export interface SessionOutcome {
  exitCode: number | null;
  /** Set when the program did not report a status (node lost, client gone, refused, …). */
  error: { code: ErrorCode; message: string } | null;
}

export interface SessionRelay {
  /** Opens a session; `onEnd` hears how it ended, once. */
  open(node: NodeEntry, spec: SessionSpec, client: ClientEnd, onEnd?: (outcome: SessionOutcome) => void): RelayHandle;
  list(): SessionView[];
}

export function createSessionRelay(deps: SessionRelayDeps): SessionRelay {
  const sessions = new Map<string, SessionView>();
  const times = deps.liveness ?? DEFAULT_LIVENESS;

  function open(node: NodeEntry, spec: SessionSpec, client: ClientEnd, onEnd?: (outcome: SessionOutcome) => void): RelayHandle {
    const id = randomUUID();
    const view: SessionView = {
      id,
      node: node.name,
      instance: spec.instance,
      kind: spec.kind,
      tty: spec.tty,
      since: new Date().toISOString(),
      size: { cols: spec.cols, rows: spec.rows },
    };
    sessions.set(id, view);
    deps.log.info(`session ${id}: ${spec.kind} on ${spec.instance}@${node.name} opened`);

    let opened = false;
    let ended = false;
    let exitSeen = false;
    /** The program's status, and the first error the node or the relay reported. */
    let exitCode: number | null = null;
    let firstError: { code: ErrorCode; message: string } | null = null;
    const pending: (string | Uint8Array)[] = [];
    let pendingBytes = 0;

    const endpoint = agentEndpoint(node, "ws");
    const agent = new WebSocket(`${endpoint.url}/agent/v1/session`, {
      headers: { authorization: `Bearer ${node.agentToken}` },
      ...(endpoint.tls ? { tls: endpoint.tls } : {}),
    });
    agent.binaryType = "arraybuffer";

    const toAgent = (frame: string | Uint8Array) => {
      if (ended) return;
      if (opened) {
        agent.send(frame);
        return;
      }
      pendingBytes += typeof frame === "string" ? frame.length : frame.length;
      if (pendingBytes > MAX_PENDING_BYTES) return fail(new AppError("E_TOO_LARGE", "Too much input before the session started"));
      pending.push(frame);
    };

    const ping = client.ping?.bind(client);
    const clientLive =
      ping === undefined
        ? null
        : watchPeer(
            times,
            () => {
              client.control({ type: "ping" });
              ping();
            },
            () => {
              deps.log.warn(`session ${id}: the client went silent; ending it`);
              tellClient(new AppError("E_TIMEOUT", "The client stopped answering pings"));
              end("client silent");
              client.close(SESSION_CLOSE.peerTimeout, "peer timeout");
            },
          );
    const agentLive = watchPeer(
      times,
      () => toAgent(controlFrame({ type: "ping" })),
      () => fail(new AppError("E_UNREACHABLE", `Node "${node.name}" stopped answering`)),
    );

    function end(why: string) {
      if (ended) return;
      ended = true;
      onEnd?.({ exitCode, error: exitCode !== null ? null : (firstError ?? { code: "E_CANCELLED", message: `ended before the program did (${why})` }) });
      clientLive?.stop();
      agentLive.stop();
      sessions.delete(id);
      if (agent.readyState === WebSocket.OPEN || agent.readyState === WebSocket.CONNECTING) agent.close(SESSION_CLOSE.exit, why.slice(0, 100));
      deps.log.info(`session ${id}: ended (${why})`);
    }

    /** Sends `error` and a null `exit`, unless the node's own exit went out already. */
    function tellClient(error: AppError) {
      firstError ??= { code: error.code, message: error.message };
      if (exitSeen) return;
      client.control({ type: "error", code: error.code, message: error.message });
      client.control({ type: "exit", code: null });
      exitSeen = true;
    }

    /** Ends the session with an error the client is told about. */
    function fail(error: AppError) {
      if (ended) return;
      tellClient(error);
      end(error.message);
      client.close(SESSION_CLOSE.exit, "exit");
    }

    agent.onopen = () => {
      opened = true;
      agent.send(JSON.stringify({ type: "start", ...spec }));
      for (const frame of pending.splice(0)) agent.send(frame);
      pendingBytes = 0;
    };
    agent.onmessage = (event) => {
      agentLive.heard();
      if (ended) return;
      if (typeof event.data !== "string") {
        if (!client.binary(new Uint8Array(event.data as ArrayBuffer))) fail(new AppError("E_UNREACHABLE", "The client could not keep up with the output"));
        return;
      }
      let message: SessionControl;
      try {
        message = parseSessionControl(event.data);
      } catch (error) {
        return fail(new AppError("E_PROTOCOL", `Node "${node.name}" sent a bad control frame: ${messageOf(error)}`));
      }
      if (message.type === "ping") toAgent(controlFrame({ type: "pong" }));
      else if (message.type === "exit" || message.type === "error") {
        if (message.type === "exit") {
          exitSeen = true;
          exitCode = message.code;
          // Nothing follows the exit on the client's side, not even a ping.
          clientLive?.stop();
        } else firstError ??= { code: message.code, message: message.message };
        client.control(message);
      }
    };
    agent.onclose = (event) => {
      if (ended) return;
      if (!exitSeen) {
        const what = opened ? `Lost the connection to node "${node.name}"` : `Cannot open a session on node "${node.name}" at ${node.address}`;
        return fail(new AppError("E_UNREACHABLE", `${what} (code ${event.code})`));
      }
      end("exit");
      client.close(SESSION_CLOSE.exit, "exit");
    };

    return {
      input(bytes) {
        clientLive?.heard();
        toAgent(bytes);
      },
      control(message) {
        clientLive?.heard();
        switch (message.type) {
          case "ping":
            client.control({ type: "pong" });
            break;
          case "resize":
            view.size = { cols: message.cols, rows: message.rows };
            toAgent(controlFrame(message));
            break;
          case "eof":
            toAgent(controlFrame(message));
            break;
          default:
            break;
        }
      },
      clientGone: () => end("client left"),
      heard: () => clientLive?.heard(),
    };
  }

  return {
    open,
    list: () => [...sessions.values()].sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : 0)),
  };
}
