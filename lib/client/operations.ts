/**
 * The client's commands that change the state of instances: the lifecycle
 * verbs on one or more instances (or `--all`, or `-l SELECTOR`), and `purge`. Input is checked
 * here first for quick, exact errors; the master checks it again. Destructive
 * calls ask first on a terminal unless `--yes`. The answers stream: each
 * instance's (or node's) result is printed as it finishes, and a terminal
 * shows what is still going on and for how long (watch.ts).
 */
import { defineCommand } from "citty";
import type { ApiClient } from "./api-client.ts";
import { apiFor, defaultInstance, paint, writeArgs, type ClientContext } from "./context.ts";
import { EXIT } from "../cli/run.ts";
import { AppError, usageError } from "../core/errors.ts";
import { selectorArg } from "./labels.ts";
import { stripControl } from "../core/format.ts";
import { createRowPrinter, stateCell, type Cell } from "./tables.ts";
import { ELIGIBLE, LIFECYCLE_PAST, parseActionEvent, parsePurgeEvent, type ActionResult, type LifecycleAction } from "../protocol/operations.ts";
import { arrayOf, object, parseJson, type Json } from "../core/parse.ts";
import type { Progress } from "./progress.ts";
import { endedEarly, watchOperation } from "./watch.ts";
import { parseInstanceView } from "../protocol/api.ts";
import { parseInstanceRef } from "../core/validate.ts";

/** What `--all` (or `-l SELECTOR`) would touch, for the confirmation question. */
async function eligible(api: ApiClient, action: LifecycleAction, selector: string | null = null): Promise<string[]> {
  const query = selector === null ? "" : `?${new URLSearchParams({ selector })}`;
  const list = arrayOf(parseInstanceView)((await api.get(`/api/v1/instances${query}`)).json, "instances");
  return list.filter((i) => ELIGIBLE[action](i.state)).map((i) => `${i.name}@${i.node}`);
}

/** Whether there is someone to ask: questions go to a terminal and are answered from one. */
export function canAsk(ctx: ClientContext): boolean {
  return ctx.isTTY && ctx.terminal.stdinIsTTY;
}

/**
 * Asks before touching `targets`. Returns the exit status to stop with, or
 * null to go on: there is nothing to do, or the user said no.
 */
export async function askFirst(ctx: ClientContext, targets: string[], nothing: string, question: string): Promise<number | null> {
  if (targets.length === 0) {
    ctx.stdout(`${nothing}\n`);
    return EXIT.ok;
  }
  const answer = await ctx.terminal.ask(`${question} [y/N] `);
  if (/^y(es)?$/i.test(answer.trim())) return null;
  ctx.stderr("Cancelled; nothing was changed.\n");
  return EXIT.failure;
}

const DESCRIPTIONS: Record<LifecycleAction, string> = {
  start: "Start (or resume) instances",
  stop: "Stop instances",
  restart: "Restart running instances",
  suspend: "Suspend running instances",
  delete: "Delete instances (recoverable until purged; --purge for good)",
  recover: "Recover deleted instances",
};

/** Verbs that act on the primary instance when given no name, as multipass does (when exactly one exists). */
const PRIMARY_DEFAULT: ReadonlySet<LifecycleAction> = new Set(["start", "stop", "restart", "suspend"]);

const DOING: Record<LifecycleAction, string> = {
  start: "Starting",
  stop: "Stopping",
  restart: "Restarting",
  suspend: "Suspending",
  delete: "Deleting",
  recover: "Recovering",
};

/**
 * The instances a lifecycle call names, checked; empty with `--all`. With
 * no name, a verb Multipass runs on its primary instance acts on the one
 * named `primary`, when exactly one exists.
 * @throws AppError E_USAGE
 */
async function lifecycleRefs(api: ApiClient, action: LifecycleAction, names: string[], all: boolean, selector: string | null): Promise<string[]> {
  if ([all, names.length > 0, selector !== null].filter(Boolean).length > 1) throw usageError("Give instance names, --all or -l: only one of them");
  if (all || selector !== null) return [];
  for (const ref of names) parseInstanceRef(ref);
  if (names.length > 0) return names;
  if (!PRIMARY_DEFAULT.has(action)) throw usageError(`Name the instances to ${action}, or use --all or -l`);
  return [await defaultInstance(api, action)];
}

/** What a lifecycle call does, once its flags are read. */
interface LifecycleCall {
  action: LifecycleAction;
  /** The instances named; empty with `all` or a selector. */
  refs: string[];
  all: boolean;
  /** `-l`: the instances whose labels match (those the verb applies to). */
  selector: string | null;
  force: boolean;
  purge: boolean;
  yes: boolean;
  json: boolean;
}

