/**
 * What the page knows of the cluster: the last snapshot of the watch stream
 * and the newest audit records (at most {@link MAX_EVENTS}), with listeners.
 * Pure: no DOM, no sockets.
 */
import type { InstanceView, NodeView } from "../protocol/api.ts";
import type { AuditEvent } from "../protocol/audit.ts";

/** The most audit records the page holds: a page left open for a week stays small. */
export const MAX_EVENTS = 1000;

export type LiveState = "connecting" | "live" | "reconnecting";

export interface Store {
  nodes: NodeView[];
  instances: InstanceView[];
  /** Newest first, unique by id. */
  events: AuditEvent[];
  /** Whether a snapshot has arrived since the page loaded. */
  loaded: boolean;
  live: LiveState;
  /** Whether the initial page of the audit trail was read. */
  eventsLoaded: boolean;
}

export type Change = "snapshot" | "events" | "live";

export function createStore() {
  const state: Store = { nodes: [], instances: [], events: [], loaded: false, live: "connecting", eventsLoaded: false };
  const listeners = new Set<(change: Change) => void>();
  const emit = (change: Change) => {
    for (const listener of [...listeners]) listener(change);
  };
  return {
    state,
    /** Listens until the returned function is called. */
    subscribe(listener: (change: Change) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    /** A snapshot replaces what the page knew, whole. */
    setSnapshot(nodes: NodeView[], instances: InstanceView[]): void {
      state.nodes = nodes;
      state.instances = instances;
      state.loaded = true;
      emit("snapshot");
    },
    addEvents(events: readonly AuditEvent[]): void {
      state.events = mergeEvents(state.events, events);
      emit("events");
    },
    setEventsLoaded(): void {
      state.eventsLoaded = true;
      emit("events");
    },
    setLive(live: LiveState): void {
      if (state.live === live) return;
      state.live = live;
      emit("live");
    },
  };
}

export type StoreHandle = ReturnType<typeof createStore>;

/** `current` and `incoming` merged: unique by id, newest (highest id) first, at most {@link MAX_EVENTS}. */
export function mergeEvents(current: readonly AuditEvent[], incoming: readonly AuditEvent[], max = MAX_EVENTS): AuditEvent[] {
  const byId = new Map<number, AuditEvent>();
  for (const e of current) byId.set(e.id, e);
  for (const e of incoming) byId.set(e.id, e);
  return [...byId.values()].sort((a, b) => b.id - a.id).slice(0, max);
}
