/**
 * Watching an operation that runs on a host (a launch, a lifecycle verb, a
 * purge), or at the master (an environment's apply), while the master
 * streams its progress. The operation belongs to the
 * host, not to this process: Ctrl-C (or SIGTERM, SIGHUP) stops watching and
 * never cancels anything, and a master lost mid-way is said plainly. Either
 * way the user learns how to find out what became of it.
 */
import { EXIT } from "../cli/run.ts";
import { AppError } from "../core/errors.ts";
import { stripControl } from "../core/format.ts";
import { isLostMaster, type ApiClient } from "./api-client.ts";
import type { ClientContext } from "./context.ts";
import { createProgress, type Progress } from "./progress.ts";

export interface WatchOptions {
  /** What is being watched, for the messages: `the stop of "web"`. */
  what: string;
  /** Plain lines instead of a redrawn one (also with `--json`, which prints no progress at all). */
  live: boolean;
  /** Where the operation goes on without the client (default `on the host`; an environment's apply: `at the master`). */
  where?: string;
  /** How to follow or finish it, said after an interruption or a lost master (default: `multiverse instances` and `events --since`). */
  follow?: string;
  now?: () => number;
}

/**
 * Runs `watch` with a signal that aborts when the user interrupts, and the
 * progress display. Returns its exit status; 130 after an interruption, 1
 * when the master was lost, each after saying how to follow the operation.
 * @throws whatever else `watch` throws
 */
export async function watchOperation(ctx: ClientContext, options: WatchOptions, watch: (signal: AbortSignal, progress: Progress) => Promise<number>): Promise<number> {
  const now = options.now ?? Date.now;
  const since = eventsSince(now());
  const where = options.where ?? "on the host";
  const controller = new AbortController();
  const progress = createProgress(ctx, { live: options.live, now });
  const unsubscribe = ctx.terminal.onSignal(() => controller.abort());
  try {
    return await watch(controller.signal, progress);
  } catch (error) {
    progress.stop();
    if (controller.signal.aborted) {
      ctx.stderr(`Stopped watching; ${options.what} goes on ${where}.\n${options.follow ?? checkWith("Follow it", since)}\n`);
      return EXIT.interrupted;
    }
    if (isLostMaster(error)) {
      const next = options.follow === undefined ? checkWith(`It goes on, or has ended, ${where}; check`, since) : `It goes on, or has ended, ${where}. ${options.follow}`;
      ctx.stderr(`error: ${stripControl(error.message)} during ${options.what}.\n${next}\n`);
      return EXIT.failure;
    }
    throw error;
  } finally {
    progress.stop();
    unsubscribe();
  }
}

/** The error of a stream that ended without its last event: the master went away in an orderly way. */
export function endedEarly(api: ApiClient): AppError {
  return new AppError("E_UNREACHABLE", `Lost the connection to the master at ${api.baseUrl} (the answer ended before the result)`, { details: { lostMaster: true } });
}

function checkWith(lead: string, since: string): string {
  return `${lead} with "multiverse instances" and "multiverse events --since ${since}".`;
}

/** A second before `ms`, to the second, as `events --since` takes it. */
function eventsSince(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000 - 1000).toISOString().replace(".000Z", "Z");
}
