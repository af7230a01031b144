/**
 * Helpers over citty's command definitions that the runner and the help
 * share: values citty lets be lazy, a command's meta, names and aliases.
 *
 * Like citty's own functions they are generic in the args of a command:
 * `CommandDef` is invariant in them (they shape `args` and the context `run`
 * gets), so no one args type covers every command of a tree.
 */
import type { ArgsDef, CommandDef, CommandMeta, Resolvable } from "citty";

/** A value citty lets be given as is, as a promise, or as a function returning either. */
export async function resolve<T>(value: Resolvable<T>): Promise<T> {
  // typeof cannot tell a lazy value from a T that is a function itself; no value citty resolves is one.
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

/** The meta of `cmd`, empty when it has none. */
export async function metaOf<T extends ArgsDef>(cmd: CommandDef<T> | undefined): Promise<CommandMeta> {
  return cmd?.meta ? await resolve(cmd.meta) : {};
}

/** An alias setting (of a command or an option) as a list. */
export function aliasesOf(alias: string | string[] | undefined): string[] {
  if (alias === undefined) return [];
  return Array.isArray(alias) ? alias : [alias];
}

/** How the user calls `cmd`: its name after its ancestors' (`multiverse nodes remove`), the root first. */
export async function commandName<T extends ArgsDef>(cmd: CommandDef<T>, ancestors: CommandDef<T>[] = []): Promise<string> {
  const metas = await Promise.all([...ancestors, cmd].map((c) => metaOf(c)));
  return metas
    .map((m) => m.name)
    .filter(Boolean)
    .join(" ");
}

/**
 * Every value of a repeatable string option, `--NAME VALUE` or `--NAME=VALUE`,
 * in order, before `--`: citty keeps only the last of a repeated option.
 */
export function repeatedOption(rawArgs: readonly string[], name: string): string[] {
  const values: string[] = [];
  const flag = `--${name}`;
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") break;
    if (arg === flag) values.push(rawArgs[++i] ?? "");
    else if (arg.startsWith(`${flag}=`)) values.push(arg.slice(flag.length + 1));
  }
  return values;
}
