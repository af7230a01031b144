/**
 * The simulated daemon's state (state.json): its schema, and the lenient
 * normalisation that lets tests seed the file with only the fields they care about.
 */

import { describeImage } from "./images.ts";
import { DEFAULT_DISK, DEFAULT_MEMORY } from "./values.ts";

/** The primary instance name (client.primary-name); fixed in the stand-in. */
export const PRIMARY = "primary";

/** Printed instance states (§2.3). `Deleted` = deleted but not purged. */
export type InstanceState =
  | "Running"
  | "Stopped"
  | "Suspended"
  | "Starting"
  | "Restarting"
  | "Suspending"
  | "Delayed Shutdown"
  | "Unknown"
  | "Deleted";

const STATES: readonly InstanceState[] = [
  "Running",
  "Stopped",
  "Suspended",
  "Starting",
  "Restarting",
  "Suspending",
  "Delayed Shutdown",
  "Unknown",
  "Deleted",
];

/** One mount, keyed in `info` by its target (path inside the instance). */
export interface SimMount {
  source: string;
  target: string;
  uidMappings: string[];
  gidMappings: string[];
}

/** Values a running guest reports; each replaces the simulated figure when present. */
export interface SimRuntime {
  load?: number[];
  memoryUsed?: number;
  memoryTotal?: number;
  diskUsed?: number;
  diskTotal?: number;
  release?: string;
  cpuCount?: string;
}

/** One instance as stored in state.json. */
export interface SimInstance {
  name: string;
  state: InstanceState;
  /** The VM state to restore on `recover` (only meaningful while Deleted). */
  stateBeforeDelete?: InstanceState;
  image: string;
  imageRelease: string;
  imageHash: string;
  cpus: number;
  /** Bytes. */
  memory: number;
  /** Bytes. */
  disk: number;
  /** Management address first. Shown only while Running / Delayed Shutdown. */
  ipv4: string[];
  mounts: SimMount[];
  /** info's snapshot_count: the number of `taken`, or a seeded count when state.json has no `taken`. */
  snapshots: number;
  /** The snapshots held (snapshot.ts), oldest first. */
  taken: SimSnapshot[];
  /** Snapshots ever taken, for the default names snapshot1, snapshot2, … */
  snapshotsEver: number;
  /** The snapshot the instance's current state descends from (the next one's parent), "" for none. */
  head: string;
  /** Epoch ms at which a Delayed Shutdown turns into Stopped. */
  shutdownAt?: number;
  runtime?: SimRuntime;
}

/** One snapshot: the instance's specs at the time; its home's copy lives in the instance's files. */
export interface SimSnapshot {
  name: string;
  comment: string;
  /** "" for none. */
  parent: string;
  /** ISO-8601. */
  created: string;
  cpus: number;
  memory: number;
  disk: number;
}

/** A launch between "Creating" and "Starting": not listed yet, but the name is taken. */
export interface SimPreparing {
  pid: number;
  since: number;
}

/** The whole of state.json. `instances` is in daemon order. */
export interface SimState {
  instances: SimInstance[];
  imagesCached: string[];
  preparing: Record<string, SimPreparing>;
}

/** True for the states in which IPs and runtime figures are reported. */
export function isRunning(state: InstanceState): boolean {
  return state === "Running" || state === "Delayed Shutdown";
}

export function emptyState(): SimState {
  return { instances: [], imagesCached: [], preparing: {} };
}

type Loose = Record<string, unknown>;

function asRecord(value: unknown): Loose {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Loose) : {};
}

function str(value: unknown, fallback: string): string {
  return typeof value === "string" ? value : fallback;
}

