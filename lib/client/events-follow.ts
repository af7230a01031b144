/**
 * `events --follow` (issue 15): the listing `events` prints, then every
 * record appended to the audit trail as it happens, a line each, until
 * Ctrl-C — with `--json`, every record as a line of NDJSON instead.
 *
 * None is missed or printed twice: the watch stream is open before the
 * listing is read (records arriving meanwhile wait, then only those the
 * listing did not have are printed), and after a reconnection the records
 * appended while the stream was down are read back from `/api/v1/events`.
 */
import { formatTime, stripControl } from "../core/format.ts";
import { arrayOf } from "../core/parse.ts";
import { MAX_LIST_LIMIT, parseAuditEvent, type AuditEvent } from "../protocol/audit.ts";
import type { ApiClient } from "./api-client.ts";
import type { ClientContext } from "./context.ts";
import { followWatch } from "./live.ts";
import type { Colors } from "./tables.ts";

/** Records held while a listing or a catch-up is read; past it the oldest go (they are read back instead). */
const MAX_HELD = 10_000;

export interface FollowEventsOptions {
  api: ApiClient;
  json: boolean;
  colors: Colors;
  signal: AbortSignal;
  /** Reads and prints the first listing (as `events` does); returns the records it had. */
  first: () => Promise<AuditEvent[]>;
}

/** One record as a line of the followed view: time, action, node, instance, token, and what became of it. */
export function formatRecord(e: AuditEvent, c: Colors): string {
  const clean = (text: string | null) => stripControl(text ?? "--");
  let result: string;
  if (e.phase === "requested") result = c.yellow("requested");
  else if (e.result === "ok") result = e.exitCode === undefined ? c.green("ok") : e.exitCode === 0 ? c.green("exit 0") : c.yellow(`exit ${e.exitCode}`);
  else result = c.red(`error: ${clean(e.error?.message ?? "").replace(/\s+/g, " ").trim()}`);
  const cols = [formatTime(e.time).padEnd(24), clean(e.action).padEnd(10), clean(e.node).padEnd(12), clean(e.instance).padEnd(16), clean(e.token).padEnd(13)];
  return `${cols.join(" ")} ${result}\n`;
}

/** Follows the trail until `signal` aborts. @throws AppError as followWatch does (E_CANCELLED once aborted) */
export async function followEvents(ctx: ClientContext, options: FollowEventsOptions): Promise<never> {
  const { api, json, colors } = options;
  let lastId: number | null = null;
  const startedAt = new Date().toISOString();
  /** Records that arrived while a listing was being read; null when none is. */
  let held: AuditEvent[] | null = null;
  let fresh = true;
  let first = true;

  const print = (e: AuditEvent) => {
    if (lastId !== null && e.id <= lastId) return;
    lastId = e.id;
    ctx.stdout(json ? `${JSON.stringify(e)}\n` : formatRecord(e, colors));
  };

  /** The stream is open: read what it cannot have (the first listing, or what was missed), then what it held. */
  async function catchUp(): Promise<void> {
    held = [];
    try {
      let listed: AuditEvent[];
      if (first) listed = await options.first();
      else {
        const since = lastId === null ? startedAt : String(lastId);
        const answer = await api.get(`/api/v1/events?since=${encodeURIComponent(since)}&limit=${MAX_LIST_LIMIT}`);
        listed = arrayOf(parseAuditEvent)(answer.json, "events");
        listed.forEach(print);
      }
      first = false;
      for (const e of listed) lastId = Math.max(lastId ?? 0, e.id);
      for (const e of held) print(e);
    } finally {
      held = null;
    }
  }

  let catching: Promise<void> = Promise.resolve();
  return followWatch(
    api,
    (event) => {
      if (event.type === "snapshot" && fresh) {
        fresh = false;
        catching = catchUp().catch((error) => ctx.stderr(`multiverse: cannot read the events missed: ${stripControl(String(error))}\n`));
      } else if (event.type === "audit") {
        if (held !== null) {
          held.push(event.event);
          if (held.length > MAX_HELD) held.shift();
        } else print(event.event);
      }
    },
    {
      signal: options.signal,
      connected: async () => {
        await catching;
        fresh = true;
      },
      status: (text) => ctx.stderr(text === null ? "multiverse: the watch stream is back\n" : `multiverse: ${stripControl(text)}\n`),
    },
  );
}
