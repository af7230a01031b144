/**
 * `client events`: the master's audit trail, one row per call (its
 * "requested" and "done" records merged), or the API's JSON with `--json`.
 */
import { defineCommand } from "citty";
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, parseAuditEvent, parseEventsLimit, parseEventsSince, type AuditEvent } from "../protocol/audit.ts";
import { apiFor, common, paint, type ClientContext, type CommonArgs } from "./context.ts";
import type { ApiAnswer, ApiClient } from "./api-client.ts";
import { followEvents } from "./events-follow.ts";
import { EXIT } from "../cli/run.ts";
import { parseDuration } from "../core/duration.ts";
import { usageError } from "../core/errors.ts";
import { formatTime } from "../core/format.ts";
import { renderTable, type Cell, type Colors, type TableOptions } from "./tables.ts";
import { isTable, outputArgs, parseOutput, printListing, tableOptions } from "./output.ts";
import { arrayOf } from "../core/parse.ts";

/** One call of the audit trail: its "requested" record completed by its "done" one. */
export interface EventRow {
  requestId: string;
  /** When the call was requested (or finished, when its request is outside the listing). */
  time: string;
  action: string;
  node: string | null;
  instance: string | null;
  token: string;
  result: "ok" | "error" | "pending";
  error: string | null;
  /** A shell's or exec's exit status. */
  exitCode: number | null;
}

/** Merges records by requestId, in the order their calls first appear. */
export function mergeEvents(events: AuditEvent[]): EventRow[] {
  const rows = new Map<string, EventRow>();
  for (const e of events) {
    let row = rows.get(e.requestId);
    if (row === undefined) {
      row = { requestId: e.requestId, time: e.time, action: e.action, node: e.node, instance: e.instance, token: e.token, result: "pending", error: null, exitCode: null };
      rows.set(e.requestId, row);
    }
    if (e.phase === "requested") {
      row.time = e.time;
      row.node = e.node ?? row.node;
      row.instance = e.instance ?? row.instance;
    } else {
      // The done record knows the node a launch was placed on when the request did not say.
      row.node = row.node ?? e.node;
      row.instance = row.instance ?? e.instance;
      row.result = e.result === "ok" ? "ok" : "error";
      row.error = e.error ? e.error.message : null;
      row.exitCode = e.exitCode ?? null;
    }
  }
  return [...rows.values()];
}

function resultCell(row: EventRow, c: Colors): Cell {
  if (row.result === "ok") return row.exitCode === null ? { text: "ok", paint: c.green } : { text: `exit ${row.exitCode}`, paint: row.exitCode === 0 ? c.green : c.yellow };
  if (row.result === "pending") return { text: "pending", paint: c.yellow };
  const text = row.error === null ? "error" : `error: ${row.error.replace(/\s+/g, " ").trim()}`;
  return { text, paint: c.red };
}

/** The human table of `client events`: the newest `limit` calls (all, without one). */
export function formatEvents(events: AuditEvent[], c: Colors, limit?: number, options: TableOptions = {}): string {
  const calls = mergeEvents(events);
  const rows: Cell[][] = calls.slice(limit === undefined ? 0 : Math.max(0, calls.length - limit)).map((r) => [
    formatTime(r.time),
    r.action,
    r.node ?? "--",
    r.instance ?? "--",
    r.token,
    // Last, so a long error message does not push the other columns apart.
    resultCell(r, c),
  ]);
  return renderTable(["Time", "Action", "Node", "Instance", "Token", "Result"], rows, c, { ...options, shrinkable: [5] });
}

const DURATION = /^\d+(?:\.\d+)?(?:ms|s|m|h)$/;
const MAX_LOOKBACK_MS = 10 * 365 * 24 * 3_600_000;

/**
 * `--since` as the API takes it: a duration with a unit (`30m`, `1h`) becomes
 * the ISO time that long before `nowMs`; an ISO time or an event id is kept.
 * A bare number is an event id, not seconds.
 * @throws AppError E_USAGE
 */
