/**
 * Labels and label selectors, in Kubernetes' grammar (issue 15), so that
 * people who know `kubectl get -l` know these:
 *
 * - a key is `[PREFIX/]NAME`: NAME at most 63 characters, alphanumeric at
 *   both ends, `-`, `_` and `.` inside; PREFIX a DNS subdomain of at most 253
 *   characters (lowercase labels joined by dots);
 * - a value is empty, or at most 63 characters of the same alphabet as NAME;
 * - a selector is requirements joined by commas, all of which must hold:
 *   `k=v` (or `k==v`), `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists),
 *   `!k` (does not exist), `k>N` and `k<N` (integers). As in Kubernetes,
 *   `k!=v` and `k notin (…)` also hold where `k` is not set at all.
 *
 * Pure: no I/O. Every function throws AppError E_USAGE with a message that
 * quotes a bounded prefix of the offending text.
 */
import { usageError } from "./errors.ts";

export type Labels = Readonly<Record<string, string>>;

export type Requirement =
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: readonly string[] }
  | { key: string; op: "exists" | "!exists" }
  | { key: string; op: ">" | "<"; value: number };

/** All must hold; the empty selector selects everything. */
export type Selector = readonly Requirement[];

const NAME = /^(?:[A-Za-z0-9]|[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9])$/;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const MAX_NAME = 63;
const MAX_PREFIX = 253;
/** The most labels one instance or node carries, and the longest selector read. */
export const MAX_LABELS = 64;
const MAX_SELECTOR_CHARS = 4096;
const MAX_REQUIREMENTS = 64;

function quote(text: string): string {
  return JSON.stringify(text.length > 70 ? `${text.slice(0, 70)}…` : text);
}

/** Checks a label key. @throws AppError E_USAGE */
export function validateLabelKey(key: string): string {
  const slash = key.indexOf("/");
  const prefix = slash < 0 ? null : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== null && (prefix.length === 0 || prefix.length > MAX_PREFIX || !DNS_SUBDOMAIN.test(prefix))) {
    throw usageError(`Invalid label key ${quote(key)}: the prefix before "/" must be a DNS subdomain (lowercase letters, digits, "-" and ".", at most ${MAX_PREFIX} characters)`);
  }
  if (name.length === 0 || name.length > MAX_NAME || !NAME.test(name)) {
    throw usageError(`Invalid label key ${quote(key)}: a name is 1 to ${MAX_NAME} letters, digits, "-", "_" or ".", starting and ending with a letter or digit`);
  }
  return key;
}

/** Checks a label value (empty is allowed). @throws AppError E_USAGE */
export function validateLabelValue(value: string, key = "?"): string {
  if (value === "") return value;
  if (value.length > MAX_NAME || !NAME.test(value)) {
    throw usageError(`Invalid value ${quote(value)} of label ${quote(key)}: a value is empty or up to ${MAX_NAME} letters, digits, "-", "_" or ".", starting and ending with a letter or digit`);
  }
  return value;
}

/** What `label NAME key=value key-` asks for: labels to set, keys to remove. */
export interface LabelChange {
  set: Record<string, string>;
  remove: string[];
}

/** Reads `key=value` (set) and `key-` (remove) words; a key named twice is an error. @throws AppError E_USAGE */
export function parseLabelChange(words: readonly string[]): LabelChange {
  if (words.length === 0) throw usageError("No labels given: key=value sets one, key- removes one");
  if (words.length > MAX_LABELS) throw usageError(`Too many label changes (${words.length}; at most ${MAX_LABELS})`);
  const set: Record<string, string> = {};
  const remove: string[] = [];
  const seen = new Set<string>();
  for (const word of words) {
    const eq = word.indexOf("=");
    const key = eq >= 0 ? word.slice(0, eq) : word.endsWith("-") ? word.slice(0, -1) : null;
    if (key === null) throw usageError(`Invalid label change ${quote(word)}: expected key=value to set or key- to remove`);
    validateLabelKey(key);
    if (seen.has(key)) throw usageError(`Label ${quote(key)} is named twice`);
    seen.add(key);
    if (eq >= 0) set[key] = validateLabelValue(word.slice(eq + 1), key);
    else remove.push(key);
  }
  return { set, remove };
}

/** The labels after a change. @throws AppError E_USAGE past {@link MAX_LABELS} */
export function applyLabelChange(labels: Labels, change: LabelChange): Record<string, string> {
  const next: Record<string, string> = { ...labels, ...change.set };
  for (const key of change.remove) delete next[key];
  if (Object.keys(next).length > MAX_LABELS) throw usageError(`Too many labels (at most ${MAX_LABELS})`);
  return next;
}

type Token = { kind: "word"; text: string } | { kind: "op"; text: "=" | "==" | "!=" | ">" | "<" | "!" | "," | "(" | ")" };

const OPERATORS = ["==", "!=", "=", ">", "<", "!", ",", "(", ")"] as const;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === " " || ch === "\t") {
      i++;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op !== undefined) {
      tokens.push({ kind: "op", text: op });
      i += op.length;
      continue;
    }
    let j = i;
    while (j < text.length && !" \t=!<>,()".includes(text[j]!)) j++;
    tokens.push({ kind: "word", text: text.slice(i, j) });
    i = j;
  }
  return tokens;
}

