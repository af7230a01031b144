/**
 * The label wire (issue 15): the `labels` object of instance and node views,
 * the body of `POST /api/v1/instances/:ref/labels` and
 * `POST /api/v1/nodes/:name/labels` (`{ set?: { key: value }, remove?: [key] }`),
 * the `?selector=` of listings and the answer of `label` on several
 * instances. Keys, values and selectors in Kubernetes' grammar (core/labels.ts).
 */
import { AppError, messageOf, usageError } from "../core/errors.ts";
import { MAX_LABELS, parseSelector, validateLabelKey, validateLabelValue, type LabelChange, type Labels, type Selector } from "../core/labels.ts";
import { arrayOf, field, object, optional, ParseError, string } from "../core/parse.ts";

/** A `labels` object: string values under valid keys, at most MAX_LABELS. @throws ParseError */
export function parseLabels(value: unknown, path: string): Labels {
  const o = object(value, path);
  const entries = Object.entries(o);
  if (entries.length > MAX_LABELS) throw new ParseError(path, `more than ${MAX_LABELS} labels`);
  const labels: Record<string, string> = {};
  for (const [key, v] of entries) {
    try {
      labels[validateLabelKey(key)] = validateLabelValue(string(v, `${path}.${key}`), key);
    } catch (error) {
      if (error instanceof ParseError) throw error;
      throw new ParseError(path, messageOf(error));
    }
  }
  return labels;
}

/**
 * The body of a label call: labels to set and keys to remove, at least one
 * of them, no key in both, every key and value valid.
 * @throws AppError E_USAGE
 */
export function parseLabelChangeBody(value: unknown): LabelChange {
  const o = object(value, "body");
  for (const key of Object.keys(o)) if (key !== "set" && key !== "remove") throw usageError(`Unknown label field "${key.slice(0, 40)}": expected set and remove`);
  let set: Record<string, string>;
  let remove: string[];
  try {
    set = { ...(field(o, "set", "body", optional(parseLabels)) ?? {}) };
    remove = field(o, "remove", "body", optional(arrayOf(string))) ?? [];
  } catch (error) {
    throw error instanceof AppError && error.code === "E_USAGE" ? error : usageError(messageOf(error));
  }
  if (remove.length > MAX_LABELS) throw usageError(`Too many labels to remove (${remove.length}; at most ${MAX_LABELS})`);
  for (const key of remove) {
    validateLabelKey(key);
    if (Object.hasOwn(set, key)) throw usageError(`Label "${key}" is both set and removed`);
  }
  if (Object.keys(set).length === 0 && remove.length === 0) throw usageError("No labels given: set some, or remove some");
  return { set, remove: [...new Set(remove)] };
}

/** The `?selector=` of a listing or an action; undefined (absent) selects everything. @throws AppError E_USAGE */
export function parseSelectorQuery(text: string | undefined): Selector | null {
  return text === undefined ? null : parseSelector(text);
}

/** One instance's outcome of `label` on several instances (the client gathers them). */
export interface LabelResult {
  node: string | null;
  name: string;
  ok: boolean;
  labels: Labels | null;
  error: { code: string; message: string } | null;
}
