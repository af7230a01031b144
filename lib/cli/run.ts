/**
 * Runs a citty command tree the way all three roles need: `--help` and
 * `--version` at any level, unknown flags refused, and one exit status for
 * every outcome (0 ok, 1 failure, 2 usage). Returns the status; the entry
 * script sets it.
 */
import { runCommand, type ArgsDef, type CommandDef } from "citty";
import { AppError, messageOf, usageError } from "../core/errors.ts";
import { stripControl } from "../core/format.ts";
import { aliasesOf, commandName, metaOf, resolve } from "./citty.ts";
import { renderHelp } from "./help.ts";

export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** Where `rawArgs` lead: the command to run, its ancestors (the root first) and its own args. */
interface Found<T extends ArgsDef> {
  leaf: CommandDef<T>;
  ancestors: CommandDef<T>[];
  args: string[];
}

/** Names and aliases of the options that take a value, of `cmd` and every command under it. */
async function valueOptions<T extends ArgsDef>(cmd: CommandDef<T>, into = new Set<string>()): Promise<Set<string>> {
  const args: ArgsDef = cmd.args ? await resolve(cmd.args) : {};
  for (const [name, def] of Object.entries(args)) {
    if (def.type !== "string" && def.type !== "enum") continue;
    for (const n of [name, ...("alias" in def ? aliasesOf(def.alias) : [])]) into.add(n);
  }
  const subs = cmd.subCommands ? await resolve(cmd.subCommands) : {};
  for (const sub of Object.values(subs)) await valueOptions(await resolve(sub), into);
  return into;
}

/** The index of the first word that is neither an option nor an option's value (`--master URL`); -1 when none comes before `--`. */
function firstWord(rawArgs: string[], takesValue: Set<string>): number {
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") return -1;
    if (!arg.startsWith("-") || arg === "-" || /^-\d/.test(arg)) return i;
    if (!arg.includes("=") && takesValue.has(arg.replace(/^--?/, ""))) i++;
  }
  return -1;
}

/** Walks to the subcommand `rawArgs` names. */
async function findLeaf<T extends ArgsDef>(cmd: CommandDef<T>, rawArgs: string[], ancestors: CommandDef<T>[] = []): Promise<Found<T>> {
  const subs = cmd.subCommands ? await resolve(cmd.subCommands) : undefined;
  if (!subs) return { leaf: cmd, ancestors, args: rawArgs };
  const index = firstWord(rawArgs, await valueOptions(cmd));
  const name = index >= 0 ? rawArgs[index]! : undefined;
  if (name === undefined) return { leaf: cmd, ancestors, args: rawArgs };
  // Options belong to the command they follow; only --help may come first.
  const before = rawArgs.slice(0, index);
  const misplaced = before.find((a) => a.startsWith("-") && a !== "--help" && a !== "-h");
  for (const [key, sub] of Object.entries(subs)) {
    const resolved = await resolve(sub);
    if (key !== name && !aliasesOf((await metaOf(resolved)).alias).includes(name)) continue;
    if (misplaced !== undefined) throw usageError(`Options go after the command: put "${misplaced}" after "${name}"`);
    return findLeaf(resolved, [...rawArgs.slice(index + 1), ...before], [...ancestors, cmd]);
  }
  // A command that runs by itself (`nodes`) gets the word as an argument; checkArgs judges it.
  if (cmd.run) return { leaf: cmd, ancestors, args: rawArgs };
  if (misplaced !== undefined) throw usageError(`Options go after the command, and "${misplaced}" came first`);
  throw usageError(`Unknown command "${name}"`);
}

/**
 * Refuses flags the command does not define and arguments beyond its
 * positionals; citty would silently ignore both. A positional whose value
 * hint ends in "..." takes any number.
 */
function checkArgs(args: ArgsDef, rawArgs: string[]): void {
  const known = new Map<string, string | undefined>();
  const positionals = Object.values(args).filter((def) => def.type === "positional");
  const variadic = positionals.some((def) => def.valueHint?.endsWith("...") === true);
  let seen = 0;
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    const names = [name, ...("alias" in def ? aliasesOf(def.alias) : [])];
    for (const n of names) known.set(n, def.type);
    if (def.type === "boolean") known.set(`no-${name}`, "boolean");
  }
  for (let i = 0; i < rawArgs.length; i++) {
    const token = rawArgs[i]!;
    if (token === "--") return;
    if (!token.startsWith("-") || token === "-" || /^-\d/.test(token)) {
      if (++seen > positionals.length && !variadic) throw usageError(`Unexpected argument "${token}"`);
      continue;
    }
    const [flag = "", value] = token.replace(/^--?/, "").split(/=(.*)/s, 2);
    const type = known.get(flag);
    if (!known.has(flag)) throw usageError(`Unknown option "${token.split("=")[0]}"`);
    if (type === "string" || type === "enum") {
      if (value === undefined) {
        if (i + 1 >= rawArgs.length) throw usageError(`Missing value after "${token}"`);
        i++;
      }
    }
  }
}

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  verbose: boolean;
}

/**
 * Runs `cmd` on `rawArgs`. A command's `run` may return an exit status; any
 * other result means success.
 */
export async function runCli<T extends ArgsDef>(cmd: CommandDef<T>, rawArgs: string[], io: CliIo): Promise<number> {
  let leaf = cmd;
  let ancestors: CommandDef<T>[] = [];
  try {
    const found = await findLeaf(cmd, rawArgs);
    leaf = found.leaf;
    ancestors = found.ancestors;
    const leafArgs = found.args;
    const helpAt = leafArgs.findIndex((a) => a === "--help" || a === "-h");
    const dashDash = leafArgs.indexOf("--");
    if (helpAt >= 0 && (dashDash < 0 || helpAt < dashDash)) {
      io.stdout(await renderHelp(leaf, ancestors));
      return EXIT.ok;
    }
    if (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-V")) {
      io.stdout(`${(await metaOf(cmd)).version ?? "unknown"}\n`);
      return EXIT.ok;
    }
    if (leaf.subCommands && !leaf.run) {
      io.stdout(await renderHelp(leaf, ancestors));
      return EXIT.usage;
    }
    checkArgs(leaf.args ? await resolve(leaf.args) : {}, leafArgs);
    // Run the leaf itself: citty drops a subcommand's result on the way up. Without its
    // subcommands: findLeaf chose already, and citty would take an option's value for one.
    const { result } = await runCommand({ ...leaf, subCommands: undefined }, { rawArgs: leafArgs });
    return typeof result === "number" ? result : EXIT.ok;
  } catch (error) {
    const usage = isUsageError(error);
    // Messages carry text from the network (a master's, a node's, multipass's words).
    io.stderr(`error: ${stripControl(messageOf(error))}\n`);
    if (usage) {
      io.stderr(`Run "${(await commandName(leaf, ancestors)) || "command"} --help" for usage.\n`);
    } else if (io.verbose && error instanceof Error && error.stack) {
      io.stderr(error.stack + "\n");
    }
    return usage ? EXIT.usage : EXIT.failure;
  }
}

function isUsageError(error: unknown): boolean {
  if (error instanceof AppError) return error.code === "E_USAGE";
  // citty's own argument errors (missing required positional, bad enum value).
  return error instanceof Error && error.name === "CLIError";
}
