/**
 * The completion engine: given the words typed after `multiverse` (the last
 * one the word being completed, "" for a new one), the candidates. Commands,
 * sub-commands and options come from the same citty definitions as --help;
 * which argument takes which kind of cluster value (an instance, a node, a
 * snapshot, label keys) is read from those definitions too, from the value
 * hints and descriptions --help shows, never from a list kept beside them.
 */
import type { ArgDef, ArgsDef, CommandDef } from "citty";
import { aliasesOf, metaOf, resolve } from "../cli/citty.ts";

/** A kind of value asked of the master (or, for contexts, of the client's config). */
export type DynamicKind = "instance" | "node" | "snapshot" | "label-key" | "context";

/** Where dynamic values come from; each call resolves to [] rather than failing. */
export interface CompletionSource {
  /** The values of `kind`, asked with the connection options typed so far (`--master`, `--token`…). */
  values(kind: DynamicKind, options: TypedOptions): Promise<string[]>;
}

/** The options typed so far (name without dashes → value), for the source to reach the right master. */
export type TypedOptions = Record<string, string>;

/** What the words lead to: candidates, or a kind of value to ask the source for (after `prefix`). */
export interface CompletionPlan {
  /** Static candidates (commands, options), before filtering by the current word. */
  words: string[];
  /** A kind of cluster value that fits here, or null. */
  dynamic: DynamicKind | null;
  /** Text kept before each dynamic value (`--selector=role=web,` before a key). */
  prefix: string;
  /** The part of the current word the candidates must start with. */
  current: string;
  /** The options typed before the current word. */
  options: TypedOptions;
}

/** Most candidates printed: a prompt is no place for thousands of lines. */
export const MAX_CANDIDATES = 500;

// Any Command of the tree: CommandDef is invariant in its args (see lib/cli/citty.ts).
type AnyCommand = CommandDef<ArgsDef>;

/** The kind of cluster value an argument takes, from what its --help says of it. */
export function kindOf(name: string, def: ArgDef): DynamicKind | null {
  const hint = def.valueHint ?? "";
  const description = def.description ?? "";
  if (name === "context" || description === "Context name") return "context";
  if (hint === "NAME.SNAP") return "snapshot";
  if (hint === "SELECTOR" || hint.startsWith("KEY[,KEY]")) return "label-key";
  if (/^NODE\b/.test(hint) || description === "Node name") return "node";
  if (description.includes("NAME or NAME@NODE")) return "instance";
  return null;
}

/** The sub-commands of `cmd` by every name they answer to, hidden ones left out. */
async function subCommandsOf(cmd: AnyCommand): Promise<Map<string, AnyCommand>> {
  const out = new Map<string, AnyCommand>();
  const subs = cmd.subCommands ? await resolve(cmd.subCommands) : {};
  for (const [key, sub] of Object.entries(subs)) {
    const resolved = (await resolve(sub)) as AnyCommand;
    const meta = await metaOf(resolved);
    if (meta.hidden) continue;
    for (const name of [key, ...aliasesOf(meta.alias)]) out.set(name, resolved);
  }
  return out;
}

/** The options of `cmd`: each spelling (`--name`, `-n`) → its name and definition. */
function optionsOf(args: ArgsDef): Map<string, [string, ArgDef]> {
  const out = new Map<string, [string, ArgDef]>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    out.set(`--${name}`, [name, def]);
    for (const alias of "alias" in def ? aliasesOf(def.alias) : []) out.set(alias.length === 1 ? `-${alias}` : `--${alias}`, [name, def]);
  }
  return out;
}

const takesValue = (def: ArgDef) => def.type === "string" || def.type === "enum";

/** The dynamic kind of the `index`th positional word: the last positional repeats when it is variadic. */
function positionalKind(args: ArgsDef, index: number): DynamicKind | null {
  const positionals = Object.entries(args).filter(([, def]) => def.type === "positional");
  const last = positionals[positionals.length - 1];
  const at = positionals[index] ?? (last?.[1].valueHint?.endsWith("...") ? last : undefined);
  return at ? kindOf(at[0], at[1]) : null;
}

