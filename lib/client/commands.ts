/**
 * The client's command tree, and the commands that read the cluster or open
 * sessions. Listings print the API's JSON exactly with `--json`, or a table.
 */
import { defineCommand, type ArgsDef } from "citty";
import type { ApiClient } from "./api-client.ts";
import { apiFor, common, defaultInstance, paint, resolveRef, type ClientContext } from "./context.ts";
import { eventsCommand } from "./events.ts";
import { launchCommand } from "./launch.ts";
import { nodesCommand } from "./nodes.ts";
import { lifecycleCommand, purgeCommand } from "./operations.ts";
import { runSession } from "./session.ts";
import { EXIT } from "../cli/run.ts";
import { AppError, messageOf } from "../core/errors.ts";
import { parseDuration } from "../core/duration.ts";
import { formatLoad, formatUsage, stripControl } from "../core/format.ts";
import { renderTable, stateCell, type Cell } from "./tables.ts";
import { arrayOf } from "../core/parse.ts";
import { MAX_INFO_TIMEOUT_MS, parseInfoResponse, parseInstanceView } from "../protocol/api.ts";
import { validateCommand } from "../protocol/session.ts";
import { parseInstanceRef } from "../core/validate.ts";
import { VERSION } from "../core/version.ts";

export type { ClientContext } from "./context.ts";

function instancesCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "instances", alias: "ls", description: "List every instance on every node (from the master's cache)" },
    args: common,
    async run({ args }) {
      const answer = await apiFor(args, ctx).get("/api/v1/instances");
      if (args.json) return ctx.stdout(answer.text + "\n");
      const instances = arrayOf(parseInstanceView)(answer.json, "instances");
      if (instances.length === 0) {
        ctx.stdout("No instances found.\n");
        return;
      }
      const c = paint(ctx);
      const rows: Cell[][] = [];
      for (const i of instances) {
        const [first = "--", ...more] = i.ipv4;
        rows.push([i.node, i.name, stateCell(i.state, c), first, i.release ?? "Not Available"]);
        for (const ip of more) rows.push(["", "", "", ip, ""]);
      }
      ctx.stdout(renderTable(["Node Name", "Instance Name", "State", "IPv4", "Image"], rows, c));
    },
  });
}

/** How much longer than the per-node limit `info` waits for the master's answer: its own work around the nodes' calls. */
const INFO_MARGIN_MS = 15_000;

function infoCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "info", description: "Live figures of every instance, or of one (NAME or NAME@NODE)" },
    args: {
      name: { type: "positional", required: false, description: "Instance, NAME or NAME@NODE" },
      timeout: { type: "string", valueHint: "DURATION", description: "Per-node time limit (default: the master's --node-timeout; at most 10m)" },
      ...common,
    },
    async run({ args }) {
      const query = new URLSearchParams();
      if (args.name) {
        parseInstanceRef(args.name);
        query.set("instance", args.name);
      }
      const nodeTimeoutMs = args.timeout === undefined ? null : parseDuration(args.timeout, "--timeout", { minMs: 1, maxMs: MAX_INFO_TIMEOUT_MS });
      if (nodeTimeoutMs !== null) query.set("timeout", String(nodeTimeoutMs));
      // The master answers once every node has, or its limit has passed: wait a little longer than that.
      const timeoutMs = (nodeTimeoutMs ?? MAX_INFO_TIMEOUT_MS) + INFO_MARGIN_MS;
      const answer = await apiFor(args, ctx).get(`/api/v1/info${query.size > 0 ? `?${query}` : ""}`, { timeoutMs });
      const info = parseInfoResponse(answer.json);
      const c = paint(ctx);
      if (args.json) ctx.stdout(answer.text + "\n");
      else if (info.instances.length === 0) ctx.stdout("No instances found.\n");
      else {
        const rows: Cell[][] = info.instances.map((i) => [
          i.node,
          i.name,
          i.cpus === null ? "--" : String(i.cpus),
          formatLoad(i.load),
          formatUsage(i.disk),
          formatUsage(i.memory),
        ]);
        ctx.stdout(renderTable(["Node Name", "Instance Name", "Cpu", "Load", "Disk", "Memory"], rows, c));
      }
      const e = paint(ctx, "stderr");
      for (const failure of info.errors) ctx.stderr(`${e.red("error")}: ${stripControl(`node "${failure.node}": ${failure.message}`)}\n`);
      return info.errors.length > 0 ? EXIT.failure : EXIT.ok;
    },
  });
}

