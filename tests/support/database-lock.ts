/**
 * Holds the write lock of a master's database from a connection of the
 * test's own: while held, every write of the master fails with SQLITE_BUSY
 * once its busy timeout (lib/master/database.ts BUSY_TIMEOUT_MS) has passed,
 * as an audit trail that cannot be written does. Readers still read (WAL).
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";

export interface DatabaseLock {
  /** Ends the transaction (nothing was written) and closes the connection. */
  release(): void;
}

/** Takes the write lock of `<dataDir>/master.db` (`BEGIN EXCLUSIVE`). */
export function lockDatabase(dataDir: string): DatabaseLock {
  const db = new Database(join(dataDir, "master.db"));
  db.exec("BEGIN EXCLUSIVE");
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      db.exec("ROLLBACK");
      db.close();
    },
  };
}

/** Opens `<dataDir>/master.db` read-only, for a test that reads what the master wrote while it runs. */
export function readDatabase(dataDir: string): Database {
  return new Database(join(dataDir, "master.db"), { readonly: true });
}
