/**
 * The output formats of the listings (issue 16): `-o table|wide|json|yaml|
 * name|jsonpath=EXPR`, `--no-headers` and `--sort-by FIELD`. `--json` is
 * `-o json`: the API's answer byte for byte. yaml is that JSON as YAML;
 * jsonpath a kubectl-style template over it (core/jsonpath.ts); name one
 * `NAME@NODE` (a node: its name) per line, to pipe into other commands.
 * `--sort-by` orders the API's objects (stably) before any format prints them.
 */
import type { ArgsDef } from "citty";
import { stringify } from "yaml";
import { AppError, usageError } from "../core/errors.ts";
import { evaluateJsonPath, fieldValue, parseJsonPath, type JsonPath } from "../core/jsonpath.ts";
import { stripControl } from "../core/format.ts";
import type { ClientContext } from "./context.ts";
import type { TableOptions } from "./tables.ts";

/** The options every listing adds to `common`. */
export const outputArgs = {
  output: { type: "string", alias: "o", valueHint: "FORMAT", description: "table, wide, json, yaml, name or jsonpath=EXPR (default table)" },
  headers: { type: "boolean", default: true, description: "Leave out the header row of table and wide" },
  "sort-by": { type: "string", valueHint: "FIELD", description: "Order by a field of the API's objects: name, .state, .resources.cpus…" },
} as const satisfies ArgsDef;

export type OutputFormat = { kind: "table" | "wide" | "json" | "yaml" | "name" } | { kind: "jsonpath"; path: JsonPath };

/** How a listing prints, from its flags. */
export interface Output {
  format: OutputFormat;
  headers: boolean;
  sortBy: string | null;
}

const FORMATS = "table, wide, json, yaml, name, jsonpath=EXPR";

/**
 * Reads `-o`, `--json`, `--no-headers` and `--sort-by`, before anything is asked of the master.
 * @throws AppError E_USAGE for an unknown format (listing the formats), a bad expression, or --json with another -o
 */
export function parseOutput(args: { output?: string; json?: boolean; headers?: boolean; "sort-by"?: string }): Output {
  const text = args.output?.trim();
  let format: OutputFormat;
  if (text === undefined) format = { kind: args.json ? "json" : "table" };
  else if (text.startsWith("jsonpath=")) format = { kind: "jsonpath", path: parseJsonPath(text.slice("jsonpath=".length)) };
  else if (text === "table" || text === "wide" || text === "json" || text === "yaml" || text === "name") format = { kind: text };
  else throw usageError(`Unknown output format ${JSON.stringify(text.slice(0, 60))}: expected one of ${FORMATS}`);
  if (args.json && format.kind !== "json") throw usageError(`--json is -o json: it cannot go with -o ${text}`);
  const sortBy = args["sort-by"]?.trim() ?? null;
  if (sortBy === "") throw usageError("--sort-by needs a field, such as name or .state");
  if (sortBy !== null) fieldValue(sortBy, {});
  return { format, headers: args.headers !== false, sortBy };
}

/** Whether the format is one of the tables, which the command renders itself. */
export function isTable(out: Output): boolean {
  return out.format.kind === "table" || out.format.kind === "wide";
}

function compare(a: unknown, b: unknown): number {
  if (a === undefined || a === null) return b === undefined || b === null ? 0 : 1;
  if (b === undefined || b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  const x = typeof a === "string" ? a : JSON.stringify(a);
  const y = typeof b === "string" ? b : JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * `items` ordered by `field` (stable; missing values last).
 * @throws AppError E_USAGE when no item has the field
 */
export function sortItems(items: readonly unknown[], field: string): unknown[] {
  const keyed = items.map((item) => ({ item, key: fieldValue(field, item) }));
  if (keyed.length > 0 && keyed.every((k) => k.key === undefined)) {
    const first = items[0];
    const fields = first !== null && typeof first === "object" ? Object.keys(first).join(", ") : "";
    throw usageError(`Cannot sort by ${JSON.stringify(field.slice(0, 60))}: no item has that field${fields ? ` (fields: ${fields})` : ""}`);
  }
  return keyed.sort((a, b) => compare(a.key, b.key)).map((k) => k.item);
}

/** Where a listing's items are in the API's answer: the answer itself (an array) or one of its fields. */
export interface ListingShape<T> {
  /** The field holding the array, or null when the answer is the array. */
  key: string | null;
  parse: (items: unknown[]) => T[];
  /** What `-o name` prints of an item. */
  name: (item: T) => string;
}

/** @throws AppError E_PROTOCOL when the answer has no array where the listing's items should be */
function itemsOf(json: unknown, key: string | null): unknown[] {
  const items = key === null ? json : json !== null && typeof json === "object" && !Array.isArray(json) ? (json as Record<string, unknown>)[key] : undefined;
  if (!Array.isArray(items)) throw new AppError("E_PROTOCOL", `The master's answer has no list of items${key === null ? "" : ` in "${key}"`}: is it a multiverse master?`);
  return items;
}

/**
 * Prints the answer in any format but the tables, and returns null; for a
 * table, returns the (sorted) items for the command to render. Plain
 * `--json` / `-o json` prints the API's text as it came; with --sort-by, the
 * sorted JSON.
 */
export function printListing<T>(ctx: ClientContext, out: Output, answer: { text: string; json: unknown }, shape: ListingShape<T>): T[] | null {
  let json = answer.json;
  if (out.sortBy !== null) {
    const sorted = sortItems(itemsOf(json, shape.key), out.sortBy);
    json = shape.key === null ? sorted : { ...(json as Record<string, unknown>), [shape.key]: sorted };
  }
  const { format } = out;
  if (format.kind === "json") ctx.stdout((out.sortBy === null ? answer.text : JSON.stringify(json)) + "\n");
  else if (format.kind === "yaml") {
    // yaml escapes C0 controls in what it quotes, not C1 ones (\x9b starts a sequence on some terminals).
    const text = stringify(json);
    ctx.stdout(ctx.isTTY ? stripControl(text) : text);
  }
  else if (format.kind === "jsonpath") {
    const text = evaluateJsonPath(format.path, json);
    ctx.stdout(ctx.isTTY ? stripControl(text) : text);
    if (text !== "" && !text.endsWith("\n")) ctx.stdout("\n");
  } else {
    const items = shape.parse(itemsOf(json, shape.key));
    if (format.kind === "table" || format.kind === "wide") return items;
    for (const item of items) ctx.stdout(stripControl(shape.name(item)) + "\n");
  }
  return null;
}

/** The table options of `out` for this terminal: a pipe gets full width. */
export function tableOptions(ctx: ClientContext, out: Output): TableOptions {
  return { headers: out.headers, maxWidth: ctx.isTTY ? ctx.terminal.size().cols : null };
}
