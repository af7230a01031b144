/**
 * Snapshots: `snapshot`, `restore`, `list --snapshots` and the snapshot half of
 * `delete NAME.SNAP --purge`, after upstream's src/client/cli/cmd/{snapshot,restore}.cpp
 * and the daemon's checks (src/daemon/daemon.cpp). A snapshot keeps the instance's
 * cpus, memory and disk and a copy of its home (snapshot-files.ts); restoring brings
 * both back. config.json `"snapshots": false` plays a backend without snapshot support.
 */

import type { QtParse } from "./args.ts";
import { EXIT, type SimContext } from "./context.ts";
import { formatJson, type JsonValue } from "./json.ts";
import { copyHomeToSnapshot, removeSnapshotFiles, restoreHomeFromSnapshot } from "./snapshot-files.ts";
import { Spinner } from "./spinner.ts";
import { findInstance, PRIMARY, type SimInstance, type SimSnapshot, type SimState } from "./state.ts";
import { readState, updateState } from "./store.ts";
import { humanOrder } from "./views.ts";

/** Multipass's NotImplementedOnThisBackendException{"snapshots"}. */
export const NOT_IMPLEMENTED = "The snapshots feature is not implemented on this backend.";

/** The stand-in's bound on the snapshots one instance holds (upstream has none). */
export const MAX_SNAPSHOTS = 64;

const NAME_RULE = /^([a-zA-Z]|[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9])$/;

type Outcome<T> = { kind: "ok"; value: T } | { kind: "error"; message: string };

/** The daemon's lookup of one operative instance (require_operative_instances_reaction). */
function operative(state: SimState, name: string): Outcome<SimInstance> {
  const instance = findInstance(state, name);
  if (instance === undefined) return { kind: "error", message: `instance "${name}" does not exist` };
  if (instance.state === "Deleted") return { kind: "error", message: `instance "${name}" is deleted` };
  return { kind: "ok", value: instance };
}

function takeIn(ctx: SimContext, state: SimState, name: string, wanted: string, comment: string): Outcome<SimSnapshot> {
  const found = operative(state, name);
  if (found.kind === "error") return found;
  const instance = found.value;
  if (instance.state !== "Stopped") return { kind: "error", message: "Multipass can only take snapshots of stopped instances." };
  if (wanted !== "" && !NAME_RULE.test(wanted)) return { kind: "error", message: `Invalid snapshot name: "${wanted}".` };
  if (!ctx.config.snapshots) return { kind: "error", message: NOT_IMPLEMENTED };
  const snapName = wanted === "" ? `snapshot${instance.snapshotsEver + 1}` : wanted;
  if (instance.taken.some((s) => s.name === snapName)) return { kind: "error", message: `Snapshot already exists: ${name}.${snapName}` };
  if (instance.taken.length >= MAX_SNAPSHOTS) {
    return { kind: "error", message: `The simulated host keeps at most ${MAX_SNAPSHOTS} snapshots of an instance.` };
  }
  const snapshot: SimSnapshot = {
    name: snapName,
    comment,
    parent: instance.head,
    created: new Date().toISOString(),
    cpus: instance.cpus,
    memory: instance.memory,
    disk: instance.disk,
  };
  copyHomeToSnapshot(ctx.paths, instance, snapName);
  instance.taken.push(snapshot);
  instance.snapshots = instance.taken.length;
  instance.snapshotsEver++;
  instance.head = snapName;
  return { kind: "ok", value: snapshot };
}

/** `multipass snapshot [--name N] [--comment C] INSTANCE`: prints `Snapshot taken: I.S`. */
export async function runSnapshot(ctx: SimContext, args: QtParse): Promise<number> {
  if (args.positionals.length < 1) {
    ctx.err("Need the name of an instance to snapshot.\n");
    return EXIT.commandLine;
  }
  if (args.positionals.length > 1) {
    ctx.err("Too many arguments supplied\n");
    return EXIT.commandLine;
  }
  const name = args.positionals[0] ?? "";
  const spinner = new Spinner(ctx.out);
  spinner.start("Taking snapshot");
  const unreachable = await ctx.reachDaemon("snapshot", () => spinner.stop());
  if (unreachable !== null) return unreachable;
  await spinner.hold(ctx.config.stepMs);
  const outcome = updateState(ctx.paths, (state) => takeIn(ctx, state, name, args.value("name") ?? "", args.value("comment") ?? ""));
  spinner.stop();
  if (outcome.kind === "error") return ctx.failure("snapshot", outcome.message);
  ctx.out(`Snapshot taken: ${name}.${outcome.value.name}\n`);
  return EXIT.ok;
}