const sessionArgs = {
  master: common.master,
  token: common.token,
  "token-file": common["token-file"],
  ca: common.ca,
  verbose: common.verbose,
} as const satisfies ArgsDef;

function shellCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "shell", description: "Interactive shell in an instance on any node (default: primary, if exactly one)" },
    args: {
      name: { type: "positional", required: false, description: "Instance, NAME or NAME@NODE (default: the one instance named primary)" },
      ...sessionArgs,
    },
    async run({ args }) {
      const api = apiFor({ ...args, json: false }, ctx);
      const ref = args.name === undefined ? await defaultInstance(api, "open a shell in") : await resolveRef(api, args.name);
      const session = { baseUrl: api.baseUrl, token: api.token, tls: api.tls, ref, io: ctx.terminal, diagnose: diagnoser(api) };
      // Like ssh: input that is not a terminal (a pipe, /dev/null, cron) gets no remote terminal,
      // where it would be typed ahead of the prompt; the login shell reads it and ends when it ends.
      if (!ctx.terminal.stdinIsTTY) return runSession({ ...session, kind: "exec", command: PIPED_LOGIN_SHELL, tty: false });
      return runSession({ ...session, kind: "shell", command: [], tty: true });
    },
  });
}

/** The user's login shell, reading commands from its stdin: what `shell` runs when input is piped. */
const PIPED_LOGIN_SHELL = ["sh", "-c", 'if [ -x "${SHELL:-}" ]; then exec "$SHELL" -l; else exec /bin/sh -l; fi'];

/** Why the master refused a session upgrade, from the same route asked over plain HTTP. */
export function diagnoser(api: ApiClient) {
  return async (path: string): Promise<string | null> => {
    try {
      await api.get(path);
      return null;
    } catch (error) {
      // The route accepted everything but the missing upgrade: the refusal came from elsewhere.
      if (error instanceof AppError && error.code === "E_USAGE" && error.message.includes("WebSocket upgrade")) return null;
      return messageOf(error);
    }
  };
}

/** `-t`/`--tty` and `-T`/`--no-tty` before `--`; the last one given wins. */
function ttyChoice(rawArgs: string[]): boolean | null {
  let choice: boolean | null = null;
  for (const arg of rawArgs) {
    if (arg === "--") break;
    if (arg === "-t" || arg === "--tty") choice = true;
    if (arg === "-T" || arg === "--no-tty") choice = false;
  }
  return choice;
}

function execCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "exec", description: "Run a command in an instance on any node: exec NAME -- CMD [ARGS...]" },
    args: {
      name: { type: "positional", required: true, description: "Instance, NAME or NAME@NODE" },
      command: { type: "positional", required: false, valueHint: "-- CMD...", description: "The command and its arguments, after --" },
      tty: { type: "boolean", alias: "t", description: "Run under a terminal, interactively (default when stdin and stdout are terminals)" },
      T: { type: "boolean", description: "Never a terminal (same as --no-tty)" },
      ...sessionArgs,
    },
    async run({ args, rawArgs }) {
      const dashDash = rawArgs.indexOf("--");
      const command = validateCommand(dashDash >= 0 ? rawArgs.slice(dashDash + 1) : args._.slice(1).map(String));
      const tty = ttyChoice(rawArgs) ?? (ctx.terminal.stdinIsTTY && ctx.terminal.stdoutIsTTY);
      const api = apiFor({ ...args, json: false }, ctx);
      const ref = await resolveRef(api, args.name);
      return runSession({ baseUrl: api.baseUrl, token: api.token, tls: api.tls, kind: "exec", ref, command, tty, io: ctx.terminal, diagnose: diagnoser(api) });
    },
  });
}

/** The client's command tree. */
export function createClientCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "multiverse", version: VERSION, description: "See and drive the Multipass VMs of every host from one place" },
    subCommands: {
      nodes: nodesCommand(ctx),
      instances: instancesCommand(ctx),
      info: infoCommand(ctx),
      shell: shellCommand(ctx),
      exec: execCommand(ctx),
      launch: launchCommand(ctx),
      start: lifecycleCommand(ctx, "start"),
      stop: lifecycleCommand(ctx, "stop"),
      restart: lifecycleCommand(ctx, "restart"),
      suspend: lifecycleCommand(ctx, "suspend"),
      delete: lifecycleCommand(ctx, "delete"),
      recover: lifecycleCommand(ctx, "recover"),
      purge: purgeCommand(ctx),
      events: eventsCommand(ctx),
    },
  });
}
