/**
 * `--help` text for citty commands, plain and aligned. citty's own renderer
 * pads around colour codes (so columns break once colour is off) and spells
 * one-letter flags as `--T`.
 */
import type { ArgDef, ArgsDef, CommandDef, CommandMeta } from "citty";

// citty's CommandDef is invariant in its args type; help takes any command tree.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = CommandDef<any>;

async function resolve<T>(value: T | Promise<T> | (() => T | Promise<T>)): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

function flagName(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}

function optionLabel(name: string, def: ArgDef): string {
  const alias = "alias" in def && def.alias !== undefined ? (Array.isArray(def.alias) ? def.alias : [def.alias]) : [];
  const names = [...alias.map(flagName), flagName(name)].join(", ");
  if (def.type === "boolean") return names;
  return `${names} ${def.valueHint ?? name.toUpperCase().replaceAll("-", "_")}`;
}

function columns(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}   ${right}`.trimEnd());
}

/** The help of `cmd` (with `parent` naming the program), ending in a newline. */
export async function renderHelp(cmd: AnyCommand, parent?: AnyCommand): Promise<string> {
  const meta: CommandMeta = cmd.meta ? await resolve(cmd.meta) : {};
  const parentMeta: CommandMeta | undefined = parent?.meta ? await resolve(parent.meta) : undefined;
  const name = [parentMeta?.name, meta.name].filter(Boolean).join(" ");
  const version = meta.version ?? parentMeta?.version;
  const args: ArgsDef = cmd.args ? await resolve(cmd.args) : {};
  const out: string[] = [`${name}${version ? ` ${version}` : ""}: ${meta.description ?? ""}`, ""];

  const subs = cmd.subCommands ? await resolve(cmd.subCommands) : undefined;
  const positionals = Object.entries(args).filter(([, d]) => d.type === "positional");
  const options = Object.entries(args).filter(([, d]) => d.type !== "positional");
  const usage = [name];
  if (subs) usage.push("<command>");
  if (options.length > 0) usage.push("[options]");
  for (const [n, d] of positionals) {
    const label = d.valueHint ?? n.toUpperCase();
    usage.push(d.required === false ? `[${label}]` : label);
  }
  out.push(`Usage: ${usage.join(" ")}`);

  if (subs) {
    const rows: [string, string][] = [];
    for (const [key, sub] of Object.entries(subs)) {
      const resolved = (await resolve(sub)) as AnyCommand;
      const m: CommandMeta = resolved.meta ? await resolve(resolved.meta) : {};
      const alias = m.alias === undefined ? [] : Array.isArray(m.alias) ? m.alias : [m.alias];
      rows.push([[key, ...alias].join(", "), m.description ?? ""]);
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
  return out.join("\n") + "\n";
}