/** Parses a selector (`role=web,env!=prod,tier in (a,b),!legacy`). @throws AppError E_USAGE */
export function parseSelector(text: string): Selector {
  if (text.length > MAX_SELECTOR_CHARS) throw usageError(`The selector is too long (${text.length} characters; at most ${MAX_SELECTOR_CHARS})`);
  if (/[\u0000-\u001f\u007f]/.test(text)) throw usageError(`Invalid selector ${quote(text)}: it contains a control character`);
  const tokens = tokenize(text);
  const requirements: Requirement[] = [];
  let at = 0;
  const fail = (why: string): never => {
    throw usageError(`Invalid selector ${quote(text)}: ${why}`);
  };
  const next = () => tokens[at++];
  const peek = () => tokens[at];
  const word = (what: string): string => {
    const t = next();
    if (t?.kind !== "word") return fail(`expected ${what}${t ? ` before ${quote(t.text)}` : " at the end"}`);
    return t.text;
  };
  if (tokens.length === 0) return [];
  for (;;) {
    if (requirements.length >= MAX_REQUIREMENTS) fail(`more than ${MAX_REQUIREMENTS} requirements`);
    requirements.push(requirement());
    const t = next();
    if (t === undefined) break;
    if (t.text !== ",") fail(`expected "," before ${quote(t.text)}`);
  }
  return requirements;

  function requirement(): Requirement {
    const first = peek();
    if (first?.kind === "op" && first.text === "!") {
      next();
      return { key: validateLabelKey(word("a label key after \"!\"")), op: "!exists" };
    }
    const key = validateLabelKey(word("a label key"));
    const t = peek();
    if (t === undefined || (t.kind === "op" && t.text === ",")) return { key, op: "exists" };
    next();
    if (t.kind === "word") {
      if (t.text !== "in" && t.text !== "notin") fail(`expected an operator after ${quote(key)}, got ${quote(t.text)}`);
      return { key, op: t.text as "in" | "notin", values: valueSet(key) };
    }
    switch (t.text) {
      case "=":
      case "==":
        return { key, op: "=", value: value(key) };
      case "!=":
        return { key, op: "!=", value: value(key) };
      case ">":
      case "<": {
        const n = word(`an integer after ${quote(key + t.text)}`);
        if (!/^-?\d{1,15}$/.test(n)) fail(`${quote(n)} is not an integer`);
        return { key, op: t.text, value: Number(n) };
      }
      default:
        return fail(`expected an operator after ${quote(key)}, got ${quote(t.text)}`);
    }
  }

  /** A value: possibly empty (`k=` selects an empty value). */
  function value(key: string): string {
    const t = peek();
    if (t === undefined || t.kind === "op") return validateLabelValue("", key);
    next();
    return validateLabelValue(t.text, key);
  }

  function valueSet(key: string): string[] {
    const open = next();
    if (open?.kind !== "op" || open.text !== "(") fail(`expected "(" after ${quote(key)} in/notin`);
    const values: string[] = [];
    for (;;) {
      const t = peek();
      if (t?.kind === "word") {
        next();
        values.push(validateLabelValue(t.text, key));
      } else values.push(validateLabelValue("", key));
      const sep = next();
      if (sep?.kind === "op" && sep.text === ")") break;
      if (sep?.kind !== "op" || sep.text !== ",") fail(`expected "," or ")" in the values of ${quote(key)}`);
      if (values.length >= MAX_LABELS) fail(`more than ${MAX_LABELS} values for ${quote(key)}`);
    }
    if (values.length === 1 && values[0] === "") fail(`the values of ${quote(key)} in/notin cannot be empty`);
    return values;
  }
}

/** Whether `labels` satisfy every requirement of `selector`. */
export function matchesSelector(selector: Selector, labels: Labels): boolean {
  return selector.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const value = has ? labels[r.key]! : undefined;
    switch (r.op) {
      case "=":
        return value === r.value;
      case "!=":
        return value !== r.value;
      case "in":
        return value !== undefined && r.values.includes(value);
      case "notin":
        return value === undefined || !r.values.includes(value);
      case "exists":
        return has;
      case "!exists":
        return !has;
      case ">":
      case "<": {
        if (value === undefined || !/^-?\d{1,15}$/.test(value)) return false;
        return r.op === ">" ? Number(value) > r.value : Number(value) < r.value;
      }
    }
  });
}

/** The canonical text of a selector (what `parseSelector` reads back to the same selector). */
export function formatSelector(selector: Selector): string {
  return selector
    .map((r) => {
      switch (r.op) {
        case "=":
        case "!=":
          return `${r.key}${r.op}${r.value}`;
        case "in":
        case "notin":
          return `${r.key} ${r.op} (${r.values.join(",")})`;
        case "exists":
          return r.key;
        case "!exists":
          return `!${r.key}`;
        case ">":
        case "<":
          return `${r.key}${r.op}${r.value}`;
      }
    })
    .join(",");
}
