/**
 * Selector benchmark (issue 15): label selectors over INSTANCES instances
 * (200 a node), every one with three labels, the store on a real SQLite
 * file (labels.ts) loaded as a master loads it at start.
 *
 * For each selector, ROUNDS times: what `GET /api/v1/instances?selector=`
 * does (the views the selector keeps, serialized) and what `POST
 * /api/v1/actions/stop` with a selector resolves (bulkTargets); printed as
 * p50 / p99, beside the unfiltered listing (the cached body) for scale, and
 * the store's load time.
 *
 *   bun run bench                  (all benchmarks)
 *   bun tests/bench/selectors.ts   (this one; INSTANCES=2000 for a quicker run)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSelector } from "../../lib/core/labels.ts";
import { openDatabase } from "../../lib/master/database.ts";
import { createLabelStore } from "../../lib/master/labels.ts";
import { Registry } from "../../lib/master/registry.ts";
import { bulkTargets } from "../../lib/master/targets.ts";
import type { InstanceSummary } from "../../lib/protocol/instances.ts";
import { joinNode } from "../support/registry.ts";

const INSTANCES = Number(process.env["INSTANCES"] ?? 20_000);
const PER_NODE = 200;
const ROUNDS = Number(process.env["ROUNDS"] ?? 200);

const ROLES = ["web", "db", "cache", "worker"];
const ENVS = ["prod", "staging", "dev"];

const SELECTORS = ["role=web", "role=web,env!=prod", "tier in (t1,t2,t3)", "!legacy,env=staging", "shard>95", "role=nothing"];

function percentiles(samples: number[]): string {
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return `${at(0.5).toFixed(2)} / ${at(0.99).toFixed(2)} ms`;
}

function measure(fn: () => number): { figures: string; count: number } {
  const samples: number[] = [];
  let count = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const start = performance.now();
    count = fn();
    samples.push(performance.now() - start);
  }
  return { figures: percentiles(samples), count };
}

export async function runSelectorsBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-selectors-"));
  try {
    const nodes = Math.ceil(INSTANCES / PER_NODE);
    const seeding = openDatabase(join(dir, "master.db"));
    const seed = createLabelStore(seeding);
    const instances: InstanceSummary[][] = [];
    // One transaction for the seeding: a commit per instance would be 20,000 fsyncs.
    seeding.db.exec("BEGIN");
    for (let n = 0; n < nodes; n++) {
      const list: InstanceSummary[] = [];
      for (let i = 0; i < PER_NODE && n * PER_NODE + i < INSTANCES; i++) {
        const k = n * PER_NODE + i;
        const name = `vm-${k}`;
        list.push({ name, state: k % 5 === 0 ? "Stopped" : "Running", ipv4: [`10.${n >> 8}.${n & 255}.${i}`], release: "Ubuntu 24.04 LTS" });
        seed.setInstanceLabels(`node-${n}`, name, { role: ROLES[k % 4]!, env: ENVS[k % 3]!, tier: `t${k % 20}`, shard: String(k % 100), ...(k % 50 === 0 ? { legacy: "yes" } : {}) });
      }
      instances.push(list);
    }
    seeding.db.exec("COMMIT");
    seeding.close();

    const database = openDatabase(join(dir, "master.db"));
    const loadStart = performance.now();
    const labels = createLabelStore(database);
    const loadMs = performance.now() - loadStart;
    const registry = new Registry({ now: () => 1_000_000, heartbeatMs: 60_000, downGraceMs: 60_000, labels });
    instances.forEach((list, n) => joinNode(registry, `node-${n}`, list));

    console.log(`\nSelectors over ${INSTANCES} instances on ${nodes} nodes (${ROUNDS} rounds each; p50 / p99)`);
    console.log(`  label store loaded from SQLite at start: ${loadMs.toFixed(0)} ms`);
    const full = measure(() => registry.instanceViewsBody().size);
    console.log(`  GET /instances, no selector (the cached body): ${full.figures} (${(full.count / 1e6).toFixed(1)} MB)`);
    for (const text of SELECTORS) {
      const selector = parseSelector(text);
      const listing = measure(() => {
        const views = registry.instanceViews(selector);
        JSON.stringify(views);
        return views.length;
      });
      const stop = measure(() => {
        try {
          return bulkTargets(registry, "stop", { all: false, instances: [], selector }).length;
        } catch {
          return 0;
        }
      });
      console.log(`  ${JSON.stringify(text).padEnd(24)} GET /instances?selector=: ${listing.figures} (${listing.count} selected); stop's targets: ${stop.figures} (${stop.count})`);
    }
    database.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await runSelectorsBench();
