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

/** Parses `args` (the whole argv after the program name) against `options`. */
export function parseQt(args: readonly string[], options: readonly QtOption[]): QtParse {
  const byName = new Map<string, QtOption>();
  for (const option of options) for (const name of option.names) byName.set(name, option);

  const found = new Set<string>();
  const values = new Map<string, string[]>();
  const unknown: string[] = [];
  const positionals: string[] = [];
  let errorText: string | null = null;

  const addValue = (option: QtOption, value: string): void => {
    const key = keyOf(option);
    const list = values.get(key) ?? [];
    list.push(value);
    values.set(key, list);
  };
  const register = (name: string): QtOption | undefined => {
    const option = byName.get(name);
    if (option === undefined) unknown.push(name);
    else found.add(keyOf(option));
    return option;
  };

  let forcePositional = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    // Takes the value of an option that was written without `=`: the next argument.
    const takeNext = (shown: string, option: QtOption): void => {
      if (i + 1 >= args.length) {
        errorText = `Missing value after '${shown}'.`;
        i = args.length;
        return;
      }
      i += 1;
      addValue(option, args[i] as string);
    };

    if (forcePositional) {
      positionals.push(arg);
    } else if (arg.startsWith("--")) {
      if (arg.length === 2) {
        forcePositional = true;
        continue;
      }
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const option = register(name);
      if (option === undefined) continue;
      if (option.valueName !== undefined) {
        if (eq === -1) takeNext(arg, option);
        else addValue(option, arg.slice(eq + 1));
      } else if (eq !== -1) {
        errorText = `Unexpected value after '${arg.slice(0, eq)}'.`;
      }
    } else if (arg.startsWith("-") && arg.length > 1) {
      let lastName = "";
      let valueFound = false;
      for (let pos = 1; pos < arg.length; pos++) {
        lastName = arg.charAt(pos);
        const option = register(lastName);
        if (option === undefined) continue;
        if (option.valueName !== undefined) {
          if (pos + 1 < arg.length) {
            const start = arg.charAt(pos + 1) === "=" ? pos + 2 : pos + 1;
            addValue(option, arg.slice(start));
            valueFound = true;
          }
          break;
        }
        if (pos + 1 < arg.length && arg.charAt(pos + 1) === "=") break;
      }
      if (!valueFound) {
        const option = byName.get(lastName);
        if (option !== undefined) {
          const eq = arg.indexOf("=");
          if (option.valueName !== undefined) {
            if (eq === -1) takeNext(arg, option);
            else addValue(option, arg.slice(eq + 1));
          } else if (eq !== -1) {
            errorText = `Unexpected value after '${arg.slice(0, eq)}'.`;
          }
        }
      }
    } else {
      positionals.push(arg);
    }
  }

  if (errorText === null && unknown.length === 1) errorText = `Unknown option '${unknown[0]}'.`;
  if (errorText === null && unknown.length > 1) errorText = `Unknown options: ${unknown.join(", ")}.`;

  return {
    error: errorText,
    positionals,
    isSet: (key) => found.has(key),
    value: (key) => values.get(key)?.at(-1),
    values: (key) => values.get(key) ?? [],
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