/** The daemon's checks of a restore, in its order; the snapshot when it may go ahead. */
function checkRestore(ctx: SimContext, state: SimState, name: string, snapName: string): Outcome<{ instance: SimInstance; snapshot: SimSnapshot }> {
  const found = operative(state, name);
  if (found.kind === "error") return found;
  const instance = found.value;
  if (!ctx.config.snapshots) return { kind: "error", message: NOT_IMPLEMENTED };
  const snapshot = instance.taken.find((s) => s.name === snapName);
  if (snapshot === undefined) return { kind: "error", message: `No such snapshot: ${name}.${snapName}` };
  if (instance.state !== "Stopped") return { kind: "error", message: "Multipass can only restore snapshots of stopped instances." };
  return { kind: "ok", value: { instance, snapshot } };
}

function restoreIn(ctx: SimContext, state: SimState, name: string, snapName: string): Outcome<null> {
  const checked = checkRestore(ctx, state, name, snapName);
  if (checked.kind === "error") return checked;
  const { instance, snapshot } = checked.value;
  restoreHomeFromSnapshot(ctx.paths, instance, snapName);
  instance.cpus = snapshot.cpus;
  instance.memory = snapshot.memory;
  instance.disk = snapshot.disk;
  instance.head = snapName;
  return { kind: "ok", value: null };
}

/** `multipass restore [--destructive] INSTANCE.SNAPSHOT`: prints `Snapshot restored: I.S`. */
export async function runRestore(ctx: SimContext, args: QtParse): Promise<number> {
  if (args.positionals.length < 1) {
    ctx.err("Need the name of an instance and snapshot to restore.\n");
    return EXIT.commandLine;
  }
  if (args.positionals.length > 1) {
    ctx.err("Too many arguments supplied.\n");
    return EXIT.commandLine;
  }
  const tokens = (args.positionals[0] ?? "").split(".");
  const [name = "", snapName = ""] = tokens;
  if (tokens.length !== 2 || name === "" || snapName === "") {
    ctx.err("Invalid format. Please specify the instance to restore and snapshot to use in the form <instance>.<snapshot>.\n");
    return EXIT.commandLine;
  }
  const destructive = args.isSet("destructive");
  const spinner = new Spinner(ctx.out);
  spinner.start("");
  const unreachable = await ctx.reachDaemon("restore", () => spinner.stop());
  if (unreachable !== null) return unreachable;
  const checked = checkRestore(ctx, readState(ctx.paths), name, snapName);
  if (checked.kind === "ok" && !destructive) {
    // The stand-in never prompts: like upstream's client without a terminal it hangs up.
    spinner.stop();
    ctx.err("Unable to query client for confirmation. Use '--destructive' to automatically discard current machine state.\n");
    return ctx.failure("restore", "Cannot get confirmation from client. Aborting...");
  }
  if (checked.kind === "ok") {
    spinner.stop();
    spinner.start("Restoring snapshot");
    await spinner.hold(ctx.config.stepMs);
  }
  const outcome = checked.kind === "error" ? checked : updateState(ctx.paths, (state) => restoreIn(ctx, state, name, snapName));
  spinner.stop();
  if (outcome.kind === "error") return ctx.failure("restore", outcome.message);
  ctx.out(`Snapshot restored: ${name}.${snapName}\n`);
  return EXIT.ok;
}

/**
 * Checks the `NAME.SNAP` picks of a delete (all of them exist, on live
 * instances, on a backend that has snapshots); null when they are fine.
 */
