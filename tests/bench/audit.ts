/**
 * Audit trail benchmark (issue 15): the same queries against the JSON-lines
 * file (audit-log.ts) and the SQLite table (audit-store.ts), each holding
 * RECORDS records (half "requested", half "done", one call a minute):
 *
 * - open: what a master restart costs (the file is scanned; the table asks
 *   for the calls left without an end);
 * - `events --since ID` near the end, `--since TIME` an hour back, the
 *   default listing (newest 1000), and a `--since` far back capped at 1000;
 * - append: one durable record (fsync / commit), the median of 200.
 *
 *   bun run bench              (all benchmarks)
 *   bun tests/bench/audit.ts   (this one; RECORDS=100000 for a quicker run)
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditLog, type AuditLog } from "../../lib/master/audit-log.ts";
import { createAuditStore } from "../../lib/master/audit-store.ts";
import { openDatabase } from "../../lib/master/database.ts";
import type { AuditEvent } from "../../lib/protocol/audit.ts";

const RECORDS = Number(process.env["RECORDS"] ?? 1_000_000);
const T0 = Date.parse("2025-01-01T00:00:00Z");

function record(id: number): AuditEvent {
  const call = Math.ceil(id / 2);
  const base = { id, time: new Date(T0 + call * 60_000).toISOString(), requestId: `req-${call}`, token: "0123456789ab", action: "start", node: `n${call % 7}`, instance: `vm${call % 100}` };
  return id % 2 === 1 ? { ...base, phase: "requested", params: { name: `vm${call % 100}` } } : { ...base, phase: "done", result: "ok" };
}

function ms(since: number): string {
  return `${(performance.now() - since).toFixed(1)} ms`;
}

function time<T>(fn: () => T): [T, string] {
  const start = performance.now();
  const value = fn();
  return [value, ms(start)];
}

function queries(log: AuditLog): Record<string, string> {
  const lastMinute = new Date(T0 + Math.ceil(RECORDS / 2) * 60_000 - 3_600_000).toISOString();
  const out: Record<string, string> = {};
  let n: number;
  [n, out["since ID (last 10)"]] = time(() => log.list({ since: String(RECORDS - 10) }).length);
  out["since ID (last 10)"] += ` (${n})`;
  [n, out["since TIME (an hour)"]] = time(() => log.list({ since: lastMinute }).length);
  out["since TIME (an hour)"] += ` (${n})`;
  [n, out["newest 1000"]] = time(() => log.list().length);
  out["newest 1000"] += ` (${n})`;
  [n, out["since TIME far back, limit 1000"]] = time(() => log.list({ since: new Date(T0).toISOString() }).length);
  out["since TIME far back, limit 1000"] += ` (${n})`;
  const appends: number[] = [];
  for (let i = 0; i < 200; i++) {
    const start = performance.now();
    log.append({ requestId: `bench-${i}`, phase: "requested", token: "0123456789ab", action: "stop", node: "n1", instance: "vm1" });
    appends.push(performance.now() - start);
  }
  appends.sort((a, b) => a - b);
  out["append (median of 200)"] = `${appends[100]!.toFixed(2)} ms`;
  return out;
}

export async function runAuditBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "mv-bench-audit-"));
  try {
    const jsonl = join(dir, "events.jsonl");
    const lines: string[] = [];
    let chunk = "";
    for (let id = 1; id <= RECORDS; id++) {
      chunk += JSON.stringify(record(id)) + "\n";
      if (id % 100_000 === 0) {
        lines.push(chunk);
        chunk = "";
      }
    }
    writeFileSync(jsonl, lines.join("") + chunk);
    lines.length = 0;

    // The table is filled by the master's own import of a copy of the same file (the import renames it).
    const copy = join(dir, "copy.jsonl");
    writeFileSync(copy, new Uint8Array(await Bun.file(jsonl).arrayBuffer()));

    const [file, fileOpen] = time(() => createAuditLog({ path: jsonl }));
    const fileFigures = { open: fileOpen, ...queries(file) };
    const dbPath = join(dir, "master.db");
    const [, importTime] = time(() => createAuditStore({ database: openDatabase(dbPath), importFrom: copy }));
    const [store, storeOpen] = time(() => createAuditStore({ database: openDatabase(dbPath) }));
    const storeFigures = { open: storeOpen, ...queries(store) };

    console.log(`\nAudit trail at ${RECORDS.toLocaleString("en")} records (import of the file into SQLite: ${importTime})`);
    console.log(`${"".padEnd(34)}${"events.jsonl".padEnd(22)}SQLite (master.db)`);
    for (const key of Object.keys(storeFigures) as (keyof typeof storeFigures)[]) {
      console.log(`${key.padEnd(34)}${String(fileFigures[key]).padEnd(22)}${storeFigures[key]}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await runAuditBench();
