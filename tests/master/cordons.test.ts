/**
 * The cordon store: kept in the master's database across restarts, idempotent,
 * and a change that cannot be stored changes nothing.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCordonStore } from "../../lib/master/cordons.ts";
import { databasePath, openDatabase, type MasterDatabase } from "../../lib/master/database.ts";
import { parseCordonRequest, parseCordonView } from "../../lib/protocol/cordon.ts";

const dirs: string[] = [];
const open: MasterDatabase[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), "mv-cordons-"));
  dirs.push(d);
  return d;
}
function database(dir: string): MasterDatabase {
  const db = openDatabase(databasePath(dir), undefined, { busyTimeoutMs: 10 });
  open.push(db);
  return db;
}
const T0 = Date.parse("2026-12-01T10:00:00.000Z");

describe("cordons", () => {
  test("a cordon and its reason survive a restart (the same database opened again); uncordoning too", () => {
    const dir = dataDir();
    const first = createCordonStore(database(dir), () => T0);
    expect(first.get("n2")).toBeNull();
    expect(first.cordon("n2", "disk swap")).toEqual({ cordon: { since: "2026-12-01T10:00:00.000Z", reason: "disk swap" }, changed: true });
    first.cordon("n3", null);
    const second = createCordonStore(database(dir));
    expect(second.get("n2")).toEqual({ since: "2026-12-01T10:00:00.000Z", reason: "disk swap" });
    expect(second.get("n3")).toEqual({ since: "2026-12-01T10:00:00.000Z", reason: null });
    expect(second.uncordon("n2")).toBe(true);
    expect(second.uncordon("n2")).toBe(false);
    expect(createCordonStore(database(dir)).get("n2")).toBeNull();
  });

  test("cordoning again keeps the time; a new reason replaces the old, none keeps it; listeners hear only changes", () => {
    let now = T0;
    const store = createCordonStore(database(dataDir()), () => now);
    let heard = 0;
    store.onChange(() => heard++);
    store.cordon("n1", "first");
    now += 60_000;
    expect(store.cordon("n1", null)).toEqual({ cordon: { since: "2026-12-01T10:00:00.000Z", reason: "first" }, changed: false });
    expect(store.cordon("n1", "second")).toEqual({ cordon: { since: "2026-12-01T10:00:00.000Z", reason: "second" }, changed: true });
    store.uncordon("n1");
    store.uncordon("n1");
    expect(heard).toBe(3);
  });

  test("a change that cannot be stored changes nothing and names the database", () => {
    const dir = dataDir();
    const store = createCordonStore(database(dir), () => T0);
    store.cordon("n1", null);
    const other = database(dir);
    other.db.exec("BEGIN EXCLUSIVE");
    try {
      expect(() => store.cordon("n2", null)).toThrow(/Cannot cordon node "n2" in ".*master\.db": database is locked/);
      expect(() => store.uncordon("n1")).toThrow(/Cannot uncordon node "n1"/);
    } finally {
      other.db.exec("ROLLBACK");
    }
    expect(store.get("n2")).toBeNull();
    expect(store.get("n1")).not.toBeNull();
    expect(createCordonStore(database(dir)).get("n2")).toBeNull();
  });

  test("in memory only without a database", () => {
    const store = createCordonStore(null, () => T0);
    store.cordon("n1", "x");
    expect(store.get("n1")?.reason).toBe("x");
  });
});

describe("the cordon wire", () => {
  test("a body: empty, a reason, or none; a bad reason is a usage error", () => {
    expect(parseCordonRequest({})).toEqual({ reason: null });
    expect(parseCordonRequest({ reason: "kernel upgrade" })).toEqual({ reason: "kernel upgrade" });
    expect(parseCordonRequest({ reason: "" })).toEqual({ reason: null });
    expect(parseCordonRequest({ reason: null })).toEqual({ reason: null });
    expect(() => parseCordonRequest({ reason: "a\u001b[31mred" })).toThrow(expect.objectContaining({ code: "E_USAGE", message: "Invalid cordon reason: it contains a control character" }));
    expect(() => parseCordonRequest({ reason: "x".repeat(257) })).toThrow("Invalid cordon reason: at most 256 characters, got 257");
    expect(() => parseCordonRequest({ reason: 5 })).toThrow();
    expect(() => parseCordonRequest([])).toThrow();
  });

  test("a view", () => {
    expect(parseCordonView({ since: "2026-12-01T10:00:00.000Z", reason: null }, "c")).toEqual({ since: "2026-12-01T10:00:00.000Z", reason: null });
    expect(() => parseCordonView({ since: 1 }, "c")).toThrow();
  });
});