export function sinceQuery(text: string, nowMs: number): string {
  const t = text.trim();
  if (DURATION.test(t)) return new Date(nowMs - parseDuration(t, "--since", { maxMs: MAX_LOOKBACK_MS })).toISOString();
  try {
    parseEventsSince(t);
    return t;
  } catch {
    throw usageError(`Invalid --since "${text.slice(0, 40)}": expected a duration such as 30m or 1h, an ISO time such as 2024-05-01T12:00:00Z, or an event id`);
  }
}

export function eventsCommand(ctx: ClientContext) {
  return defineCommand({
    meta: { name: "events", description: "The audit trail: who launched, stopped, deleted… or opened a shell on what, and how it ended" },
    args: {
      since: { type: "string", valueHint: "WHEN", description: "Only newer events: a duration (30m, 1h), an ISO time, or an event id" },
      limit: { type: "string", valueHint: "N", description: `At most N calls, the newest (N records with --json; default ${DEFAULT_LIST_LIMIT}, max ${MAX_LIST_LIMIT})` },
      follow: { type: "boolean", alias: "f", default: false, description: "Then print every new record as it happens, until Ctrl-C (--json: NDJSON, a record per line)" },
      ...common,
      ...outputArgs,
    },
    async run({ args }) {
      const out = parseOutput(args);
      if (args.follow) {
        if (!isTable(out) && out.format.kind !== "json") throw usageError("--follow prints a table or, with --json, NDJSON");
        return follow(ctx, { ...args, json: out.format.kind === "json" });
      }
      // Every format but the tables prints records, as --json does: -o name their ids, for --since.
      const { answer, limit } = await listing(apiFor(args, ctx), { ...args, json: !isTable(out) });
      const events = printListing(ctx, out, answer, { key: null, parse: (items) => arrayOf(parseAuditEvent)(items, "events"), name: (e) => String(e.id) });
      if (events === null) return;
      if (events.length === 0) {
        ctx.stdout("No events found.\n");
        return;
      }
      ctx.stdout(formatEvents(events, paint(ctx), limit ?? DEFAULT_LIST_LIMIT, tableOptions(ctx, out)));
    },
  });
}

type EventsArgs = CommonArgs & { since?: string; limit?: string };

/** Reads the listing `events` prints, as its flags ask. */
async function listing(api: ApiClient, args: EventsArgs): Promise<{ answer: ApiAnswer; limit: number | undefined }> {
  const query = new URLSearchParams();
  if (args.since !== undefined) query.set("since", sinceQuery(args.since, Date.now()));
  const limit = args.limit === undefined ? undefined : parseEventsLimit(args.limit);
  // The API's limit counts records, and a call has up to two (requested, done): the table
  // asks for twice as many to show `limit` calls. --json prints the API's answer as it is.
  if (args.json) {
    if (limit !== undefined) query.set("limit", String(limit));
  } else {
    query.set("limit", String(Math.min(2 * (limit ?? DEFAULT_LIST_LIMIT), MAX_LIST_LIMIT)));
  }
  return { answer: await api.get("/api/v1/events" + (query.size > 0 ? `?${query}` : "")), limit };
}

/** `events --follow`: the listing (a table, or NDJSON with --json), then each new record until Ctrl-C (130). */
async function follow(ctx: ClientContext, args: EventsArgs): Promise<number> {
  const api = apiFor(args, ctx);
  const colors = paint(ctx);
  const controller = new AbortController();
  const unsubscribe = ctx.terminal.onSignal(() => controller.abort());
  try {
    await followEvents(ctx, {
      api,
      json: args.json,
      colors,
      signal: controller.signal,
      first: async () => {
        const { answer, limit } = await listing(api, args);
        const events = arrayOf(parseAuditEvent)(answer.json, "events");
        if (args.json) for (const e of events) ctx.stdout(`${JSON.stringify(e)}\n`);
        else if (events.length > 0) ctx.stdout(formatEvents(events, colors, limit ?? DEFAULT_LIST_LIMIT));
        return events;
      },
    });
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    unsubscribe();
  }
  return EXIT.interrupted;
}
