/**
 * The field readers of an environment's document (environment-document.ts):
 * each checks one value and, on a problem, throws an error that names where
 * it is — `lab.yaml:7: instances[1].cpus: must be a whole number from 1 to
 * 1024` — through a {@link Reporter}.
 */
import { AppError, usageError } from "../core/errors.ts";
import { MAX_LABELS, validateLabelKey, validateLabelValue } from "../core/labels.ts";
import { quoteValue, validateImage, validateLaunchSizes, validateNetworkSpec, validateNodeName, MAX_CPUS } from "../core/validate.ts";
import { MAX_NETWORKS } from "./instances.ts";
import { MAX_CLOUD_INIT_BYTES } from "./operations.ts";
import { ENVIRONMENT_LABEL } from "./environments.ts";

/** A path into the document: `["instances", 1, "cpus"]`. */
export type DocPath = readonly (string | number)[];

/** Where a document came from, for its errors: the line of a path, and the file's name. */
export interface DocumentSource {
  /** The 1-based line of the value at a path (see readYamlDocument), or null. */
  lineOf?: (path: DocPath) => number | null;
  /** The file's name, `lab.yaml`. */
  source?: string;
}

/** `instances[1].labels.role`, `instances[0].labels["multiverse/env"]`. */
export function formatPath(path: DocPath): string {
  let out = "";
  for (const step of path) {
    if (typeof step === "number") out += `[${step}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(step)) out += out === "" ? step : `.${step}`;
    else out += `[${JSON.stringify(step.slice(0, 64))}]`;
  }
  return out === "" ? "the document" : out;
}

/** Throws the errors of one document. */
export interface Reporter {
  /** @throws AppError E_USAGE `source:line: path: message` */
  fail(path: DocPath, message: string): never;
  /** @throws AppError E_USAGE `source:line: path detail` (`instances[1].cloudInit line 3: …`) */
  failWithin(path: DocPath, detail: string): never;
  /** Runs `check`, rethrowing its AppError's message at `path`. */
  at<T>(path: DocPath, check: () => T): T;
}

/** A reporter for a document from `source`. */
export function createReporter(source: DocumentSource): Reporter {
  const prefix = (path: DocPath) => {
    const line = source.lineOf?.(path) ?? null;
    if (source.source !== undefined) return line === null ? `${source.source}: ` : `${source.source}:${line}: `;
    return line === null ? "" : `line ${line}: `;
  };
  const raise = (path: DocPath, text: string): never => {
    throw usageError(`${prefix(path)}${formatPath(path)}${text}`, { details: { path: [...path] } });
  };
  const fail = (path: DocPath, message: string): never => raise(path, `: ${message}`);
  const failWithin = (path: DocPath, detail: string): never => raise(path, ` ${detail}`);
  return {
    fail,
    failWithin,
    at(path, check) {
      try {
        return check();
      } catch (error) {
        if (error instanceof AppError && error.code === "E_USAGE") return fail(path, error.message);
        throw error;
      }
    },
  };
}

/** A mapping, as a plain object. */
export function readObject(value: unknown, path: DocPath, r: Reporter, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) r.fail(path, `must be a mapping (${what}), not ${kindOf(value)}`);
  return value as Record<string, unknown>;
}

/** Refuses a key not in `allowed`, suggesting the one meant where it is close (`cpu`, `cloud-init`). */
export function checkKeys(o: Record<string, unknown>, allowed: readonly string[], path: DocPath, r: Reporter): void {
  for (const key of Object.keys(o)) {
    if (allowed.includes(key)) continue;
    const meant = closest(key, allowed);
    r.fail([...path, key], `unknown key ${quoteValue(key)}${meant === null ? "" : ` (did you mean ${meant}?)`}: expected ${allowed.join(", ")}`);
  }
}

/** The allowed key `key` is a slip of: the same but for case, `-` and `_`, or at most two edits away. */
function closest(key: string, allowed: readonly string[]): string | null {
  const fold = (k: string) => k.toLowerCase().replace(/[-_]/g, "");
  if (key.length > 40) return null;
  let best: string | null = null;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const d = fold(candidate) === fold(key) ? 0 : distance(fold(key), fold(candidate));
    if (d < bestDistance && d < candidate.length / 2) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance of two short strings. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** How a value reads in a message: `empty`, `a list`, `the string "x"`, `number 2`. */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return "empty";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return typeof value === "string" ? `the string ${quoteValue(value)}` : `${typeof value} ${quoteValue(value)}`;
}

/** A non-empty string. */
export function readString(value: unknown, path: DocPath, r: Reporter): string {
  if (typeof value !== "string" || value === "") r.fail(path, `must be a non-empty string, not ${kindOf(value)}`);
  return value;
}

/** A whole number from `min` to `max`. */
export function readWhole(value: unknown, min: number, max: number, path: DocPath, r: Reporter): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    r.fail(path, `must be a whole number from ${min} to ${max}, not ${kindOf(value)}`);
  }
  return value;
}

/** A CPU count, 1 to {@link MAX_CPUS}. */
export function readCpus(value: unknown, path: DocPath, r: Reporter): number {
  return readWhole(value, 1, MAX_CPUS, path, r);
}

/** An image; a number is refused with a hint, since YAML reads `24.10` unquoted as 24.1. */
export function readImage(value: unknown, path: DocPath, r: Reporter): string {
  if (typeof value === "number") {
    r.fail(path, `must be text, not the number ${value}: put the release in quotes (image: "24.04"); unquoted, YAML reads 24.10 as the number 24.1`);
  }
  return r.at(path, () => validateImage(readString(value, path, r)));
}

/** A memory or disk size (`1G`, `512M`), in its canonical spelling. */
export function readSize(value: unknown, which: "memory" | "disk", path: DocPath, r: Reporter): string {
  if (typeof value !== "string" && typeof value !== "number") r.fail(path, `must be a size such as 1G or 512M, not ${kindOf(value)}`);
  return r.at(path, () => validateLaunchSizes({ [which]: String(value) })[which]!);
}

/** A node's name (to pin an instance to it). */
export function readNode(value: unknown, path: DocPath, r: Reporter): string {
  return r.at(path, () => validateNodeName(readString(value, path, r)));
}

/** `true` or `false`, nothing YAML 1.1 would have read as one (`yes`, `on`). */
export function readBoolean(value: unknown, path: DocPath, r: Reporter): boolean {
  if (typeof value !== "boolean") r.fail(path, `must be true or false, not ${kindOf(value)}`);
  return value;
}

/** A `labels` mapping; {@link ENVIRONMENT_LABEL} is the environment's own. */
export function readLabels(value: unknown, path: DocPath, r: Reporter): Record<string, string> {
  const o = readObject(value, path, r, "label keys to values");
  const labels: Record<string, string> = {};
  const keys = Object.keys(o);
  if (keys.length > MAX_LABELS) r.fail(path, `has ${keys.length} labels; at most ${MAX_LABELS}`);
  for (const key of keys) {
    const at = [...path, key];
    if (key === ENVIRONMENT_LABEL) r.fail(at, `the label ${ENVIRONMENT_LABEL} is set by multiverse to the environment's name; choose another key`);
    r.at(at, () => validateLabelKey(key));
    const v = o[key];
    if (typeof v !== "string") {
      const hint = typeof v === "number" || typeof v === "boolean" ? ` (write it in quotes: "${String(v)}")` : "";
      r.fail(at, `a label's value must be a string, not ${kindOf(v)}${hint}`);
    }
    labels[key] = r.at(at, () => validateLabelValue(v, key));
  }
  return labels;
}

