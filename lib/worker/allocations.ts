/**
 * What a host's instances were launched with — cpus, memory and disk, from
 * `multipass get local.NAME.*` — learnt once per instance and summed for the
 * host's snapshot. A read that fails is retried now and then, not every poll.
 */
import type { ConsolaInstance } from "consola";
import { messageOf } from "../core/errors.ts";
import type { InstanceSummary } from "../protocol/instances.ts";
import type { Multipass } from "../multipass/driver.ts";
import type { Allocation } from "../protocol/join.ts";
import { parseSize } from "../core/validate.ts";

/** Polls between two tries at an instance whose allocation could not be read (as often as the version is re-read). */
const RETRY_EVERY_POLLS = 30;

/** `multipass get` calls in flight at once while learning new instances' allocations. */
const ALLOCATION_CONCURRENCY = 3;

type InstanceAllocation = { cpus: number; memory: number; disk: number };

export interface Allocations {
  /**
   * Learns the allocations of instances not seen before, forgets those gone,
   * and sums them over the instances that are not deleted; `poll` is the
   * number of the poll asking. Never rejects: what cannot be read counts as `unknown`.
   */
  total(instances: InstanceSummary[], poll: number, signal?: AbortSignal): Promise<Allocation>;
  /** Drops what is known of an instance (it was purged or is being re-launched). */
  forget(name: string): void;
}

export function createAllocations(deps: { multipass: Multipass; log: ConsolaInstance }): Allocations {
  const { multipass, log } = deps;
  const known = new Map<string, InstanceAllocation>();
  /** Poll number of the last failed read per instance. */
  const failedAt = new Map<string, number>();

  async function read(name: string, signal?: AbortSignal): Promise<InstanceAllocation | null> {
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

  async function learn(instances: InstanceSummary[], poll: number, signal?: AbortSignal): Promise<void> {
    const names = new Set(instances.map((i) => i.name));
    for (const name of known.keys()) if (!names.has(name)) known.delete(name);
    for (const name of failedAt.keys()) if (!names.has(name)) failedAt.delete(name);
    const retryDue = (name: string) => poll - (failedAt.get(name) ?? -Infinity) >= RETRY_EVERY_POLLS;
    const missing = instances.filter((i) => i.state !== "Deleted" && !known.has(i.name) && retryDue(i.name)).map((i) => i.name);
    for (let i = 0; i < missing.length; i += ALLOCATION_CONCURRENCY) {
      const batch = missing.slice(i, i + ALLOCATION_CONCURRENCY);
      const found = await Promise.all(batch.map((name) => read(name, signal)));
      batch.forEach((name, j) => {
        const a = found[j];
        if (a) {
          known.set(name, a);
          failedAt.delete(name);
        } else failedAt.set(name, poll);
      });
    }
  }

  return {
    async total(instances, poll, signal) {
      await learn(instances, poll, signal);
      const total: Allocation = { cpus: 0, memory: 0, disk: 0, unknown: 0 };
      for (const i of instances) {
        if (i.state === "Deleted") continue;
        const a = known.get(i.name);
        if (!a) {
          total.unknown++;
          continue;
        }
        total.cpus += a.cpus;
        total.memory += a.memory;
        total.disk += a.disk;
      }
      return total;
    },
    forget(name) {
      known.delete(name);
      failedAt.delete(name);
    },
  };
}
