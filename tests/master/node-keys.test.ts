/**
 * The keys pinned to node names: trust on first use, kept across restarts,
 * forgotten only when asked, refused to another key meanwhile.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "../../lib/core/errors.ts";
import { databasePath, openDatabase, type MasterDatabase } from "../../lib/master/database.ts";
import { loadNodeKeys, nodeKeysPath } from "../../lib/master/node-keys.ts";
import { Registry } from "../../lib/master/registry.ts";
import { generateNodeKey } from "../../lib/net/node-key.ts";
import { resources } from "../support/in-process.ts";

const dirs: string[] = [];
const open: MasterDatabase[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
/** The database of `dir`, opened again as a restarted master does. */
function database(dir: string): MasterDatabase {
  const db = openDatabase(databasePath(dir));
  open.push(db);
  return db;
}
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), "mv-keys-"));
  dirs.push(d);
  return d;
}
const K1 = generateNodeKey().key.publicKey;
const K2 = generateNodeKey().key.publicKey;

describe("node keys", () => {
  test("the first key of a name is pinned; the same key again is known; another is refused", () => {
    const keys = loadNodeKeys(null);
    expect(keys.get("n1")).toBeNull();
    expect(keys.pin("n1", K1)).toBe("pinned");
    expect(keys.pin("n1", K1)).toBe("known");
    expect(keys.pin("n1", K2)).toBe("other");
    expect(keys.get("n1")).toBe(K1);
  });

  test("pins survive a restart of the master (the same database opened again), and so does forgetting", () => {
    const dir = dataDir();
    const first = loadNodeKeys(database(dir));
    first.pin("n1", K1);
    first.pin("n2", K2);
    const second = loadNodeKeys(database(dir));
    expect(second.pin("n1", K2)).toBe("other");
    expect(second.get("n2")).toBe(K2);
    expect(second.forget("n1")).toBe(true);
    expect(second.forget("n1")).toBe(false);
    const third = loadNodeKeys(database(dir));
    expect(third.get("n1")).toBeNull();
    expect(third.pin("n1", K2)).toBe("pinned");
  });

  test("an older master's node-keys.json is imported once, then kept aside", () => {
    const dir = dataDir();
    const path = nodeKeysPath(dir);
    writeFileSync(path, JSON.stringify({ nodes: { n1: { publicKey: K1, pinnedAt: "2026-01-02T03:04:05.000Z" }, n2: { publicKey: K2, pinnedAt: "2026-01-02T03:04:06.000Z" } } }));
    const warnings: string[] = [];
    const keys = loadNodeKeys(database(dir), Date.now, { importFrom: path, warn: (m) => warnings.push(m) });
    expect([keys.get("n1"), keys.get("n2")]).toEqual([K1, K2]);
    expect(warnings).toEqual([`Node keys: imported 2 pin(s) from "${path}" (now ${path}.imported)`]);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.imported`)).toBe(true);
    const db = database(dir);
    expect(db.db.query("SELECT node, pinned_ms FROM node_keys ORDER BY node").all()).toEqual([
      { node: "n1", pinned_ms: Date.parse("2026-01-02T03:04:05.000Z") },
      { node: "n2", pinned_ms: Date.parse("2026-01-02T03:04:06.000Z") },
    ]);
    // A file that shows up again later is not read: the table is the truth now.
    writeFileSync(path, JSON.stringify({ nodes: { n3: { publicKey: K1, pinnedAt: "x" } } }));
    expect(loadNodeKeys(db, Date.now, { importFrom: path }).get("n3")).toBeNull();
  });

  test("a damaged file to import stops the master with what to do, rather than forgetting every node; nothing is imported", () => {
    const dir = dataDir();
    const path = nodeKeysPath(dir);
    for (const text of ["{not json", JSON.stringify({ nodes: { n1: { publicKey: "short", pinnedAt: "x" } } }), JSON.stringify({ nodes: { "../x": { publicKey: K1, pinnedAt: "x" } } })]) {
      writeFileSync(path, text);
      let caught: unknown;
      try {
        loadNodeKeys(database(dir), Date.now, { importFrom: path });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(AppError);
      expect(caught).toMatchObject({ code: "E_STORAGE", message: expect.stringContaining("remove it to forget every node's key") });
      expect(existsSync(path)).toBe(true);
      expect(database(dir).db.query("SELECT count(*) AS n FROM node_keys").get()).toEqual({ n: 0 });
    }
  });

  test("a pin that cannot be saved is not made, and a key that cannot be forgotten stays", () => {
    const dir = dataDir();
    const keys = loadNodeKeys(database(dir));
    expect(keys.pin("n1", K1)).toBe("pinned");
    const other = database(dir);
    other.db.exec("BEGIN EXCLUSIVE");
    try {
      expect(() => keys.pin("n2", K2)).toThrow(/Cannot save the key of node "n2" in ".*master\.db": database is locked/);
      expect(() => keys.forget("n1")).toThrow(/Cannot forget the key of node "n1"/);
    } finally {
      other.db.exec("ROLLBACK");
    }
    expect(keys.get("n2")).toBeNull();
    expect(keys.get("n1")).toBe(K1);
    expect(loadNodeKeys(database(dir)).get("n1")).toBe(K1);
  });
});

describe("the registry and the pins", () => {
  const snapshot = { multipassVersion: null, multipassError: null, resources, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instances: [] };
  function registryWith(db: MasterDatabase | null) {
    let now = 0;
    const registry = new Registry({ now: () => now, heartbeatMs: 100, downGraceMs: 1000, nodeKeys: loadNodeKeys(db) });
    const join = (name: string, key: string) => {
      registry.keys.pin(name, key);
      return registry.join({ id: `${name}-id`, name, address: "127.0.0.1:1", version: "t", agentToken: "s", agentCert: null, snapshot, close: () => {} });
    };
    return { registry, join, at: (t: number) => (now = t) };
  }

  test("removing a node forgets its key, so another host may take the name", () => {
    const dir = dataDir();
    const { registry, join } = registryWith(database(dir));
    join("n1", K1);
    registry.disconnect("n1-id", "n1");
    expect(registry.remove("n1", { force: false }).state).toBe("Down");
    expect(registry.keys.get("n1")).toBeNull();
    expect(loadNodeKeys(database(dir)).get("n1")).toBeNull();
  });

  test("a node dropped at the end of its grace keeps its pin; removing it then forgets the key", () => {
    const { registry, join, at } = registryWith(null);
    join("n1", K1);
    registry.disconnect("n1-id", "n1");
    at(5000);
    expect(registry.sweep()).toContainEqual({ name: "n1", from: "Down", to: "Removed" });
    expect(registry.get("n1")).toBeUndefined();
    expect(registry.keys.pin("n1", K2)).toBe("other");
    expect(registry.remove("n1", { force: false })).toEqual({ entry: null, state: "Down" });
    expect(registry.keys.pin("n1", K2)).toBe("pinned");
    expect(() => registry.remove("nobody", { force: false })).toThrow(/Node "nobody" is not part of the cluster/);
  });

  test("a live node is not removed without force, and keeps its key", () => {
    const { registry, join } = registryWith(null);
    join("n1", K1);
    expect(() => registry.remove("n1", { force: false })).toThrow(/\(--force\)/);
    expect(registry.keys.get("n1")).toBe(K1);
  });
});

test("the table names each node and its key, nothing secret", () => {
  const dir = dataDir();
  loadNodeKeys(database(dir)).pin("n1", K1);
  const text = JSON.stringify(database(dir).db.query("SELECT * FROM node_keys").all());
  expect(text).toContain(K1);
  expect(text).not.toContain("PRIVATE");
});
