/**
 * The label store (issue 15): the labels of instances, keyed by (node,
 * instance), and of nodes, keyed by node name. Labels are the master's own
 * durable state: kept in the master's database (`instance_labels`,
 * `node_labels`, database.ts) and read from a copy in memory, so a selector
 * over 20,000 instances costs no query. Without a database (unit tests that
 * build a master bare) they live in memory only.
 *
 * Life of an instance's labels: they stay while the instance is stopped,
 * suspended, deleted and recovered, and while its node is Down (the node's
 * last listing is not the truth of the host); they go when the master learns
 * of its purge (`delete --purge`, `purge`: operations.ts), and a launch
 * replaces whatever an older instance of the same name left behind
 * (launches.ts), so a name reused after a purge on the host itself never
 * inherits labels. `nodes remove` forgets a node's labels and its
 * instances' (node-removal.ts): a replacement host under the name starts afresh.
 *
 * Every write is one transaction, to the database first and to memory once
 * it committed: a failed write (E_STORAGE) changes nothing.
 */
import { AppError, messageOf } from "../core/errors.ts";
import { MAX_LABELS, validateLabelKey, validateLabelValue, type Labels } from "../core/labels.ts";
import type { MasterDatabase } from "./database.ts";

const NONE: Labels = Object.freeze({});

export interface LabelStore {
  /** The labels of instance `instance` on node `node` (an empty object when none). */
  instanceLabels(node: string, instance: string): Labels;
  /** The labels of node `node`. */
  nodeLabels(node: string): Labels;
  /**
   * Replaces the labels of an instance (an empty object removes them all).
   * @throws AppError E_USAGE for an invalid key or value or more than
   *   MAX_LABELS; E_STORAGE when the database refuses (nothing changes).
   */
  setInstanceLabels(node: string, instance: string, labels: Labels): void;
  /** Replaces the labels of a node. @throws AppError E_USAGE, E_STORAGE */
  setNodeLabels(node: string, labels: Labels): void;
  /** Forgets the labels of purged instances of `node`. @throws AppError E_STORAGE */
  dropInstances(node: string, instances: readonly string[]): void;
  /** Forgets a removed node's labels and its instances' (`nodes remove`). @throws AppError E_STORAGE */
  dropNode(node: string): void;
  /**
   * A number that changes whenever an instance label of `node` changes: the
   * registry keeps each node's part of the instance listing until it does.
   */
  version(node: string): number;
  /** Calls `listener` after every change; returns what removes it. */
  onChange(listener: () => void): () => void;
}

