/**
 * `client launch`: an instance on the node with the most room (or `--node`),
 * with live progress; `--dry-run` only says where it would go and why. The
 * request is checked here first, with the master's own parser, for an exact
 * error before any call (so a launch of "primary" without `--allow-primary`
 * is refused in the master's words).
 */
import { readFileSync, statSync } from "node:fs";
import { defineCommand, type ArgsDef, type ParsedArgs } from "citty";
import type { ApiClient } from "./api-client.ts";
import { apiFor, paint, writeArgs, type ClientContext } from "./context.ts";
import { repeatedOption } from "../cli/citty.ts";
import { EXIT } from "../cli/run.ts";
import { AppError, messageOf, usageError } from "../core/errors.ts";
import { formatBytes, stripControl } from "../core/format.ts";
import { parseJson } from "../core/parse.ts";
import { MAX_CLOUD_INIT_BYTES, parseLaunchEvent, parseLaunchPlan, parseLaunchRequest, PRIMARY_NAME, type LaunchEvent, type LaunchRequestBody } from "../protocol/operations.ts";
import type { Progress } from "./progress.ts";
import { cloudInitWithKey, readPublicKey } from "./ssh-keys.ts";
import { repeatedLabels } from "./labels.ts";
import { endedEarly, watchOperation } from "./watch.ts";

const launchArgs = {
  name: { type: "positional", required: false, description: "Instance name (default: a random adjective-animal)" },
  image: { type: "string", valueHint: "IMAGE", description: "Image alias, release or URL (default: the latest LTS)" },
  cpus: { type: "string", valueHint: "N", description: "CPUs (default 1)" },
  memory: { type: "string", valueHint: "SIZE", description: "Memory, e.g. 2G (default 1G; at least 128M on Multipass 1.16, 512M on 1.17 and newer)" },
  disk: { type: "string", valueHint: "SIZE", description: "Disk, e.g. 20G (default 5G; at least 512M on Multipass 1.16, 1G on 1.17 and newer)" },
  "cloud-init": { type: "string", valueHint: "FILE", description: "A cloud-init YAML file" },
  "ssh-key": { type: "string", valueHint: "FILE", description: "Authorize this SSH public key for the default user, through cloud-init (added to --cloud-init's)" },
  node: { type: "string", valueHint: "NODE", description: "Launch on this node instead of placing it" },
  label: { type: "string", valueHint: "KEY=VALUE", description: "A label of the new instance, set once it is launched (repeatable)" },
  network: { type: "string", valueHint: "SPEC", description: "Multipass's --network: bridged, a host network's name, or name=NAME[,mode=auto|manual][,mac=MAC] (repeatable)" },
  timeout: { type: "string", valueHint: "SECONDS", description: "Multipass's own launch timeout" },
  "dry-run": { type: "boolean", default: false, description: "Print the node that would be chosen, and why" },
  "allow-primary": { type: "boolean", default: false, description: `Allow the name "${PRIMARY_NAME}": Multipass mounts the worker account's home directory into it` },
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

/** The cloud-init of a launch: the file's, with the `--ssh-key` added (ssh-keys.ts says how, and when it refuses). @throws AppError E_USAGE */
function cloudInitOf(args: ParsedArgs<typeof launchArgs>): { cloudInit?: string } {
  const own = args["cloud-init"] === undefined ? null : readCloudInit(args["cloud-init"]);
  if (args["ssh-key"] === undefined) return own === null ? {} : { cloudInit: own };
  return { cloudInit: cloudInitWithKey(own, readPublicKey(args["ssh-key"], undefined).key) };
}

/**
 * The launch the flags ask for, through the same validation the master runs.
 * @throws AppError E_USAGE
 */
function launchRequest(args: ParsedArgs<typeof launchArgs>, rawArgs: string[]): LaunchRequestBody {
  const labels = repeatedLabels(rawArgs);
  const networks = repeatedOption(rawArgs, "network");
  return parseLaunchRequest({
    ...(labels === null ? {} : { labels }),
    ...(networks.length === 0 ? {} : { networks }),
    ...(args.name === undefined ? {} : { name: args.name }),
    ...(args.image === undefined ? {} : { image: args.image }),
    ...(args.cpus === undefined ? {} : { cpus: args.cpus }),
    ...(args.memory === undefined ? {} : { memory: args.memory }),
    ...(args.disk === undefined ? {} : { disk: args.disk }),
    ...cloudInitOf(args),
    ...(args.node === undefined ? {} : { node: args.node }),
    ...(args.timeout === undefined ? {} : { timeoutSeconds: args.timeout }),
    ...(args["dry-run"] ? { dryRun: true } : {}),
    ...(args["allow-primary"] ? { allowPrimary: true } : {}),
  });
}

export function launchCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "launch", description: "Launch an instance on the node with the most room (or --node)" },
    args: launchArgs,
    async run({ args, rawArgs }) {
      const body = launchRequest(args, rawArgs);
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
    ctx.stdout(stripControl(`Would launch ${body.name ? `"${body.name}"` : "a new instance"} on node "${plan.node}": ${plan.reason}`) + "\n");
  }
  return EXIT.ok;
}

