/**
 * `instances --watch` and `nodes --watch` (issue 15): a listing kept current
 * from the master's watch stream (live.ts), which sends the cache at once
 * and after every change — a host-side change shows within the worker's poll
 * interval and the master's 250 ms coalescing.
 *
 * - On a terminal the table is redrawn in place when it changes.
 * - Into a pipe, each changed listing is printed again under a time line.
 * - With `--json`, a stream of changes, one JSON object per line, as
 *   kubectl's watch events: `{"type":"ADDED"|"MODIFIED"|"DELETED","object":…}`
 *   (the first listing is all ADDED), the objects exactly as the API shows them.
 *
 * Ctrl-C ends it (exit 130); a lost master is waited out (live.ts).
 */
import { EXIT } from "../cli/run.ts";
import { formatTime, stripControl } from "../core/format.ts";
import type { WatchSnapshot } from "../protocol/api.ts";
import type { ApiClient } from "./api-client.ts";
import type { ClientContext } from "./context.ts";
import { changes, followWatch } from "./live.ts";

export interface LiveViewOptions<T> {
  ctx: ClientContext;
  api: ApiClient;
  json: boolean;
  /** The items of the view in a snapshot (filtered as the command's flags say). */
  pick: (snapshot: WatchSnapshot) => T[];
  key: (item: T) => string;
  /** The listing as the command prints it without --watch (its table, or its "none" line). */
  render: (items: T[]) => string;
  /** What of an item a change in --json is about (default: all of it). */
  same?: (item: T) => unknown;
}

/** Home, then clear to the end of the screen: the table is drawn over the last one. */
const REDRAW = "\x1b[H\x1b[J";

/** Runs the view until Ctrl-C. @returns 130 @throws AppError what followWatch cannot wait out (a refused token) */
export async function runLiveView<T>(options: LiveViewOptions<T>): Promise<number> {
  const { ctx, json } = options;
  const controller = new AbortController();
  const unsubscribe = ctx.terminal.onSignal(() => controller.abort());
  let last: T[] | null = null;
  let lastText: string | null = null;
  const onSnapshot = (snapshot: WatchSnapshot) => {
    const items = options.pick(snapshot);
    if (json) {
      for (const change of changes(last, items, options.key, options.same)) ctx.stdout(`${JSON.stringify(change)}\n`);
      last = items;
      return;
    }
    const text = options.render(items);
    if (text === lastText) return;
    const first = lastText === null;
    lastText = text;
    const when = formatTime(new Date().toISOString());
    if (ctx.isTTY) ctx.stdout(`${REDRAW}Every change, live from the master · ${when} · Ctrl-C to stop\n\n${text}`);
    else ctx.stdout(`${first ? "" : "\n"}# ${when}\n${text}`);
  };
  try {
    await followWatch(options.api, (event) => event.type === "snapshot" && onSnapshot(event.snapshot), {
      signal: controller.signal,
      status: (text) => ctx.stderr(text === null ? "multiverse: the watch stream is back\n" : `multiverse: ${stripControl(text)}\n`),
    });
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    unsubscribe();
  }
  return EXIT.interrupted;
}
