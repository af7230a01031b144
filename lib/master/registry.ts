/**
 * The master's cache of the cluster: one entry per worker, with the last
 * state it reported. Pure bookkeeping with an injected clock; the cluster
 * server feeds it and the API reads it.
 *
 * Node states:
 * - `Ready`: connected, and something arrived within 3 heartbeat intervals;
 * - `NotReady`: connected, but silent for longer than that;
 * - `Down`: the connection is gone. The entry stays, with its last-known
 *   instances, until the worker rejoins or `downGraceMs` passes.
 *
 * The keys pinned to node names (node-keys.ts) outlive the entries: a node
 * dropped after its grace keeps its pin, and only `remove` forgets it.
 */
import { AppError } from "../core/errors.ts";
import type { InstanceSummary } from "../protocol/instances.ts";
import type { InstanceView, NodeView } from "../protocol/api.ts";
import type { HostResources, HostSnapshot, NodeState } from "../protocol/join.ts";
import { loadNodeKeys, type NodeKeys } from "./node-keys.ts";
import { createCordonStore, type CordonStore } from "./cordons.ts";
import { createLabelStore, type LabelStore } from "./labels.ts";
import { matchesSelector, type Labels, type Selector } from "../core/labels.ts";

/** Missed heartbeats after which a connected node is NotReady. */
export const MISSED_HEARTBEATS = 3;

export interface NodeEntry {
  /** Fresh per membership; a rejoin gets a new one. */
  readonly id: string;
  readonly name: string;
  /** HOST:PORT of the agent server. */
  readonly address: string;
  readonly version: string;
  /** The secret the master shows the agent server. */
  readonly agentToken: string;
  /** The agent server's certificate (PEM) when it serves TLS; pinned when the master dials it. */
  readonly agentCert: string | null;
  readonly joinedAt: number;
  lastSync: number;
  disconnectedAt: number | null;
  snapshot: HostSnapshot;
  /** Ends the membership's connection (used when a rejoin replaces it). */
  readonly close: () => void;
}

export interface RegistryOptions {
  now: () => number;
  heartbeatMs: number;
  /** How long a Down node stays listed. */
  downGraceMs: number;
  /** The keys pinned to node names; in memory only when not given. */
  nodeKeys?: NodeKeys;
  /** The labels of instances and nodes (labels.ts); in memory only when not given. */
  labels?: LabelStore;
  /** The nodes' cordons (cordons.ts); in memory only when not given. */
  cordons?: CordonStore;
}

export interface JoinInfo {
  id: string;
  name: string;
  address: string;
  version: string;
  agentToken: string;
  agentCert: string | null;
  snapshot: HostSnapshot;
  close: () => void;
}

/** What changed in a sweep, for logs. */
export interface Transition {
  name: string;
  from: NodeState;
  to: NodeState | "Removed";
}

/** An instance found by name, with the node that holds it. */
export interface ResolvedInstance {
  node: NodeEntry;
  instance: InstanceSummary;
}

/** One node's part of the `/instances` answer, kept until its instances or readiness change. */
interface Fragment {
  instances: InstanceSummary[];
  ready: boolean;
  labelsVersion: number;
  bytes: Uint8Array<ArrayBuffer>;
}

const COMMA = new TextEncoder().encode(",");

export class Registry {
  readonly #nodes = new Map<string, NodeEntry>();
  readonly #lastState = new Map<string, NodeState>();
  readonly #fragments = new WeakMap<NodeEntry, Fragment>();
  #sorted: NodeEntry[] | null = null;
  /** The last `/instances` body and what it was made of, reused while nothing changed. */
  #body: { parts: Fragment[]; blob: Blob } | null = null;
  /** The keys pinned to node names (trust on first use). */
  readonly keys: NodeKeys;
  /** The labels shown in the views and matched by selectors; a change of them is a change of the views. */
  readonly labels: LabelStore;
  /** The cordoned nodes, shown in the node views; a change of them is a change of the views. */
  readonly cordons: CordonStore;
  readonly #listeners = new Set<() => void>();