function num(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

function stateOf(value: unknown, fallback: InstanceState): InstanceState {
  return STATES.find((state) => state === value) ?? fallback;
}

function normalizeRuntime(value: unknown): SimRuntime | undefined {
  if (value === undefined) return undefined;
  const raw = asRecord(value);
  const runtime: SimRuntime = {};
  if (Array.isArray(raw.load)) runtime.load = raw.load.filter((n): n is number => typeof n === "number");
  for (const key of ["memoryUsed", "memoryTotal", "diskUsed", "diskTotal"] as const) {
    if (typeof raw[key] === "number") runtime[key] = raw[key];
  }
  if (typeof raw.release === "string") runtime.release = raw.release;
  if (typeof raw.cpuCount === "string") runtime.cpuCount = raw.cpuCount;
  return runtime;
}

function normalizeSnapshot(value: unknown, instance: SimInstance): SimSnapshot | null {
  const raw = asRecord(value);
  if (typeof raw.name !== "string" || raw.name === "") return null;
  return {
    name: raw.name,
    comment: str(raw.comment, ""),
    parent: str(raw.parent, ""),
    created: str(raw.created, new Date(0).toISOString()),
    cpus: num(raw.cpus, instance.cpus),
    memory: num(raw.memory, instance.memory),
    disk: num(raw.disk, instance.disk),
  };
}

function normalizeInstance(value: unknown, now: number): SimInstance | null {
  const raw = asRecord(value);
  if (typeof raw.name !== "string" || raw.name === "") return null;
  const image = str(raw.image, "24.04");
  const described = describeImage(image);
  const instance: SimInstance = {
    name: raw.name,
    state: stateOf(raw.state, "Stopped"),
    image,
    imageRelease: str(raw.imageRelease, described.release),
    imageHash: str(raw.imageHash, described.hash),
    cpus: num(raw.cpus, 1),
    memory: num(raw.memory, DEFAULT_MEMORY),
    disk: num(raw.disk, DEFAULT_DISK),
    ipv4: strings(raw.ipv4),
    mounts: (Array.isArray(raw.mounts) ? raw.mounts : []).map((entry) => {
      const mount = asRecord(entry);
      return {
        source: str(mount.source, ""),
        target: str(mount.target, ""),
        uidMappings: strings(mount.uidMappings),
        gidMappings: strings(mount.gidMappings),
      };
    }),
    snapshots: num(raw.snapshots, 0),
    taken: [],
    snapshotsEver: num(raw.snapshotsEver, 0),
    head: str(raw.head, ""),
  };
  if (Array.isArray(raw.taken)) {
    instance.taken = raw.taken.map((entry) => normalizeSnapshot(entry, instance)).filter((s): s is SimSnapshot => s !== null);
    instance.snapshots = instance.taken.length;
  }
  if (raw.stateBeforeDelete !== undefined) instance.stateBeforeDelete = stateOf(raw.stateBeforeDelete, "Stopped");
  if (typeof raw.shutdownAt === "number") instance.shutdownAt = raw.shutdownAt;
  const runtime = normalizeRuntime(raw.runtime);
  if (runtime !== undefined) instance.runtime = runtime;
  if (instance.state === "Delayed Shutdown" && instance.shutdownAt !== undefined && instance.shutdownAt <= now) {
    instance.state = "Stopped";
    delete instance.shutdownAt;
  }
  return instance;
}

/**
 * Builds a complete SimState from whatever JSON was stored, filling defaults,
 * applying delayed shutdowns that are due, and dropping launches whose process died.
 */
export function normalizeState(value: unknown, now: number, isAlive: (pid: number) => boolean): SimState {
  const raw = asRecord(value);
  const instances = (Array.isArray(raw.instances) ? raw.instances : [])
    .map((entry) => normalizeInstance(entry, now))
    .filter((entry): entry is SimInstance => entry !== null);
  const preparing: Record<string, SimPreparing> = {};
  for (const [name, entry] of Object.entries(asRecord(raw.preparing))) {
    const prep = asRecord(entry);
    const pid = num(prep.pid, 0);
    if (pid > 0 && isAlive(pid)) preparing[name] = { pid, since: num(prep.since, now) };
  }
  return { instances, imagesCached: strings(raw.imagesCached), preparing };
}

/** The instance called `name`, live or deleted. */
export function findInstance(state: SimState, name: string): SimInstance | undefined {
  return state.instances.find((instance) => instance.name === name);
}
