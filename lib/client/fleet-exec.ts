/**
 * `exec` on many instances (issue 15): `exec -l SELECTOR -- CMD`, `exec --all
 * -- CMD`, or several `NAME[@NODE]`s before `--`. Chooses the instances (only
 * the Running ones are run; those in state Unknown, on a node that is not
 * Ready, are reported unreachable; the others skipped, with their state), reads piped
 * stdin once for all of them, runs the fan-out (fleet.ts) into the chosen
 * output (fleet-output.ts), and ends with the summary (fleet-summary.ts).
 */
import { EXIT } from "../cli/run.ts";
import { parseDuration } from "../core/duration.ts";
import { usageError } from "../core/errors.ts";
import { matchesSelector, parseSelector } from "../core/labels.ts";
import { arrayOf } from "../core/parse.ts";
import { parseInstanceRef } from "../core/validate.ts";
import { parseInstanceView, parseNodeView, type InstanceView } from "../protocol/api.ts";
import type { ApiClient } from "./api-client.ts";
import { paint, type ClientContext } from "./context.ts";
import { DEFAULT_PARALLEL, MAX_PARALLEL, readFleetStdin, runFleet } from "./fleet.ts";
import { FleetOutput, type FleetMode, type FleetResult } from "./fleet-output.ts";
import { allSucceeded, formatSummary, summarize, type Skipped } from "./fleet-summary.ts";
import { diagnoser } from "./sessions.ts";

/** What a fleet exec was asked for, from its options. */
export interface FleetExecArgs {
  selector: string | undefined;
  all: boolean;
  /** The instances named before `--`. */
  names: string[];
  command: string[];
  parallel: string | undefined;
  timeout: string | undefined;
  group: boolean;
  json: boolean;
}

/** Longest `--timeout`: a week, as every duration flag. */
const MAX_TIMEOUT_MS = 7 * 24 * 3_600_000;

/** `--parallel N`: 1..MAX_PARALLEL. @throws AppError E_USAGE */
export function parseParallel(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PARALLEL;
  const n = /^\d{1,4}$/.test(text.trim()) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_PARALLEL)) throw usageError(`Invalid --parallel "${text.slice(0, 40)}": expected a number from 1 to ${MAX_PARALLEL}`);
  return n;
}

/** Which instances the options name, in the order of the master's listing (or of the names). @throws AppError */
async function chooseInstances(api: ApiClient, args: FleetExecArgs): Promise<{ chosen: InstanceView[]; what: string }> {
  const ways = [args.selector !== undefined, args.all, args.names.length > 0].filter(Boolean).length;
  if (ways !== 1) throw usageError("Name the instances one way: -l SELECTOR, --all, or NAME[@NODE]... before --");
  if (args.names.length > 0) {
    const chosen: InstanceView[] = [];
    for (const name of args.names) {
      parseInstanceRef(name);
      const view = parseInstanceView((await api.get(`/api/v1/instances/${encodeURIComponent(name)}`)).json, "instance");
      if (!chosen.some((c) => c.name === view.name && c.node === view.node)) chosen.push(view);
    }
    return { chosen, what: "the instances named" };
  }
  const selector = args.selector === undefined ? null : parseSelector(args.selector);
  const path = args.selector === undefined ? "/api/v1/instances" : `/api/v1/instances?selector=${encodeURIComponent(args.selector)}`;
  const listed = arrayOf(parseInstanceView)((await api.get(path)).json, "instances");
  // Matched here too: a master that predates selectors would answer with every instance.
  const chosen = selector === null ? listed : listed.filter((i) => matchesSelector(selector, i.labels));
  return { chosen, what: selector === null ? "the cluster" : `selector "${args.selector}"` };
}

/**
 * Instances whose state the master does not know (their node is not Ready,
 * or its multipass fails) are not run — an exec could start a stopped VM —
 * but reported as unreachable, with their node's state: they were meant to run.
 */
