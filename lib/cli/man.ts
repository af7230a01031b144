/**
 * Man pages (roff, section 1) from the citty command definitions that
 * `--help` renders (lib/cli/help.ts): the same names, usage, options,
 * defaults and notes, so the two cannot drift apart. A command with
 * subcommands gets one sub-section per command, its whole tree walked.
 */
import type { ArgDef, ArgsDef, CommandDef } from "citty";
import { aliasesOf, commandName, metaOf, resolve } from "./citty.ts";
import { optionNames } from "./help.ts";

/** What a man page adds to the command tree: the sections no option says. */
export interface ManOptions {
  /** The package and version in the page's footer, e.g. "multiverse 0.1.0". */
  source: string;
  /** Extra sections after OPTIONS and COMMANDS, in order: [TITLE, paragraphs]. */
  sections?: [string, string[]][];
}

/** Text made safe for roff: backslashes, hyphens, and a leading dot or quote that would start a request. */
export function roffEscape(text: string): string {
  return text
    .replaceAll("\\", "\\e")
    .replaceAll("-", "\\-")
    .split("\n")
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join("\n");
}

/** `.TP` entry of one option: bold names, italic value, the description and its default. */
function optionEntry(name: string, def: ArgDef): string[] {
  const names = optionNames(name, def).map((n) => `\\fB${roffEscape(n)}\\fR`).join(", ");
  const value = def.type === "boolean" ? "" : ` \\fI${roffEscape(def.valueHint ?? name.toUpperCase().replaceAll("-", "_"))}\\fR`;
  const fallback = def.default !== undefined && def.type !== "boolean" ? ` (default: ${String(def.default)})` : "";
  return [".TP", `${names}${value}`, roffEscape(`${def.description ?? ""}${fallback}`)];
}

function notesOf(meta: object): string[] {
  const notes: unknown = (meta as { notes?: unknown }).notes;
  return Array.isArray(notes) ? notes.filter((n): n is string => typeof n === "string") : [];
}

/** The usage line and options of one command, as `--help` shows them. */
async function commandBody<T extends ArgsDef>(cmd: CommandDef<T>, ancestors: CommandDef<T>[]): Promise<{ synopsis: string; options: string[]; notes: string[] }> {
  const name = await commandName(cmd, ancestors);
  const meta = await metaOf(cmd);
  const args: ArgsDef = cmd.args ? await resolve(cmd.args) : {};
  const positionals = Object.entries(args).filter(([, d]) => d.type === "positional");
  const options = Object.entries(args).filter(([, d]) => d.type !== "positional");
  const usage = [`\\fB${roffEscape(name)}\\fR`];
  if (cmd.subCommands) usage.push(cmd.run ? "[\\fIcommand\\fR]" : "\\fIcommand\\fR");
  if (options.length > 0) usage.push("[\\fIoptions\\fR]");
  for (const [n, d] of positionals) {
    const label = `\\fI${roffEscape(d.valueHint ?? n.toUpperCase())}\\fR`;
    usage.push(d.required === false ? `[${label}]` : label);
  }
  const lines: string[] = [];
  for (const [n, d] of positionals) lines.push(".TP", `\\fI${roffEscape(d.valueHint ?? n.toUpperCase())}\\fR`, roffEscape(d.description ?? ""));
  for (const [n, d] of options) lines.push(...optionEntry(n, d));
  if (options.length > 0) lines.push(".TP", "\\fB\\-h\\fR, \\fB\\-\\-help\\fR", "Show this help");
  return { synopsis: usage.join(" "), options: lines, notes: notesOf(meta) };
}

function paragraphs(lines: string[]): string[] {
  return lines.flatMap((line) => (line.trim() === "" ? [".PP"] : [".nf", roffEscape(line), ".fi"]));
}

/** Every command under `cmd` with its ancestors, depth first, in definition order; hidden ones (as --help hides them) left out. */
async function descendants<T extends ArgsDef>(cmd: CommandDef<T>, ancestors: CommandDef<T>[]): Promise<[CommandDef<T>, CommandDef<T>[]][]> {
  if (!cmd.subCommands) return [];
  const out: [CommandDef<T>, CommandDef<T>[]][] = [];
  for (const sub of Object.values(await resolve(cmd.subCommands))) {
    const child = (await resolve(sub)) as CommandDef<T>;
    if ((await metaOf(child)).hidden) continue;
    out.push([child, [...ancestors, cmd]], ...(await descendants(child, [...ancestors, cmd])));
  }
  return out;
}

/**
 * The man page of the program `root` (section 1), ending in a newline.
 * Deterministic: the same definitions give the same bytes (no date).
 */
export async function renderMan<T extends ArgsDef>(root: CommandDef<T>, options: ManOptions): Promise<string> {
  const meta = await metaOf(root);
  const name = meta.name ?? "";
  const body = await commandBody(root, []);
  const out: string[] = [
    `.TH ${roffEscape(name.toUpperCase())} 1 "" "${roffEscape(options.source)}" "User Commands"`,
    ".SH NAME",
    `${roffEscape(name)} \\- ${roffEscape(meta.description ?? "")}`,
    ".SH SYNOPSIS",
    body.synopsis,
    ".SH DESCRIPTION",
    roffEscape(meta.description ?? ""),
  ];
  if (body.notes.length > 0) out.push(".PP", ...paragraphs(body.notes));
  if (body.options.length > 0) out.push(".SH OPTIONS", ...body.options);
  const subs = await descendants(root, []);
  if (subs.length > 0) {
    out.push(".SH COMMANDS");
    for (const [cmd, ancestors] of subs) {
      const m = await metaOf(cmd);
      const b = await commandBody(cmd, ancestors);
      const aliases = aliasesOf(m.alias);
      out.push(`.SS "${roffEscape(await commandName(cmd, ancestors))}"`, b.synopsis, ".PP", roffEscape(m.description ?? ""));
      if (aliases.length > 0) out.push(".PP", `Also: ${aliases.map((a) => `\\fB${roffEscape(a)}\\fR`).join(", ")}`);
      if (b.options.length > 0) out.push(".PP", "Options:", ".RS", ...b.options, ".RE");
      if (b.notes.length > 0) out.push(".PP", ...paragraphs(b.notes));
    }
  }
  for (const [title, text] of options.sections ?? []) out.push(`.SH ${roffEscape(title.toUpperCase())}`, ...paragraphs(text));
  return out.join("\n") + "\n";
}