function checked(labels: Labels): Labels {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) throw new AppError("E_USAGE", `Too many labels (${entries.length}; at most ${MAX_LABELS})`);
  for (const [key, value] of entries) validateLabelValue(value, validateLabelKey(key));
  return Object.freeze(Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

function storageError(doing: string, error: unknown): AppError {
  return new AppError("E_STORAGE", `The master cannot ${doing}: ${messageOf(error)}`, { cause: error });
}

/** Durable writes of the store; null keeps labels in memory only. */
interface Backing {
  replaceInstance(node: string, instance: string, labels: Labels): void;
  replaceNode(node: string, labels: Labels): void;
  dropInstances(node: string, instances: readonly string[]): void;
  dropNode(node: string): void;
}

function sqliteBacking(database: MasterDatabase): Backing {
  const { db } = database;
  const deleteInstance = db.query("DELETE FROM instance_labels WHERE node = $node AND instance = $instance");
  const insertInstance = db.query("INSERT INTO instance_labels (node, instance, key, value) VALUES ($node, $instance, $key, $value)");
  const deleteNode = db.query("DELETE FROM node_labels WHERE node = $node");
  const insertNode = db.query("INSERT INTO node_labels (node, key, value) VALUES ($node, $key, $value)");
  return {
    replaceInstance: db.transaction((node: string, instance: string, labels: Labels) => {
      deleteInstance.run({ node, instance });
      for (const [key, value] of Object.entries(labels)) insertInstance.run({ node, instance, key, value });
    }),
    replaceNode: db.transaction((node: string, labels: Labels) => {
      deleteNode.run({ node });
      for (const [key, value] of Object.entries(labels)) insertNode.run({ node, key, value });
    }),
    dropInstances: db.transaction((node: string, instances: readonly string[]) => {
      for (const instance of instances) deleteInstance.run({ node, instance });
    }),
    dropNode: db.transaction((node: string) => {
      db.query("DELETE FROM instance_labels WHERE node = $node").run({ node });
      deleteNode.run({ node });
    }),
  };
}

type Row = { node: string; instance: string; key: string; value: string };

/** Reads every label the database holds, grouped; rows that no longer validate are skipped, not fatal. */
function load(database: MasterDatabase): { instances: Map<string, Map<string, Labels>>; nodes: Map<string, Labels> } {
  const group = new Map<string, Map<string, Record<string, string>>>();
  for (const r of database.db.query<Row, []>("SELECT node, instance, key, value FROM instance_labels").all()) {
    const byInstance = group.get(r.node) ?? new Map<string, Record<string, string>>();
    group.set(r.node, byInstance);
    const labels = byInstance.get(r.instance) ?? {};
    byInstance.set(r.instance, labels);
    labels[r.key] = r.value;
  }
  const instances = new Map<string, Map<string, Labels>>();
  for (const [node, byInstance] of group) {
    instances.set(node, new Map([...byInstance].map(([name, labels]) => [name, Object.freeze(labels)])));
  }
  const nodeRows: Record<string, Record<string, string>> = {};
  for (const r of database.db.query<Omit<Row, "instance">, []>("SELECT node, key, value FROM node_labels").all()) {
    (nodeRows[r.node] ??= {})[r.key] = r.value;
  }
  return { instances, nodes: new Map(Object.entries(nodeRows).map(([node, labels]) => [node, Object.freeze(labels)])) };
}

/**
 * The label store on `database` (loaded once, now), or in memory only when
 * it is null.
 * @throws AppError E_STORAGE when the database cannot be read.
 */
export function createLabelStore(database: MasterDatabase | null): LabelStore {
  let loaded: ReturnType<typeof load>;
  try {
    loaded = database ? load(database) : { instances: new Map(), nodes: new Map() };
  } catch (error) {
    throw storageError("read the labels from its database", error);
  }
  const backing = database ? sqliteBacking(database) : null;
  const { instances, nodes } = loaded;
  const versions = new Map<string, number>();
  const listeners = new Set<() => void>();
  const changed = (node: string | null) => {
    if (node !== null) versions.set(node, (versions.get(node) ?? 0) + 1);
    for (const listener of listeners) {
      try {
        listener();
      } catch {
        // A listener's fault is its own; the labels have changed all the same.
      }
    }
  };
  const write = (doing: string, fn: () => void) => {
    try {
      fn();
    } catch (error) {
      throw storageError(doing, error);
    }
  };

  return {
    instanceLabels: (node, instance) => instances.get(node)?.get(instance) ?? NONE,
    nodeLabels: (node) => nodes.get(node) ?? NONE,
    setInstanceLabels(node, instance, labels) {
      const next = checked(labels);
      write(`store the labels of "${instance}" on node "${node}"`, () => backing?.replaceInstance(node, instance, next));
      const byInstance = instances.get(node) ?? new Map<string, Labels>();
      instances.set(node, byInstance);
      if (Object.keys(next).length === 0) byInstance.delete(instance);
      else byInstance.set(instance, next);
      changed(node);
    },
    setNodeLabels(node, labels) {
      const next = checked(labels);
      write(`store the labels of node "${node}"`, () => backing?.replaceNode(node, next));
      if (Object.keys(next).length === 0) nodes.delete(node);
      else nodes.set(node, next);
      changed(null);
    },
    dropInstances(node, names) {
      const byInstance = instances.get(node);
      const labelled = names.filter((n) => byInstance?.has(n));
      if (labelled.length === 0) return;
      write(`forget the labels of purged instances on node "${node}"`, () => backing?.dropInstances(node, labelled));
      for (const name of labelled) byInstance!.delete(name);
      changed(node);
    },
    dropNode(node) {
      if (!instances.has(node) && !nodes.has(node)) return;
      write(`forget the labels of node "${node}"`, () => backing?.dropNode(node));
      instances.delete(node);
      nodes.delete(node);
      changed(node);
    },
    version: (node) => versions.get(node) ?? 0,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
