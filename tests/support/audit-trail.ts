/**
 * The audit trail as the master keeps it (lib/master/audit-store.ts, in a
 * master.db of its own), for tests that build a master or its routes by hand.
 * Close what was opened with {@link closeAuditTrails} in afterEach.
 */
import { join } from "node:path";
import type { AuditLog } from "../../lib/master/audit-log.ts";
import { createAuditStore } from "../../lib/master/audit-store.ts";
import { openDatabase, type MasterDatabase } from "../../lib/master/database.ts";

const open = new Set<MasterDatabase>();

/** A fresh audit trail in `<dir>/master.db`; `now` is its clock. */
export function auditTrailIn(dir: string, now?: () => number): AuditLog {
  const database = openDatabase(join(dir, "master.db"));
  open.add(database);
  return createAuditStore({ database, ...(now ? { now } : {}) });
}

/** Closes every database {@link auditTrailIn} opened. */
export function closeAuditTrails(): void {
  for (const database of open) database.close();
  open.clear();
}
