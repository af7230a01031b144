/**
 * `delete [--purge]`, `recover` and `purge`. None of them prints anything on
 * success; deleted instances keep their VM state for `recover`.
 */

import type { QtParse } from "./args.ts";
import { EXIT, type SimContext } from "./context.ts";
import { takeDaemonTurn } from "./daemon-busy.ts";
import { removeInstanceFiles } from "./homes.ts";
import { deleteSnapshotsIn, snapshotPickError } from "./snapshot.ts";
import { chosenNames, selectionLines } from "./selection.ts";
import { findInstance, isRunning, type SimInstance, type SimState } from "./state.ts";
import { readState, updateState } from "./store.ts";

/** Upstream's snapshot_purge_notice_msg (src/client/cli/cmd/delete.cpp). */
const SNAPSHOT_PURGE_NOTICE = "Snapshots can only be purged (after deletion, they cannot be recovered)";

type Outcome =
  | { kind: "ok"; purged: string[]; shuttingDown: number }
  | { kind: "error"; message: string; details: string };

function missingIn(state: SimState, names: readonly string[]): string[] {
  return names.filter((name) => findInstance(state, name) === undefined);
}

function purge(state: SimState, doomed: readonly SimInstance[]): string[] {
  state.instances = state.instances.filter((instance) => !doomed.includes(instance));
  return doomed.map((instance) => instance.name);
}

/**
 * Validates a delete and applies it to `state`. `shuttingDown` counts the
 * running instances it shuts down gracefully (without --purge), each of
 * which takes the `delete` duration.
 */
function deleteIn(state: SimState, names: readonly string[] | null, purging: boolean): Outcome {
  const missing = names === null ? [] : missingIn(state, names);
  if (missing.length > 0) {
    const details = selectionLines(names ?? [], missing, []);
    return { kind: "error", message: "The following errors occurred:", details };
  }
  const chosen =
    names === null
      ? state.instances.filter((i) => purging || i.state !== "Deleted")
      : [...new Set(names.flatMap((name) => findInstance(state, name) ?? []))];
  const busy = purging ? undefined : chosen.find((i) => i.state === "Starting" || i.state === "Restarting");
  if (busy !== undefined) {
    return {
      kind: "error",
      message: `Cannot shut down instance ${busy.name} while starting.`,
      details: "Use --purge to forcefully delete it.",
    };
  }
  if (purging) return { kind: "ok", purged: purge(state, chosen), shuttingDown: 0 };
  let shuttingDown = 0;
  for (const instance of chosen) {
    if (instance.state === "Deleted") continue;
    if (isRunning(instance.state)) shuttingDown++;
    instance.stateBeforeDelete = isRunning(instance.state) ? "Stopped" : instance.state;
    instance.state = "Deleted";
    delete instance.shutdownAt;
  }
  return { kind: "ok", purged: [], shuttingDown };
}

/**
 * `multipass delete NAME… | --all [--purge]`. Shutting running instances down
 * is the daemon's blocking wait: it happens in a daemon turn, validated first on
 * a snapshot, and the state changes when the wait is over.
 */
export async function runDelete(ctx: SimContext, args: QtParse): Promise<number> {
  const chosen = chosenNames(ctx, args, false);
  if (chosen === undefined) return EXIT.commandLine;
  const unreachable = await ctx.reachDaemon("delete");
  if (unreachable !== null) return unreachable;
  const purging = args.isSet("purge");
  const picks = (chosen ?? []).filter((name) => name.includes(".")).map((name): [string, string] => {
    const dot = name.indexOf(".");
    return [name.slice(0, dot), name.slice(dot + 1)];
  });
  const names = chosen === null ? null : chosen.filter((name) => !name.includes("."));
  if (picks.length > 0) {
    const failed = deleteSnapshots(ctx, picks, purging);
    if (failed !== null || names?.length === 0) return failed ?? EXIT.ok;
  }
  const turn = await takeDaemonTurn(ctx.paths, "delete");
  try {
    const planned = deleteIn(readState(ctx.paths), names, purging);
    if (planned.kind === "ok" && planned.shuttingDown > 0) {
      const ms = ctx.config.timing.delete * planned.shuttingDown;
      turn.busyFor(ms);
      await Bun.sleep(ms);
    }
    const outcome = planned.kind === "error" ? planned : updateState(ctx.paths, (state) => deleteIn(state, names, purging));
    if (outcome.kind === "error") return ctx.failure("delete", outcome.message, outcome.details);
    for (const name of outcome.purged) removeInstanceFiles(ctx.paths, name);
    return EXIT.ok;
  } finally {
    turn.release();
  }
}

/** The snapshot picks (`NAME.SNAP`) of a delete: checked, then purged; returns the exit code of a failure. */
function deleteSnapshots(ctx: SimContext, picks: readonly [string, string][], purging: boolean): number | null {
  const error = updateState(ctx.paths, (state): { message: string; details?: string } | null => {
    const instances = [...new Set(picks.map(([name]) => name))];
    const missing = missingIn(state, instances);
    if (missing.length > 0) return { message: "The following errors occurred:", details: selectionLines(instances, missing, []) };
    const picked = snapshotPickError(ctx, state, picks);
    if (picked !== null) return { message: picked };
    if (!purging) return { message: `${SNAPSHOT_PURGE_NOTICE}. Unable to query client for confirmation. Please use the \`--purge\` flag if that is what you want.` };
    deleteSnapshotsIn(ctx, state, picks);
    return null;
  });
  return error === null ? null : ctx.failure("delete", error.message, error.details);
}

/** `multipass recover NAME… | --all`: back to the state the instance had when deleted. */
export async function runRecover(ctx: SimContext, args: QtParse): Promise<number> {
  const names = chosenNames(ctx, args, false);
  if (names === undefined) return EXIT.commandLine;
  const unreachable = await ctx.reachDaemon("recover");
  if (unreachable !== null) return unreachable;
  const missing = updateState(ctx.paths, (state) => {
    const absent = names === null ? [] : missingIn(state, names);
    if (absent.length > 0) return absent;
    const chosen = names === null ? state.instances : names.flatMap((name) => findInstance(state, name) ?? []);
    for (const instance of chosen) {
      if (instance.state !== "Deleted") continue;
      instance.state = instance.stateBeforeDelete ?? "Stopped";
      delete instance.stateBeforeDelete;
    }
    return [];
  });
  if (missing.length === 0) return EXIT.ok;
  return ctx.failure("recover", "The following errors occurred:", selectionLines(names ?? [], missing, []));
}

/** `multipass purge`: removes every deleted instance for good. */
export async function runPurge(ctx: SimContext, args: QtParse): Promise<number> {
  if (args.positionals.length > 0) {
    ctx.err("This command takes no arguments\n");
    return EXIT.commandLine;
  }
  const unreachable = await ctx.reachDaemon("purge");
  if (unreachable !== null) return unreachable;
  const purged = updateState(ctx.paths, (state) =>
    purge(
      state,
      state.instances.filter((i) => i.state === "Deleted"),
    ),
  );
  for (const name of purged) removeInstanceFiles(ctx.paths, name);
  return EXIT.ok;
}
