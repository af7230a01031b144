/**
 * The environments the master was asked to apply (issue 17), in its database
 * (`environments`, `environment_secrets`, `environment_members`; database.ts):
 *
 * - the document of the last apply, as JSON (cloud-init files already read
 *   by the client; the templates unrendered, so no secret is in it);
 * - its secrets: each `{{ secrets.NAME }}` a random value generated once, on
 *   the first apply that needs it, and kept until the environment is deleted
 *   with `--purge`. They leave the store only to be rendered into a launch's
 *   cloud-init, which goes to the worker and on to multipass's stdin; the
 *   audit trail keeps a cloud-init only as its size and hash;
 * - its members: every instance an apply launched or started launching, with
 *   its node and what it was launched with, written before the launch. An
 *   instance of that name found later (the master was killed while it
 *   launched, so it never got its labels) is the environment's own, and the
 *   next apply adopts it; what it was launched with is what drift is measured
 *   against.
 *
 * `database` null keeps everything in memory (unit tests).
 */
import { randomBytes } from "node:crypto";
import { AppError, messageOf } from "../core/errors.ts";
import type { MasterDatabase } from "./database.ts";

/** What an instance was launched with, as drift compares it. */
export interface LaunchedWith {
  image: string | null;
  cpus: number | null;
  memory: string | null;
  disk: string | null;
  networks: string[];
  /** SHA-256 of the cloud-init template (not rendered), or null without one. */
  cloudInit: string | null;
}

export interface StoredMember {
  instance: string;
  node: string;
  launched: LaunchedWith;
}

export interface StoredEnvironment {
  name: string;
  /** The document of the last apply (JSON text). */
  document: string;
  createdMs: number;
  updatedMs: number;
  lastApply: { ms: number; ok: boolean } | null;
}

/** Most environments a master keeps. */
export const MAX_ENVIRONMENTS = 1000;
/** Bytes of randomness in a generated secret (hex-encoded: 64 characters). */
export const SECRET_BYTES = 32;

export interface EnvironmentStore {
  get(name: string): StoredEnvironment | null;
  list(): StoredEnvironment[];
  /** Saves the document of an apply (creating the environment). @throws AppError E_STORAGE, E_CONFLICT past MAX_ENVIRONMENTS */
  save(name: string, document: string): void;
  /** Records how an apply ended. @throws AppError E_STORAGE */
  recordApply(name: string, ok: boolean): void;
  /** The values of `names`, generating and saving the missing ones first. @throws AppError E_STORAGE */
  secrets(name: string, names: readonly string[]): Map<string, string>;
  members(name: string): StoredMember[];
  /** Records an instance as the environment's before its launch. @throws AppError E_STORAGE */
  addMember(name: string, member: StoredMember): void;
  /** Forgets a member (purged). @throws AppError E_STORAGE */
  dropMember(name: string, instance: string): void;
  /** Forgets the environment, its secrets and its members. @throws AppError E_STORAGE */
  forget(name: string): void;
}

interface EnvironmentRow {
  name: string;
  document: string;
  created_ms: number;
  updated_ms: number;
  last_apply_ms: number | null;
  last_apply_ok: number | null;
}

function fromRow(row: EnvironmentRow): StoredEnvironment {
  return {
    name: row.name,
    document: row.document,
    createdMs: row.created_ms,
    updatedMs: row.updated_ms,
    lastApply: row.last_apply_ms === null ? null : { ms: row.last_apply_ms, ok: row.last_apply_ok === 1 },
  };
}

