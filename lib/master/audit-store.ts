/**
 * The audit trail in the master's database (database.ts; issue 15): the same
 * {@link AuditLog} contract as the JSON-lines file of audit-log.ts, with the
 * listing as indexed queries, so `events --since` stays fast at a million
 * records (tests/bench/audit.ts).
 *
 * - Each record is one row: its id (the primary key), its time in ms (indexed,
 *   for `since` a time), its request id and phase (indexed, for the calls
 *   left without an end), and the record's JSON as the API shows it.
 * - An append commits before it returns (`synchronous=FULL`): a record the
 *   caller saw is on disk.
 * - On first open beside an `events.jsonl` of an older master, its records
 *   are imported with their ids, in one transaction, and the file is renamed
 *   `events.jsonl.imported` (kept, never read again).
 */
import { existsSync, renameSync } from "node:fs";
import type { AuditLog } from "./audit-log.ts";
import { auditEvent, forEachLine, listLimit, tell } from "./audit-records.ts";
import type { MasterDatabase } from "./database.ts";
import { parseAuditEvent, parseEventsSince, type AuditEvent } from "../protocol/audit.ts";
import { AppError, messageOf } from "../core/errors.ts";
import { parseJson } from "../core/parse.ts";

export interface AuditStoreOptions {
  database: MasterDatabase;
  /** An older master's `events.jsonl` to import once, when the table is empty. */
  importFrom?: string;
  now?: () => number;
  warn?: (message: string) => void;
  /** Default {@link TIME_INDEX_CAP}; tests lower it to exercise both plans. */
  timeIndexCap?: number;
}

/** Up to this many records at or after a time are read through the time index; past it, by walking ids. */
const TIME_INDEX_CAP = 20_000;

interface Row {
  record: string;
}

function storageError(doing: string, path: string, error: unknown): AppError {
  return new AppError("E_STORAGE", `The master cannot ${doing} the audit trail in "${path}": ${messageOf(error)}`, { cause: error });
}

/**
 * Opens the audit trail kept in `database`, importing `importFrom` first
 * when the trail is empty and that file exists.
 * @throws AppError E_STORAGE when the table cannot be read or the import fails (nothing is imported then).
 */
export function createAuditStore(options: AuditStoreOptions): AuditLog {
  const { database } = options;
  const { db, path } = database;
  const now = options.now ?? Date.now;
  const listeners = new Set<(event: AuditEvent) => void>();

  const insert = db.query<unknown, { id: number; time_ms: number; request_id: string; phase: string; record: string }>(
    "INSERT INTO events (id, time_ms, request_id, phase, record) VALUES ($id, $time_ms, $request_id, $phase, $record)",
  );
  const byId = db.query<Row, { since: number; limit: number }>("SELECT record FROM events WHERE id > $since ORDER BY id DESC LIMIT $limit");
  // Two plans for a time: few matches are found through the time index and sorted; many are found
  // walking ids down from the newest (times need not increase with ids, so the filter stays).
  const countByTime = db.query<{ n: number }, { since: number; cap: number }>(
    "SELECT count(*) AS n FROM (SELECT 1 FROM events INDEXED BY events_by_time WHERE time_ms >= $since LIMIT $cap)",
  );
  const byTimeIndex = db.query<Row, { since: number; limit: number }>(
    "SELECT record FROM events INDEXED BY events_by_time WHERE time_ms >= $since ORDER BY id DESC LIMIT $limit",
  );
  const byTimeScan = db.query<Row, { since: number; limit: number }>("SELECT record FROM events NOT INDEXED WHERE time_ms >= $since ORDER BY id DESC LIMIT $limit");
  const byTime = (since: number, limit: number): Row[] => {
    const cap = options.timeIndexCap ?? TIME_INDEX_CAP;
    const few = countByTime.get({ since, cap })!.n < cap;
    return (few ? byTimeIndex : byTimeScan).all({ since, limit });
  };
  const lastId = () => db.query<{ id: number | null }, []>("SELECT max(id) AS id FROM events").get()?.id ?? 0;

  const store = (event: AuditEvent) =>
    insert.run({ id: event.id, time_ms: Date.parse(event.time), request_id: event.requestId, phase: event.phase, record: JSON.stringify(event) });

  let nextId: number;
  let interrupted: AuditEvent[];
  try {
    if (options.importFrom !== undefined && lastId() === 0 && existsSync(options.importFrom)) importFile(options.importFrom);
    nextId = lastId() + 1;
    interrupted = readRows(
      db
        .query<Row, []>(
          `SELECT record FROM events AS r WHERE r.phase = 'requested'
             AND NOT EXISTS (SELECT 1 FROM events AS d WHERE d.request_id = r.request_id AND d.phase = 'done')
           ORDER BY r.id`,
        )
        .all(),
    );
  } catch (error) {
    throw error instanceof AppError ? error : storageError("read", path, error);
  }

  function readRows(rows: Row[]): AuditEvent[] {
    return rows.map((row) => parseAuditEvent(parseJson(row.record, "record")));
  }

  /** Imports every readable line with its id, in one transaction; unreadable lines and ids that do not increase are skipped and counted. */
  function importFile(file: string): void {
    let imported = 0;
    let skipped = 0;
    let last = 0;
    try {
      db.transaction(() => {
        forEachLine(file, (_offset, bytes) => {
          if (bytes.length === 0) return;
          try {
            const event = parseAuditEvent(parseJson(bytes.toString("utf8"), "line"));
            if (event.id > last) {
              store(event);
              last = event.id;
              imported++;
              return;
            }
          } catch {
            // counted below
          }
          skipped++;
        });
      })();
      renameSync(file, `${file}.imported`);
    } catch (error) {
      throw new AppError("E_STORAGE", `The master cannot import its audit log "${file}" into "${path}": ${messageOf(error)}`, { cause: error });
    }
    options.warn?.(`Audit trail: imported ${imported} record(s) from "${file}" (now ${file}.imported)${skipped > 0 ? `; skipped ${skipped} line(s) that could not be read` : ""}`);
  }

  return {
    append(record) {
      const event = auditEvent(nextId, now(), record);
      try {
        store(event);
      } catch (error) {
        throw storageError("write", path, error);
      }
      nextId = event.id + 1;
      tell(listeners, event);
      return event;
    },

    list(listOptions = {}) {
      const limit = listLimit(listOptions.limit);
      const since = listOptions.since === undefined ? null : parseEventsSince(listOptions.since);
      try {
        const rows = since?.kind === "time" ? byTime(since.ms, limit) : byId.all({ since: since?.id ?? 0, limit });
        return readRows(rows.reverse());
      } catch (error) {
        throw error instanceof AppError ? error : storageError("read", path, error);
      }
    },

    interrupted: () => interrupted,

    onAppend(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