  constructor(readonly options: RegistryOptions) {
    this.keys = options.nodeKeys ?? loadNodeKeys(null, options.now);
    this.labels = options.labels ?? createLabelStore(null);
    this.labels.onChange(() => this.#changed());
    this.cordons = options.cordons ?? createCordonStore(null, options.now);
    this.cordons.onChange(() => this.#changed());
  }

  /**
   * Calls `listener` after every change of what the node and instance views
   * show: a join, a state report, a heartbeat, an operation's instances, a
   * disconnect, a removal, and a sweep that changed a node's state. Called
   * synchronously, so a listener must only take note (the watch stream
   * coalesces); one that throws does not stop the others.
   * @returns a function that removes the listener.
   */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch {
        // A listener's fault is its own; the cache has changed all the same.
      }
    }
  }

  /**
   * Adds a node. A node already known under the same name is replaced, and its
   * old connection (if still open) is closed: a rejoin must not leave two
   * memberships answering for one host.
   */
  join(info: JoinInfo): { entry: NodeEntry; replaced: NodeEntry | null } {
    const replaced = this.#nodes.get(info.name) ?? null;
    const now = this.options.now();
    const entry: NodeEntry = { ...info, joinedAt: now, lastSync: now, disconnectedAt: null };
    this.#nodes.set(info.name, entry);
    this.#sorted = null;
    this.#lastState.set(info.name, "Ready");
    if (replaced && replaced.disconnectedAt === null) replaced.close();
    this.#changed();
    return { entry, replaced };
  }

  /** The current entry of a membership, or null when it has been replaced or removed. */
  current(id: string, name: string): NodeEntry | null {
    const entry = this.#nodes.get(name);
    return entry && entry.id === id ? entry : null;
  }

  /** Records a full state report. Returns false when the membership is stale. */
  update(id: string, name: string, snapshot: HostSnapshot): boolean {
    const entry = this.current(id, name);
    if (!entry) return false;
    entry.snapshot = snapshot;
    entry.lastSync = this.options.now();
    this.#changed();
    return true;
  }

  /** Records a heartbeat. Returns false when the membership is stale. */
  heartbeat(id: string, name: string, resources: HostResources): boolean {
    const entry = this.current(id, name);
    if (!entry) return false;
    entry.snapshot = { ...entry.snapshot, resources };
    entry.lastSync = this.options.now();
    this.#changed();
    return true;
  }

  /**
   * Replaces a node's instance list with the fresh one an operation returned,
   * so a listing right after the operation shows its effect.
   */
  applyInstances(name: string, instances: InstanceSummary[]): void {
    const entry = this.#nodes.get(name);
    if (!entry) return;
    entry.snapshot = { ...entry.snapshot, instances };
    this.#changed();
  }

  /** Marks a membership's connection as lost; a replaced membership is ignored. */
  disconnect(id: string, name: string): void {
    const entry = this.current(id, name);
    if (!entry || entry.disconnectedAt !== null) return;
    entry.disconnectedAt = this.options.now();
    this.#changed();
  }

  /**
   * Drops a node from the cache at once (`nodes remove`), instead of at the
   * end of its grace period, and forgets its pinned key, so another host may
   * join under its name; a connected one only with `force`, and its
   * connection is closed (a running worker joins again, and its key is
   * pinned anew). A node no longer listed (dropped after its grace) whose
   * key is still pinned is removed as a Down one: its key is forgotten.
   * @returns the entry removed (null for a pin alone) and the state it was in.
   * @throws AppError E_NOT_FOUND when no node has that name; E_CONFLICT when
   *   it is not Down and `force` is not set; E_STORAGE when the key cannot
   *   be forgotten (nothing is removed then).
   */
  remove(name: string, options: { force: boolean }): { entry: NodeEntry | null; state: NodeState } {
    const entry = this.#nodes.get(name);
    if (!entry) {
      if (this.keys.forget(name)) return { entry: null, state: "Down" };
      throw new AppError("E_NOT_FOUND", `Node "${name}" is not part of the cluster`);
    }
    const state = this.stateOf(entry);
    if (state !== "Down" && !options.force) {
      throw new AppError("E_CONFLICT", `Cannot remove node "${name}": it is ${state}, not Down; force it (--force) to drop it anyway (a running worker joins again)`);
    }
    this.keys.forget(name);
    this.#nodes.delete(name);
    this.#lastState.delete(name);
    this.#sorted = null;
    if (entry.disconnectedAt === null) entry.close();
    this.#changed();
    return { entry, state };
  }