/** How a launch phase reads on the progress line, for the instance `name`; null for a phase it does not know. */
const PHASE_TEXT: Record<string, (name: string) => string> = {
  Creating: (name) => `Creating ${name}`,
  "Retrieving image": () => "Retrieving image",
  "Verifying image": () => "Verifying image",
  "Preparing image": () => "Preparing image",
  Configuring: (name) => `Configuring ${name}`,
  Starting: (name) => `Starting ${name}`,
  "Waiting for initialization": (name) => `Waiting for cloud-init in ${name}`,
};

/** A progress event as the progress line shows it; percentages only on a live line (plain lines show each phase once). */
function phaseText(event: Extract<LaunchEvent, { type: "progress" }>, name: string, live: boolean): string {
  const known = PHASE_TEXT[event.phase];
  if (known === undefined) return event.text;
  return `${known(name)}${live && event.percent !== null ? ` ${event.percent}%` : ""}`;
}

/**
 * Streams a launch: where it goes and why stays on screen, then the phase
 * and the time spent in it, then the result. `--json` prints the API's
 * events as they come, and nothing else.
 */
async function streamLaunch(api: ApiClient, body: LaunchRequestBody, ctx: ClientContext, json: boolean): Promise<number> {
  const live = ctx.isTTY && !json;
  const name = body.name ?? "the new instance";
  const what = body.name === undefined ? "the launch" : `the launch of "${body.name}"`;
  return watchOperation(ctx, { what, live }, async (signal, progress) => {
    if (!json) progress.phase(`Launching ${name}`, "launch");
    const lines = await api.stream("/api/v1/instances", body, { signal });
    for await (const line of lines) {
      if (json) ctx.stdout(line + "\n");
      const event = parseLaunchEvent(parseJson(line, "event"));
      if (event.type === "launched" || event.type === "error") return launchEnd(ctx, progress, event, json);
      if (json) continue;
      if (event.type === "placed") {
        progress.line(stripControl(`Placing on node "${event.node}": ${event.reason}`));
      } else progress.phase(phaseText(event, name, live), event.phase);
    }
    throw endedEarly(api);
  });
}

/** Reports how the launch ended; returns the exit status. */
function launchEnd(ctx: ClientContext, progress: Progress, end: Extract<LaunchEvent, { type: "launched" | "error" }>, json: boolean): number {
  progress.stop();
  if (end.type === "launched") {
    if (!json) ctx.stdout(`${paint(ctx).green("Launched")} ${stripControl(`"${end.name}" on node "${end.node}"${end.ipv4.length ? ` (${end.ipv4.join(", ")})` : ""}`)}\n`);
    return EXIT.ok;
  }
  if (!json) ctx.stderr(`error: ${stripControl(end.message)}\n`);
  return end.code === "E_USAGE" ? EXIT.usage : EXIT.failure;
}