export function snapshotPickError(ctx: SimContext, state: SimState, picks: readonly [string, string][]): string | null {
  for (const [name, snapName] of picks) {
    const instance = findInstance(state, name);
    if (instance === undefined) continue;
    if (!ctx.config.snapshots) return NOT_IMPLEMENTED;
    if (instance.state === "Deleted") return `Cannot delete snapshots of deleted instances: ${name}.${snapName}`;
    if (!instance.taken.some((s) => s.name === snapName)) return `No such snapshot: ${name}.${snapName}`;
  }
  return null;
}

/** Removes the picked snapshots; children of a removed one take its parent. */
export function deleteSnapshotsIn(ctx: SimContext, state: SimState, picks: readonly [string, string][]): void {
  for (const [name, snapName] of picks) {
    const instance = findInstance(state, name);
    const doomed = instance?.taken.find((s) => s.name === snapName);
    if (instance === undefined || doomed === undefined) continue;
    instance.taken = instance.taken.filter((s) => s !== doomed);
    for (const child of instance.taken) if (child.parent === snapName) child.parent = doomed.parent;
    if (instance.head === snapName) instance.head = doomed.parent;
    instance.snapshots = instance.taken.length;
    removeSnapshotFiles(ctx.paths, name, snapName);
  }
}

/** `list --snapshots` in the requested format (1.16 layout). */
export function snapshotsListing(ctx: SimContext, format: string): Outcome<string> {
  if (!ctx.config.snapshots) return { kind: "error", message: NOT_IMPLEMENTED };
  const instances = humanOrder(readState(ctx.paths).instances, PRIMARY);
  const rows = instances.flatMap((instance) => instance.taken.map((snapshot) => ({ instance: instance.name, snapshot })));
  if (format === "json") {
    const info: { [key: string]: JsonValue } = {};
    for (const instance of instances) {
      if (instance.taken.length === 0) continue;
      const entries: { [key: string]: JsonValue } = {};
      for (const s of instance.taken) entries[s.name] = { comment: s.comment, parent: s.parent };
      info[instance.name] = entries;
    }
    return { kind: "ok", value: formatJson({ errors: [], info }) };
  }
  if (format === "csv") {
    const lines = rows.map(({ instance, snapshot: s }) => `${instance},${s.name},${s.parent},${JSON.stringify(s.comment)}\n`);
    return { kind: "ok", value: `Instance,Snapshot,Parent,Comment\n${lines.join("")}` };
  }
  if (format === "yaml") {
    if (rows.length === 0) return { kind: "ok", value: "{}\n" };
    const byInstance = instances.filter((i) => i.taken.length > 0);
    const text = byInstance
      .map((i) => `${i.name}:\n${i.taken.map((s) => `  - ${s.name}:\n      - parent: ${s.parent === "" ? "~" : s.parent}\n        comment: ${s.comment === "" ? "~" : JSON.stringify(s.comment)}\n`).join("")}`)
      .join("");
    return { kind: "ok", value: text };
  }
  return { kind: "ok", value: snapshotsTable(rows) };
}

/** Upstream's generate_snapshots_list: columns 3 wider than their longest cell, comments cut at 50 or a newline. */
function snapshotsTable(rows: readonly { instance: string; snapshot: SimSnapshot }[]): string {
  if (rows.length === 0) return "No snapshots found.\n";
  const width = (header: string, cell: (row: (typeof rows)[number]) => string): number =>
    Math.max(header.length, ...rows.map((row) => cell(row).length)) + 3;
  const nameWidth = width("Instance", (r) => r.instance);
  const snapWidth = width("Snapshot", (r) => r.snapshot.name);
  const parentWidth = width("Parent", (r) => r.snapshot.parent);
  const line = (a: string, b: string, c: string, d: string): string =>
    `${a.padEnd(nameWidth)}${b.padEnd(snapWidth)}${c.padEnd(parentWidth)}${d}\n`;
  let text = line("Instance", "Snapshot", "Parent", "Comment");
  for (const { instance, snapshot } of rows) {
    const newline = snapshot.comment.search(/[\r\n]/);
    const max = newline >= 0 ? Math.min(newline + 1, 50) : 50;
    const comment =
      snapshot.comment === "" ? "--" : snapshot.comment.length > max ? `${snapshot.comment.slice(0, max - 1)}…` : snapshot.comment;
    text += line(instance, snapshot.name, snapshot.parent === "" ? "--" : snapshot.parent, comment);
  }
  return text;
}
