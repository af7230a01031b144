/**
 * Environments as code (issue 17), the client's side: `apply -f FILE` (the
 * master's plan shown, removals asked first, then each instance's progress
 * and a closing account), `diff -f FILE` (the plan only), `delete -f FILE`
 * (every instance of the environment; lifecycle `delete` hands over here)
 * and `envs` (the environments, their instances, nodes and states). The
 * file is read and checked here first (env-file.ts): nothing is sent for a
 * file the master would refuse. An apply runs at the master: Ctrl-C stops
 * watching it, and the next apply follows it and finishes it.
 */
import { defineCommand, type ArgsDef } from "citty";
import type { ApiClient } from "./api-client.ts";
import { apiFor, paint, writeArgs, type ClientContext } from "./context.ts";
import { askFirst, canAsk } from "./operations.ts";
import { EXIT } from "../cli/run.ts";
import { withNotes } from "../cli/help.ts";
import { usageError } from "../core/errors.ts";
import { stripControl } from "../core/format.ts";
import { parseJson } from "../core/parse.ts";
import { parseEnvironmentEvent, parseEnvironmentPlan, parseEnvironmentViews, type EnvironmentRequest } from "../protocol/environments.ts";
import { envValues, environmentRequest, readEnvironmentFile, unsetEnv, type EnvironmentFile } from "./env-file.ts";
import { formatAccount, formatPlan, removals, resultLine, stepText } from "./env-render.ts";
import { endedEarly, watchOperation } from "./watch.ts";
import type { Progress } from "./progress.ts";

const ROUTE = "/api/v1/environments";

/** `-f FILE`, which apply, diff and delete take. */
export const fileArg = {
  file: { type: "string", alias: "f", valueHint: "FILE", description: "The environment's YAML file ('-' reads it from stdin)" },
} as const satisfies ArgsDef;

/** The file's path, required. @throws AppError E_USAGE */
function fileOf(args: { file?: string }, verb: string): string {
  if (args.file === undefined || args.file === "") throw usageError(`${verb} needs the environment's file: ${verb} -f FILE`);
  return args.file;
}

/** How the user runs the same command again, to follow or finish it. */
function rerunOf(verb: string, path: string, extra = ""): string {
  return `multiverse ${verb} -f ${path === "-" ? "FILE" : path}${extra}`;
}

async function fetchPlan(api: ApiClient, body: EnvironmentRequest) {
  const answer = await api.post(ROUTE, body);
  return { answer, plan: parseEnvironmentPlan(answer.json) };
}

/**
 * Streams an apply or delete: what each instance is doing (one redrawn line
 * on a terminal, a line per phase elsewhere), a line per result, and the
 * closing account. `--json` prints the API's events as they come, and
 * nothing else. Returns 0 only when every step succeeded.
 */
async function follow(ctx: ClientContext, api: ApiClient, body: EnvironmentRequest, call: { json: boolean; name: string; rerun: string }): Promise<number> {
  const live = ctx.isTTY && !call.json;
  const what = `the ${body.action} of environment "${stripControl(call.name)}"`;
  const options = { what, live, where: "at the master", follow: `Run "${call.rerun}" again to follow it and finish it.` };
  return watchOperation(ctx, options, async (signal, progress) => {
    const doing = `${body.action === "delete" ? "Deleting" : "Applying"} environment "${call.name}"`;
    if (!call.json) progress.phase(doing, "environment");
    const phases = new Map<string, string>();
    const lines = await api.stream(ROUTE, body, { signal });
    for await (const line of lines) {
      if (call.json) ctx.stdout(line + "\n");
      const event = parseEnvironmentEvent(parseJson(line, "event"));
      if (event.type === "done") {
        progress.stop();
        if (!call.json) ctx.stdout(formatAccount(event.results, paint(ctx), call.rerun));
        return event.ok && event.results.every((r) => r.ok) ? EXIT.ok : EXIT.failure;
      }
      if (event.type === "error") {
        progress.stop();
        if (!call.json) ctx.stderr(`${paint(ctx, "stderr").red("error")}: ${stripControl(event.message)} (nothing was done)\n`);
        return EXIT.failure;
      }
      if (call.json || event.type === "plan") continue;
      if (event.type === "waiting") progress.line(stripControl(event.message));
      else if (event.type === "step") {
        // Plain lines: each instance's phase once. Live: every instance at work on the one line.
        const text = stepText(event, live);
        if (!live && phases.get(event.name) !== text) progress.line(text);
        phases.set(event.name, text);
        showGoing(progress, phases, live, doing);
      } else {
        phases.delete(event.result.name);
        if (!(event.result.ok && event.result.action === "keep")) progress.line(resultLine(event.result, paint(ctx)));
        showGoing(progress, phases, live, doing);
      }
    }
    throw endedEarly(api);
  });
}

/** What is still going on, after a result, on the live line. */
function showGoing(progress: Progress, phases: Map<string, string>, live: boolean, doing: string): void {
  if (!live) return;
  if (phases.size === 0) progress.phase(doing, "environment");
  else progress.phase([...phases.values()].join("; "), [...phases.keys()].join(" "));
}

