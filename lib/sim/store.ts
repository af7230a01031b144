/**
 * Files of the simulated host: state.json (read freely, changed only under an
 * O_EXCL lock file and replaced by rename), config.json (re-read on every call),
 * calls.log (one JSON line per invocation, appended) and ssh.log (one JSON line
 * per SSH-backed lookup of list and info).
 */

import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { breakStaleLock, isAlive, isStalePidFile, tryCreate, unlinkQuietly } from "./lockfile.ts";
import { emptyState, normalizeState, type SimState } from "./state.ts";
import { resolveTiming, type SimTiming } from "./timing.ts";

/** Where everything of one simulated host lives. */
export interface SimPaths {
  readonly dir: string;
  readonly state: string;
  readonly lock: string;
  readonly config: string;
  readonly calls: string;
  /** One JSON line per SSH-backed lookup (list's addresses, info's runtime figures). */
  readonly ssh: string;
  /** The daemon-busy marker of a stop/suspend/delete in its blocking wait (daemon-busy.ts). */
  readonly busy: string;
  readonly instances: string;
}

/** Behaviour switches from config.json. */
export interface SimConfig {
  readonly fault: "down" | "hang" | "garbage" | null;
  /** Duration of each spinner phase of launch/start/stop/restart/suspend without a `timing` entry. */
  readonly stepMs: number;
  readonly version: string;
  /** Per-phase durations: `timing` over `stepMs` (timing.ts). */
  readonly timing: SimTiming;
  /** config.json has a `timing` entry: see ResolvedTiming.profiled. */
  readonly profiled: boolean;
  /** false plays a backend without snapshot support (config.json `"snapshots": false`). */
  readonly snapshots: boolean;
}

const DEFAULT_STEP_MS = 150;
const DEFAULT_CONFIG: SimConfig = {
  fault: null,
  stepMs: DEFAULT_STEP_MS,
  version: "1.16.3",
  snapshots: true,
  ...resolveTiming(undefined, DEFAULT_STEP_MS),
};

/** Resolves the sim directory from MULTIPASS_SIM_DIR (or the default) and creates it. */
export function simPaths(env: Record<string, string | undefined>): SimPaths {
  const dir =
    env.MULTIPASS_SIM_DIR !== undefined && env.MULTIPASS_SIM_DIR !== ""
      ? env.MULTIPASS_SIM_DIR
      : join(env.HOME ?? "/tmp", ".local/share/multiverse/simulated-multipass");
  mkdirSync(dir, { recursive: true });
  return {
    dir,
    state: join(dir, "state.json"),
    lock: join(dir, "state.lock"),
    config: join(dir, "config.json"),
    calls: join(dir, "calls.log"),
    ssh: join(dir, "ssh.log"),
    busy: join(dir, "daemon.busy"),
    instances: join(dir, "instances"),
  };
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** config.json, with defaults for anything missing or malformed. */
export function loadConfig(paths: SimPaths): SimConfig {
  const text = readText(paths.config);
  if (text === null) return DEFAULT_CONFIG;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return DEFAULT_CONFIG;
  }
  const fault = raw.fault === "down" || raw.fault === "hang" || raw.fault === "garbage" ? raw.fault : null;
  const stepMs =
    typeof raw.stepMs === "number" && Number.isFinite(raw.stepMs) && raw.stepMs >= 0
      ? raw.stepMs
      : DEFAULT_CONFIG.stepMs;
  const version = typeof raw.version === "string" ? raw.version : DEFAULT_CONFIG.version;
  const snapshots = raw.snapshots !== false;
  return { fault, stepMs, version, snapshots, ...resolveTiming(raw.timing, stepMs) };
}

/** Appends `{"time", "pid", "argv"}` as one line to calls.log. */
export function logCall(paths: SimPaths, argv: readonly string[]): void {
  const line = JSON.stringify({ time: new Date().toISOString(), pid: process.pid, argv }) + "\n";
  appendFileSync(paths.calls, line);
}

/** Appends `{"time", "pid", "command", "instance"}` as one line to ssh.log: one SSH-backed lookup. */
export function logSshLookup(paths: SimPaths, command: string, instance: string): void {
  const line = JSON.stringify({ time: new Date().toISOString(), pid: process.pid, command, instance }) + "\n";
  appendFileSync(paths.ssh, line);
}

/**
 * A consistent snapshot of state.json without taking the lock (writers rename
 * atomically). A file that does not parse is retried briefly (a test may be
 * rewriting it in place) and then reported instead of being taken as empty, so a
 * broken seed never gets silently overwritten.
 * @throws Error when state.json stays unparsable.
 */
export function readState(paths: SimPaths): SimState {
  for (let attempt = 0; ; attempt++) {
    const text = readText(paths.state);
    if (text === null || text.trim() === "") return emptyState();
    try {
      return normalizeState(JSON.parse(text), Date.now(), isAlive);
    } catch (error) {
      if (attempt >= 10) throw new Error(`${paths.state} is not valid JSON: ${(error as Error).message}`);
      Bun.sleepSync(10);
    }
  }
}

function writeState(paths: SimPaths, state: SimState): void {
  const temp = `${paths.state}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(temp, JSON.stringify(state, null, 2) + "\n");
  renameSync(temp, paths.state);
}

const LOCK_TIMEOUT_MS = 20_000;

function acquireLock(paths: SimPaths): void {
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (let attempt = 1; !tryCreate(paths.lock, String(process.pid)); attempt++) {
    breakStaleLock(paths.lock, isStalePidFile);
    if (Date.now() > deadline) throw new Error(`cannot lock ${paths.lock}`);
    Bun.sleepSync(1 + Math.random() * Math.min(attempt, 8));
  }
}

function releaseLock(paths: SimPaths): void {
  if (readText(paths.lock) === String(process.pid)) unlinkQuietly(paths.lock);
}

/**
 * Runs one read-modify-write step of state.json under the lock. `change` must be
 * synchronous and quick (never sleep inside); state.json is rewritten only if it
 * changed.
 */
export function updateState<T>(paths: SimPaths, change: (state: SimState) => T): T {
  acquireLock(paths);
  try {
    const state = readState(paths);
    const before = JSON.stringify(state);
    const result = change(state);
    if (JSON.stringify(state) !== before) writeState(paths, state);
    return result;
  } finally {
    releaseLock(paths);
  }
}
