/**
 * The daemon serialises (CONTRACT.md §3.3): `stop`, `suspend` and `delete` do
 * their blocking waits on the daemon's one thread, so `list`, `info`, `get` and
 * the daemon side of `version` queue behind them, and so does the next stop.
 *
 * The sim's daemon is many short-lived processes, so the busy thread is a file:
 * `daemon.busy`, created O_EXCL by the command whose turn it is and holding
 * `{"pid", "command", "until"}` (until: epoch ms when its wait should end). A
 * marker whose pid is dead, or whose `until` is more than OVERRUN_MS past, is not
 * busy (a crashed or recycled holder), and the next turn breaks it safely.
 * state.lock stays what it was: held only for each quick read-modify-write step.
 */

import { renameSync, writeFileSync } from "node:fs";
import { breakStaleLock, isAlive, lockFileInfo, tryCreate, unlinkQuietly, type LockFileInfo } from "./lockfile.ts";
import type { SimPaths } from "./store.ts";

/** How often a queued command looks at the marker. */
const POLL_MS = 50;
/** How long a live holder may run past its planned end (a loaded host runs late) before it is ignored. */
const OVERRUN_MS = 2_000;
/** What a new turn claims until busyFor() says how long its wait is: the quick validation step. */
const SETUP_MS = 2_000;
/** A marker is empty or half-written only between its creation and its write. */
const EMPTY_GRACE_MS = 2_000;

interface BusyMarker {
  readonly pid: number;
  readonly command: string;
  readonly until: number;
}

function parseMarker(content: string): BusyMarker | null {
  try {
    const value: unknown = JSON.parse(content);
    if (typeof value !== "object" || value === null) return null;
    const { pid, command, until } = value as Record<string, unknown>;
    if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 0) return null;
    if (typeof until !== "number" || !Number.isFinite(until)) return null;
    return { pid, command: typeof command === "string" ? command : "", until };
  } catch {
    return null;
  }
}

function isStaleMarker(info: LockFileInfo): boolean {
  const marker = parseMarker(info.content);
  if (marker === null) return info.age > EMPTY_GRACE_MS;
  return !isAlive(marker.pid) || Date.now() > marker.until + OVERRUN_MS;
}

/** Whether another process is in its turn. */
function busyElsewhere(paths: SimPaths): boolean {
  const info = lockFileInfo(paths.busy);
  if (info === null) return false;
  if (parseMarker(info.content)?.pid === process.pid) return false;
  return !isStaleMarker(info);
}

/** Waits `ms`; a command with a spinner passes one that keeps it turning. */
export type Pause = (ms: number) => Promise<void>;

const sleep: Pause = (ms) => Bun.sleep(ms);

/** Queues behind a stop/suspend/delete in its turn: returns once the daemon is free. */
export async function queueBehindDaemon(paths: SimPaths, pause: Pause = sleep): Promise<void> {
  while (busyElsewhere(paths)) await pause(POLL_MS);
}

/** One command's turn on the daemon thread. */
export interface DaemonTurn {
  /** The blocking wait begins: the marker now says busy for `ms` from now. */
  busyFor(ms: number): void;
  /** Ends the turn: removes the marker if it is still this process's. Safe to call twice. */
  release(): void;
}

function markerText(command: string, until: number): string {
  return JSON.stringify({ pid: process.pid, command, until });
}

/**
 * Waits for the daemon to be free and takes the turn of `command`. Callers
 * release it in a `finally`; a process that dies in its turn leaves a marker
 * with a dead pid, which counts as free.
 */
export async function takeDaemonTurn(paths: SimPaths, command: string, pause: Pause = sleep): Promise<DaemonTurn> {
  while (!tryCreate(paths.busy, markerText(command, Date.now() + SETUP_MS))) {
    breakStaleLock(paths.busy, isStaleMarker);
    if (lockFileInfo(paths.busy) !== null) await pause(POLL_MS);
  }
  let released = false;
  return {
    busyFor(ms) {
      if (released) return;
      const temp = `${paths.busy}.${process.pid}.tmp`;
      writeFileSync(temp, markerText(command, Date.now() + ms));
      renameSync(temp, paths.busy);
    },
    release() {
      if (released) return;
      released = true;
      const info = lockFileInfo(paths.busy);
      if (info !== null && parseMarker(info.content)?.pid === process.pid) unlinkQuietly(paths.busy);
    },
  };
}