/** `network`: one Multipass `--network` spec, or a list of them. */
export function readNetworks(value: unknown, path: DocPath, r: Reporter): string[] {
  if (typeof value === "string") return [r.at(path, () => validateNetworkSpec(value))];
  if (!Array.isArray(value)) r.fail(path, `must be a network spec such as "bridged" or "name=eth1,mode=manual", or a list of them; not ${kindOf(value)}`);
  if (value.length > MAX_NETWORKS) r.fail(path, `lists ${value.length} networks; at most ${MAX_NETWORKS}`);
  return value.map((spec, i) => {
    if (typeof spec !== "string") r.fail([...path, i], `must be a network spec such as "bridged", not ${kindOf(spec)}`);
    return r.at([...path, i], () => validateNetworkSpec(spec));
  });
}

/** `after`: a list of names (a single name is taken as a list of one). */
export function readNames(value: unknown, path: DocPath, r: Reporter): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list)) r.fail(path, `must be a list of instance names, not ${kindOf(value)}`);
  return list.map((name, i) => readString(name, typeof value === "string" ? path : [...path, i], r));
}

/** A cloud-init text, at most {@link MAX_CLOUD_INIT_BYTES} bytes (what a launch takes). */
export function readCloudInit(value: unknown, path: DocPath, r: Reporter): string {
  if (typeof value !== "string") r.fail(path, `must be the text of a cloud-init document (a YAML block: cloudInit: |), not ${kindOf(value)}`);
  // Every character is at most 3 bytes in UTF-8 (4 for a surrogate pair's 2): count only when it may matter.
  const bytes = value.length * 3 <= MAX_CLOUD_INIT_BYTES ? 0 : new TextEncoder().encode(value).length;
  if (bytes > MAX_CLOUD_INIT_BYTES) r.fail(path, `is ${bytes} bytes; a cloud-init document is at most ${MAX_CLOUD_INIT_BYTES}`);
  return value;
}