export function createEnvironmentStore(database: MasterDatabase | null, now: () => number = Date.now): EnvironmentStore {
  const rows = new Map<string, EnvironmentRow>();
  const secrets = new Map<string, Map<string, string>>();
  const members = new Map<string, Map<string, StoredMember>>();
  const db = database?.db ?? null;
  const guard = <T>(doing: string, name: string, work: () => T): T => {
    try {
      return work();
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new AppError("E_STORAGE", `The master cannot ${doing} environment "${name}"${database ? ` in "${database.path}"` : ""}: ${messageOf(error)}`, { cause: error });
    }
  };
  if (db !== null) {
    guard("read", "*", () => {
      for (const row of db.query<EnvironmentRow, []>("SELECT * FROM environments").all()) rows.set(row.name, row);
      for (const s of db.query<{ environment: string; name: string; value: string }, []>("SELECT environment, name, value FROM environment_secrets").all()) {
        mapOf(secrets, s.environment).set(s.name, s.value);
      }
      for (const m of db.query<{ environment: string; instance: string; node: string; launched: string }, []>("SELECT environment, instance, node, launched FROM environment_members").all()) {
        mapOf(members, m.environment).set(m.instance, { instance: m.instance, node: m.node, launched: JSON.parse(m.launched) as LaunchedWith });
      }
    });
  }
  return {
    get: (name) => {
      const row = rows.get(name);
      return row ? fromRow(row) : null;
    },
    list: () => [...rows.values()].map(fromRow).sort((a, b) => (a.name < b.name ? -1 : 1)),
    save(name, document) {
      guard("save", name, () => {
        const known = rows.get(name);
        if (!known && rows.size >= MAX_ENVIRONMENTS) throw new AppError("E_CONFLICT", `Cannot create environment "${name}": the master keeps at most ${MAX_ENVIRONMENTS}`);
        const ms = now();
        const row: EnvironmentRow = known ? { ...known, document, updated_ms: ms } : { name, document, created_ms: ms, updated_ms: ms, last_apply_ms: null, last_apply_ok: null };
        db?.query("INSERT INTO environments (name, document, created_ms, updated_ms) VALUES ($name, $document, $created, $updated) ON CONFLICT (name) DO UPDATE SET document = excluded.document, updated_ms = excluded.updated_ms").run({
          name,
          document,
          created: row.created_ms,
          updated: row.updated_ms,
        });
        rows.set(name, row);
      });
    },
    recordApply(name, ok) {
      guard("record the apply of", name, () => {
        const row = rows.get(name);
        if (!row) return;
        const ms = now();
        db?.query("UPDATE environments SET last_apply_ms = $ms, last_apply_ok = $ok WHERE name = $name").run({ name, ms, ok: ok ? 1 : 0 });
        rows.set(name, { ...row, last_apply_ms: ms, last_apply_ok: ok ? 1 : 0 });
      });
    },
    secrets(name, names) {
      return guard("keep the secrets of", name, () => {
        const kept = mapOf(secrets, name);
        const missing = names.filter((n) => !kept.has(n));
        if (missing.length > 0) {
          const fresh = missing.map((n) => [n, randomBytes(SECRET_BYTES).toString("hex")] as const);
          const insert = db?.query("INSERT INTO environment_secrets (environment, name, value) VALUES ($environment, $name, $value)");
          db?.transaction(() => {
            for (const [n, value] of fresh) insert!.run({ environment: name, name: n, value });
          })();
          for (const [n, value] of fresh) kept.set(n, value);
        }
        return new Map(names.map((n) => [n, kept.get(n)!]));
      });
    },
    members: (name) => [...(members.get(name)?.values() ?? [])],
    addMember(name, member) {
      guard("record a member of", name, () => {
        db?.query(
          "INSERT INTO environment_members (environment, instance, node, launched, since_ms) VALUES ($environment, $instance, $node, $launched, $since) ON CONFLICT (environment, instance) DO UPDATE SET node = excluded.node, launched = excluded.launched, since_ms = excluded.since_ms",
        ).run({ environment: name, instance: member.instance, node: member.node, launched: JSON.stringify(member.launched), since: now() });
        mapOf(members, name).set(member.instance, member);
      });
    },
    dropMember(name, instance) {
      guard("forget a member of", name, () => {
        db?.query("DELETE FROM environment_members WHERE environment = $environment AND instance = $instance").run({ environment: name, instance });
        members.get(name)?.delete(instance);
      });
    },
    forget(name) {
      guard("forget", name, () => {
        db?.query("DELETE FROM environments WHERE name = $name").run({ name });
        rows.delete(name);
        secrets.delete(name);
        members.delete(name);
      });
    },
  };
}

function mapOf<V>(maps: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let map = maps.get(key);
  if (!map) maps.set(key, (map = new Map()));
  return map;
}
