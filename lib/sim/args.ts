/**
 * A re-implementation of the parts of Qt's QCommandLineParser that the Multipass
 * client relies on: ParseAsCompactedShortOptions, options and positionals
 * interleaved, `--opt value` / `--opt=value` / `-m 2G` / `-m2G`, `--` ending option
 * parsing, and Qt's own error strings.
 */

/** One option a command accepts. The last name is the key used for lookups. */
export interface QtOption {
  readonly names: readonly string[];
  /** Present when the option takes a value; shown as `<valueName>` in help. */
  readonly valueName?: string;
  readonly description: string;
  readonly hidden?: boolean;
}

/** Result of one parse. `error` is Qt's errorText() or null when parsing succeeded. */
export interface QtParse {
  readonly error: string | null;
  readonly positionals: readonly string[];
  isSet(key: string): boolean;
  /** Last value given for the option (Qt's `value()`), or undefined when absent. */
  value(key: string): string | undefined;
  values(key: string): readonly string[];
}

function keyOf(option: QtOption): string {
  const key = option.names[option.names.length - 1];
  if (key === undefined) throw new Error("option without names");
  return key;
}

/** One pass over an argv, as QCommandLineParser makes it: what was found, where it went wrong. */
class QtScan {
  readonly found = new Set<string>();
  readonly values = new Map<string, string[]>();
  readonly unknown: string[] = [];
  readonly positionals: string[] = [];
  error: string | null = null;
  /** The argument being read; taking an option's value moves it on. */
  private i = 0;

  constructor(
    private readonly args: readonly string[],
    private readonly byName: ReadonlyMap<string, QtOption>,
  ) {}

  run(): void {
    let forcePositional = false;
    for (this.i = 0; this.i < this.args.length; this.i++) {
      const arg = this.args[this.i] as string;
      if (forcePositional) this.positionals.push(arg);
      else if (arg === "--") forcePositional = true;
      else if (arg.startsWith("--")) this.long(arg);
      else if (arg.startsWith("-") && arg.length > 1) this.short(arg);
      else this.positionals.push(arg);
    }
    if (this.error === null && this.unknown.length === 1) this.error = `Unknown option '${this.unknown[0]}'.`;
    if (this.error === null && this.unknown.length > 1) this.error = `Unknown options: ${this.unknown.join(", ")}.`;
  }

  private addValue(option: QtOption, value: string): void {
    const key = keyOf(option);
    const list = this.values.get(key) ?? [];
    list.push(value);
    this.values.set(key, list);
  }

  private register(name: string): QtOption | undefined {
    const option = this.byName.get(name);
    if (option === undefined) this.unknown.push(name);
    else this.found.add(keyOf(option));
    return option;
  }

  /** Takes the value of an option that was written without `=`: the next argument. */
  private takeNext(shown: string, option: QtOption): void {
    if (this.i + 1 >= this.args.length) {
      this.error = `Missing value after '${shown}'.`;
      this.i = this.args.length;
      return;
    }
    this.i += 1;
    this.addValue(option, this.args[this.i] as string);
  }

  /** `--name`, `--name=value` or `--name value`. */
  private long(arg: string): void {
    const eq = arg.indexOf("=");
    const option = this.register(eq === -1 ? arg.slice(2) : arg.slice(2, eq));
    if (option !== undefined) this.valueOf(arg, option, eq);
  }

  /** The value of an option whose name ends at `eq` (or the argument): after `=`, else the next argument. */
  private valueOf(arg: string, option: QtOption, eq: number): void {
    if (option.valueName !== undefined) {
      if (eq === -1) this.takeNext(arg, option);
      else this.addValue(option, arg.slice(eq + 1));
    } else if (eq !== -1) {
      this.error = `Unexpected value after '${arg.slice(0, eq)}'.`;
    }
  }

  /** Compacted short options (`-abc`), with a value attached (`-m2G`, `-m=2G`) or next. */
  private short(arg: string): void {
    let lastName = "";
    for (let pos = 1; pos < arg.length; pos++) {
      lastName = arg.charAt(pos);
      const option = this.register(lastName);
      if (option === undefined) continue;
      if (option.valueName !== undefined) {
        if (pos + 1 < arg.length) {
          this.addValue(option, arg.slice(arg.charAt(pos + 1) === "=" ? pos + 2 : pos + 1));
          return;
        }
        break;
      }
      if (pos + 1 < arg.length && arg.charAt(pos + 1) === "=") break;
    }
    const option = this.byName.get(lastName);
    if (option !== undefined) this.valueOf(arg, option, arg.indexOf("="));
  }
}

/** Parses `args` (the whole argv after the program name) against `options`. */
export function parseQt(args: readonly string[], options: readonly QtOption[]): QtParse {
  const byName = new Map<string, QtOption>();
  for (const option of options) for (const name of option.names) byName.set(name, option);
  const scan = new QtScan(args, byName);
  scan.run();
  return {
    error: scan.error,
    positionals: scan.positionals,
    isSet: (key) => scan.found.has(key),
    value: (key) => scan.values.get(key)?.at(-1),
    values: (key) => scan.values.get(key) ?? [],
  };
}

/** Qt's option column: `-m, --memory <memory>`. */
function optionLabel(option: QtOption): string {
  const names = option.names.map((name) => (name.length === 1 ? `-${name}` : `--${name}`)).join(", ");
  return option.valueName === undefined ? names : `${names} <${option.valueName}>`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(" ")) {
      if (line !== "" && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else {
        line = line === "" ? word : `${line} ${word}`;
      }
    }
    lines.push(line);
  }
  return lines;
}

/** A positional argument shown in the "Arguments:" section of a command's help. */
export interface QtPositional {
  readonly name: string;
  readonly description: string;
}

/** Help text in the shape Qt's helpText() produces (with Multipass's edits). */
export function formatHelp(
  usage: string,
  description: string,
  options: readonly QtOption[],
  positionals: readonly QtPositional[],
): string {
  const rows: Array<[string, string]> = options
    .filter((option) => option.hidden !== true)
    .map((option) => [optionLabel(option), option.description]);
  const argRows: Array<[string, string]> = positionals.map((p) => [p.name, p.description]);
  const width = Math.min(50, Math.max(0, ...[...rows, ...argRows].map(([label]) => label.length)));
  const section = (entries: Array<[string, string]>): string =>
    entries
      .map(([label, text]) => {
        const [first = "", ...rest] = wrap(text, Math.max(20, 79 - width - 4));
        const head = `  ${label.padEnd(width)}  ${first}`.trimEnd();
        const pad = " ".repeat(width + 4);
        return [head, ...rest.map((line) => (pad + line).trimEnd())].join("\n") + "\n";
      })
      .join("");
  let text = `Usage: ${usage}\n${description}\n\nOptions:\n${section(rows)}`;
  if (argRows.length > 0) text += `\nArguments:\n${section(argRows)}`;
  return text;
}
