/**
 * The snapshot wire (issue 15):
 * - between master and worker: `GET /agent/v1/snapshots[?instance=NAME]`
 *   answers {@link AgentSnapshots}; `POST /agent/v1/snapshots/:instance`
 *   ({@link TakeSnapshotBody}), `POST /agent/v1/snapshots/:instance/:snap/restore`
 *   ({@link RestoreSnapshotBody}) and `POST /agent/v1/snapshots/:instance/:snap/delete`
 *   answer NDJSON: keepalives while Multipass works, then one
 *   {@link AgentSnapshotEvent};
 * - the API: `GET /api/v1/snapshots[?instance=REF]` answers
 *   {@link SnapshotsResponse}; the take, restore and delete routes answer
 *   {@link SnapshotChangeResponse}.
 *
 * Snapshot names follow Multipass's rule for instance names (CONTRACT.md §2.1).
 */
import { AppError, messageOf, usageError } from "../core/errors.ts";
import { arrayOf, boolean, field, nullable, object, optional, parseErrorCode, string, ParseError } from "../core/parse.ts";
import { validateInstanceName } from "../core/validate.ts";

/** The longest comment taken with a snapshot. */
export const MAX_SNAPSHOT_COMMENT = 1000;

/** One snapshot as `multipass list --snapshots` shows it. */
export interface SnapshotSummary {
  instance: string;
  name: string;
  /** The snapshot it descends from; null for none. */
  parent: string | null;
  /** "" for none; may hold newlines (a terminal shows the first line). */
  comment: string;
}

/** One snapshot in the API: a {@link SnapshotSummary} with its node. */
export interface SnapshotView extends SnapshotSummary {
  node: string;
}

/** `GET /api/v1/snapshots`: the snapshots of the nodes that answered, and each other node's error. */
export interface SnapshotsResponse {
  snapshots: SnapshotView[];
  errors: { node: string; message: string }[];
}

/** The answer of a take, a restore or a delete. */
export interface SnapshotChangeResponse {
  node: string;
  instance: string;
  /** The snapshot taken, restored or deleted. */
  snapshot: string;
  /** A restore without `destructive`: the snapshot of the state it discarded, taken first (as Multipass's default answer does). */
  taken: string | null;
  /** The instance's snapshots after the change. */
  snapshots: SnapshotView[];
}

/** `{ name?, comment? }`: Multipass names it snapshotN when `name` is absent. */
export interface TakeSnapshotBody {
  name?: string;
  comment?: string;
}

/** `{ destructive? }`: without it, the current state is kept in a snapshot first. */
export interface RestoreSnapshotBody {
  destructive?: boolean;
}

/** The worker's listing. */
export interface AgentSnapshots {
  snapshots: SnapshotSummary[];
}

/** The end of a snapshot change on a worker. */
export type AgentSnapshotEvent =
  | { type: "done"; snapshot: string; taken: string | null; snapshots: SnapshotSummary[] }
  | { type: "error"; code: AppError["code"]; message: string };

/** Checks a snapshot name (the instance-name rule). @throws AppError E_USAGE */
export function validateSnapshotName(name: unknown): string {
  try {
    return validateInstanceName(name);
  } catch (error) {
    throw usageError(messageOf(error).replace("Invalid instance name", "Invalid snapshot name"));
  }
}

/** A comment: a string of at most MAX_SNAPSHOT_COMMENT characters without control characters but newlines and tabs. @throws AppError E_USAGE */
export function validateSnapshotComment(comment: unknown): string {
  if (typeof comment !== "string") throw usageError("A snapshot comment must be a string");
  if (comment.length > MAX_SNAPSHOT_COMMENT) throw usageError(`A snapshot comment has at most ${MAX_SNAPSHOT_COMMENT} characters (got ${comment.length})`);
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(comment)) throw usageError("A snapshot comment may not hold control characters (newlines and tabs are fine)");
  return comment;
}

function usage<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw error instanceof AppError && error.code === "E_USAGE" ? error : usageError(messageOf(error));
  }
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const key of Object.keys(o)) {
    if (!keys.includes(key)) throw usageError(`Unknown ${what} field "${key.slice(0, 40)}": expected ${keys.join(" and ")}`);
  }
}

