/**
 * Read-only commands: `list`, `info`, `version` and `get`. They read state.json
 * without the lock (writers replace it atomically), queue behind a stop, suspend
 * or delete in its blocking wait (daemon-busy.ts), and pay for the SSH lookups
 * into running instances (ssh.log).
 */

import type { QtParse } from "./args.ts";
import { EXIT, type SimContext } from "./context.ts";
import { queueBehindDaemon } from "./daemon-busy.ts";
import { formatJson } from "./json.ts";
import { snapshotsListing } from "./snapshot.ts";
import { infoSnapshots } from "./snapshot-info.ts";
import { findInstance, isRunning, PRIMARY, type SimInstance } from "./state.ts";
import { logSshLookup, readState } from "./store.ts";
import { infoCsv, infoTable, infoYaml, listCsv, listTable, listYaml, versionText } from "./tables.ts";
import { humanSize } from "./values.ts";
import { daemonOrder, infoDocument, listDocument, listViewOf, viewOf, type InstanceView } from "./views.ts";

/** What fault "garbage" prints instead of a JSON document. */
export const GARBAGE = 'garbage from the simulated multipass host \x01\x02 {"list": [ <<not json>>\n';

const FORMATS = ["table", "json", "csv", "yaml"];

function chosenFormat(ctx: SimContext, args: QtParse): string | null {
  const format = args.value("format") ?? "table";
  if (FORMATS.includes(format)) return format;
  ctx.err("Invalid format type given.\n");
  return null;
}

function takesNoArguments(ctx: SimContext, args: QtParse): boolean {
  if (args.positionals.length === 0) return true;
  ctx.err("This command takes no arguments\n");
  return false;
}

/** `multipass list` / `ls`. */
export async function runList(ctx: SimContext, args: QtParse): Promise<number> {
  if (!takesNoArguments(ctx, args)) return EXIT.commandLine;
  if (args.isSet("snapshots") && args.isSet("no-ipv4")) {
    ctx.err("IP addresses are not applicable in conjunction with listing snapshots\n");
    return EXIT.commandLine;
  }
  const format = chosenFormat(ctx, args);
  if (format === null) return EXIT.commandLine;
  const unreachable = await ctx.reachDaemon("list");
  if (unreachable !== null) return unreachable;
  await queueBehindDaemon(ctx.paths);
  if (args.isSet("snapshots") && !(format === "json" && ctx.config.fault === "garbage")) {
    const listing = snapshotsListing(ctx, format);
    if (listing.kind === "error") return ctx.failure("list", listing.message);
    ctx.out(listing.value);
    return EXIT.ok;
  }
  if (answeredAside(ctx, args, format)) return EXIT.ok;
  const withIpv4 = !args.isSet("no-ipv4");
  const instances = daemonOrder(readState(ctx.paths));
  if (withIpv4) await lookUpOverSsh(ctx, "list", instances, ctx.config.timing.listPerRunningVm);
  const views = instances.map((instance) => listViewOf(instance, withIpv4));
  ctx.out(formatViews(format, views, listDocument, listTable, listCsv, listYaml));
  return EXIT.ok;
}

/**
 * The daemon's SSH round into every running instance (list: its addresses;
 * info: the runtime figures), one after another: one ssh.log line and `ms` each.
 */
async function lookUpOverSsh(ctx: SimContext, command: string, instances: readonly SimInstance[], ms: number): Promise<void> {
  for (const instance of instances) {
    if (!isRunning(instance.state)) continue;
    logSshLookup(ctx.paths, command, instance.name);
    if (ms > 0) await Bun.sleep(ms);
  }
}

/** Output that is not the instances: the garbage fault (JSON only). */
function answeredAside(ctx: SimContext, args: QtParse, format: string): boolean {
  if (format === "json" && ctx.config.fault === "garbage") ctx.out(GARBAGE);
  else return false;
  return true;
}

function formatViews(
  format: string,
  views: InstanceView[],
  json: (views: InstanceView[]) => Parameters<typeof formatJson>[0],
  table: (views: InstanceView[], primary: string) => string,
  csv: (views: InstanceView[], primary: string) => string,
  yaml: (views: InstanceView[], primary: string) => string,
): string {
  if (format === "json") return formatJson(json(views));
  if (format === "csv") return csv(views, PRIMARY);
  if (format === "yaml") return yaml(views, PRIMARY);
  return table(views, PRIMARY);
}

