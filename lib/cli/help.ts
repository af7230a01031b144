/**
 * `--help` text for citty commands, plain and aligned. citty's own renderer
 * pads around colour codes (so columns break once colour is off) and spells
 * one-letter flags as `--T`.
 */
import type { ArgDef, ArgsDef, CommandDef, CommandMeta } from "citty";
import { aliasesOf, commandName, metaOf, resolve } from "./citty.ts";

/** A command's meta with `notes`: lines its help prints after the options (what no option says, such as a shell's escapes). */
export function withNotes(meta: CommandMeta, notes: string[]): CommandMeta {
  return Object.assign({ ...meta }, { notes });
}

function notesOf(meta: CommandMeta): string[] {
  const notes: unknown = (meta as { notes?: unknown }).notes;
  return Array.isArray(notes) ? notes.filter((n): n is string => typeof n === "string") : [];
}

function flagName(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}

/**
 * How an option is spelt on the command line, its aliases first (`-o`,
 * `--output`); a boolean that is on unless turned off, by its negation
 * alone (`--no-headers`: citty reads `--no-NAME` as NAME=false). --help and
 * the man pages both spell options with it.
 */
export function optionNames(name: string, def: ArgDef): string[] {
  if (def.type === "boolean" && def.default === true) return [flagName(`no-${name}`)];
  const alias = "alias" in def ? aliasesOf(def.alias) : [];
  return [...alias.map(flagName), flagName(name)];
}

function optionLabel(name: string, def: ArgDef): string {
  const names = optionNames(name, def).join(", ");
  if (def.type === "boolean") return names;
  return `${names} ${def.valueHint ?? name.toUpperCase().replaceAll("-", "_")}`;
}

function columns(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}   ${right}`.trimEnd());
}

/** The help of `cmd` (with its `ancestors`, the root first, naming the program), ending in a newline. */
export async function renderHelp<T extends ArgsDef>(cmd: CommandDef<T>, ancestors: CommandDef<T>[] = []): Promise<string> {
  const meta = await metaOf(cmd);
  const name = await commandName(cmd, ancestors);
  const version = meta.version ?? (await metaOf(ancestors[0])).version;
  const args: ArgsDef = cmd.args ? await resolve(cmd.args) : {};
  const out: string[] = [`${name}${version ? ` ${version}` : ""}: ${meta.description ?? ""}`, ""];

  const subs = cmd.subCommands ? await resolve(cmd.subCommands) : undefined;
  const positionals = Object.entries(args).filter(([, d]) => d.type === "positional");
  const options = Object.entries(args).filter(([, d]) => d.type !== "positional");
  const usage = [name];
  // A command that does something by itself takes its subcommands optionally (`nodes`, `nodes remove`).
  if (subs) usage.push(cmd.run ? "[command]" : "<command>");
  if (options.length > 0) usage.push("[options]");
  for (const [n, d] of positionals) {
    const label = d.valueHint ?? n.toUpperCase();
    usage.push(d.required === false ? `[${label}]` : label);
  }
  out.push(`Usage: ${usage.join(" ")}`);

  if (subs) {
    const rows: [string, string][] = [];
    for (const [key, sub] of Object.entries(subs)) {
      const m = await metaOf(await resolve(sub));
      if (m.hidden) continue;
      rows.push([[key, ...aliasesOf(m.alias)].join(", "), m.description ?? ""]);
    }
    out.push("", "Commands:", ...columns(rows), "", `Run "${name} <command> --help" for the options of a command.`);
  }
  if (positionals.length > 0) {
    out.push("", "Arguments:", ...columns(positionals.map(([n, d]) => [d.valueHint ?? n.toUpperCase(), d.description ?? ""])));
  }
  if (options.length > 0) {
    const rows = options.map(([n, d]): [string, string] => {
      const fallback = d.default !== undefined && d.type !== "boolean" ? ` (default: ${String(d.default)})` : "";
      return [optionLabel(n, d), `${d.description ?? ""}${fallback}`];
    });
    rows.push(["-h, --help", "Show this help"]);
    out.push("", "Options:", ...columns(rows));
  }
  const notes = notesOf(meta);
  if (notes.length > 0) out.push("", ...notes);
  return out.join("\n") + "\n";
}
