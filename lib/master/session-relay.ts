/**
 * The master's side of shells and execs: for each client session it opens
 * one WebSocket to the worker's agent and relays frames both ways, in order
 * (one {@link RelayedSession} each). It answers pings on each hop itself,
 * keeps a table of live sessions, and guarantees the client an `exit` frame
 * before the end — with a null code and an error when the node could not be
 * reached or went away.
 */
import { randomUUID } from "node:crypto";
import type { ConsolaInstance } from "consola";
import { DEFAULT_LIVENESS, type LivenessTimes } from "../net/liveness.ts";
import type { SessionSpec } from "../protocol/session.ts";
import type { NodeEntry } from "./registry.ts";
import { type SessionView } from "../protocol/api.ts";
import { RelayedSession } from "./relayed-session.ts";
import type { ClientEnd, RelayHandle, SessionOutcome } from "./session-ends.ts";

export interface SessionRelayDeps {
  log: ConsolaInstance;
  liveness?: LivenessTimes;
  /** How long a node may take to accept a session (default AGENT_HEADERS_MS, agent-client.ts). */
  connectMs?: number;
  /** How long a client may take no output before its session is ended (default OUTPUT_STALL_MS, relayed-session.ts). */
  stallMs?: number;
}

export interface SessionRelay {
  /**
   * Opens a session; `onEnd` hears how it ended, once.
   * @throws what the WebSocket constructor throws for the node's address.
   */
  open(node: NodeEntry, spec: SessionSpec, client: ClientEnd, onEnd: (outcome: SessionOutcome) => void): RelayHandle;
  /** The live sessions, oldest first. */
  list(): SessionView[];
}

export function createSessionRelay(deps: SessionRelayDeps): SessionRelay {
  const sessions = new Map<string, RelayedSession>();
  const times = deps.liveness ?? DEFAULT_LIVENESS;
  return {
    open(node, spec, client, onEnd) {
      const id = randomUUID();
      const session = new RelayedSession({ id, node, spec, client, times, ...(deps.connectMs === undefined ? {} : { connectMs: deps.connectMs }), ...(deps.stallMs === undefined ? {} : { stallMs: deps.stallMs }), log: deps.log, onEnd, onEnded: () => sessions.delete(id) });
      sessions.set(id, session);
      deps.log.info(`session ${id}: ${spec.kind} on ${spec.instance}@${node.name} opened`);
      return session;
    },
    list: () =>
      [...sessions.values()]
        .map((s) => s.view)
        .sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : 0)),
  };
}
