/**
 * Keeps a worker's picture of its Multipass host current: polls
 * `multipass list` (and now and then `multipass version`) and the host's
 * resources, and tells listeners at once when anything a user would see has
 * changed.
 *
 * A busy daemon is not a dead one. Multipass serialises: a `list` queues
 * behind a running stop, suspend or delete for up to the daemon's 300 s
 * bound (CONTRACT.md §3.3). So a poll waits past that bound, one poll at a
 * time (never a pile of `list` processes), and while it waits the snapshot
 * keeps the last instances, marked `staleSince` once the wait is longer than
 * a healthy listing ever takes. Only a failure — a daemon that cannot be
 * reached, at once; one that never answers, past the bound — becomes the
 * snapshot's `multipassError`; the loop never stops, and the last-known
 * instances are kept.
 *
 * Polls are cheap: `list --no-ipv4` (no SSH into the instances), with
 * addresses looked up only when they may have changed (addresses.ts).
 */
import type { ConsolaInstance } from "consola";
import { messageOf } from "../core/errors.ts";
import { formatDuration } from "../core/duration.ts";
import { DAEMON_BOUND_MS } from "../core/timers.ts";
import type { InstanceSummary } from "../protocol/instances.ts";
import type { Multipass } from "../multipass/driver.ts";
import type { HostResources, HostSnapshot } from "../protocol/join.ts";
import { sleep } from "../core/backoff.ts";
import { createAllocations } from "./allocations.ts";
import { createAddressBook, type AddressLookup } from "./addresses.ts";

/** Re-read the Multipass version every this many polls (it changes only on upgrades). */
const VERSION_EVERY_POLLS = 30;

/**
 * How long one poll's `list` and `version` may wait: the daemon's own bound
 * on the stop they may queue behind, plus two minutes for the listing itself
 * (a plain `list` waits up to 5 s for each guest that does not answer).
 */
export const POLL_BOUND_MS = DAEMON_BOUND_MS + 120_000;

/**
 * A poll unanswered for this long marks the snapshot stale: a healthy
 * `list`, even one that SSHes into a score of VMs, has always answered
 * sooner (this was its whole timeout until the daemon's queueing was known).
 */
export const STALE_AFTER_MS = 15_000;

export interface HostMonitorDeps {
  multipass: Multipass;
  readResources: () => HostResources;
  pollMs: number;
  log: ConsolaInstance;
  /** How addresses are looked up (addresses.ts); default "on-change", "every-poll" is the old behaviour. */
  addressLookup?: AddressLookup;
  /** Default ADDRESS_REFRESH_MS (addresses.ts). */
  addressRefreshMs?: number;
  /** Default {@link STALE_AFTER_MS}. */
  staleAfterMs?: number;
  /** Default {@link POLL_BOUND_MS}; never below the daemon's own bound outside tests. */
  pollBoundMs?: number;
  now?: () => number;
}

export interface HostMonitor {
  /** The latest snapshot; null until the first poll has finished. */
  current(): HostSnapshot | null;
  /**
   * Calls `listener` after every poll whose instances, version or error
   * differ from the last one, and when a poll starts or stops being late
   * (`staleSince`).
   */
  onChange(listener: (snapshot: HostSnapshot) => void): () => void;
  /**
   * Runs one poll now, outside the schedule (after an operation changed the
   * host). It waits for a poll already running, which may have listed before
   * the change; so it may take as long as the daemon is busy.
   */
  refresh(): Promise<HostSnapshot>;
  /** Drops what is known of an instance's allocation (it was purged or is being re-launched). */
  forget(name: string): void;
  /**
   * Records what a change has just done to the instances (an operation's own
   * result) at once: listeners hear it, and a poll that was listing while the
   * change ran is not published over it — its listing may predate the change,
   * and would take the master's cache back to the state before it.
   */
  noteChange(instances: InstanceSummary[]): void;
  /** Polls until `signal` aborts. Resolves once the loop has ended. */
  run(signal: AbortSignal): Promise<void>;
  /** Resolves after the first poll. */
  ready: Promise<void>;
}

/** The version of multipassd (of the client when the daemon is down); null when it cannot be read. */
async function readVersion(multipass: Multipass, log: ConsolaInstance, options: { signal?: AbortSignal; timeoutMs: number }): Promise<string | null> {
  try {
    const v = await multipass.version(options);
    return v.daemon ?? v.client;
  } catch (error) {
    log.debug(`multipass version failed: ${messageOf(error)}`);
    return null;
  }
}

/** What changes a snapshot's meaning for a listener; resources alone travel in heartbeats. */
function keyOf(s: HostSnapshot): string {
  return JSON.stringify([s.instances, s.multipassVersion, s.multipassError, s.allocated, s.staleSince ?? null]);
}

