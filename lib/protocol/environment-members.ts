/**
 * The expansion of an environment's entries into members
 * (environment-document.ts): counts into keys (`agent` × 2 → `agent-1`,
 * `agent-2`), instance names (`lab-agent-1`), and what each waits for — its
 * `after` and every instance its cloud-init names — checked for names that
 * name nothing, for self-reference and for cycles.
 */
import type { TemplateRef } from "../core/template.ts";
import { quoteValue } from "../core/validate.ts";
import type { DocPath, Reporter } from "./environment-fields.ts";

/** One entry of `instances`, checked, before expansion. */
export interface Entry {
  /** Its index in `instances`. */
  index: number;
  name: string;
  count: number | null;
  spread: boolean;
  node?: string;
  /** `after` as written. */
  after: string[];
  cloudInit?: string;
  /** The references of its cloud-init. */
  refs: TemplateRef[];
}

/** One member: its entry, its key, and the keys it waits for (sorted). */
export interface Expanded<E extends Entry> {
  entry: E;
  key: string;
  after: string[];
}

const MAX_NAME_LENGTH = 63;
const LISTED = 12;

/** An entry's member keys, in order. */
export function keysOf(entry: Entry): string[] {
  if (entry.count === null) return [entry.name];
  return Array.from({ length: entry.count }, (_, i) => `${entry.name}-${i + 1}`);
}

/**
 * Expands entries into members, in document order.
 * @throws AppError E_USAGE (through `r`) on two entries of one name, an
 *   instance name too long or made twice, an `after` or a template reference
 *   that names nothing or the entry itself, or a cycle.
 */
export function expandMembers<E extends Entry>(env: string, entries: readonly E[], r: Reporter): Expanded<E>[] {
  const byName = new Map<string, E>();
  const owner = new Map<string, E>();
  for (const entry of entries) {
    const at: DocPath = ["instances", entry.index, "name"];
    const same = byName.get(entry.name);
    if (same) r.fail(at, `${quoteValue(entry.name)} is also the name of instances[${same.index}]: each entry needs its own name`);
    byName.set(entry.name, entry);
    for (const key of keysOf(entry)) {
      const name = `${env}-${key}`;
      if (name.length > MAX_NAME_LENGTH) {
        r.fail(at, `makes the instance ${quoteValue(name)}, ${name.length} characters long; instance names are at most ${MAX_NAME_LENGTH}: shorten the environment's or the entry's name`);
      }
      const other = owner.get(key);
      if (other) r.fail(at, `makes the instance "${name}", as instances[${other.index}] (${describe(other)}) does: rename one of them`);
      owner.set(key, entry);
    }
  }
  const context: Context<E> = { entries, byName, owner, r };
  const waits = new Map(entries.map((e) => [e, waitsOf(e, context)]));
  const members = entries.flatMap((entry) => keysOf(entry).map((key) => ({ entry, key, after: waits.get(entry)! })));
  checkCycles(members, r);
  return members;
}

interface Context<E extends Entry> {
  entries: readonly E[];
  byName: Map<string, E>;
  owner: Map<string, E>;
  r: Reporter;
}

function describe(entry: Entry): string {
  return entry.count === null ? quoteValue(entry.name) : `${quoteValue(entry.name)}, count ${entry.count}`;
}

/** The keys there are, for a message: `server, agent-1, agent-2`. */
function known(owner: Map<string, Entry>): string {
  const keys = [...owner.keys()];
  return keys.length <= LISTED ? keys.join(", ") : `${keys.slice(0, LISTED).join(", ")}, … (${keys.length} in all)`;
}

/** The sorted keys one entry's members wait for. */
function waitsOf<E extends Entry>(entry: E, c: Context<E>): string[] {
  const keys = new Set<string>();
  entry.after.forEach((name, i) => {
    const at: DocPath = ["instances", entry.index, "after", i];
    const named = c.byName.get(name) ?? c.owner.get(name);
    if (named === undefined) c.r.fail(at, `${quoteValue(name)} names no instance of the environment (its instances: ${known(c.owner)})`);
    if (named === entry) c.r.fail(at, `${quoteValue(name)} is this entry itself: an instance cannot wait for itself or its own entry`);
    for (const key of c.byName.get(name) === named ? keysOf(named) : [name]) keys.add(key);
  });
  const at: DocPath = ["instances", entry.index, "cloudInit"];
  for (const ref of entry.refs) {
    if (ref.kind !== "instance") continue;
    const named = c.owner.get(ref.key);
    const counted = c.byName.get(ref.key);
    if (named === undefined && counted !== undefined && counted.count !== null) {
      const keys = keysOf(counted);
      c.r.failWithin(at, `line ${ref.line}: ${quoteValue(ref.text)}: "${ref.key}" has a count, so name one of its instances: ${keys[0]}${keys.length > 1 ? ` … ${keys.at(-1)}` : ""}`);
    }
    if (named === undefined) c.r.failWithin(at, `line ${ref.line}: ${quoteValue(ref.text)} names no instance of the environment (its instances: ${known(c.owner)})`);
    if (named === entry) {
      c.r.failWithin(at, `line ${ref.line}: ${quoteValue(ref.text)} names ${entry.count === null ? "this instance itself" : "an instance of this same entry"}: an address is known only once its instance is launched, and these are launched together`);
    }
    keys.add(ref.key);
  }
  return [...keys].sort();
}

/** @throws through `r` on the first cycle of waits, naming it. */
function checkCycles(members: readonly Expanded<Entry>[], r: Reporter): void {
  const byKey = new Map(members.map((m) => [m.key, m]));
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (key: string): void => {
    const mark = state.get(key);
    if (mark === "done") return;
    if (mark === "visiting") {
      const cycle = [...stack.slice(stack.indexOf(key)), key];
      const first = byKey.get(key)!.entry;
      const where = first.after.length > 0 ? "after" : "cloudInit";
      r.fail(["instances", first.index, where], `the instances wait for each other in a cycle: ${cycle.join(" → ")} (each waits for the next, by after or by naming it in its cloud-init)`);
    }
    state.set(key, "visiting");
    stack.push(key);
    for (const next of byKey.get(key)?.after ?? []) visit(next);
    stack.pop();
    state.set(key, "done");
  };
  for (const m of members) visit(m.key);
}