/** Label keys are completed after the last `,` or `!` of a selector. */
function splitSelector(word: string): [string, string] {
  const cut = Math.max(word.lastIndexOf(","), word.lastIndexOf("!")) + 1;
  return [word.slice(0, cut), word.slice(cut)];
}

function valuePlan(kind: DynamicKind | null, before: string, word: string, options: TypedOptions): CompletionPlan {
  if (kind === "label-key") {
    const [prefix, current] = splitSelector(word);
    // A key already followed by its operator or value is being given a value: nothing to offer.
    if (/[=<>()\s]/.test(current)) return { words: [], dynamic: null, prefix: "", current: word, options };
    return { words: [], dynamic: kind, prefix: before + prefix, current, options };
  }
  return { words: [], dynamic: kind, prefix: before, current: word, options };
}

/**
 * Walks `typed` (every word after the program's name; the last is the one
 * being completed) down the command tree and says what fits the last word.
 */
export async function planCompletion(root: AnyCommand, typed: readonly string[]): Promise<CompletionPlan> {
  const words = typed.length === 0 ? [""] : typed;
  const current = words[words.length - 1]!;
  let cmd = root;
  let args: ArgsDef = cmd.args ? await resolve(cmd.args) : {};
  let positional = 0;
  let afterDashDash = false;
  const options: TypedOptions = {};
  for (let i = 0; i < words.length - 1; i++) {
    const word = words[i]!;
    if (afterDashDash) continue;
    if (word === "--") {
      afterDashDash = true;
      continue;
    }
    if (word.startsWith("-") && word !== "-") {
      const [spelling = "", value] = word.split(/=(.*)/s, 2);
      const option = optionsOf(args).get(spelling);
      if (option && takesValue(option[1]) && value === undefined) {
        // bash splits `--opt=value` at the "=" (COMP_WORDBREAKS): `--opt`, `=`, `value`.
        const at = words[i + 1] === "=" ? i + 2 : i + 1;
        if (at < words.length - 1) {
          options[option[0]] = words[at]!;
          i = at;
        } else if (at === words.length - 1) return valuePlan(kindOf(option[0], option[1]), "", current, options);
        else return { words: [], dynamic: null, prefix: "", current, options };
      } else if (option && value !== undefined) options[option[0]] = value;
      continue;
    }
    const sub = positional === 0 ? (await subCommandsOf(cmd)).get(word) : undefined;
    if (sub) {
      cmd = sub;
      args = cmd.args ? await resolve(cmd.args) : {};
      continue;
    }
    positional++;
  }
  // After `--` come the words of a remote command: nothing of ours to offer.
  if (afterDashDash) return { words: [], dynamic: null, prefix: "", current, options };
  if (current.startsWith("-")) {
    const [spelling = "", value] = current.split(/=(.*)/s, 2);
    const option = optionsOf(args).get(spelling);
    if (value !== undefined && option && takesValue(option[1])) return valuePlan(kindOf(option[0], option[1]), `${spelling}=`, value, options);
    return { words: [...optionsOf(args).keys(), "--help"], dynamic: null, prefix: "", current, options };
  }
  const subs = positional === 0 ? [...(await subCommandsOf(cmd)).keys()] : [];
  const kind = positionalKind(args, positional);
  return { ...valuePlan(kind, "", current, options), words: subs };
}

/** The candidates for what `typed` ends with: those starting with the current word, sorted, unique, bounded. */
export async function complete(root: AnyCommand, typed: readonly string[], source: CompletionSource): Promise<string[]> {
  const plan = await planCompletion(root, typed);
  const found = new Set(plan.words.filter((w) => w.startsWith(plan.current)));
  if (plan.dynamic !== null) {
    const values = await source.values(plan.dynamic, plan.options);
    for (const value of values) if (value.startsWith(plan.current)) found.add(plan.prefix + value);
  }
  return [...found].sort().slice(0, MAX_CANDIDATES);
}