/**
 * Asks before the verb when it is destructive or names its instances by
 * `--all` or `-l`. A selector's targets are listed, and once confirmed they
 * are what is sent (by name), so nothing the user did not see is touched.
 * @returns the exit status to stop with, or the call to make.
 */
async function confirmed(ctx: ClientContext, api: ApiClient, call: LifecycleCall): Promise<number | LifecycleCall> {
  const { action, all, selector } = call;
  if (!((action === "delete" || all || selector !== null) && !call.yes && canAsk(ctx))) return call;
  const targets = all || selector !== null ? await eligible(api, action, selector) : call.refs;
  if (selector !== null && targets.length === 0) throw noMatch(action, selector);
  const verb = action === "delete" && call.purge ? "Delete for good" : action[0]!.toUpperCase() + action.slice(1);
  const stop = await askFirst(ctx, targets, `Nothing to ${action}.`, `${verb} ${targets.join(", ")}?`);
  if (stop !== null) return stop;
  return selector === null ? call : { ...call, selector: null, refs: targets };
}

function noMatch(action: LifecycleAction, selector: string) {
  return new AppError("E_NOT_FOUND", `No instance that can be ${LIFECYCLE_PAST[action]} matches the selector ${JSON.stringify(selector)}`);
}

async function runLifecycle(ctx: ClientContext, api: ApiClient, asked: LifecycleCall): Promise<number> {
  const call = await confirmed(ctx, api, asked);
  if (typeof call === "number") return call;
  const { action, refs, all, selector } = call;
  const body = { ...(all ? { all: true } : selector !== null ? { selector } : { instances: refs }), force: call.force, purge: call.purge };
  const what = all
    ? `the ${action} of every instance it applies to`
    : selector !== null
      ? `the ${action} of the instances matching ${JSON.stringify(selector)}`
      : `the ${action} of ${refs.map((r) => `"${r}"`).join(", ")}`;
  return watchOperation(ctx, { what, live: ctx.isTTY && !call.json }, async (signal, progress) => {
    const pending = [...refs];
    let finished = 0;
    const show = () => {
      const many = all ? "every instance it applies to" : `the instances matching ${JSON.stringify(selector)}`;
      const which = all || selector !== null ? `${many}${finished > 0 ? ` (${finished} done)` : ""}` : pending.join(", ");
      if (!call.json) progress.phase(`${DOING[action]} ${which}`, action);
    };
    show();
    const lines = await api.stream(`/api/v1/actions/${action}`, body, { signal });
    const printRow = createRowPrinter(["Node Name", "Instance Name", "State"], [[], refs.map((r) => r.split("@")[0]!)], paint(ctx));
    for await (const line of lines) {
      const raw = parseJson(line, "event");
      const event = parseActionEvent(raw);
      if (event.type === "done") {
        if (call.json) ctx.stdout(`${JSON.stringify(bulkAnswer(raw))}\n`);
        else if (event.results.length === 0) progress.line(`Nothing to ${action}.`);
        return event.ok ? EXIT.ok : EXIT.failure;
      }
      finished++;
      const at = pending.findIndex((ref) => ref === event.result.name || ref === `${event.result.name}@${event.result.node}`);
      if (at >= 0) pending.splice(at, 1);
      if (call.json) continue;
      showResult(ctx, progress, printRow, event.result, call.purge);
      if (pending.length > 0 || all || selector !== null) show();
      else progress.stop();
    }
    throw endedEarly(api);
  });
}

/**
 * One instance's result, as a row of the results table (and its error on
 * stderr). A success with no state is an instance gone from its node's
 * listing: purged, when the call was a `delete --purge`.
 */
export function showResult(ctx: ClientContext, progress: Progress, printRow: (cells: Cell[]) => string, r: ActionResult, purge: boolean): void {
  const c = paint(ctx);
  const gone: Cell = { text: purge ? "Purged" : "Gone", paint: c.red };
  progress.line(printRow([r.node, r.name, r.ok ? (r.state === null ? gone : stateCell(r.state, c)) : { text: "failed", paint: c.red }]));
  if (r.error) progress.line(`${paint(ctx, "stderr").red("error")}: ${stripControl(r.error.message)}`, "stderr");
}

/**
 * The `{ ok, results }` of a streamed `done` event, as the JSON answer has
 * them: what `--json` printed before answers were streamed, byte for byte.
 */
export function bulkAnswer(done: Json): { ok: Json | undefined; results: Json | undefined } {
  const o = object(done, "event");
  return { ok: o["ok"], results: o["results"] };
}

/**
 * `delete -f FILE`: every instance of the environment the file names
 * (environments.ts, handed in by the command tree so that this file need not import it).
 */
export type EnvironmentDelete = (ctx: ClientContext, api: ApiClient, call: { path: string; purge: boolean; yes: boolean; json: boolean }) => Promise<number>;

