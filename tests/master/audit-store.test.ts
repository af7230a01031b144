import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditLog } from "../../lib/master/audit-log.ts";
import { createAuditStore } from "../../lib/master/audit-store.ts";
import { databasePath, MIGRATIONS, openDatabase, type MasterDatabase, type Migration } from "../../lib/master/database.ts";
import { clock, done, requested, T0 } from "../support/audit-records.ts";

const dirs: string[] = [];
const opened: MasterDatabase[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), "mv-store-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  opened.splice(0).forEach((db) => db.close());
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function open(path: string, migrations?: readonly Migration[]): MasterDatabase {
  const db = openDatabase(path, migrations);
  opened.push(db);
  return db;
}


describe("the master's database", () => {
  test("created 0600 in a 0700 directory, in WAL mode, at the newest schema", () => {
    const path = databasePath(join(dir(), "data"));
    const db = open(path);
    expect(db.version).toBe(MIGRATIONS.length);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, "..")).mode & 0o777).toBe(0o700);
    expect(db.db.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()?.journal_mode).toBe("wal");
  });

  test("migrations run once, in order, from the version the file has", () => {
    const path = join(dir(), "master.db");
    const steps: Migration[] = [
      { version: 1, what: "one", sql: "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);" },
      { version: 2, what: "two", sql: "ALTER TABLE a ADD COLUMN y TEXT; UPDATE a SET y = 'moved';" },
    ];
    open(path, steps.slice(0, 1)).close();
    opened.pop();
    const db = open(path, steps);
    expect(db.version).toBe(2);
    expect(db.db.query("SELECT x, y FROM a").all()).toEqual([{ x: 1, y: "moved" }]);
    db.close();
    opened.pop();
    // Opening again runs nothing more: the row is not inserted twice.
    expect(open(path, steps).db.query("SELECT count(*) AS n FROM a").get()).toEqual({ n: 1 });
  });

  test("a failing migration leaves the file at the last good version, and says which step failed", () => {
    const path = join(dir(), "master.db");
    const steps: Migration[] = [
      { version: 1, what: "one", sql: "CREATE TABLE a (x INTEGER);" },
      { version: 2, what: "broken step", sql: "CREATE TABLE b (y INTEGER); THIS IS NOT SQL;" },
    ];
    expect(() => open(path, steps)).toThrow(expect.objectContaining({ code: "E_STORAGE", message: expect.stringContaining("to version 2 (broken step)") }));
    const raw = new Database(path);
    expect(raw.query("PRAGMA user_version").get()).toEqual({ user_version: 1 });
    expect(raw.query("SELECT name FROM sqlite_master WHERE name = 'b'").all()).toEqual([]);
    raw.close();
  });

  test("a file from a newer master is refused and left as it is", () => {
    const path = join(dir(), "master.db");
    const raw = new Database(path, { create: true });
    raw.exec(`PRAGMA user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    expect(() => open(path)).toThrow(expect.objectContaining({ code: "E_STORAGE", message: expect.stringContaining("newer than this master's") }));
    const again = new Database(path);
    expect(again.query("PRAGMA user_version").get()).toEqual({ user_version: MIGRATIONS.length + 1 });
    again.close();
  });

  test("a file that is not a database is E_STORAGE", () => {
    const path = join(dir(), "master.db");
    writeFileSync(path, "this is not sqlite ".repeat(100));
    expect(() => open(path)).toThrow(expect.objectContaining({ code: "E_STORAGE" }));
  });

  test("numbered steps: a gap is a programming error", () => {
    expect(() => open(join(dir(), "master.db"), [{ version: 2, what: "x", sql: "" }])).toThrow(expect.objectContaining({ code: "E_INTERNAL" }));
  });
});

describe("the audit trail in the database", () => {
  test("appends with increasing ids, sanitized, listed back in order, across reopening", () => {
    const path = join(dir(), "master.db");
    const first = createAuditStore({ database: open(path), now: clock() });
    const a = first.append(requested("r1", "start", { name: "vm1", token: "s3cr3t-s3cr3t-s3cr3t" }));
    const b = first.append(done("r1"));
    expect(a).toMatchObject({ id: 1, time: "2024-05-01T12:00:00.000Z", params: { name: "vm1" } });
    expect(a.params).toEqual({ name: "vm1" });
    expect(first.list()).toEqual([a, b]);
    opened.splice(0).forEach((db) => db.close());
    const second = createAuditStore({ database: open(path), now: clock(T0 + 3_600_000) });
    expect(second.list()).toEqual([a, b]);
    expect(second.append(requested("r2")).id).toBe(3);
  });

  test.each([
    ["through the time index", undefined],
    ["walking ids down", 1],
  ])("since (time or id) and limit behave as the file's do, a stepped-back clock included (%s)", (_plan, timeIndexCap) => {
    const times = [T0, T0 + 60_000, T0 + 120_000, T0 + 60_000, T0 + 240_000];
    const log = createAuditStore({ database: open(join(dir(), "master.db")), now: () => times.shift()!, ...(timeIndexCap ? { timeIndexCap } : {}) });
    for (let i = 1; i <= 5; i++) log.append(requested(`r${i}`));
    expect(log.list({ since: "2024-05-01T12:01:00Z" }).map((e) => e.id)).toEqual([2, 3, 4, 5]);
    expect(log.list({ since: "2024-05-01T12:02:00Z" }).map((e) => e.id)).toEqual([3, 5]);
    expect(log.list({ since: "3" }).map((e) => e.id)).toEqual([4, 5]);
    expect(log.list({ limit: 2 }).map((e) => e.id)).toEqual([4, 5]);
    expect(log.list({ since: "0", limit: 3 }).map((e) => e.id)).toEqual([3, 4, 5]);
    for (const since of ["", "yesterday", "-1", "2024-05-01T12:00:00"]) {
      expect(() => log.list({ since })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    }
    for (const limit of [0, 10_001, 1.5]) expect(() => log.list({ limit })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
  });

  test("calls left unfinished are the requested records without a done when opened", () => {
    const path = join(dir(), "master.db");
    const first = createAuditStore({ database: open(path), now: clock() });
    first.append(requested("ended"));
    first.append(requested("killed-1", "launch"));
    first.append(done("ended"));
    first.append(requested("killed-2", "exec"));
    expect(first.interrupted()).toEqual([]);
    opened.splice(0).forEach((db) => db.close());
    const second = createAuditStore({ database: open(path), now: clock() });
    expect(second.interrupted().map((e) => [e.id, e.requestId])).toEqual([
      [2, "killed-1"],
      [4, "killed-2"],
    ]);
  });

  test("an older master's events.jsonl is imported once with its ids, then kept aside", () => {
    const d = dir();
    const jsonl = join(d, "events.jsonl");
    const old = createAuditLog({ path: jsonl, now: clock() });
    old.append(requested("a"));
    old.append(done("a"));
    old.append(requested("b", "launch"));
    writeFileSync(jsonl, "{torn line\n", { flag: "a" });
    const before = old.list();
    const warnings: string[] = [];
    const store = createAuditStore({ database: open(join(d, "master.db")), importFrom: jsonl, now: clock(T0 + 86_400_000), warn: (m) => warnings.push(m) });
    expect(store.list()).toEqual(before);
    expect(store.interrupted().map((e) => e.requestId)).toEqual(["b"]);
    expect(store.append(requested("c")).id).toBe(4);
    expect(existsSync(jsonl)).toBe(false);
    expect(existsSync(`${jsonl}.imported`)).toBe(true);
    expect(warnings.join("\n")).toContain("imported 3 record(s)");
    expect(warnings.join("\n")).toContain("skipped 1 line(s)");
    // A file appearing again later is not imported over the trail.
    writeFileSync(jsonl, `${JSON.stringify({ ...before[0], id: 99 })}\n`);
    opened.splice(0).forEach((db) => db.close());
    const again = createAuditStore({ database: open(join(d, "master.db")), importFrom: jsonl });
    expect(again.list().map((e) => e.id)).toEqual([1, 2, 3, 4]);
  });

  test("onAppend hears each record once written; a listener that throws fails nothing", () => {
    const log = createAuditStore({ database: open(join(dir(), "master.db")) });
    const heard: number[] = [];
    log.onAppend(() => {
      throw new Error("careless listener");
    });
    const off = log.onAppend((e) => heard.push(e.id));
    log.append(requested("r1"));
    off();
    log.append(requested("r2"));
    expect(heard).toEqual([1]);
    expect(log.list()).toHaveLength(2);
  });

  test("a write that fails (read-only database) is E_STORAGE and consumes no id", () => {
    const path = join(dir(), "master.db");
    const database = open(path);
    const log = createAuditStore({ database });
    log.append(requested("r1"));
    database.db.exec("PRAGMA query_only = ON");
    expect(() => log.append(requested("r2"))).toThrow(expect.objectContaining({ code: "E_STORAGE" }));
    database.db.exec("PRAGMA query_only = OFF");
    expect(log.append(requested("r2")).id).toBe(2);
  });
});