  stateOf(entry: NodeEntry): NodeState {
    if (entry.disconnectedAt !== null) return "Down";
    const silentFor = this.options.now() - entry.lastSync;
    return silentFor > MISSED_HEARTBEATS * this.options.heartbeatMs ? "NotReady" : "Ready";
  }

  get(name: string): NodeEntry | undefined {
    return this.#nodes.get(name);
  }

  /** All entries, sorted by name. */
  entries(): NodeEntry[] {
    this.#sorted ??= [...this.#nodes.values()].sort((a, b) => compareNames(a.name, b.name));
    return [...this.#sorted];
  }

  nodeViews(): NodeView[] {
    return this.entries().map((e) => this.nodeView(e));
  }

  nodeView(e: NodeEntry): NodeView {
    return {
      name: e.name,
      state: this.stateOf(e),
      address: e.address,
      lastSync: new Date(e.lastSync).toISOString(),
      multipassVersion: e.snapshot.multipassVersion,
      workerVersion: e.version,
      multipassError: e.snapshot.multipassError,
      staleSince: e.snapshot.staleSince ?? null,
      resources: e.snapshot.resources,
      allocated: e.snapshot.allocated,
      instanceCount: e.snapshot.instances.length,
      labels: this.labels.nodeLabels(e.name),
      cordoned: this.cordons.get(e.name),
    };
  }

  /**
   * Every cached instance's view, by node then name: `GET /api/v1/instances`
   * as values (see {@link instanceViewsBody}); with `selector`, only the
   * instances whose labels it selects.
   */
  instanceViews(selector?: Selector): InstanceView[] {
    return this.entries().flatMap((e) => this.#nodeInstanceViews(e, this.#instancesKnown(e), selector));
  }

  /** The view of one resolved instance, without building the whole list. */
  instanceView({ node, instance }: ResolvedInstance): InstanceView {
    return view(node, instance, this.#instancesKnown(node), this.labels.instanceLabels(node.name, instance.name));
  }

  /**
   * Every cached instance as the JSON body of `GET /api/v1/instances`, by
   * node then name. While its node is not Ready, or its multipass is
   * failing, an instance's state is "Unknown": the last-known one may no
   * longer be true, and saying so beats dropping the instance from the list.
   * A multipass that is only busy (the snapshot's `staleSince`: a list
   * queued behind a long stop) is neither: its node's instances keep their
   * last known states, and the node view says since when.
   *
   * The answer of the busiest route: each node's part is serialized once and
   * kept as bytes until that node's instances or readiness change, and the
   * body is a Blob of those parts, so nothing of 2 MB is joined, encoded or
   * copied in JavaScript per call; while nothing changed the very same Blob
   * is returned.
   */
  instanceViewsBody(): Blob {
    const parts = this.#fragmentsNow();
    const cached = this.#body;
    if (cached && cached.parts.length === parts.length && cached.parts.every((p, i) => p === parts[i])) return cached.blob;
    const pieces: (string | Uint8Array<ArrayBuffer>)[] = ["["];
    for (const f of parts) {
      if (f.bytes.length === 0) continue;
      if (pieces.length > 1) pieces.push(COMMA);
      pieces.push(f.bytes);
    }
    pieces.push("]");
    this.#body = { parts, blob: new Blob(pieces) };
    return this.#body.blob;
  }

  /** Every node's current fragment, rebuilt for the nodes whose instances or readiness changed. */
  #fragmentsNow(): Fragment[] {
    const parts: Fragment[] = [];
    for (const e of this.entries()) {
      const ready = this.#instancesKnown(e);
      const labelsVersion = this.labels.version(e.name);
      let fragment = this.#fragments.get(e);
      if (!fragment || fragment.instances !== e.snapshot.instances || fragment.ready !== ready || fragment.labelsVersion !== labelsVersion) {
        const json = JSON.stringify(this.#nodeInstanceViews(e, ready)).slice(1, -1);
        fragment = { instances: e.snapshot.instances, ready, labelsVersion, bytes: new TextEncoder().encode(json) };
        this.#fragments.set(e, fragment);
      }
      parts.push(fragment);
    }
    return parts;
  }

  #instancesKnown(e: NodeEntry): boolean {
    return this.stateOf(e) === "Ready" && e.snapshot.multipassError === null;
  }

  #nodeInstanceViews(e: NodeEntry, ready: boolean, selector?: Selector): InstanceView[] {
    const labelsOf = (i: InstanceSummary) => this.labels.instanceLabels(e.name, i.name);
    const instances = selector ? e.snapshot.instances.filter((i) => matchesSelector(selector, labelsOf(i))) : [...e.snapshot.instances];
    return instances.sort((a, b) => compareNames(a.name, b.name)).map((i) => view(e, i, ready, labelsOf(i)));
  }

  /**
   * Finds an instance by `name` (and `node` when given).
   * @throws AppError E_NOT_FOUND when nothing matches; E_AMBIGUOUS, with the
   *   candidates as `NAME@NODE`, when a bare name is on several nodes.
   */
  resolve(name: string, node?: string): ResolvedInstance {
    if (node !== undefined) {
      const entry = this.#nodes.get(node);
      if (!entry) throw new AppError("E_NOT_FOUND", `Node "${node}" is not part of the cluster`);
      const instance = entry.snapshot.instances.find((i) => i.name === name);
      if (!instance) throw new AppError("E_NOT_FOUND", `Instance "${name}" does not exist on node "${node}"`);
      return { node: entry, instance };
    }
    const found: ResolvedInstance[] = [];
    for (const entry of this.entries()) {
      const instance = entry.snapshot.instances.find((i) => i.name === name);
      if (instance) found.push({ node: entry, instance });
    }
    if (found.length === 0) throw new AppError("E_NOT_FOUND", `Instance "${name}" does not exist on any node`);
    if (found.length > 1) {
      const candidates = found.map((f) => `${name}@${f.node.name}`);
      throw new AppError(
        "E_AMBIGUOUS",
        `Instance name "${name}" exists on several nodes: ${found.map((f) => f.node.name).join(", ")}; use one of ${candidates.join(", ")}`,
        { details: { candidates } },
      );
    }
    return found[0]!;
  }

  /**
   * Drops Down nodes past their grace period and reports every state change
   * since the last sweep.
   */
  sweep(): Transition[] {
    const now = this.options.now();
    const changes: Transition[] = [];
    for (const [name, entry] of this.#nodes) {
      const state = this.stateOf(entry);
      const before = this.#lastState.get(name) ?? "Ready";
      if (state === "Down" && entry.disconnectedAt !== null && now - entry.disconnectedAt > this.options.downGraceMs) {
        this.#nodes.delete(name);
        this.#lastState.delete(name);
        this.#sorted = null;
        changes.push({ name, from: state, to: "Removed" });
        continue;
      }
      if (state !== before) {
        changes.push({ name, from: before, to: state });
        this.#lastState.set(name, state);
      }
    }
    if (changes.length > 0) this.#changed();
    return changes;
  }
}

function view(e: NodeEntry, i: InstanceSummary, known: boolean, labels: Labels): InstanceView {
  return { node: e.name, name: i.name, state: known ? i.state : "Unknown", ipv4: i.ipv4, release: i.release, labels };
}

/** Byte-wise name order, so listings are stable and locale-independent. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