/** `delete -f FILE` with names, --all or -l is refused: the file names what is deleted. @throws AppError E_USAGE */
function fileDelete(args: { _: unknown[]; all: boolean; file?: string }, selector: string | null): string | null {
  if (args.file === undefined) return null;
  if (args._.length > 0 || args.all || selector !== null) throw usageError("Give instance names, --all, -l or -f FILE: only one of them");
  if (args.file === "") throw usageError("-f needs the environment's file");
  return args.file;
}

/** A lifecycle verb's command; `delete` also takes `-f FILE` when given `fromFile`. */
export function lifecycleCommand(ctx: ClientContext, action: LifecycleAction, fromFile?: EnvironmentDelete) {
  return defineCommand({
    meta: { name: action, description: `${DESCRIPTIONS[action]}: NAME or NAME@NODE, several, --all, ${fromFile ? "-l SELECTOR or -f FILE" : "or -l SELECTOR"}` },
    args: {
      names: { type: "positional", required: false, valueHint: "NAME...", description: "Instances, NAME or NAME@NODE" },
      all: { type: "boolean", default: false, description: `Every instance the verb applies to, on every node` },
      selector: { type: "string", alias: "l", valueHint: "SELECTOR", description: "Every instance the verb applies to whose labels match, e.g. role=web,env!=prod (listed and asked first on a terminal)" },
      ...(action === "stop" ? { force: { type: "boolean", default: false, description: "Power off at once" } } : {}),
      ...(action === "delete" ? { purge: { type: "boolean", default: false, description: "Delete for good (cannot be recovered)" } } : {}),
      ...(fromFile ? { file: { type: "string", alias: "f", valueHint: "FILE", description: "Every instance of the environment this YAML file names (with --purge, its definition too)" } } : {}),
      yes: { type: "boolean", alias: "y", default: false, description: "Do not ask for confirmation" },
      ...writeArgs,
    },
    async run({ args }) {
      const api = apiFor(args, ctx);
      const selector = selectorArg(args.selector);
      if (selector !== null && selector.trim() === "") throw usageError("An empty -l would select every instance; to mean that, use --all");
      const path = fromFile ? fileDelete({ ...args, file: typeof args["file"] === "string" ? args["file"] : undefined }, selector) : null;
      if (fromFile && path !== null) return fromFile(ctx, api, { path, purge: args["purge"] === true, yes: args.yes, json: args.json });
      const refs = await lifecycleRefs(api, action, args._.map(String), args.all, selector);
      const call = { action, refs, all: args.all, selector, force: args["force"] === true, purge: args["purge"] === true, yes: args.yes, json: args.json };
      return runLifecycle(ctx, api, call);
    },
  });
}

async function runPurge(ctx: ClientContext, api: ApiClient, call: { node: string | undefined; yes: boolean; json: boolean }): Promise<number> {
  if (!call.yes && canAsk(ctx)) {
    const deleted = (await eligible(api, "recover")).filter((ref) => call.node === undefined || ref.endsWith(`@${call.node}`));
    const stop = await askFirst(ctx, deleted, "No deleted instances to purge.", `Purge ${deleted.join(", ")} for good?`);
    if (stop !== null) return stop;
  }
  const where = call.node === undefined ? "" : ` on node "${call.node}"`;
  return watchOperation(ctx, { what: `the purge${where}`, live: ctx.isTTY && !call.json }, async (signal, progress) => {
    if (!call.json) progress.phase(`Purging deleted instances${where}`);
    const lines = await api.stream("/api/v1/purge", call.node === undefined ? {} : { node: call.node }, { signal });
    for await (const line of lines) {
      const raw = parseJson(line, "event");
      const event = parsePurgeEvent(raw);
      if (event.type === "done") {
        if (call.json) ctx.stdout(`${JSON.stringify(bulkAnswer(raw))}\n`);
        return event.ok ? EXIT.ok : EXIT.failure;
      }
      if (call.json) continue;
      const r = event.result;
      if (r.error) progress.line(`error: ${stripControl(r.error.message)}`, "stderr");
      else progress.line(stripControl(`${r.node}: ${r.purged.length ? `purged ${r.purged.join(", ")}` : "nothing to purge"}`));
    }
    throw endedEarly(api);
  });
}

export function purgeCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "purge", description: "Remove deleted instances for good, on every node or one" },
    args: {
      node: { type: "string", valueHint: "NODE", description: "Only this node" },
      yes: { type: "boolean", alias: "y", default: false, description: "Do not ask for confirmation" },
      ...writeArgs,
    },
    run: ({ args }) => runPurge(ctx, apiFor(args, ctx), { node: args.node, yes: args.yes, json: args.json }),
  });
}