/** The body of a take. @throws AppError E_USAGE */
export function parseTakeSnapshotBody(value: unknown): TakeSnapshotBody {
  return usage(() => {
    const o = object(value ?? {}, "body");
    onlyKeys(o, ["name", "comment"], "snapshot");
    const name = field(o, "name", "body", optional(string));
    const comment = field(o, "comment", "body", optional(string));
    return {
      ...(name === undefined ? {} : { name: validateSnapshotName(name) }),
      ...(comment === undefined ? {} : { comment: validateSnapshotComment(comment) }),
    };
  });
}

/** The body of a restore. @throws AppError E_USAGE */
export function parseRestoreSnapshotBody(value: unknown): RestoreSnapshotBody {
  return usage(() => {
    const o = object(value ?? {}, "body");
    onlyKeys(o, ["destructive"], "restore");
    const destructive = field(o, "destructive", "body", optional(boolean));
    return destructive === undefined ? {} : { destructive };
  });
}

function parseSummary(value: unknown, path: string): SnapshotSummary {
  const o = object(value, path);
  return {
    instance: field(o, "instance", path, string),
    name: field(o, "name", path, string),
    parent: field(o, "parent", path, nullable(string)),
    comment: field(o, "comment", path, string),
  };
}

/** A worker's listing. @throws ParseError */
export function parseAgentSnapshots(value: unknown): AgentSnapshots {
  const o = object(value, "snapshots answer");
  return { snapshots: field(o, "snapshots", "snapshots answer", arrayOf(parseSummary)) };
}

/** The last line of a worker's snapshot change. @throws ParseError */
export function parseAgentSnapshotEvent(value: unknown): AgentSnapshotEvent {
  const o = object(value, "event");
  const type = field(o, "type", "event", string);
  if (type === "done") {
    return {
      type,
      snapshot: field(o, "snapshot", "event", string),
      taken: field(o, "taken", "event", nullable(string)),
      snapshots: field(o, "snapshots", "event", arrayOf(parseSummary)),
    };
  }
  if (type === "error") return { type, code: field(o, "code", "event", parseErrorCode), message: field(o, "message", "event", string) };
  throw new ParseError("event.type", `unknown event type "${type.slice(0, 40)}"`);
}

function parseView(value: unknown, path: string): SnapshotView {
  const o = object(value, path);
  return { node: field(o, "node", path, string), ...parseSummary(value, path) };
}

/** `GET /api/v1/snapshots`'s answer (the client reads it). @throws ParseError */
export function parseSnapshotsResponse(value: unknown): SnapshotsResponse {
  const o = object(value, "answer");
  const errors = field(o, "errors", "answer", arrayOf((v, p) => {
    const e = object(v, p);
    return { node: field(e, "node", p, string), message: field(e, "message", p, string) };
  }));
  return { snapshots: field(o, "snapshots", "answer", arrayOf(parseView)), errors };
}

/** The answer of a take, restore or delete (the client reads it). @throws ParseError */
export function parseSnapshotChangeResponse(value: unknown): SnapshotChangeResponse {
  const o = object(value, "answer");
  return {
    node: field(o, "node", "answer", string),
    instance: field(o, "instance", "answer", string),
    snapshot: field(o, "snapshot", "answer", string),
    taken: field(o, "taken", "answer", nullable(string)),
    snapshots: field(o, "snapshots", "answer", arrayOf(parseView)),
  };
}

/** The streamed answer of a take or a restore (`Accept: application/x-ndjson`): keepalives, then one of these. */
export type SnapshotChangeEvent = { type: "done"; result: SnapshotChangeResponse } | { type: "error"; code: AppError["code"]; message: string };

/** One line of a streamed take or restore (the client reads it). @throws ParseError */
export function parseSnapshotChangeEvent(value: unknown): SnapshotChangeEvent {
  const o = object(value, "event");
  const type = field(o, "type", "event", string);
  if (type === "done") return { type, result: field(o, "result", "event", parseSnapshotChangeResponse) };
  if (type === "error") return { type, code: field(o, "code", "event", parseErrorCode), message: field(o, "message", "event", string) };
  throw new ParseError("event.type", `unknown event type "${type.slice(0, 40)}"`);
}
