/**
 * What a Multipass host has: CPUs, memory, the disk holding Multipass's data,
 * and load. Read fresh on every poll; all calls are cheap system queries.
 */
import { readFileSync, statfsSync } from "node:fs";
import { availableParallelism, freemem, loadavg, totalmem } from "node:os";
import { dirname } from "node:path";
import type { HostResources } from "../protocol/join.ts";

/** Where multipassd keeps its instances, per platform (the snap, brew and installer layouts). */
export function defaultMultipassDataPath(platform: NodeJS.Platform): string {
  switch (platform) {
    case "darwin":
      return "/var/root/Library/Application Support/multipassd";
    case "win32":
      return "C:\\ProgramData\\Multipass";
    default:
      return "/var/snap/multipass/common/data/multipassd";
  }
}

/**
 * Free and total bytes of the filesystem holding `path`. The data directory is
 * often readable by root only, or missing before the first launch, so the
 * nearest ancestor that can be queried stands in for it: it is on the same
 * filesystem in every standard layout. Free space is what unprivileged users
 * can allocate (`bavail`), not what root could (`bfree`).
 */
export function diskOf(path: string): { total: number; available: number } {
  let current = path;
  for (;;) {
    try {
      const s = statfsSync(current);
      return { total: s.blocks * s.bsize, available: s.bavail * s.bsize };
    } catch {
      const parent = dirname(current);
      if (parent === current) return { total: 0, available: 0 };
      current = parent;
    }
  }
}

/** Memory the kernel says can be allocated without swapping (MemAvailable), else free memory. */
function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // Not Linux: fall through to the portable figure.
  }
  return freemem();
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

export function readHostResources(dataPath: string): HostResources {
  const [l1 = 0, l5 = 0, l15 = 0] = loadavg();
  return {
    cpus: availableParallelism(),
    load: [round2(l1), round2(l5), round2(l15)],
    memory: { total: totalmem(), available: availableMemory() },
    disk: diskOf(dataPath),
  };
}
