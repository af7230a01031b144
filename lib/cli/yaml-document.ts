/**
 * The one reader of YAML files a person writes (the client's config, an
 * environment's document): one document, no duplicate keys, bounded in size
 * and in alias expansion, and a way back from a path in the value to the line
 * it was written on, so that errors found later can name it.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import { messageOf, usageError } from "../core/errors.ts";

/** The largest YAML text read, in bytes. */
export const MAX_YAML_BYTES = 1024 * 1024;
/** How many alias expansions a document may make (a "billion laughs" document makes millions). */
const MAX_ALIAS_COUNT = 100;

/** A path into a YAML value: mapping keys and sequence indexes, `["instances", 1, "cpus"]`. */
export type YamlPath = readonly (string | number)[];

/** A YAML document read: its value, and the line of any path in it. */
export interface YamlDocument {
  /** The document as plain JSON-like data (aliases resolved); null for an empty document. */
  value: unknown;
  /**
   * The 1-based line of the node at `path`: a mapping entry's key, or a
   * sequence item. A path that does not exist gives the line of its nearest
   * parent that does; null when not even the first step exists.
   */
  lineOf(path: YamlPath): number | null;
}

/**
 * Reads the text of a YAML file; `what` names the file in errors.
 * @throws AppError E_USAGE `what:LINE: reason` on a syntax error, a duplicate
 *   key, several documents, an unresolved or over-used alias, or a text over
 *   {@link MAX_YAML_BYTES}; `details` carries `line` (when known) and `reason`.
 */
export function readYamlDocument(text: string, what: string): YamlDocument {
  if (text.length > MAX_YAML_BYTES || Buffer.byteLength(text, "utf8") > MAX_YAML_BYTES) {
    throw usageError(`${what}: the file is over ${MAX_YAML_BYTES} bytes`, { details: { line: null, reason: "too large" } });
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const [first] = doc.errors;
  if (first) {
    const line = first.linePos?.[0]?.line ?? null;
    throw failure(what, line, first.message.replace(/ at line \d+, column \d+:[\s\S]*$/, "").split("\n")[0] ?? first.code);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    throw failure(what, null, messageOf(error));
  }
  return { value: value ?? null, lineOf: (path) => lineOf(doc, lineCounter, path) };
}

function failure(what: string, line: number | null, reason: string) {
  return usageError(`${what}${line === null ? "" : `:${line}`}: ${reason}`, { details: { line, reason } });
}

function lineOf(doc: Document, lineCounter: LineCounter, path: YamlPath): number | null {
  const lineAt = (node: Node | null | undefined) => (node?.range ? lineCounter.linePos(node.range[0]).line : null);
  let node = resolve(doc, doc.contents);
  let line: number | null = path.length === 0 ? lineAt(node) : null;
  for (const step of path) {
    let next: Node | null = null;
    let at: number | null = null;
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && keyOf(item.key) === String(step));
      if (pair) {
        at = lineAt(pair.key as Node) ?? lineAt(pair.value as Node);
        next = resolve(doc, pair.value as Node | null);
      }
    } else if (isSeq(node) && typeof step === "number") {
      const item = node.items[step] as Node | undefined;
      at = lineAt(item);
      next = resolve(doc, item ?? null);
    }
    if (at === null) break;
    line = at;
    node = next;
  }
  return line;
}

function keyOf(key: unknown): string | null {
  return isScalar(key) ? String(key.value) : null;
}

/** The node an alias stands for; other nodes as they are. */
function resolve(doc: Document, node: Node | null | undefined): Node | null {
  if (isAlias(node)) return (node.resolve(doc) as Node | undefined) ?? null;
  return node ?? null;
}
