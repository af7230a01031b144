/**
 * What the simulated daemon answers for `list` and `info` (the RPC's string
 * fields), and the 1.16 JSON documents built from it exactly as the client's
 * formatters do (see mp_json.py's list_item / info_item).
 */

import { loadavg } from "node:os";
import { prettyRelease } from "./images.ts";
import type { JsonValue } from "./json.ts";
import { isRunning, type InstanceState, type SimInstance, type SimMount, type SimState } from "./state.ts";

/** One instance as the daemon describes it; runtime fields are "" unless running. */
export interface InstanceView {
  readonly name: string;
  readonly state: InstanceState;
  readonly ipv4: readonly string[];
  /** Image release title, e.g. "24.04 LTS" ("" when unknown). */
  readonly imageRelease: string;
  /** Guest PRETTY_NAME, "" unless running. */
  readonly currentRelease: string;
  readonly imageHash: string;
  readonly cpuCount: string;
  /** Space-separated 1/5/15-minute loads with two decimals, as /proc/loadavg has them. */
  readonly load: string;
  readonly diskUsage: string;
  readonly diskTotal: string;
  readonly memoryUsage: string;
  readonly memoryTotal: string;
  /** info's snapshot_count; null on a backend without snapshot support, where every format leaves it out. */
  readonly snapshots: number | null;
  readonly mounts: readonly SimMount[];
}

/** Daemon order: live instances first, then deleted ones, each in state.json order. */
export function daemonOrder(state: SimState): SimInstance[] {
  const live = state.instances.filter((instance) => instance.state !== "Deleted");
  return [...live, ...state.instances.filter((instance) => instance.state === "Deleted")];
}

/** Table/CSV/YAML order (format::sorted): the primary instance first, then by name. */
export function humanOrder<T extends { readonly name: string }>(items: readonly T[], primary: string): T[] {
  return [...items].sort((a, b) => {
    if (a.name === primary) return b.name === primary ? 0 : -1;
    if (b.name === primary) return 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

function hostLoad(): number[] {
  return loadavg().map((value) => Math.round(value * 100) / 100);
}

/** The addresses a running instance reports; 1.16 shows "N/A" when there is none. */
function runningAddresses(instance: SimInstance): string[] {
  return instance.ipv4.length > 0 ? [...instance.ipv4] : ["N/A"];
}

/**
 * Builds the daemon's view of one instance. With `runtime` false (or when the
 * instance is not running) the figures fetched over SSH stay empty.
 */
export function viewOf(instance: SimInstance, runtime: boolean): InstanceView {
  const base = {
    name: instance.name,
    state: instance.state,
    imageRelease: instance.imageRelease,
    imageHash: instance.imageHash,
    snapshots: instance.snapshots,
    mounts: instance.mounts,
  };
  if (!runtime || !isRunning(instance.state)) {
    return {
      ...base,
      ipv4: [],
      currentRelease: "",
      cpuCount: "",
      load: "",
      diskUsage: "",
      diskTotal: "",
      memoryUsage: "",
      memoryTotal: "",
    };
  }
  const overrides = instance.runtime ?? {};
  const diskTotal = overrides.diskTotal ?? Math.floor((instance.disk * 0.943) / 4096) * 4096;
  const diskUsed = overrides.diskUsed ?? Math.min(2015903744, Math.floor(diskTotal / 2));
  const memoryTotal = overrides.memoryTotal ?? instance.memory;
  const memoryUsed = overrides.memoryUsed ?? Math.floor(memoryTotal * 0.143);
  const load = overrides.load ?? hostLoad();
  return {
    ...base,
    ipv4: runningAddresses(instance),
    currentRelease: overrides.release ?? prettyRelease(instance.imageRelease),
    cpuCount: overrides.cpuCount ?? String(instance.cpus),
    load: load.map((value) => value.toFixed(2)).join(" "),
    diskUsage: String(diskUsed),
    diskTotal: String(diskTotal),
    memoryUsage: String(memoryUsed),
    memoryTotal: String(memoryTotal),
  };
}

/** list's view: like info's but without SSH figures; IPs only for running instances. */
export function listViewOf(instance: SimInstance, withIpv4: boolean): InstanceView {
  const view = viewOf(instance, false);
  return isRunning(instance.state) && withIpv4 ? { ...view, ipv4: runningAddresses(instance) } : view;
}

/** `"Ubuntu " + release`, or "Not Available" (list's release / Image column). */
export function imageTitle(view: InstanceView): string {
  return view.imageRelease === "" ? "Not Available" : `Ubuntu ${view.imageRelease}`;
}

/** `{"list": [...]}` in 1.16 layout. */
export function listDocument(views: readonly InstanceView[]): JsonValue {
  return {
    list: views.map((view) => ({
      ipv4: [...view.ipv4],
      name: view.name,
      release: imageTitle(view),
      state: view.state,
    })),
  };
}

function mountsObject(mounts: readonly SimMount[]): { [key: string]: JsonValue } {
  const result: { [key: string]: JsonValue } = {};
  for (const mount of mounts) {
    result[mount.target] = {
      gid_mappings: [...mount.gidMappings],
      source_path: mount.source,
      uid_mappings: [...mount.uidMappings],
    };
  }
  return result;
}

/** One instance object of `info --format json`, built as the 1.16 JSON formatter does. */
export function infoItem(view: InstanceView): JsonValue {
  const disk: { [key: string]: JsonValue } = {};
  if (view.diskUsage !== "") disk.used = view.diskUsage;
  if (view.diskTotal !== "") disk.total = view.diskTotal;
  const memory: { [key: string]: JsonValue } = {};
  if (view.memoryUsage !== "") memory.used = Number(view.memoryUsage);
  if (view.memoryTotal !== "") memory.total = Number(view.memoryTotal);
  return {
    cpu_count: view.cpuCount,
    disks: { sda1: disk },
    image_hash: view.imageHash,
    image_release: view.imageRelease,
    ipv4: [...view.ipv4],
    load: view.load === "" ? [] : view.load.split(" ").map(Number),
    memory,
    mounts: mountsObject(view.mounts),
    release: view.currentRelease,
    ...(view.snapshots === null ? {} : { snapshot_count: String(view.snapshots) }),
    state: view.state,
  };
}

/** `{"errors": [], "info": {...}}` in 1.16 layout. */
export function infoDocument(views: readonly InstanceView[]): JsonValue {
  const info: { [key: string]: JsonValue } = {};
  for (const view of views) info[view.name] = infoItem(view);
  return { errors: [], info };
}
