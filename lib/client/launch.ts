/**
 * `client launch`: an instance on the node with the most room (or `--node`),
 * with live progress; `--dry-run` only says where it would go and why. The
 * request is checked here first, with the master's own parser, for an exact
 * error before any call.
 */
import { readFileSync, statSync } from "node:fs";
import { defineCommand, type ArgsDef, type ParsedArgs } from "citty";
import type { ApiClient } from "./api-client.ts";
import { apiFor, paint, writeArgs, type ClientContext } from "./context.ts";
import { EXIT } from "../cli/run.ts";
import { AppError, messageOf, usageError } from "../core/errors.ts";
import { formatBytes } from "../core/format.ts";
import { parseJson } from "../core/parse.ts";
import { MAX_CLOUD_INIT_BYTES, parseLaunchEvent, parseLaunchPlan, parseLaunchRequest, type LaunchEvent, type LaunchRequestBody } from "../protocol/operations.ts";

const launchArgs = {
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
} as const satisfies ArgsDef;

/** Reads a cloud-init file for a launch: readable, not huge. The master checks it is YAML. */
function readCloudInit(path: string): string {
  try {
    const size = statSync(path).size;
    if (size > MAX_CLOUD_INIT_BYTES) throw usageError(`Cloud-init file "${path}" is too large (${formatBytes(size)}; at most ${formatBytes(MAX_CLOUD_INIT_BYTES)})`);
    return readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw usageError(`Cannot read cloud-init file "${path}": ${messageOf(error)}`);
  }
}

/**
 * The launch the flags ask for, through the same validation the master runs.
 * @throws AppError E_USAGE
 */
function launchRequest(args: ParsedArgs<typeof launchArgs>): LaunchRequestBody {
  return parseLaunchRequest({
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
}

export function launchCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "launch", description: "Launch an instance on the node with the most room (or --node)" },
    args: launchArgs,
    async run({ args }) {
      const body = launchRequest(args);
      const api = apiFor(args, ctx);
      if (body.dryRun) return planLaunch(api, body, ctx, args.json);
      return streamLaunch(api, body, ctx, args.json);
    },
  });
}

/** `--dry-run`: where the launch would go, and why. */
async function planLaunch(api: ApiClient, body: LaunchRequestBody, ctx: ClientContext, json: boolean): Promise<number> {
  const answer = await api.post("/api/v1/instances", body);
  if (json) {
    ctx.stdout(answer.text + "\n");
  } else {
    const plan = parseLaunchPlan(answer.json);
    ctx.stdout(`Would launch ${body.name ? `"${body.name}"` : "a new instance"} on node "${plan.node}": ${plan.reason}\n`);
  }
  return EXIT.ok;
}

function progressText(event: Extract<LaunchEvent, { type: "progress" }>): string {
  const percent = event.percent === null ? "" : ` ${event.percent}%`;
  return event.phase === "Other" ? event.text : `${event.phase}${percent}`;
}

/**
 * Progress on a terminal: one updating line, cut to the window so it never
 * wraps; elsewhere, plain lines. `clear` wipes the line before what follows.
 */
function progressLine(ctx: ClientContext, live: boolean) {
  let shown = "";
  return {
    show(text: string) {
      if (text === shown) return;
      shown = text;
      if (!live) return ctx.stdout(`${text}\n`);
      const width = Math.max(10, ctx.terminal.size().cols - 1);
      ctx.stdout(`\r\u001b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    },
    clear() {
      if (live && shown) ctx.stdout("\r\u001b[2K");
    },
  };
}

async function streamLaunch(api: ApiClient, body: LaunchRequestBody, ctx: ClientContext, json: boolean): Promise<number> {
  const progress = progressLine(ctx, ctx.isTTY && !json);
  let end: LaunchEvent | null = null;
  try {
    for await (const line of api.lines("/api/v1/instances", body)) {
      if (json) ctx.stdout(line + "\n");
      const event = parseLaunchEvent(parseJson(line, "event"));
      if (event.type === "launched" || event.type === "error") end = event;
      if (json) continue;
      // Where it goes, and why, stays on screen.
      if (event.type === "placed") ctx.stdout(`Placing on node "${event.node}": ${event.reason}\n`);
      else if (event.type === "progress") progress.show(`${event.node}: ${progressText(event)}`);
    }
  } finally {
    progress.clear();
  }
  if (end?.type === "launched") {
    if (!json) ctx.stdout(`${paint(ctx).green("Launched")} "${end.name}" on node "${end.node}"${end.ipv4.length ? ` (${end.ipv4.join(", ")})` : ""}\n`);
    return EXIT.ok;
  }
  if (end?.type === "error") {
    if (!json) ctx.stderr(`error: ${end.message}\n`);
    return end.code === "E_USAGE" ? EXIT.usage : EXIT.failure;
  }
  throw new AppError("E_UNREACHABLE", `The master ended the launch without a result; check with "multiverse instances"`);
}
