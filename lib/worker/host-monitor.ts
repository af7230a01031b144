/**
 * Keeps a worker's picture of its Multipass host current: polls
 * `multipass list` (and now and then `multipass version`) and the host's
 * resources, and tells listeners at once when anything a user would see has
 * changed. A failing multipass never stops the loop: the last-known instances
 * are kept and the failure becomes the snapshot's `multipassError`.
 */
import type { ConsolaInstance } from "consola";
import { messageOf } from "../core/errors.ts";
import type { InstanceSummary } from "../protocol/instances.ts";
import type { Multipass } from "../multipass/driver.ts";
import type { Allocation, HostResources, HostSnapshot } from "../protocol/join.ts";
import { sleep } from "../core/backoff.ts";
import { parseSize } from "../core/validate.ts";

/** Re-read the Multipass version every this many polls (it changes only on upgrades). */
const VERSION_EVERY_POLLS = 30;

/** `multipass get` calls in flight at once while learning new instances' allocations. */
const ALLOCATION_CONCURRENCY = 3;

type InstanceAllocation = { cpus: number; memory: number; disk: number };

export interface HostMonitorDeps {
  multipass: Multipass;
  readResources: () => HostResources;
  pollMs: number;
  log: ConsolaInstance;
}

export interface HostMonitor {
  /** The latest snapshot; null until the first poll has finished. */
  current(): HostSnapshot | null;
  /** Calls `listener` after every poll whose instances, version or error differ from the last one. */
  onChange(listener: (snapshot: HostSnapshot) => void): () => void;
  /** Runs one poll now, outside the schedule (after an operation changed the host). */
  refresh(): Promise<HostSnapshot>;
  /** Drops what is known of an instance's allocation (it was purged or is being re-launched). */
  forget(name: string): void;
  /** Polls until `signal` aborts. Resolves once the loop has ended. */
  run(signal: AbortSignal): Promise<void>;
  /** Resolves after the first poll. */
  ready: Promise<void>;
}

export function createHostMonitor(deps: HostMonitorDeps): HostMonitor {
  const { multipass, log } = deps;
  const listeners = new Set<(snapshot: HostSnapshot) => void>();
  let snapshot: HostSnapshot | null = null;
  let lastKey = "";
  let polls = 0;
  let version: string | null = null;
  let inFlight: Promise<HostSnapshot> | null = null;
  const allocations = new Map<string, InstanceAllocation>();
  /** Poll number of the last failed read per instance: retried now and then, not every poll. */
  const failedAt = new Map<string, number>();

  /** cpus, memory and disk an instance was launched with, from `multipass get local.NAME.*`. */
  async function readAllocation(name: string, signal?: AbortSignal): Promise<InstanceAllocation | null> {
    try {
      const [cpus, memory, disk] = await Promise.all(
        (["cpus", "memory", "disk"] as const).map((key) => multipass.get(`local.${name}.${key}`, { signal })),
      );
      const n = Number(cpus);
      if (!Number.isInteger(n) || n < 1) return null;
      return { cpus: n, memory: parseSize(memory), disk: parseSize(disk) };
    } catch (error) {
      log.debug(`allocation of "${name}" unknown: ${messageOf(error)}`);
      return null;
    }
  }

  /** Learns allocations of instances not seen before; forgets those gone. */
  async function allocated(instances: InstanceSummary[], signal?: AbortSignal): Promise<Allocation> {
    const names = new Set(instances.map((i) => i.name));
    for (const name of allocations.keys()) if (!names.has(name)) allocations.delete(name);
    for (const name of failedAt.keys()) if (!names.has(name)) failedAt.delete(name);
    const retryDue = (name: string) => polls - (failedAt.get(name) ?? -Infinity) >= VERSION_EVERY_POLLS;
    const missing = instances.filter((i) => i.state !== "Deleted" && !allocations.has(i.name) && retryDue(i.name)).map((i) => i.name);
    for (let i = 0; i < missing.length; i += ALLOCATION_CONCURRENCY) {
      const batch = missing.slice(i, i + ALLOCATION_CONCURRENCY);
      const read = await Promise.all(batch.map((name) => readAllocation(name, signal)));
      batch.forEach((name, j) => {
        const a = read[j];
        if (a) {
          allocations.set(name, a);
          failedAt.delete(name);
        } else failedAt.set(name, polls);
      });
    }
    const total: Allocation = { cpus: 0, memory: 0, disk: 0, unknown: 0 };
    for (const i of instances) {
      if (i.state === "Deleted") continue;
      const a = allocations.get(i.name);
      if (!a) {
        total.unknown++;
        continue;
      }
      total.cpus += a.cpus;
      total.memory += a.memory;
      total.disk += a.disk;
    }
    return total;
  }
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  async function readVersion(signal?: AbortSignal): Promise<void> {
    try {
      const v = await multipass.version({ signal });
      version = v.daemon ?? v.client;
    } catch (error) {
      log.debug(`multipass version failed: ${messageOf(error)}`);
    }
  }

  async function poll(signal?: AbortSignal): Promise<HostSnapshot> {
    let instances: InstanceSummary[] = snapshot?.instances ?? [];
    let error: string | null = null;
    try {
      instances = await multipass.list({ signal });
    } catch (e) {
      error = messageOf(e);
    }
    const previousError = snapshot?.multipassError ?? null;
    if (version === null || polls % VERSION_EVERY_POLLS === 0 || (previousError !== null && error === null)) {
      await readVersion(signal);
    }
    polls++;
    if (error !== previousError) {
      if (error === null) log.info("multipass answers again");
      else log.warn(`multipass failed: ${error}`);
    }
    const next: HostSnapshot = {
      multipassVersion: version,
      multipassError: error,
      resources: deps.readResources(),
      // While multipass fails, keep the last figures rather than asking it three more times per instance.
      allocated: error === null ? await allocated(instances, signal) : (snapshot?.allocated ?? { cpus: 0, memory: 0, disk: 0, unknown: instances.length }),
      instances,
    };
    snapshot = next;
    const key = JSON.stringify([next.instances, next.multipassVersion, next.multipassError, next.allocated]);
    if (key !== lastKey) {
      lastKey = key;
      for (const listener of listeners) listener(next);
    }
    markReady();
    return next;
  }

  function pollOnce(signal?: AbortSignal): Promise<HostSnapshot> {
    // One multipass list at a time: a scheduled poll and a refresh share the run.
    inFlight ??= poll(signal).finally(() => (inFlight = null));
    return inFlight;
  }

  return {
    current: () => snapshot,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async refresh() {
      // A poll already running may have listed before the change the caller just made: wait it out.
      if (inFlight) await inFlight.catch(() => {});
      return pollOnce();
    },
    forget(name) {
      allocations.delete(name);
      failedAt.delete(name);
    },
    async run(signal) {
      while (!signal.aborted) {
        await pollOnce(signal);
        await sleep(deps.pollMs, signal);
      }
    },
    ready,
  };
}
