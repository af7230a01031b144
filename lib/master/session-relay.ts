/**
 * The master's side of shells and execs: for each client session it opens
 * one WebSocket to the worker's agent and relays frames both ways, in order
 * (one {@link RelayedSession} each). It answers pings on each hop itself,
 * keeps a table of live sessions, and guarantees the client an `exit` frame
 * before the end — with a null code and an error when the node could not be
 * reached or went away — or, for a shell its node keeps (issue 12), a
 * `detached` one.
 *
 * A shell's start frame carries its session id and its opener's token id, so
 * the node may keep it past its client; an attach takes a kept shell back (or
 * watches it, read-only) through a relay of its own under the shell's id.
 */
import { randomUUID } from "node:crypto";
import type { ConsolaInstance } from "consola";
import { DEFAULT_LIVENESS, type LivenessTimes } from "../net/liveness.ts";
import type { KeptSessionView } from "../protocol/agent.ts";
import type { AttachSpec, SessionSpec, SessionStart } from "../protocol/session.ts";
import type { NodeEntry } from "./registry.ts";
import { type SessionView } from "../protocol/api.ts";
import { RelayedSession } from "./relayed-session.ts";
import type { ClientEnd, RelayHandle, SessionOutcome } from "./session-ends.ts";

export interface SessionRelayDeps {
  log: ConsolaInstance;
  liveness?: LivenessTimes;
  /** How long a node may take to accept a session (default AGENT_HEADERS_MS, agent-client.ts). */
  connectMs?: number;
  /** How long a client may take no output before its session is ended (default OUTPUT_STALL_MS, relay-flow.ts). */
  stallMs?: number;
}

export interface SessionRelay {
  /**
   * Opens a session; `onEnd` hears how it ended, once. A shell is opened
   * under `spec.id` (a fresh id when absent) and, with `spec.owner`, is one
   * its node may keep; an exec's start frame carries neither.
   * @throws what the WebSocket constructor throws for the node's address.
   */
  open(node: NodeEntry, spec: SessionSpec, client: ClientEnd, onEnd: (outcome: SessionOutcome) => void): RelayHandle;
  /**
   * Attaches `client` to the shell `kept` that `node` keeps, as `spec` asks
   * (the node checks the owner); `onEnd` hears how it ended, once.
   * @throws what the WebSocket constructor throws for the node's address.
   */
  attach(node: NodeEntry, kept: KeptSessionView, spec: AttachSpec, client: ClientEnd, onEnd: (outcome: SessionOutcome) => void): RelayHandle;
  /** The live sessions, oldest first, one row per session id (its read-only attaches counted as viewers). */
  list(): SessionView[];
}

export function createSessionRelay(deps: SessionRelayDeps): SessionRelay {
  /** By relay: a kept shell may have several at once (its writer and its viewers). */
  const relays = new Map<string, RelayedSession>();
  const times = deps.liveness ?? DEFAULT_LIVENESS;
  const start = (node: NodeEntry, wire: SessionStart, view: SessionView, client: ClientEnd, onEnd: (outcome: SessionOutcome) => void) => {
    const key = randomUUID();
    const session = new RelayedSession({
      node,
      start: wire,
      view,
      client,
      times,
      ...(deps.connectMs === undefined ? {} : { connectMs: deps.connectMs }),
      ...(deps.stallMs === undefined ? {} : { stallMs: deps.stallMs }),
      log: deps.log,
      onEnd,
      onEnded: () => relays.delete(key),
    });
    relays.set(key, session);
    return session;
  };
  return {
    open(node, spec, client, onEnd) {
      const id = spec.id ?? randomUUID();
      const { id: _id, owner, ...plain } = spec;
      const wire: SessionSpec = spec.kind === "shell" ? { ...plain, id, ...(owner === undefined ? {} : { owner }) } : plain;
      const view = newView(id, node, spec.instance, spec.kind, spec.tty, spec.cols, spec.rows, owner ?? null);
      const session = start(node, wire, view, client, onEnd);
      deps.log.info(`session ${id}: ${spec.kind} on ${spec.instance}@${node.name} opened`);
      return session;
    },
    attach(node, kept, spec, client, onEnd) {
      const view = { ...newView(kept.id, node, kept.instance, "shell", true, spec.cols, spec.rows, kept.owner), since: kept.startedAt, state: "attached" as const };
      const session = start(node, spec, view, client, onEnd);
      deps.log.info(`session ${kept.id}: ${spec.readOnly ? "watched (read-only)" : "attached"} on ${kept.instance}@${node.name}`);
      return session;
    },
    list() {
      const rows = new Map<string, SessionView>();
      const all = [...relays.values()];
      for (const s of all.filter((r) => !r.readOnly)) rows.set(s.view.id, { ...s.view });
      for (const s of all.filter((r) => r.readOnly)) {
        const row = rows.get(s.view.id);
        if (row === undefined) rows.set(s.view.id, { ...s.view, viewers: 1 });
        else row.viewers += 1;
      }
      return [...rows.values()].sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : 0));
    },
  };
}

function newView(id: string, node: NodeEntry, instance: string, kind: SessionView["kind"], tty: boolean, cols: number, rows: number, owner: string | null): SessionView {
  return {
    id,
    node: node.name,
    instance,
    kind,
    tty,
    since: new Date().toISOString(),
    size: { cols, rows },
    owner,
    state: "running",
    mine: false,
    lastActivityAt: null,
    detachedUntil: null,
    viewers: 0,
  };
}
