/**
 * Choosing the instances a multi-instance command acts on, and the error text
 * for names that are missing or deleted.
 */

import type { QtParse } from "./args.ts";
import type { SimContext } from "./context.ts";
import { findInstance, PRIMARY, type SimInstance, type SimState } from "./state.ts";
import { updateState } from "./store.ts";

/** Instances a command acts on; `names` null means `--all` (every live instance). */
export interface Selection {
  readonly targets: SimInstance[];
  readonly missing: string[];
  readonly deleted: string[];
}

/** Resolves `names` (null = `--all`) against the state, collecting missing and deleted names. */
export function select(state: SimState, names: readonly string[] | null): Selection {
  if (names === null) {
    return { targets: state.instances.filter((i) => i.state !== "Deleted"), missing: [], deleted: [] };
  }
  const selection: Selection = { targets: [], missing: [], deleted: [] };
  for (const name of names) {
    const instance = findInstance(state, name);
    if (instance === undefined) selection.missing.push(name);
    else if (instance.state === "Deleted") selection.deleted.push(name);
    else if (!selection.targets.includes(instance)) selection.targets.push(instance);
  }
  return selection;
}

/** The `The following errors occurred:` lines of stop/restart/suspend/delete/recover. */
export function selectionLines(names: readonly string[], missing: readonly string[], deleted: readonly string[]): string {
  return names
    .filter((name) => missing.includes(name) || deleted.includes(name))
    .map((name) => `instance "${name}" ${missing.includes(name) ? "does not exist" : "is deleted"}`)
    .join("\n");
}

/**
 * Instance names from positionals and `--all` (null = all), the primary when
 * neither is given; prints the conflict error and returns undefined on misuse.
 */
export function chosenNames(ctx: SimContext, args: QtParse, primaryDefault: boolean): string[] | null | undefined {
  const names = [...args.positionals];
  if (args.isSet("all")) {
    if (names.length === 0) return null;
    ctx.err(`Cannot specify name${names.length > 1 ? "s" : ""} when --all option set\n`);
    return undefined;
  }
  if (names.length > 0) return names;
  if (primaryDefault) return [PRIMARY];
  ctx.err("Name argument or --all is required\n");
  return undefined;
}

/** `Starting web`, `Starting requested instances` or `Starting all instances`. */
export function spinnerMessage(verb: string, names: readonly string[] | null): string {
  if (names === null) return `${verb} all instances`;
  return names.length > 1 ? `${verb} requested instances` : `${verb} ${names[0] ?? PRIMARY}`;
}

/** Moves the named instances from `from` to `to` (one locked step). */
export function settle(ctx: SimContext, names: readonly string[], from: readonly string[], to: SimInstance["state"]): void {
  updateState(ctx.paths, (state) => {
    for (const name of names) {
      const instance = findInstance(state, name);
      if (instance !== undefined && from.includes(instance.state)) instance.state = to;
    }
  });
}

