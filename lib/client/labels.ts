/**
 * Labels from the client (issue 15): `label NAME[@NODE]… key=value key-`
 * on instances, `nodes label NODE… key=value key-` on nodes (each target
 * its own call and its own result line; the exit status is 1 when any
 * failed), and what the listings and `launch` share: reading `-l`, `-L` and
 * every `--label`, and showing labels as `k=v,k=v`.
 */
import { defineCommand, type ArgsDef } from "citty";
import { apiFor, paint, writeArgs, type ClientContext } from "./context.ts";
import type { ApiClient } from "./api-client.ts";
import { EXIT } from "../cli/run.ts";
import { repeatedOption } from "../cli/citty.ts";
import { withNotes } from "../cli/help.ts";
import { toAppError, usageError } from "../core/errors.ts";
import { stripControl } from "../core/format.ts";
import { parseLabelChange, parseSelector, validateLabelKey, MAX_LABELS, type LabelChange, type Labels } from "../core/labels.ts";
import { parseInstanceRef, validateNodeName } from "../core/validate.ts";
import { parseInstanceView, parseNodeView } from "../protocol/api.ts";
import type { LabelResult } from "../protocol/labels.ts";

/** The most targets one `label` call names. */
const MAX_TARGETS = 1000;

/** Labels as `k=v,k=v` (sorted by key), or "" when none. */
export function formatLabels(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");
}

/** `-l`'s text, checked here for a quick, exact error (the master checks it again). @throws AppError E_USAGE */
export function selectorArg(text: string | undefined): string | null {
  if (text === undefined) return null;
  parseSelector(text);
  return text;
}

/** `-L key[,key]`: the label keys to show as columns. @throws AppError E_USAGE */
export function labelColumns(text: string | undefined): string[] {
  if (text === undefined) return [];
  const keys = text.split(",").map((k) => k.trim());
  if (keys.length > MAX_LABELS) throw usageError(`Too many label columns (at most ${MAX_LABELS})`);
  return [...new Set(keys.map((k) => validateLabelKey(k)))];
}

/** Every `--label k=v` (or `--label=k=v`) before `--`, as one set: citty keeps only the last of a repeated option. @throws AppError E_USAGE */
export function repeatedLabels(rawArgs: readonly string[]): Record<string, string> | null {
  const words = repeatedOption(rawArgs, "label");
  if (words.length === 0) return null;
  for (const w of words) if (!w.includes("=")) throw usageError(`Invalid --label ${JSON.stringify(w.slice(0, 70))}: expected key=value`);
  return parseLabelChange(words).set;
}

/** Splits `NAME… key=value key-` into targets and the change; a word with "=" or a trailing "-" is a change. @throws AppError E_USAGE */
export function splitLabelWords(words: readonly string[], what: "instance" | "node"): { targets: string[]; change: LabelChange } {
  const isChange = (w: string) => w.includes("=") || w.endsWith("-");
  const targets = words.filter((w) => !isChange(w));
  const changes = words.filter(isChange);
  if (targets.length === 0) throw usageError(`Name at least one ${what}, then key=value to set a label or key- to remove one`);
  if (targets.length > MAX_TARGETS) throw usageError(`Too many ${what}s in one call (at most ${MAX_TARGETS})`);
  for (const t of targets) {
    if (what === "instance") parseInstanceRef(t);
    else validateNodeName(t);
  }
  return { targets: [...new Set(targets)], change: parseLabelChange(changes) };
}

type Labelled = { node: string | null; name: string; labels: Labels };

/** Sends the change to each target in turn, printing each result as it comes; @returns the exit status. */
async function labelEach(ctx: ClientContext, json: boolean, targets: string[], send: (target: string) => Promise<Labelled>): Promise<number> {
  const results: LabelResult[] = [];
  const e = paint(ctx, "stderr");
  for (const target of targets) {
    try {
      const done = await send(target);
      results.push({ ...done, ok: true, error: null });
      if (!json) ctx.stdout(stripControl(`${done.node === null ? done.name : `${done.name}@${done.node}`}: ${formatLabels(done.labels) || "(no labels)"}`) + "\n");
    } catch (error) {
      const failure = toAppError(error);
      if (failure.code === "E_UNREACHABLE" || failure.code === "E_UNAUTHORIZED") throw failure;
      results.push({ node: null, name: target, ok: false, labels: null, error: { code: failure.code, message: failure.message } });
      if (!json) ctx.stderr(`${e.red("error")}: ${stripControl(`${target}: ${failure.message}`)}\n`);
    }
  }
  const ok = results.every((r) => r.ok);
  if (json) ctx.stdout(`${JSON.stringify({ ok, results })}\n`);
  return ok ? EXIT.ok : EXIT.failure;
}

function changeBody(change: LabelChange) {
  return { ...(Object.keys(change.set).length > 0 ? { set: change.set } : {}), ...(change.remove.length > 0 ? { remove: change.remove } : {}) };
}

async function labelInstance(api: ApiClient, ref: string, change: LabelChange): Promise<Labelled> {
  const view = parseInstanceView((await api.post(`/api/v1/instances/${encodeURIComponent(ref)}/labels`, changeBody(change))).json, "instance");
  return { node: view.node, name: view.name, labels: view.labels };
}

async function labelNode(api: ApiClient, name: string, change: LabelChange): Promise<Labelled> {
  const view = parseNodeView((await api.post(`/api/v1/nodes/${encodeURIComponent(name)}/labels`, changeBody(change))).json, "node");
  return { node: null, name: view.name, labels: view.labels };
}

const LABEL_NOTES = [
  "key=value sets a label, key- removes one; a key is [PREFIX/]NAME, as in Kubernetes: NAME and a value at most 63 letters, digits, -, _ or . (alphanumeric at both ends), PREFIX a DNS subdomain.",
  "Each target is its own call with its own result line; the exit status is 1 when any failed. Shown by instances -L KEY and --show-labels; selected with -l.",
];

/** `multiverse label NAME[@NODE]… key=value key-` */
export function labelCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes({ name: "label", description: "Set or remove labels of instances: label NAME[@NODE]... key=value key-" }, LABEL_NOTES),
    args: {
      words: { type: "positional", required: false, valueHint: "NAME... KEY=VALUE... KEY-...", description: "Instances (NAME or NAME@NODE), then the changes" },
      ...writeArgs,
    },
    async run({ args }) {
      const { targets, change } = splitLabelWords(args._.map(String), "instance");
      const api = apiFor(args, ctx);
      return labelEach(ctx, args.json, targets, (ref) => labelInstance(api, ref, change));
    },
  });
}

/** `multiverse nodes label NODE… key=value key-` */
export function nodeLabelCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes({ name: "label", description: "Set or remove labels of nodes: nodes label NODE... key=value key-" }, LABEL_NOTES),
    args: {
      words: { type: "positional", required: false, valueHint: "NODE... KEY=VALUE... KEY-...", description: "Nodes, then the changes" },
      ...writeArgs,
    },
    async run({ args }) {
      const { targets, change } = splitLabelWords(args._.map(String), "node");
      const api = apiFor(args, ctx);
      return labelEach(ctx, args.json, targets, (name) => labelNode(api, name, change));
    },
  });
}

/** `-l`: the instances (or nodes) whose labels match. */
export const selectorOption = {
  selector: { type: "string", alias: "l", valueHint: "SELECTOR", description: "Only those whose labels match, e.g. role=web,env!=prod,tier in (a,b),!legacy" },
} as const satisfies ArgsDef;
