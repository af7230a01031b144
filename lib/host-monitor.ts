/**
 * Keeps a worker's picture of its Multipass host current: polls
 * `multipass list` (and now and then `multipass version`) and the host's
 * resources, and tells listeners at once when anything a user would see has
 * changed. A failing multipass never stops the loop: the last-known instances
 * are kept and the failure becomes the snapshot's `multipassError`.
 */
import type { ConsolaInstance } from "consola";
import { messageOf } from "./errors.ts";
import type { InstanceSummary, Multipass } from "./multipass.ts";
import type { HostResources, HostSnapshot } from "./protocol.ts";
import { sleep } from "./reconnect.ts";

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
    const next: HostSnapshot = { multipassVersion: version, multipassError: error, resources: deps.readResources(), instances };
    snapshot = next;
    const key = JSON.stringify([next.instances, next.multipassVersion, next.multipassError]);
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
    refresh: () => pollOnce(),
    async run(signal) {
      while (!signal.aborted) {
        await pollOnce(signal);
        await sleep(deps.pollMs, signal);
      }
    },
    ready,
  };
}
