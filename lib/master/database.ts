/**
 * The master's own durable state in one SQLite file (`<data-dir>/master.db`,
 * mode 0600), through `bun:sqlite` — part of the runtime, so no dependency
 * (issue 15): the audit trail first; labels, cordons and node identities
 * join it. The cluster's instance state is not here: it stays a cache rebuilt
 * from the workers.
 *
 * - WAL journal, `synchronous=FULL`: a committed write survives a power cut,
 *   and readers never wait for the writer.
 * - One writer: the master (data-dir-lock.ts keeps a second master off the
 *   directory), through this one connection.
 * - The schema is versioned in `PRAGMA user_version`; {@link MIGRATIONS}
 *   take it from any older version to the newest, each in its own
 *   transaction. A file from a newer master is refused, never rewritten.
 */
import { Database } from "bun:sqlite";
import { chmodSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { AppError, messageOf } from "../core/errors.ts";

/** One schema step: from `version - 1` to `version`. */
export interface Migration {
  readonly version: number;
  readonly what: string;
  readonly sql: string;
}

/** Every schema step, oldest first; versions are 1, 2, 3… with no gaps. Never edit a released step: add one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    what: "the audit trail",
    sql: `
      CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        time_ms INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        phase TEXT NOT NULL CHECK (phase IN ('requested', 'done')),
        record TEXT NOT NULL
      );
      CREATE INDEX events_by_time ON events (time_ms);
      CREATE INDEX events_by_request ON events (request_id, phase);
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `,
  },
  {
    version: 2,
    what: "labels, cordons and node keys",
    sql: `
      CREATE TABLE instance_labels (
        node TEXT NOT NULL,
        instance TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (node, instance, key)
      );
      CREATE INDEX instance_labels_by_key ON instance_labels (key, value);
      CREATE TABLE node_labels (
        node TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (node, key)
      );
      CREATE TABLE node_cordons (
        node TEXT PRIMARY KEY,
        since_ms INTEGER NOT NULL,
        reason TEXT
      );
      CREATE TABLE node_keys (
        node TEXT PRIMARY KEY,
        public_key TEXT NOT NULL,
        pinned_ms INTEGER NOT NULL
      );
    `,
  },
  {
    version: 3,
    what: "environments",
    sql: `
      CREATE TABLE environments (
        name TEXT PRIMARY KEY,
        document TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        last_apply_ms INTEGER,
        last_apply_ok INTEGER
      );
      CREATE TABLE environment_secrets (
        environment TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (environment, name)
      );
      CREATE TABLE environment_members (
        environment TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
        instance TEXT NOT NULL,
        node TEXT NOT NULL,
        launched TEXT NOT NULL,
        since_ms INTEGER NOT NULL,
        PRIMARY KEY (environment, instance)
      );
    `,
  },
];

/** How long a write waits for another connection's lock before it fails (SQLITE_BUSY). */
export const BUSY_TIMEOUT_MS = 1000;

/** Where the master keeps its database. */
export function databasePath(dataDir: string): string {
  return join(dataDir, "master.db");
}

export interface MasterDatabase {
  readonly path: string;
  readonly db: Database;
  /** The schema version after opening (the newest this master knows). */
  readonly version: number;
  /** A value of the `meta` table, or null. */
  getMeta(key: string): string | null;
  setMeta(key: string, value: string): void;
  close(): void;
}

function storageError(doing: string, path: string, error: unknown): AppError {
  return new AppError("E_STORAGE", `The master cannot ${doing} its database "${path}": ${messageOf(error)}`, { cause: error });
}

/**
 * Opens (creating if missing) the database at `path` and migrates it to the
 * newest schema of `migrations`. `busyTimeoutMs` (default {@link BUSY_TIMEOUT_MS})
 * bounds a write's wait for another connection's lock.
 * @throws AppError E_STORAGE when it cannot be opened, is not a database, a
 *   migration fails (the file is left at the last good version), or its
 *   schema is newer than this master's.
 */
export function openDatabase(path: string, migrations: readonly Migration[] = MIGRATIONS, options: { busyTimeoutMs?: number } = {}): MasterDatabase {
  checkMigrations(migrations);
  let db: Database;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    db = new Database(path, { create: true, strict: true });
    chmodSync(path, 0o600);
  } catch (error) {
    throw storageError("open", path, error);
  }
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA foreign_keys = ON");
    // Another process (a backup, sqlite3 by hand) may hold the write lock for a moment. bun:sqlite
    // is synchronous: the wait blocks the master's whole event loop (every call, every heartbeat),
    // and every mutating call waits on its audit record, so it is short; past it the call is
    // refused with E_STORAGE naming the file, and nothing is done.
    db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? BUSY_TIMEOUT_MS)}`);
    const version = migrate(db, path, migrations);
    return {
      path,
      db,
      version,
      getMeta: (key) => db.query<{ value: string }, { key: string }>("SELECT value FROM meta WHERE key = $key").get({ key })?.value ?? null,
      setMeta: (key, value) => void db.query("INSERT INTO meta (key, value) VALUES ($key, $value) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run({ key, value }),
      close: () => db.close(),
    };
  } catch (error) {
    db.close();
    throw error instanceof AppError ? error : storageError("open", path, error);
  }
}

function checkMigrations(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new AppError("E_INTERNAL", `Migration ${i + 1} is numbered ${m.version}`);
  });
}

/** Runs the steps past the file's version, each in a transaction; returns the version reached. */
function migrate(db: Database, path: string, migrations: readonly Migration[]): number {
  const current = db.query<{ user_version: number }, []>("PRAGMA user_version").get()?.user_version ?? 0;
  const newest = migrations.length;
  if (current > newest) {
    throw new AppError(
      "E_STORAGE",
      `The database "${path}" has schema version ${current}, newer than this master's ${newest}: it was written by a newer multiverse master; run that version, or restore a backup`,
    );
  }
  for (const step of migrations.slice(current)) {
    try {
      db.transaction(() => {
        db.exec(step.sql);
        db.exec(`PRAGMA user_version = ${step.version}`);
      })();
    } catch (error) {
      throw new AppError("E_STORAGE", `The master cannot migrate its database "${path}" to version ${step.version} (${step.what}): ${messageOf(error)}`, { cause: error });
    }
  }
  return newest;
}