/** `multipass info [NAME…]`. */
export async function runInfo(ctx: SimContext, args: QtParse): Promise<number> {
  if (args.isSet("all")) {
    ctx.err(
      "Warning: the `--all` flag for the `info` command is deprecated. Please use `info` with no positional " +
        "arguments for the same effect.\n",
    );
    if (args.positionals.length > 0) {
      ctx.err(`Cannot specify name${args.positionals.length > 1 ? "s" : ""} when --all option set\n`);
      return EXIT.commandLine;
    }
  }
  const format = chosenFormat(ctx, args);
  if (format === null) return EXIT.commandLine;
  const unreachable = await ctx.reachDaemon("info");
  if (unreachable !== null) return unreachable;
  await queueBehindDaemon(ctx.paths);
  const state = readState(ctx.paths);
  // NAME.SNAPSHOT names a snapshot of NAME (snapshot-info.ts); the instance must exist either way.
  const missing = [...new Set(args.positionals.map((arg) => arg.split(".")[0] ?? arg))].filter((name) => findInstance(state, name) === undefined);
  if (missing.length > 0) {
    const lines = missing.map((name) => `instance "${name}" does not exist`).join("\n");
    return ctx.failure("info", "The following errors occurred:", lines);
  }
  if (answeredAside(ctx, args, format)) return EXIT.ok;
  const snapshots = infoSnapshots(ctx, args, state, format);
  if (snapshots !== null) return snapshots;
  const chosen =
    args.positionals.length === 0
      ? daemonOrder(state)
      : args.positionals.flatMap((name) => findInstance(state, name) ?? []);
  const runtime = !args.isSet("no-runtime-information");
  if (runtime) await lookUpOverSsh(ctx, "info", chosen, ctx.config.timing.infoPerRunningVm);
  // A backend without snapshots reports no count (the daemon catches NotImplementedOnThisBackendException).
  const views = chosen.map((instance) => ({ ...viewOf(instance, runtime), ...(ctx.config.snapshots ? {} : { snapshots: null }) }));
  ctx.out(formatViews(format, views, infoDocument, infoTable, infoCsv, infoYaml));
  return EXIT.ok;
}

/** `multipass version` (also `-V` / `--version`). Never needs the daemon to succeed. */
export async function runVersion(ctx: SimContext, args: QtParse): Promise<number> {
  if (!takesNoArguments(ctx, args)) return EXIT.commandLine;
  const format = chosenFormat(ctx, args);
  if (format === null) return EXIT.commandLine;
  const version = ctx.config.version;
  const daemon = ctx.config.fault === "down" ? null : version;
  if (daemon !== null) await queueBehindDaemon(ctx.paths);
  if (format === "json" && ctx.config.fault === "garbage") ctx.out(GARBAGE);
  else if (format === "json") ctx.out(formatJson(daemon === null ? { multipass: version } : { multipass: version, multipassd: daemon }));
  else ctx.out(versionText(format, version, daemon));
  return EXIT.ok;
}

const CLIENT_SETTINGS: Record<string, string> = { "client.primary-name": PRIMARY };
const DAEMON_SETTINGS: Record<string, string> = {
  "local.bridged-network": "",
  "local.driver": "qemu",
  "local.privileged-mounts": "true",
};
const INSTANCE_KEYS = ["bridged", "cpus", "disk", "memory"];

/** `multipass get KEY [--raw]` / `get --keys`. */
export async function runGet(ctx: SimContext, args: QtParse): Promise<number> {
  const keys = args.positionals;
  if (keys.length > 1) {
    ctx.err("Need at most one setting key.\n");
    return EXIT.commandLine;
  }
  if (args.isSet("keys")) {
    const state = readState(ctx.paths);
    const perInstance = state.instances
      .filter((instance) => instance.state !== "Deleted")
      .flatMap((instance) => INSTANCE_KEYS.map((key) => `local.${instance.name}.${key}`));
    const all = [...Object.keys(CLIENT_SETTINGS), ...Object.keys(DAEMON_SETTINGS), ...perInstance];
    ctx.out(all.filter((key) => keys.length === 0 || key === keys[0]).map((key) => `${key}\n`).join(""));
    return EXIT.ok;
  }
  const key = keys[0];
  if (key === undefined) {
    ctx.err(
      "Multiple settings not implemented yet. Please try again with one setting key or just the `--keys` option for now.\n",
    );
    return EXIT.commandLine;
  }
  const print = (value: string): number => {
    ctx.out(`${value === "" && !args.isSet("raw") ? "<empty>" : value}\n`);
    return EXIT.ok;
  };
  const clientValue = CLIENT_SETTINGS[key];
  if (clientValue !== undefined) return print(clientValue);
  if (!key.startsWith("local.")) {
    ctx.err(`Unrecognized settings key: '${key}'\n`);
    return EXIT.commandLine;
  }
  const unreachable = await ctx.reachDaemon("get");
  if (unreachable !== null) return unreachable;
  await queueBehindDaemon(ctx.paths);
  const daemonValue = DAEMON_SETTINGS[key];
  if (daemonValue !== undefined) return print(daemonValue);
  const match = /^local\.(.+)\.(bridged|cpus|disk|memory)$/.exec(key);
  if (match === null) return ctx.failure("get", `Unrecognized settings key: '${key}'`);
  const [, name = "", property] = match;
  const instance = findInstance(readState(ctx.paths), name);
  if (instance === undefined) {
    return ctx.failure("get", `Cannot obtain instance settings; instance: ${name}; reason: No such instance`);
  }
  if (property === "cpus") return print(String(instance.cpus));
  if (property === "memory") return print(humanSize(instance.memory));
  if (property === "disk") return print(humanSize(instance.disk));
  return print("false");
}
