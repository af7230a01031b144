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
import type { HostResources, HostSnapshot } from "../protocol/join.ts";
import { sleep } from "../core/backoff.ts";
import { createAllocations } from "./allocations.ts";

/** Re-read the Multipass version every this many polls (it changes only on upgrades). */
const VERSION_EVERY_POLLS = 30;

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

/** The version of multipassd (of the client when the daemon is down); null when it cannot be read. */
async function readVersion(multipass: Multipass, log: ConsolaInstance, signal?: AbortSignal): Promise<string | null> {
  try {
    const v = await multipass.version({ signal });
    return v.daemon ?? v.client;
  } catch (error) {
    log.debug(`multipass version failed: ${messageOf(error)}`);
    return null;
  }
}

export function createHostMonitor(deps: HostMonitorDeps): HostMonitor {
  const { multipass, log } = deps;
  const listeners = new Set<(snapshot: HostSnapshot) => void>();
  let snapshot: HostSnapshot | null = null;
  let lastKey = "";
  let polls = 0;
  let version: string | null = null;
  let inFlight: Promise<HostSnapshot> | null = null;
  const allocations = createAllocations({ multipass, log });
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));

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
      version = (await readVersion(multipass, log, signal)) ?? version;
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
      allocated: error === null ? await allocations.total(instances, polls, signal) : (snapshot?.allocated ?? { cpus: 0, memory: 0, disk: 0, unknown: instances.length }),
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
    forget: (name) => allocations.forget(name),
    async run(signal) {
      while (!signal.aborted) {
        await pollOnce(signal);
        await sleep(deps.pollMs, signal);
      }
    },
    ready,
  };
}
