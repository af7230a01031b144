/**
 * Snapshots from the client (issue 15): `snapshot NAME[@NODE] [--name SNAP]
 * [--comment TEXT]`, `snapshot delete NAME.SNAP[@NODE]`, `restore
 * NAME.SNAP[@NODE] [--destructive]`, and the table of `instances --snapshots`.
 *
 * A snapshot is named as Multipass names it, `INSTANCE.SNAPSHOT`, with the
 * node after the instance or at the end: `web.base`, `web.base@n1` or
 * `web@n1.base` (a snapshot name never holds a dot, so the last dot of the
 * node form is the snapshot's). Deleting is a sub-command of `snapshot`, not
 * a form of `delete NAME.SNAP` as in Multipass: `delete` is the bulk verb on
 * instances, with its own confirmation and selectors, and a snapshot is one
 * call on one instance.
 */
import { defineCommand } from "citty";
import { apiFor, paint, writeArgs, type ClientContext, type CommonArgs } from "./context.ts";
import { withNotes } from "../cli/help.ts";
import { EXIT } from "../cli/run.ts";
import { AppError, usageError } from "../core/errors.ts";
import { stripControl } from "../core/format.ts";
import { parseJson } from "../core/parse.ts";
import { parseInstanceRef } from "../core/validate.ts";
import {
  parseSnapshotChangeEvent,
  parseSnapshotChangeResponse,
  parseSnapshotsResponse,
  validateSnapshotComment,
  validateSnapshotName,
  type SnapshotChangeResponse,
  type SnapshotView,
} from "../protocol/snapshots.ts";
import { renderTable, type Cell } from "./tables.ts";
import { printListing, tableOptions, type Output } from "./output.ts";

/** Multipass's table cuts a comment at its first line break and at 50 characters. */
const MAX_COMMENT_CELL = 50;

/** `web.base`, `web.base@n1` or `web@n1.base` → the instance ref and the snapshot. @throws AppError E_USAGE */
export function parseSnapshotRef(text: string): { ref: string; snapshot: string } {
  const at = text.indexOf("@");
  const head = at < 0 ? text : text.slice(0, at);
  const node = at < 0 ? "" : text.slice(at);
  const dot = head.includes(".") ? head.indexOf(".") : at < 0 ? -1 : text.lastIndexOf(".");
  if (dot < 0) throw usageError(`Name a snapshot as INSTANCE.SNAPSHOT (optionally with @NODE): got ${JSON.stringify(text.slice(0, 80))}`);
  const [ref, snapshot] = head.includes(".") ? [head.slice(0, dot) + node, head.slice(dot + 1)] : [text.slice(0, dot), text.slice(dot + 1)];
  parseInstanceRef(ref);
  return { ref, snapshot: validateSnapshotName(snapshot) };
}

/** One take or restore, streamed: the master's keepalives keep it alive however long Multipass takes. */
async function streamedChange(ctx: ClientContext, args: CommonArgs, path: string, body: unknown): Promise<SnapshotChangeResponse> {
  const lines = await apiFor(args, ctx).stream(path, body);
  for await (const line of lines) {
    const event = parseSnapshotChangeEvent(parseJson(line, "event"));
    if (event.type === "error") throw new AppError(event.code, event.message);
    return event.result;
  }
  throw new AppError("E_PROTOCOL", "The master ended the answer without saying how the call went");
}

function printChange(ctx: ClientContext, json: boolean, done: SnapshotChangeResponse, verb: string): void {
  if (json) return ctx.stdout(`${JSON.stringify(done)}\n`);
  if (done.taken !== null) ctx.stdout(stripControl(`Snapshot taken: ${done.instance}@${done.node}.${done.taken} (the state before the restore)`) + "\n");
  ctx.stdout(stripControl(`Snapshot ${verb}: ${done.instance}@${done.node}.${done.snapshot}`) + "\n");
}

function deleteCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "delete", description: "Delete a snapshot for good (snapshots cannot be recovered)" },
    args: {
      snapshot: { type: "positional", required: true, valueHint: "NAME.SNAP", description: "The snapshot: NAME.SNAP, NAME.SNAP@NODE or NAME@NODE.SNAP" },
      ...writeArgs,
    },
    async run({ args }) {
      const { ref, snapshot } = parseSnapshotRef(args.snapshot);
      const answer = await apiFor(args, ctx).delete(`/api/v1/instances/${encodeURIComponent(ref)}/snapshots/${encodeURIComponent(snapshot)}`);
      if (args.json) return ctx.stdout(answer.text + "\n");
      const done = parseSnapshotChangeResponse(answer.json);
      ctx.stdout(stripControl(`Snapshot deleted: ${done.instance}@${done.node}.${done.snapshot}`) + "\n");
    },
  });
}

