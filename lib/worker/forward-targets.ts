/**
 * Where a forward (issue 14) may connect: the instance's own first IPv4
 * address — its management address — as Multipass reports it, and nothing
 * else; the client names a port, never an address, so the tunnel is no proxy
 * into the worker's network.
 *
 * The address comes from the host monitor's last listing when it has one (no
 * cost: the address book keeps it current, addresses.ts). Otherwise one
 * `multipass info NAME` is asked — costly on a real host (an SSH into the VM,
 * and it queues behind a running stop) — shared by every forward that asks
 * while it runs and kept for {@link TARGET_TTL_MS}, so 50 connections opening
 * at once cost one call. A forward never starts the instance.
 *
 * A forward ends, with the reason, when its instance goes: a stop, suspend,
 * restart or delete asked through the worker ends its forwards before the
 * verb runs ({@link ForwardTargets.going}), so the client hears why rather
 * than a connection cut short; one done at the host's own terminal is seen
 * in the monitor's next listing (a stopped VM's connections may otherwise
 * hang, its kernel gone without a word).
 */
import { AppError, toAppError } from "../core/errors.ts";
import type { Multipass } from "../multipass/driver.ts";
import type { InstanceState } from "../protocol/instances.ts";
import type { HostMonitor } from "./host-monitor.ts";

/** How long an address found by `multipass info` is used before it is asked again. */
export const TARGET_TTL_MS = 5_000;

/** How long the `multipass info` of a lookup may take. */
const LOOKUP_TIMEOUT_MS = 60_000;

export interface ForwardTargetsDeps {
  multipass: Pick<Multipass, "info">;
  monitor: Pick<HostMonitor, "current" | "onChange">;
  node: string;
  ttlMs?: number;
  now?: () => number;
}

export interface ForwardTargets {
  /**
   * The address a forward to `instance` connects to.
   * @throws AppError E_NOT_FOUND (no such instance), E_CONFLICT (not running:
   *   a forward does not start it), E_UNAVAILABLE (running, no address yet),
   *   or the lookup's own failure
   */
  addressOf(instance: string): Promise<string>;
  /** Calls `gone` (once) with why, when `instance` stops running; returns the unsubscribe. */
  watch(instance: string, gone: (why: AppError) => void): () => void;
  /** A verb that takes `instance` down (stop, suspend, restart, delete) is about to run: its forwards end. */
  going(instance: string, action: string): void;
}

const GOING: Record<string, string> = { stop: "being stopped", suspend: "being suspended", restart: "being restarted", delete: "being deleted" };

function running(state: InstanceState): boolean {
  return state === "Running" || state === "Delayed Shutdown";
}

export function createForwardTargets(deps: ForwardTargetsDeps): ForwardTargets {
  const { multipass, monitor, node, ttlMs = TARGET_TTL_MS, now = Date.now } = deps;
  const found = new Map<string, { address: string; at: number }>();
  const pending = new Map<string, Promise<string>>();

  const notRunning = (instance: string, state: InstanceState) =>
    new AppError("E_CONFLICT", `Instance "${instance}" is not running on node "${node}" (${state}): start it first; a forward does not start it`);

  async function lookUp(instance: string): Promise<string> {
    let info;
    try {
      [info] = await multipass.info([instance], { timeoutMs: LOOKUP_TIMEOUT_MS });
    } catch (error) {
      const e = toAppError(error, "E_MULTIPASS");
      throw new AppError(e.code, `Cannot find the address of instance "${instance}" on node "${node}": ${e.message}`, { cause: error });
    }
    if (info === undefined) throw new AppError("E_NOT_FOUND", `Instance "${instance}" does not exist on node "${node}"`);
    if (!running(info.state)) throw notRunning(instance, info.state);
    const [address] = info.ipv4;
    if (address === undefined) throw new AppError("E_UNAVAILABLE", `Instance "${instance}" on node "${node}" has no IPv4 address yet`);
    found.set(instance, { address, at: now() });
    return address;
  }

  const watchers = new Map<string, Set<(why: AppError) => void>>();
  const tell = (instance: string, why: AppError) => {
    const set = watchers.get(instance);
    if (set === undefined) return;
    watchers.delete(instance);
    for (const gone of set) gone(why);
  };
  monitor.onChange((snapshot) => {
    for (const instance of [...watchers.keys()]) {
      const listed = snapshot.instances.find((i) => i.name === instance);
      if (listed === undefined) tell(instance, new AppError("E_NOT_FOUND", `Instance "${instance}" is gone from node "${node}"`));
      else if (!running(listed.state)) tell(instance, new AppError("E_CONFLICT", `Instance "${instance}" on node "${node}" is no longer running (${listed.state})`));
    }
  });

  return {
    watch(instance, gone) {
      let set = watchers.get(instance);
      if (set === undefined) watchers.set(instance, (set = new Set()));
      set.add(gone);
      return () => {
        set.delete(gone);
        if (set.size === 0 && watchers.get(instance) === set) watchers.delete(instance);
      };
    },
    going(instance, action) {
      found.delete(instance);
      const doing = GOING[action] ?? `going down (${action})`;
      tell(instance, new AppError("E_CONFLICT", `Instance "${instance}" on node "${node}" is ${doing}`));
    },
    addressOf(instance) {
      const listed = monitor.current()?.instances.find((i) => i.name === instance);
      if (listed !== undefined) {
        if (listed.state === "Deleted") return Promise.reject(new AppError("E_CONFLICT", `Instance "${instance}" on node "${node}" is deleted`));
        if (!running(listed.state)) return Promise.reject(notRunning(instance, listed.state));
        const [address] = listed.ipv4;
        if (address !== undefined) return Promise.resolve(address);
      }
      const kept = found.get(instance);
      if (kept !== undefined && now() - kept.at < ttlMs) return Promise.resolve(kept.address);
      found.delete(instance);
      const inFlight = pending.get(instance);
      if (inFlight !== undefined) return inFlight;
      const lookup = lookUp(instance).finally(() => pending.delete(instance));
      pending.set(instance, lookup);
      return lookup;
    },
  };
}
