/**
 * A kubectl-style JSONPath subset, evaluated over the API's JSON (`-o
 * jsonpath=EXPR`). Pure: no I/O.
 *
 * Supported: `$` (the root), `@` (the current item), `.key`, `['key']`,
 * `[n]` (negative from the end), `[*]` and `.*` (every element or value),
 * `..key` (recursive descent); templates mixing literal text with `{PATH}`,
 * `{"\n"}`-style string literals and `{range PATH}…{end}`. A path without
 * braces is taken as one `{PATH}`. Several results of one path are printed
 * separated by a space; strings as they are, anything else as JSON.
 * Filters (`[?(…)]`), slices and unions are not supported, and say so.
 */
import { usageError } from "./errors.ts";

type Step = { kind: "key"; key: string } | { kind: "index"; index: number } | { kind: "all" } | { kind: "descend"; key: string | null };
type Node = { kind: "text"; text: string } | { kind: "path"; root: boolean; steps: Step[] } | { kind: "range"; root: boolean; steps: Step[]; body: Node[] };

/** A parsed expression: evaluate it with {@link evaluateJsonPath}. */
export interface JsonPath {
  readonly source: string;
  readonly nodes: readonly Node[];
}

/** Longest expression accepted. */
export const MAX_JSONPATH_LENGTH = 4096;

function bad(expr: string, why: string): never {
  throw usageError(`Bad JSONPath expression ${JSON.stringify(expr.slice(0, 80))}: ${why}`);
}

/** A path inside braces (`.items[*].name`, `$.a`, `@`) → its steps. */
function parseSteps(expr: string, text: string): { root: boolean; steps: Step[] } {
  let i = 0;
  let root = false;
  const steps: Step[] = [];
  if (text[0] === "$") (root = true), i++;
  else if (text[0] === "@") i++;
  const ident = () => {
    const m = /^[A-Za-z0-9_-]+/.exec(text.slice(i));
    if (!m) bad(expr, `a key is expected at ${JSON.stringify(text.slice(i, i + 20)) || "the end"}`);
    i += m[0].length;
    return m[0];
  };
  while (i < text.length) {
    if (text.startsWith("..", i)) {
      i += 2;
      if (text[i] === "*") (i++, steps.push({ kind: "descend", key: null }));
      else steps.push({ kind: "descend", key: ident() });
    } else if (text[i] === ".") {
      i++;
      if (text[i] === "*") (i++, steps.push({ kind: "all" }));
      else if (i < text.length && text[i] !== "[") steps.push({ kind: "key", key: ident() });
    } else if (text[i] === "[") {
      const close = text.indexOf("]", i);
      if (close < 0) bad(expr, "a [ is not closed");
      const inner = text.slice(i + 1, close).trim();
      i = close + 1;
      if (inner === "*") steps.push({ kind: "all" });
      else if (/^-?\d+$/.test(inner)) steps.push({ kind: "index", index: Number(inner) });
      else if (/^'[^']*'$|^"[^"]*"$/.test(inner)) steps.push({ kind: "key", key: inner.slice(1, -1) });
      else bad(expr, `[${inner}] is not supported (use [n], [*] or ['key']; filters, slices and unions are not)`);
    } else bad(expr, `unexpected ${JSON.stringify(text[i])} in ${JSON.stringify(text)}`);
  }
  return { root, steps };
}

/** The literal inside `{"…"}`, its \n, \t, \\ and \" escapes read. */
function parseLiteral(expr: string, inner: string): string {
  if (inner.length < 2 || !inner.endsWith('"')) bad(expr, `the string ${inner} is not closed`);
  return inner.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c === "r" ? "\r" : c));
}

/**
 * Parses a JSONPath template.
 * @throws AppError E_USAGE naming what is wrong: an unclosed brace or bracket, a range without end, an unsupported form
 */