/**
 * `apply -f FILE`: the plan, shown; removals asked first (on a terminal) or
 * refused without `--yes`; then the apply, followed.
 */
async function runApply(ctx: ClientContext, args: { file?: string; yes: boolean; json: boolean } & Parameters<typeof apiFor>[0]): Promise<number> {
  const path = fileOf(args, "apply");
  const file = await readEnvironmentFile(ctx, path);
  const env = envValues(ctx, file);
  const api = apiFor(args, ctx);
  const { plan } = await fetchPlan(api, environmentRequest("plan", file, {}));
  const c = paint(ctx);
  if (!args.json) ctx.stdout(formatPlan(plan, c));
  const removed = removals(plan);
  if (removed.length > 0 && !args.yes) {
    if (!canAsk(ctx)) throw usageError(`The plan removes ${removed.join(", ")}: give --yes to go ahead (nothing was changed)`);
    const stop = await askFirst(ctx, removed, "", `Remove ${removed.join(", ")}?`);
    if (stop !== null) return stop;
  }
  const body = environmentRequest("apply", file, env, { confirm: removed.length > 0 });
  return follow(ctx, api, body, { json: args.json, name: file.environment.name, rerun: rerunOf("apply", path) });
}

/** `apply -f FILE [--yes]`: exit 0 only when every step succeeded; 2 for a file refused or removals without --yes; 130 after Ctrl-C. */
export function applyCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes({ name: "apply", description: "Create or bring up to date an environment from its YAML file: apply -f FILE" }, [
      "The file is checked first (errors name its line), and the {{ env.NAME }} its cloud-init uses are taken from this shell's environment. The master's plan is shown (what is launched where, and why; drift it cannot change in place), then each instance's progress, then what exists, what failed and why, and what was skipped.",
      "Applying the same file again launches nothing. A lowered count removes instances: asked first on a terminal, refused without --yes elsewhere.",
      "Ctrl-C stops watching; the apply goes on at the master, and applying again follows it and finishes it. Exit status 0 only when every step succeeded.",
    ]),
    args: {
      ...fileArg,
      yes: { type: "boolean", alias: "y", default: false, description: "Remove the instances of a lowered count without asking (needed without a terminal)" },
      ...writeArgs,
    },
    run: ({ args }) => runApply(ctx, args),
  });
}

/** `diff -f FILE`: the plan only (`--json`: as the API answered it); nothing changes. */
export function diffCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes({ name: "diff", description: "What apply -f FILE would do, and why; nothing is changed" }, [
      "The file is checked as apply checks it. A plan needs no {{ env.NAME }} values: none are sent, and those not set are warned of, as apply will need them.",
    ]),
    args: { ...fileArg, ...writeArgs },
    async run({ args }) {
      const file = await readEnvironmentFile(ctx, fileOf(args, "diff"));
      // A plan needs no values: say what an apply will need, and send none.
      const warn = paint(ctx, "stderr").yellow("warning");
      for (const { name, where } of unsetEnv(ctx, file)) ctx.stderr(`${warn}: ${where}: the environment variable ${name} is not set; apply will need it\n`);
      const { answer, plan } = await fetchPlan(apiFor(args, ctx), environmentRequest("plan", file, {}));
      if (args.json) ctx.stdout(answer.text + "\n");
      else ctx.stdout(formatPlan(plan, paint(ctx)));
      return EXIT.ok;
    },
  });
}

/** What `delete -f FILE` asks before deleting: the environment's instances, as the master lists them. */
async function deleteTargets(api: ApiClient, name: string): Promise<{ known: boolean; targets: string[] }> {
  const view = parseEnvironmentViews((await api.get(ROUTE)).json).find((v) => v.name === name);
  return { known: view !== undefined, targets: (view?.instances ?? []).map((i) => `${stripControl(i.name)}@${stripControl(i.node)}`) };
}

/**
 * `delete -f FILE [--purge]`: every instance of the environment the file
 * names, asked first on a terminal unless `--yes`. The file is checked as
 * for apply, but its `{{ env.NAME }}` need no values.
 */
export async function deleteEnvironment(ctx: ClientContext, api: ApiClient, call: { path: string; purge: boolean; yes: boolean; json: boolean }): Promise<number> {
  const file: EnvironmentFile = await readEnvironmentFile(ctx, call.path);
  const name = file.environment.name;
  if (!call.yes && canAsk(ctx)) {
    const { known, targets } = await deleteTargets(api, name);
    const verb = call.purge ? "Delete for good" : "Delete";
    const question = targets.length === 0 ? `Forget environment "${name}" (its definition and secrets)?` : `${verb} ${targets.join(", ")} (environment "${name}")?`;
    const nothing = targets.length === 0 && !(call.purge && known);
    const stop = await askFirst(ctx, nothing ? [] : [name], `Nothing to delete: environment "${name}" has no instances.`, question);
    if (stop !== null) return stop;
  }
  const body = { ...environmentRequest("delete", file, {}, { purge: call.purge }), name };
  return follow(ctx, api, body, { json: call.json, name, rerun: rerunOf("delete", call.path, call.purge ? " --purge" : "") });
}
