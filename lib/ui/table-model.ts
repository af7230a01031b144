/**
 * The instances table's model, apart from the DOM: keys, filtering, sorting,
 * and whether an order changed. Pure, so 2,000 rows are sorted and filtered
 * without touching the page.
 */
import type { InstanceView } from "../protocol/api.ts";

export const SORT_KEYS = ["name", "node", "state"] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface SortOrder {
  key: SortKey;
  /** 1 ascending, -1 descending. */
  dir: 1 | -1;
}

export const DEFAULT_SORT: SortOrder = { key: "name", dir: 1 };

/** `NAME@NODE`: the row's key and its reference in every API call. */
export function instanceRef(instance: { name: string; node: string }): string {
  return `${instance.name}@${instance.node}`;
}

/** The filter's words, lower-cased; an instance must match every one. */
export function filterWords(query: string): string[] {
  return query.toLowerCase().split(/\s+/).filter((w) => w !== "").slice(0, 20);
}

/** Whether an instance matches every word, in its name, node, state, an address or a label (`key=value`: `multiverse/env=lab`). */
export function matchesFilter(instance: InstanceView, words: readonly string[]): boolean {
  if (words.length === 0) return true;
  const labels = Object.entries(instance.labels).map(([k, v]) => `${k}=${v}`);
  const haystack = [instance.name, instance.node, instance.state, ...instance.ipv4, ...labels].join("\n").toLowerCase();
  return words.every((w) => haystack.includes(w));
}

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

/** A new array sorted by `order`, ties broken by name then node, so the order is total and stable. */
export function sortInstances(list: readonly InstanceView[], order: SortOrder): InstanceView[] {
  return [...list].sort((a, b) => {
    const first = collator.compare(a[order.key], b[order.key]) * order.dir;
    if (first !== 0) return first;
    return collator.compare(a.name, b.name) || collator.compare(a.node, b.node);
  });
}

/** The order after a click on a header: the same key flips, another starts ascending. */
export function nextSort(current: SortOrder, key: SortKey): SortOrder {
  return current.key === key ? { key, dir: current.dir === 1 ? -1 : 1 } : { key, dir: 1 };
}

export function sameOrder(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((ref, i) => ref === b[i]);
}

/** The cells a row shows, as text: a row is rewritten only where these change. */
export interface RowCells {
  name: string;
  node: string;
  state: string;
  ipv4: string;
  release: string;
}

export function rowCells(instance: InstanceView): RowCells {
  return {
    name: instance.name,
    node: instance.node,
    state: instance.state,
    ipv4: instance.ipv4.length === 0 ? "—" : instance.ipv4.join(", "),
    release: instance.release ?? "—",
  };
}
