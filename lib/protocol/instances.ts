/**
 * The instance model every wire carries: states, listings and details as the
 * Multipass driver normalises them (numbers are numbers, absent runtime
 * figures are `null`, Multipass's `"N/A"` placeholders are gone), and the
 * launch a worker is asked for; with their parsers.
 */
import { arrayOf, field, integer, nullable, number, object, oneOf, ParseError, string, type Json } from "../core/parse.ts";

/** Instance states as Multipass prints them (CONTRACT.md §2.3). */
export const INSTANCE_STATES = [
  "Running",
  "Stopped",
  "Deleted",
  "Starting",
  "Restarting",
  "Delayed Shutdown",
  "Suspending",
  "Suspended",
  "Unavailable",
  "Unknown",
] as const;
export type InstanceState = (typeof INSTANCE_STATES)[number];

/** One row of `multipass list`. */
export interface InstanceSummary {
  name: string;
  state: InstanceState;
  /** Management IP first; empty unless running. `"N/A"` is dropped. */
  ipv4: string[];
  /** The image's release title, e.g. `"Ubuntu 24.04 LTS"`; `null` for "Not Available". */
  release: string | null;
}

/** A used/total pair of byte counts; both `null` when Multipass gives nothing. */
export interface Usage {
  used: number | null;
  total: number | null;
}

/** One instance of `multipass info`. */
export interface InstanceInfo {
  name: string;
  state: InstanceState;
  /** Guest CPU count (`nproc`); `null` unless running. */
  cpus: number | null;
  /** 1, 5 and 15 minute load averages; `null` unless running. */
  load: [number, number, number] | null;
  memory: Usage;
  disk: Usage;
  /** The guest's PRETTY_NAME, e.g. `"Ubuntu 24.04.3 LTS"`; `null` unless running. */
  release: string | null;
  /** The image's release, e.g. `"24.04 LTS"`; `null` when unknown. */
  imageRelease: string | null;
  /** SHA-256 of the image; `null` when unknown. */
  imageHash: string | null;
  ipv4: string[];
  mounts: { target: string; source: string }[];
  /** `null` on backends without snapshots. */
  snapshots: number | null;
}

/**
 * A validated launch (see core/validate.ts): what the master sends a worker and
 * what the worker hands its Multipass driver, unchanged.
 */
export interface LaunchSpec {
  name: string;
  image?: string;
  cpus?: number;
  /** Canonical size strings (`1G`, `1536M`). */
  memory?: string;
  disk?: string;
  /**
   * The cloud-init document itself, handed to multipass on stdin (`--cloud-init -`):
   * a snap-confined multipass has a /tmp of its own and cannot read files the
   * worker writes there.
   */
  cloudInit?: string;
  /** Multipass's own `--timeout` in seconds. */
  timeoutSeconds?: number;
  /**
   * Extra network interfaces, one `--network SPEC` each (CONTRACT.md §4.3):
   * `bridged`, `eth1`, `name=eth1,mode=manual,mac=52:54:00:12:34:56`; at most
   * {@link MAX_NETWORKS}. Absent when there are none.
   */
  networks?: string[];
}

/** Most `--network`s one launch takes: Multipass sets no limit, but no lab needs more NICs per VM, and it bounds the argv. */
export const MAX_NETWORKS = 8;

/** Phases of a launch, parsed from Multipass's spinner text (CONTRACT.md §4.3). */
export type LaunchPhase =
  | "Creating"
  | "Retrieving image"
  | "Verifying image"
  | "Preparing image"
  | "Configuring"
  | "Starting"
  | "Waiting for initialization"
  | "Other";

export interface LaunchProgress {
  phase: LaunchPhase;
  /** Percentage for image download and verification. */
  percent: number | null;
  /** The spinner text as Multipass printed it, without control sequences. */
  text: string;
}

/** The live figures of an instance that a client's info view and an agent's instance info share. */
export type LiveFigures = Omit<InstanceInfo, "imageHash" | "mounts" | "snapshots">;

export const parseInstanceState = oneOf(INSTANCE_STATES);

export function parseLoad(value: unknown, path: string): [number, number, number] {
  const load = arrayOf(number)(value, path);
  if (load.length !== 3) throw new ParseError(path, `expected 3 load averages, got ${load.length}`);
  return [load[0]!, load[1]!, load[2]!];
}

export function parseInstanceSummary(value: unknown, path: string): InstanceSummary {
  const o = object(value, path);
  return {
    name: field(o, "name", path, string),
    state: field(o, "state", path, parseInstanceState),
    ipv4: field(o, "ipv4", path, arrayOf(string)),
    release: field(o, "release", path, nullable(string)),
  };
}

function parseUsage(value: unknown, path: string): { used: number | null; total: number | null } {
  const o = object(value, path);
  return { used: field(o, "used", path, nullable(number)), total: field(o, "total", path, nullable(number)) };
}

/** The live figures an info view and an agent's instance info have in common. */
export function parseLiveFigures(o: Record<string, Json>, path: string): LiveFigures {
  return {
    name: field(o, "name", path, string),
    state: field(o, "state", path, parseInstanceState),
    cpus: field(o, "cpus", path, nullable(integer)),
    load: field(o, "load", path, nullable(parseLoad)),
    memory: field(o, "memory", path, parseUsage),
    disk: field(o, "disk", path, parseUsage),
    release: field(o, "release", path, nullable(string)),
    imageRelease: field(o, "imageRelease", path, nullable(string)),
    ipv4: field(o, "ipv4", path, arrayOf(string)),
  };
}

export function parseInstanceInfo(value: unknown, path: string): InstanceInfo {
  const o = object(value, path);
  const mount = (v: unknown, p: string) => {
    const m = object(v, p);
    return { target: field(m, "target", p, string), source: field(m, "source", p, string) };
  };
  return {
    ...parseLiveFigures(o, path),
    imageHash: field(o, "imageHash", path, nullable(string)),
    mounts: field(o, "mounts", path, arrayOf(mount)),
    snapshots: field(o, "snapshots", path, nullable(integer)),
  };
}
