/**
 * The client's commands that change the cluster: `launch` with live
 * progress, the lifecycle verbs on one or more instances (or `--all`), and
 * `purge`. Input is checked here first for quick, exact errors; the master
 * checks it again. Destructive calls ask first on a terminal unless `--yes`.
 */
import { readFileSync, statSync } from "node:fs";
import { defineCommand } from "citty";
import type { ApiClient } from "./api-client.ts";
import { apiFor, common, paint, type ClientContext } from "./context.ts";
import { EXIT } from "../cli/run.ts";
import { AppError, messageOf } from "../core/errors.ts";
import { formatBytes } from "../core/format.ts";
import { renderTable, stateCell, type Cell } from "./tables.ts";
import type { InstanceState } from "../protocol/instances.ts";
import {
  ELIGIBLE,
  MAX_CLOUD_INIT_BYTES,
  parseActionResult,
  parseLaunchEvent,
  parsePurgeResult,
  parseLaunchRequest,
  type ActionResult,
  type LaunchEvent,
  type LifecycleAction,
} from "../protocol/operations.ts";
import { arrayOf, boolean, field, object, string } from "../core/parse.ts";
import { parseInstanceView } from "../protocol/api.ts";
import { parseInstanceRef } from "../core/validate.ts";

const writeArgs = {
  master: common.master,
  token: common.token,
  "token-file": common["token-file"],
  ca: common.ca,
  json: { type: "boolean", default: false, description: "Print the API's JSON answer" },
  verbose: common.verbose,
} as const;

/** Reads a cloud-init file for a launch: readable, not huge. The master checks it is YAML. */
function readCloudInit(path: string): string {
  try {
    const size = statSync(path).size;
    if (size > MAX_CLOUD_INIT_BYTES) throw new AppError("E_USAGE", `Cloud-init file "${path}" is too large (${formatBytes(size)}; at most ${formatBytes(MAX_CLOUD_INIT_BYTES)})`);
    return readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError("E_USAGE", `Cannot read cloud-init file "${path}": ${messageOf(error)}`);
  }
}

function progressText(event: Extract<LaunchEvent, { type: "progress" }>): string {
  const percent = event.percent === null ? "" : ` ${event.percent}%`;
  return event.phase === "Other" ? event.text : `${event.phase}${percent}`;
}

export function launchCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "launch", description: "Launch an instance on the node with the most room (or --node)" },
    args: {
      name: { type: "positional", required: false, description: "Instance name (default: a random adjective-animal)" },
      image: { type: "string", valueHint: "IMAGE", description: "Image alias, release or URL (default: the latest LTS)" },
      cpus: { type: "string", valueHint: "N", description: "CPUs (default 1)" },
      memory: { type: "string", valueHint: "SIZE", description: "Memory, e.g. 2G (default 1G; at least 128M)" },
      disk: { type: "string", valueHint: "SIZE", description: "Disk, e.g. 20G (default 5G; at least 512M)" },
      "cloud-init": { type: "string", valueHint: "FILE", description: "A cloud-init YAML file" },
      node: { type: "string", valueHint: "NODE", description: "Launch on this node instead of placing it" },
      timeout: { type: "string", valueHint: "SECONDS", description: "Multipass's own launch timeout" },
      "dry-run": { type: "boolean", default: false, description: "Print the node that would be chosen, and why" },
      ...writeArgs,
    },
    async run({ args }) {
      // The same validation the master runs, for an exact error before any call.
      const body = parseLaunchRequest({
        ...(args.name === undefined ? {} : { name: args.name }),
        ...(args.image === undefined ? {} : { image: args.image }),
        ...(args.cpus === undefined ? {} : { cpus: args.cpus }),
        ...(args.memory === undefined ? {} : { memory: args.memory }),
        ...(args.disk === undefined ? {} : { disk: args.disk }),
        ...(args["cloud-init"] === undefined ? {} : { cloudInit: readCloudInit(args["cloud-init"]) }),
        ...(args.node === undefined ? {} : { node: args.node }),
        ...(args.timeout === undefined ? {} : { timeoutSeconds: args.timeout }),
        ...(args["dry-run"] ? { dryRun: true } : {}),
      });
      const api = apiFor(args, ctx);
      if (body.dryRun) {
        const answer = await api.post("/api/v1/instances", body);
        if (args.json) return ctx.stdout(answer.text + "\n");
        const o = object(answer.json, "plan");
        ctx.stdout(`Would launch ${body.name ? `"${body.name}"` : "a new instance"} on node "${field(o, "node", "plan", string)}": ${field(o, "reason", "plan", string)}\n`);
        return EXIT.ok;
      }
      return streamLaunch(api, body, ctx, args.json);
    },
  });
}

