/**
 * The client's commands that change the state of instances: the lifecycle
 * verbs on one or more instances (or `--all`), and `purge`. Input is checked
 * here first for quick, exact errors; the master checks it again. Destructive
 * calls ask first on a terminal unless `--yes`.
 */
import { defineCommand } from "citty";
import type { ApiClient } from "./api-client.ts";
import { apiFor, paint, writeArgs, type ClientContext } from "./context.ts";
import { EXIT } from "../cli/run.ts";
import { usageError } from "../core/errors.ts";
import { renderTable, stateCell, type Cell } from "./tables.ts";
import { ELIGIBLE, parseActionAnswer, parsePurgeAnswer, type ActionResult, type LifecycleAction, type PurgeResult } from "../protocol/operations.ts";
import { arrayOf } from "../core/parse.ts";
import { parseInstanceView } from "../protocol/api.ts";
import { parseInstanceRef } from "../core/validate.ts";

/** What `--all` would touch, for the confirmation question. */
async function eligible(api: ApiClient, action: LifecycleAction): Promise<string[]> {
  const list = arrayOf(parseInstanceView)((await api.get("/api/v1/instances")).json, "instances");
  return list.filter((i) => ELIGIBLE[action](i.state)).map((i) => `${i.name}@${i.node}`);
}

/** Whether there is someone to ask: questions go to a terminal and are answered from one. */
function canAsk(ctx: ClientContext): boolean {
  return ctx.isTTY && ctx.terminal.stdinIsTTY;
}

/**
 * Asks before touching `targets`. Returns the exit status to stop with, or
 * null to go on: there is nothing to do, or the user said no.
 */
async function askFirst(ctx: ClientContext, targets: string[], nothing: string, question: string): Promise<number | null> {
  if (targets.length === 0) {
    ctx.stdout(`${nothing}\n`);
    return EXIT.ok;
  }
  const answer = await ctx.terminal.ask(`${question} [y/N] `);
  if (/^y(es)?$/i.test(answer.trim())) return null;
  ctx.stderr("Cancelled; nothing was changed.\n");
  return EXIT.failure;
}

function printResults(ctx: ClientContext, action: LifecycleAction, results: ActionResult[]): void {
  const c = paint(ctx);
  if (results.length === 0) {
    ctx.stdout(`Nothing to ${action}.\n`);
    return;
  }
  const rows: Cell[][] = results.map((r) => [r.node, r.name, r.ok ? stateCell(r.state ?? "Unknown", c) : { text: "failed", paint: c.red }]);
  ctx.stdout(renderTable(["Node Name", "Instance Name", "State"], rows, c));
  const e = paint(ctx, "stderr");
  for (const r of results) if (r.error) ctx.stderr(`${e.red("error")}: ${r.error.message}\n`);
}

const DESCRIPTIONS: Record<LifecycleAction, string> = {
  start: "Start (or resume) instances",
  stop: "Stop instances",
  restart: "Restart running instances",
  suspend: "Suspend running instances",
  delete: "Delete instances (recoverable until purged; --purge for good)",
  recover: "Recover deleted instances",
};

/** Verbs that act on the primary instance when given no name, as multipass does. */
const PRIMARY_DEFAULT: ReadonlySet<LifecycleAction> = new Set(["start", "stop", "restart", "suspend"]);

/**
 * The instances a lifecycle call names, checked; empty with `--all`.
 * @throws AppError E_USAGE
 */
function lifecycleRefs(action: LifecycleAction, names: string[], all: boolean): string[] {
  if (all && names.length > 0) throw usageError("Give instance names or --all, not both");
  if (all) return [];
  const refs = names.length > 0 ? names : PRIMARY_DEFAULT.has(action) ? ["primary"] : null;
  if (refs === null) throw usageError(`Name the instances to ${action}, or use --all`);
  for (const ref of refs) parseInstanceRef(ref);
  return refs;
}

/** What a lifecycle call does, once its flags are read. */
interface LifecycleCall {
  action: LifecycleAction;
  /** The instances named; empty with `all`. */
  refs: string[];
  all: boolean;
  force: boolean;
  purge: boolean;
  yes: boolean;
  json: boolean;
}

async function runLifecycle(ctx: ClientContext, api: ApiClient, call: LifecycleCall): Promise<number> {
  const { action, refs, all } = call;
  if ((action === "delete" || all) && !call.yes && canAsk(ctx)) {
    const targets = all ? await eligible(api, action) : refs;
    const verb = action === "delete" && call.purge ? "Delete for good" : action[0]!.toUpperCase() + action.slice(1);
    const stop = await askFirst(ctx, targets, `Nothing to ${action}.`, `${verb} ${targets.join(", ")}?`);
    if (stop !== null) return stop;
  }
  const answer = await api.post(`/api/v1/actions/${action}`, { ...(all ? { all: true } : { instances: refs }), force: call.force, purge: call.purge });
  const { ok, results } = parseActionAnswer(answer.json);
  if (call.json) ctx.stdout(answer.text + "\n");
  else printResults(ctx, action, results);
  return ok ? EXIT.ok : EXIT.failure;
}

export function lifecycleCommand(ctx: ClientContext, action: LifecycleAction) {
  return defineCommand({
    meta: { name: action, description: `${DESCRIPTIONS[action]}: NAME or NAME@NODE, several, or --all` },
    args: {
      names: { type: "positional", required: false, valueHint: "NAME...", description: "Instances, NAME or NAME@NODE" },
      all: { type: "boolean", default: false, description: `Every instance the verb applies to, on every node` },
      ...(action === "stop" ? { force: { type: "boolean", default: false, description: "Power off at once" } } : {}),
      ...(action === "delete" ? { purge: { type: "boolean", default: false, description: "Delete for good (cannot be recovered)" } } : {}),
      yes: { type: "boolean", alias: "y", default: false, description: "Do not ask for confirmation" },
      ...writeArgs,
    },
    run({ args }) {
      const refs = lifecycleRefs(action, args._.map(String), args.all);
      const call = { action, refs, all: args.all, force: args["force"] === true, purge: args["purge"] === true, yes: args.yes, json: args.json };
      return runLifecycle(ctx, apiFor(args, ctx), call);
    },
  });
}

function printPurge(ctx: ClientContext, results: PurgeResult[]): void {
  for (const r of results) {
    if (r.error) ctx.stderr(`error: ${r.error.message}\n`);
    else ctx.stdout(`${r.node}: ${r.purged.length ? `purged ${r.purged.join(", ")}` : "nothing to purge"}\n`);
  }
}

async function runPurge(ctx: ClientContext, api: ApiClient, call: { node: string | undefined; yes: boolean; json: boolean }): Promise<number> {
  if (!call.yes && canAsk(ctx)) {
    const deleted = (await eligible(api, "recover")).filter((ref) => call.node === undefined || ref.endsWith(`@${call.node}`));
    const stop = await askFirst(ctx, deleted, "No deleted instances to purge.", `Purge ${deleted.join(", ")} for good?`);
    if (stop !== null) return stop;
  }
  const answer = await api.post("/api/v1/purge", call.node === undefined ? {} : { node: call.node });
  const { ok, results } = parsePurgeAnswer(answer.json);
  if (call.json) ctx.stdout(answer.text + "\n");
  else printPurge(ctx, results);
  return ok ? EXIT.ok : EXIT.failure;
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