async function unknownResults(api: ApiClient, unknown: InstanceView[]): Promise<FleetResult[]> {
  if (unknown.length === 0) return [];
  const nodes = arrayOf(parseNodeView)((await api.get("/api/v1/nodes")).json, "nodes");
  return unknown.map((i) => {
    const node = nodes.find((n) => n.name === i.node);
    const why = node === undefined ? "is gone" : node.state === "Ready" ? `cannot list its instances (${node.multipassError ?? "multipass fails"})` : `is ${node.state}`;
    return { instance: i.name, node: i.node, outcome: "unreachable", exitCode: null, error: `not run: its node "${i.node}" ${why}`, durationMs: 0 };
  });
}

/** Runs a fleet exec; resolves with the client's exit status. @throws AppError on bad options or when the master cannot list */
export async function runFleetExec(ctx: ClientContext, api: ApiClient, args: FleetExecArgs): Promise<number> {
  const parallel = parseParallel(args.parallel);
  const timeoutMs = args.timeout === undefined ? null : parseDuration(args.timeout, "--timeout", { minMs: 1, maxMs: MAX_TIMEOUT_MS });
  if (args.group && args.json) throw usageError("Choose one of --group and --json");
  const mode: FleetMode = args.json ? "json" : args.group ? "group" : "lines";
  const { chosen, what } = await chooseInstances(api, args);
  const e = paint(ctx, "stderr");
  if (chosen.length === 0) {
    ctx.stderr(`${e.red("error")}: no instances match ${what}\n`);
    return EXIT.failure;
  }
  const running = chosen.filter((i) => i.state === "Running");
  const skipped: Skipped[] = chosen.filter((i) => i.state !== "Running" && i.state !== "Unknown").map((i) => ({ instance: i.name, node: i.node, state: i.state }));
  const unknown = await unknownResults(api, chosen.filter((i) => i.state === "Unknown"));
  if (running.length === 0) {
    ctx.stderr(`${e.red("error")}: none of the ${chosen.length} instances of ${what} is Running\n`);
    const summary = summarize(unknown, skipped);
    if (mode === "json") ctx.stdout(JSON.stringify(summary) + "\n");
    ctx.stderr(formatSummary(summary, e));
    return EXIT.failure;
  }
  const stdin = await readFleetStdin(ctx.terminal);
  const onTerminal = { stdout: ctx.terminal.stdoutIsTTY, stderr: ctx.stderrIsTTY };
  const output = new FleetOutput(
    running.map((i) => `${i.name}@${i.node}`),
    {
      mode,
      sink: { stdout: (text) => ctx.terminal.writeStdout(text), stderr: (text) => ctx.terminal.writeStderr(text) },
      colors: paint(ctx),
      strip: onTerminal.stdout || onTerminal.stderr,
    },
  );
  const { results, interrupted } = await runFleet({
    targets: running.map((i) => ({ name: i.name, node: i.node })),
    command: args.command,
    parallel,
    timeoutMs,
    stdin,
    output,
    base: { baseUrl: api.baseUrl, token: api.token, tls: api.tls, diagnose: diagnoser(api) },
    terminal: ctx.terminal,
  });
  const summary = summarize([...unknown, ...results], skipped);
  if (mode === "json") ctx.terminal.writeStdout(JSON.stringify(summary) + "\n");
  ctx.terminal.writeStderr(formatSummary(summary, e));
  await ctx.terminal.flush();
  if (interrupted) return EXIT.interrupted;
  return unknown.length === 0 && allSucceeded(results) ? EXIT.ok : EXIT.failure;
}

/** Whether these options ask for a fleet exec rather than the single, interactive one. */
export function isFleetExec(args: Omit<FleetExecArgs, "command">): boolean {
  return args.selector !== undefined || args.all || args.names.length > 1 || args.parallel !== undefined || args.timeout !== undefined || args.group || args.json;
}