export function snapshotCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes({ name: "snapshot", description: "Take a snapshot of a stopped instance (snapshot delete NAME.SNAP deletes one)" }, [
      "The instance must be stopped, as Multipass requires; a backend without snapshot support refuses with Multipass's own reason.",
      "Snapshot names follow the instance-name rule. List them with: multiverse instances --snapshots.",
      'An instance called "delete" is named with its node here (snapshot delete@NODE), as the bare word is the sub-command.',
    ]),
    args: {
      instance: { type: "positional", required: true, valueHint: "NAME", description: "Instance, NAME or NAME@NODE" },
      name: { type: "string", alias: "n", valueHint: "SNAP", description: "The snapshot's name (default: snapshotN, as Multipass names it)" },
      comment: { type: "string", alias: "c", valueHint: "TEXT", description: "A comment kept with the snapshot" },
      ...writeArgs,
    },
    subCommands: { delete: deleteCommand(ctx) },
    async run({ args }) {
      parseInstanceRef(args.instance);
      const body = {
        ...(args.name === undefined ? {} : { name: validateSnapshotName(args.name) }),
        ...(args.comment === undefined ? {} : { comment: validateSnapshotComment(args.comment) }),
      };
      const done = await streamedChange(ctx, args, `/api/v1/instances/${encodeURIComponent(args.instance)}/snapshots`, body);
      printChange(ctx, args.json, done, "taken");
    },
  });
}

export function restoreCommand(ctx: ClientContext) {
  return defineCommand({
    meta: withNotes({ name: "restore", description: "Restore a stopped instance to a snapshot" }, [
      "The instance must be stopped. Without --destructive its current state is first kept in a new snapshot (what Multipass does when its prompt is answered yes, the default); --destructive discards it.",
    ]),
    args: {
      snapshot: { type: "positional", required: true, valueHint: "NAME.SNAP", description: "The snapshot: NAME.SNAP, NAME.SNAP@NODE or NAME@NODE.SNAP" },
      destructive: { type: "boolean", alias: "d", default: false, description: "Discard the instance's current state instead of keeping it in a snapshot" },
      ...writeArgs,
    },
    async run({ args }) {
      const { ref, snapshot } = parseSnapshotRef(args.snapshot);
      const path = `/api/v1/instances/${encodeURIComponent(ref)}/snapshots/${encodeURIComponent(snapshot)}/restore`;
      const done = await streamedChange(ctx, args, path, args.destructive ? { destructive: true } : {});
      printChange(ctx, args.json, done, "restored");
    },
  });
}

/** A comment as Multipass's table shows it: its first line, at most 50 characters, "--" when empty. */
export function commentCell(comment: string): string {
  if (comment === "") return "--";
  const newline = comment.search(/[\r\n]/);
  const max = newline >= 0 ? Math.min(newline + 1, MAX_COMMENT_CELL) : MAX_COMMENT_CELL;
  return comment.length > max ? `${comment.slice(0, max - 1)}…` : comment;
}

/** `instances --snapshots`: every snapshot of every node (`--json`: the API's answer); a node's error goes to stderr and makes the exit status 1. */
export async function printSnapshots(ctx: ClientContext, args: CommonArgs, out: Output, withLabelOptions: boolean): Promise<number> {
  if (withLabelOptions) throw usageError("--snapshots lists every snapshot: -l, -L and --show-labels do not apply to it");
  const answer = await apiFor(args, ctx).get("/api/v1/snapshots");
  const { errors } = parseSnapshotsResponse(answer.json);
  const snapshots = printListing(ctx, out, answer, { key: "snapshots", parse: (items) => parseSnapshotsResponse({ snapshots: items, errors: [] }).snapshots, name: (s) => `${s.instance}.${s.name}@${s.node}` });
  if (snapshots?.length === 0) ctx.stdout("No snapshots found.\n");
  else if (snapshots !== null) {
    const order = (a: SnapshotView, b: SnapshotView) => (a.node + a.instance < b.node + b.instance ? -1 : a.node + a.instance > b.node + b.instance ? 1 : 0);
    const rows: Cell[][] = (out.sortBy === null ? [...snapshots].sort(order) : snapshots).map((s) => [s.node, s.instance, s.name, s.parent ?? "--", commentCell(s.comment)].map(stripControl));
    ctx.stdout(renderTable(["Node Name", "Instance", "Snapshot", "Parent", "Comment"], rows, paint(ctx), { ...tableOptions(ctx, out), shrinkable: [4] }));
  }
  const e = paint(ctx, "stderr");
  for (const failure of errors) ctx.stderr(`${e.red("error")}: ${stripControl(`node "${failure.node}": ${failure.message}`)}\n`);
  return errors.length > 0 ? EXIT.failure : EXIT.ok;
}