async function streamLaunch(api: ApiClient, body: unknown, ctx: ClientContext, json: boolean): Promise<number> {
  const c = paint(ctx);
  const live = ctx.isTTY && !json;
  let shown = "";
  let result: LaunchEvent | null = null;
  /** Progress: on a terminal one updating line, cut to the window so it never wraps; else plain lines. */
  const show = (text: string) => {
    if (text === shown) return;
    shown = text;
    if (!live) return ctx.stdout(`${text}\n`);
    const width = Math.max(10, ctx.terminal.size().cols - 1);
    ctx.stdout(`\r\u001b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
  };
  try {
    await api.stream("/api/v1/instances", body, (line) => {
      if (json) ctx.stdout(line + "\n");
      const event = parseLaunchEvent(JSON.parse(line));
      if (event.type === "launched" || event.type === "error") result = event;
      if (json) return;
      // Where it goes, and why, stays on screen.
      if (event.type === "placed") ctx.stdout(`Placing on node "${event.node}": ${event.reason}\n`);
      else if (event.type === "progress") show(`${event.node}: ${progressText(event)}`);
    });
  } finally {
    if (live && shown) ctx.stdout("\r\u001b[2K");
  }
  const end = result as LaunchEvent | null;
  if (end?.type === "launched") {
    if (!json) ctx.stdout(`${c.green("Launched")} "${end.name}" on node "${end.node}"${end.ipv4.length ? ` (${end.ipv4.join(", ")})` : ""}\n`);
    return EXIT.ok;
  }
  if (end?.type === "error") {
    if (!json) ctx.stderr(`error: ${end.message}\n`);
    return end.code === "E_USAGE" ? EXIT.usage : EXIT.failure;
  }
  throw new AppError("E_UNREACHABLE", `The master ended the launch without a result; check with "multiverse instances"`);
}

/** What `--all` would touch, for the confirmation question. */
async function eligible(api: ApiClient, action: LifecycleAction): Promise<string[]> {
  const list = arrayOf(parseInstanceView)((await api.get("/api/v1/instances")).json, "instances");
  return list.filter((i) => ELIGIBLE[action](i.state as InstanceState)).map((i) => `${i.name}@${i.node}`);
}

async function confirm(ctx: ClientContext, question: string): Promise<boolean> {
  const answer = await ctx.terminal.ask(`${question} [y/N] `);
  return /^y(es)?$/i.test(answer.trim());
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
    async run({ args }) {
      let refs = args._.map(String);
      if (args.all && refs.length > 0) throw new AppError("E_USAGE", "Give instance names or --all, not both");
      if (!args.all && refs.length === 0) {
        if (!PRIMARY_DEFAULT.has(action)) throw new AppError("E_USAGE", `Name the instances to ${action}, or use --all`);
        refs = ["primary"];
      }
      for (const ref of refs) parseInstanceRef(ref);
      const force = args["force"] === true;
      const purge = args["purge"] === true;
      const api = apiFor(args, ctx);
      const destructive = action === "delete" || args.all;
      if (destructive && !args.yes && ctx.isTTY && ctx.terminal.stdinIsTTY) {
        const targets = args.all ? await eligible(api, action) : refs;
        if (targets.length === 0) {
          ctx.stdout(`Nothing to ${action}.\n`);
          return EXIT.ok;
        }
        const verb = action === "delete" && purge ? "Delete for good" : action[0]!.toUpperCase() + action.slice(1);
        if (!(await confirm(ctx, `${verb} ${targets.join(", ")}?`))) {
          ctx.stderr("Cancelled; nothing was changed.\n");
          return EXIT.failure;
        }
      }
      const answer = await api.post(`/api/v1/actions/${action}`, { ...(args.all ? { all: true } : { instances: refs }), force, purge });
      const o = object(answer.json, "answer");
      const results = field(o, "results", "answer", arrayOf(parseActionResult));
      if (args.json) ctx.stdout(answer.text + "\n");
      else printResults(ctx, action, results);
      return field(o, "ok", "answer", boolean) ? EXIT.ok : EXIT.failure;
    },
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
    async run({ args }) {
      const api = apiFor(args, ctx);
      if (!args.yes && ctx.isTTY && ctx.terminal.stdinIsTTY) {
        const deleted = (await eligible(api, "recover")).filter((ref) => args.node === undefined || ref.endsWith(`@${args.node}`));
        if (deleted.length === 0) {
          ctx.stdout("No deleted instances to purge.\n");
          return EXIT.ok;
        }
        if (!(await confirm(ctx, `Purge ${deleted.join(", ")} for good?`))) {
          ctx.stderr("Cancelled; nothing was changed.\n");
          return EXIT.failure;
        }
      }
      const answer = await api.post("/api/v1/purge", args.node === undefined ? {} : { node: args.node });
      const o = object(answer.json, "answer");
      if (args.json) ctx.stdout(answer.text + "\n");
      else {
        for (const r of field(o, "results", "answer", arrayOf(parsePurgeResult))) {
          if (r.error) ctx.stderr(`error: ${r.error.message}\n`);
          else ctx.stdout(`${r.node}: ${r.purged.length ? `purged ${r.purged.join(", ")}` : "nothing to purge"}\n`);
        }
      }
      return field(o, "ok", "answer", boolean) ? EXIT.ok : EXIT.failure;
    },
  });
}
