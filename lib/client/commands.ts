/**
 * The client's command tree, and the commands that read the cluster or open
 * sessions. Listings print the API's JSON exactly with `--json`, or a table.
 */
import { defineCommand, type ArgsDef, type CommandDef } from "citty";
import { apiFor, common, defaultInstance, paint, resolveRef, type ClientContext } from "./context.ts";
import { eventsCommand } from "./events.ts";
import { configCommand } from "./config-commands.ts";
import { loginCommand } from "./login.ts";
import { completionCommands } from "./completion-commands.ts";
import { instancesCommand } from "./instances.ts";
import { launchCommand } from "./launch.ts";
import { labelCommand, selectorArg, selectorOption } from "./labels.ts";
import { usageError } from "../core/errors.ts";
import { cpCommand } from "./cp.ts";
import { execCommand } from "./exec.ts";
import { nodesCommand } from "./nodes.ts";
import { lifecycleCommand, purgeCommand } from "./operations.ts";
import { applyCommand, deleteEnvironment, diffCommand } from "./environments.ts";
import { envsCommand } from "./env-list.ts";
import { restoreCommand, snapshotCommand } from "./snapshots.ts";
import { portForwardCommand } from "./port-forward.ts";
import { runSession } from "./session.ts";
import { sshCommands } from "./ssh.ts";
import { attachCommand, attachTo, detachedShellsOn, offerReattach, sessionArgs, sessionBase, sessionsCommand } from "./sessions.ts";
import { ESCAPES_DOC } from "./escapes.ts";
import { withNotes } from "../cli/help.ts";
import { EXIT } from "../cli/run.ts";
import { parseDuration } from "../core/duration.ts";
import { formatLoad, formatUsage, stripControl } from "../core/format.ts";
import { renderTable, type Cell } from "./tables.ts";
import { outputArgs, parseOutput, printListing, tableOptions } from "./output.ts";
import { MAX_INFO_TIMEOUT_MS, parseInfoResponse } from "../protocol/api.ts";
import { parseInstanceRef } from "../core/validate.ts";
import { VERSION } from "../core/version.ts";
import { versionCommand } from "./version.ts";

export type { ClientContext } from "./context.ts";


/** How much longer than the per-node limit `info` waits for the master's answer: its own work around the nodes' calls. */
const INFO_MARGIN_MS = 15_000;

function infoCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "info", description: "Live figures of every instance, of one (NAME or NAME@NODE), or of those -l selects" },
    args: {
      name: { type: "positional", required: false, description: "Instance, NAME or NAME@NODE" },
      ...selectorOption,
      timeout: { type: "string", valueHint: "DURATION", description: "Per-node time limit (default: the master's --node-timeout; at most 10m)" },
      ...common,
      ...outputArgs,
    },
    async run({ args }) {
      const out = parseOutput(args);
      const query = new URLSearchParams();
      const selector = selectorArg(args.selector);
      if (args.name && selector !== null) throw usageError("Give an instance or -l, not both");
      if (selector !== null) query.set("selector", selector);
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
      const items = printListing(ctx, out, answer, { key: "instances", parse: (raw) => parseInfoResponse({ instances: raw, errors: [] }).instances, name: (i) => `${i.name}@${i.node}` });
      if (items?.length === 0) ctx.stdout(selector === null ? "No instances found.\n" : `No instances match the selector ${JSON.stringify(selector)}.\n`);
      else if (items !== null) {
        // wide: where each runs from — its address, its image's release and the image's hash (as multipass info shortens it).
        const wide = out.format.kind === "wide";
        const rows: Cell[][] = items.map((i) => [
          i.node,
          i.name,
          i.cpus === null ? "--" : String(i.cpus),
          formatLoad(i.load),
          formatUsage(i.disk),
          formatUsage(i.memory),
          ...(wide ? [i.ipv4[0] ?? "--", i.imageRelease ?? "--", i.imageHash === null ? "--" : i.imageHash.slice(0, 12)] : []),
        ]);
        const headers = ["Node Name", "Instance Name", "Cpu", "Load", "Disk", "Memory", ...(wide ? ["IPv4", "Image", "Image Hash"] : [])];
        ctx.stdout(renderTable(headers, rows, c, tableOptions(ctx, out)));
      }
      const e = paint(ctx, "stderr");
      for (const failure of info.errors) ctx.stderr(`${e.red("error")}: ${stripControl(`node "${failure.node}": ${failure.message}`)}\n`);
      return info.errors.length > 0 ? EXIT.failure : EXIT.ok;
    },
  });
}

function shellCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes({ name: "shell", description: "Interactive shell in an instance on any node (default: primary, if exactly one)" }, [
      "When a detached shell of yours is kept on that instance, shell offers to reattach to it (on a terminal; --new skips the offer).",
      "The worker keeps a shell whose connection is lost; the client reconnects by itself, and keys typed meanwhile are discarded.",
      ESCAPES_DOC + ".",
    ]),
    args: {
      name: { type: "positional", required: false, description: "Instance, NAME or NAME@NODE (default: the one instance named primary)" },
      new: { type: "boolean", default: false, description: "Open a new shell, without offering a detached one of yours" },
      ...sessionArgs,
    },
    async run({ args }) {
      const api = apiFor({ ...args, json: false }, ctx);
      const ref = args.name === undefined ? await defaultInstance(api, "open a shell in") : await resolveRef(api, args.name);
      const session = { ...sessionBase(api, ctx), ref };
      // Like ssh: input that is not a terminal (a pipe, /dev/null, cron) gets no remote terminal,
      // where it would be typed ahead of the prompt; the login shell reads it and ends when it ends.
      if (!ctx.terminal.stdinIsTTY) return runSession({ ...session, kind: "exec", command: PIPED_LOGIN_SHELL, tty: false });
      if (!args.new) {
        const [detached, ...more] = await detachedShellsOn(api, ref);
        if (detached && (await offerReattach(ctx, detached, more.length, Date.now()))) return attachTo(ctx, api, detached, false);
      }
      return runSession({ ...session, kind: "shell", command: [], tty: true });
    },
  });
}

/** The user's login shell, reading commands from its stdin: what `shell` runs when input is piped. */
const PIPED_LOGIN_SHELL = ["sh", "-c", 'if [ -x "${SHELL:-}" ]; then exec "$SHELL" -l; else exec /bin/sh -l; fi'];

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
      cp: cpCommand(ctx),
      sessions: sessionsCommand(ctx),
      attach: attachCommand(ctx),
      "port-forward": portForwardCommand(ctx),
      ...sshCommands(ctx),
      launch: launchCommand(ctx),
      start: lifecycleCommand(ctx, "start"),
      stop: lifecycleCommand(ctx, "stop"),
      restart: lifecycleCommand(ctx, "restart"),
      suspend: lifecycleCommand(ctx, "suspend"),
      delete: lifecycleCommand(ctx, "delete", deleteEnvironment),
      recover: lifecycleCommand(ctx, "recover"),
      purge: purgeCommand(ctx),
      apply: applyCommand(ctx),
      diff: diffCommand(ctx),
      envs: envsCommand(ctx),
      label: labelCommand(ctx),
      snapshot: snapshotCommand(ctx),
      restore: restoreCommand(ctx),
      events: eventsCommand(ctx),
      version: versionCommand(ctx),
      config: configCommand(ctx),
      login: loginCommand(ctx),
      ...completionCommands(ctx, (): CommandDef<ArgsDef> => createClientCommand(ctx)),
    },
  });
}