/** The latest snapshot, and its listeners, told only of what changes its meaning ({@link keyOf}). */
function createSnapshots() {
  const listeners = new Set<(snapshot: HostSnapshot) => void>();
  let snapshot: HostSnapshot | null = null;
  let lastKey = "";
  return {
    current: () => snapshot,
    publish(next: HostSnapshot): void {
      snapshot = next;
      const key = keyOf(next);
      if (key === lastKey) return;
      lastKey = key;
      for (const listener of listeners) listener(next);
    },
    onChange(listener: (snapshot: HostSnapshot) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * Marks the last snapshot stale if the poll begun now is still waiting after
 * `afterMs`; returns what to call once the poll has ended.
 */
function watchLate(snapshots: ReturnType<typeof createSnapshots>, log: ConsolaInstance, afterMs: number, now: () => number): () => void {
  const started = now();
  let late = false;
  const timer = setTimeout(() => {
    const last = snapshots.current();
    if (last === null) return;
    late = true;
    log.info(`multipass has not answered for ${formatDuration(afterMs)}: the daemon is busy (a stop, suspend or delete holds it); keeping the last known instances`);
    snapshots.publish({ ...last, staleSince: new Date(started).toISOString() });
  }, afterMs);
  return () => {
    clearTimeout(timer);
    if (late) log.info(`multipass answered after ${formatDuration(now() - started)}`);
  };
}

export function createHostMonitor(deps: HostMonitorDeps): HostMonitor {
  const { multipass, log, now = Date.now } = deps;
  const staleAfterMs = deps.staleAfterMs ?? STALE_AFTER_MS;
  const pollBoundMs = deps.pollBoundMs ?? POLL_BOUND_MS;
  const snapshots = createSnapshots();
  let polls = 0;
  let version: string | null = null;
  let inFlight: Promise<HostSnapshot> | null = null;
  /** Bumped by every noteChange: a poll that began under an older one lists what may be out of date. */
  let changes = 0;
  /** The signal of `run`: it ends every poll, a refresh's too, so no multipass process outlives the worker. */
  let stopped: AbortSignal | undefined;
  const allocations = createAllocations({ multipass, log });
  const addresses = createAddressBook({ multipass, log, mode: deps.addressLookup, refreshMs: deps.addressRefreshMs, now });
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  async function poll(signal?: AbortSignal): Promise<HostSnapshot> {
    const last = snapshots.current();
    const changesBefore = changes;
    let instances: InstanceSummary[] = last?.instances ?? [];
    let error: string | null = null;
    try {
      instances = await addresses.list(last?.instances ?? null, { signal, timeoutMs: pollBoundMs });
    } catch (e) {
      error = messageOf(e);
    }
    const previousError = last?.multipassError ?? null;
    if (version === null || polls % VERSION_EVERY_POLLS === 0 || (previousError !== null && error === null)) {
      version = (await readVersion(multipass, log, { signal, timeoutMs: pollBoundMs })) ?? version;
    }
    polls++;
    if (error !== previousError) {
      if (error === null) log.info("multipass answers again");
      else log.warn(`multipass failed: ${error}`);
    }
    // While multipass fails, keep the last figures rather than asking it three more times per instance.
    const allocated = error === null ? await allocations.total(instances, polls, signal) : (last?.allocated ?? { cpus: 0, memory: 0, disk: 0, unknown: instances.length });
    // A change finished while this poll ran (listing, reading the version or the allocations):
    // what it listed may be from before the change, so the change's own result stands.
    if (changes !== changesBefore) instances = snapshots.current()?.instances ?? instances;
    const next: HostSnapshot = { multipassVersion: version, multipassError: error, resources: deps.readResources(), allocated, instances };
    snapshots.publish(next);
    markReady();
    return next;
  }

  function pollOnce(): Promise<HostSnapshot> {
    // One multipass list at a time: a scheduled poll and a refresh share the run.
    if (inFlight) return inFlight;
    const settled = watchLate(snapshots, log, staleAfterMs, now);
    inFlight = poll(stopped).finally(() => {
      settled();
      inFlight = null;
    });
    return inFlight;
  }

  return {
    current: snapshots.current,
    onChange: snapshots.onChange,
    async refresh() {
      // A poll already running may have listed before the change the caller just made: wait it out.
      if (inFlight) await inFlight.catch(() => {});
      return pollOnce();
    },
    forget: (name) => allocations.forget(name),
    noteChange(instances) {
      changes++;
      const last = snapshots.current();
      if (last !== null) snapshots.publish({ ...last, instances });
    },
    async run(signal) {
      stopped = signal;
      while (!signal.aborted) {
        await pollOnce();
        await sleep(deps.pollMs, signal);
      }
    },
    ready,
  };
}