export function parseJsonPath(expr: string): JsonPath {
  if (expr.length === 0) bad(expr, "it is empty");
  if (expr.length > MAX_JSONPATH_LENGTH) bad(expr, `it is longer than ${MAX_JSONPATH_LENGTH} characters`);
  const source = expr.includes("{") ? expr : `{${expr}}`;
  const stack: Node[][] = [[]];
  const ranges: { root: boolean; steps: Step[] }[] = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf("{", i);
    const text = source.slice(i, open < 0 ? source.length : open);
    if (text.includes("}")) bad(expr, "a } has no {");
    if (text) stack.at(-1)!.push({ kind: "text", text });
    if (open < 0) break;
    const close = source.indexOf("}", open);
    if (close < 0) bad(expr, "a { is not closed");
    const inner = source.slice(open + 1, close).trim();
    i = close + 1;
    if (inner === "") bad(expr, "{} holds no path");
    if (inner.startsWith('"')) stack.at(-1)!.push({ kind: "text", text: parseLiteral(expr, inner) });
    else if (inner === "end") {
      const range = ranges.pop();
      if (!range) bad(expr, "{end} has no {range}");
      const body = stack.pop()!;
      stack.at(-1)!.push({ kind: "range", ...range, body });
    } else if (/^range(?=[\s.[$@])/.test(inner)) {
      ranges.push(parseSteps(expr, inner.slice("range".length).trim()));
      stack.push([]);
    } else stack.at(-1)!.push({ kind: "path", ...parseSteps(expr, inner) });
  }
  if (ranges.length > 0) bad(expr, "a {range} has no {end}");
  return { source: expr, nodes: stack[0]! };
}

function children(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (value !== null && typeof value === "object") return Object.values(value);
  return [];
}

function descend(value: unknown, key: string | null, out: unknown[]): void {
  if (value === null || typeof value !== "object") return;
  if (key === null) out.push(...children(value));
  else if (!Array.isArray(value) && Object.hasOwn(value, key)) out.push((value as Record<string, unknown>)[key]);
  for (const child of children(value)) descend(child, key, out);
}

function select(values: unknown[], step: Step): unknown[] {
  const out: unknown[] = [];
  for (const v of values) {
    if (step.kind === "key") {
      if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.hasOwn(v, step.key)) out.push((v as Record<string, unknown>)[step.key]);
    } else if (step.kind === "index") {
      if (Array.isArray(v)) {
        const at = step.index < 0 ? v.length + step.index : step.index;
        if (at >= 0 && at < v.length) out.push(v[at]);
      }
    } else if (step.kind === "all") out.push(...children(v));
    else descend(v, step.key, out);
  }
  return out;
}

/** The values a path selects from `root` (`$`) or `current` (`@`, a leading `.`). */
export function selectPath(path: { root: boolean; steps: readonly Step[] }, root: unknown, current: unknown): unknown[] {
  return path.steps.reduce<unknown[]>((values, step) => select(values, step), [path.root ? root : current]);
}

function show(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function render(nodes: readonly Node[], root: unknown, current: unknown): string {
  let out = "";
  for (const node of nodes) {
    if (node.kind === "text") out += node.text;
    else if (node.kind === "path") out += selectPath(node, root, current).map(show).join(" ");
    else for (const item of selectPath(node, root, current)) out += render(node.body, root, item);
  }
  return out;
}

/** The text a parsed template makes of `data`; a path that selects nothing prints nothing, as kubectl's does. */
export function evaluateJsonPath(path: JsonPath, data: unknown): string {
  return render(path.nodes, data, data);
}

/**
 * The single value `field` (`.state`, `name`, `.resources.cpus`) names in
 * `item`, for sorting; undefined when it is missing.
 * @throws AppError E_USAGE for a field that is not a plain path
 */
export function fieldValue(field: string, item: unknown): unknown {
  const text = field.replace(/^\{(.*)\}$/, "$1").trim();
  const path = parseSteps(field, text.startsWith(".") || text.startsWith("[") || text.startsWith("$") || text.startsWith("@") ? text : `.${text}`);
  return selectPath(path, item, item)[0];
}
