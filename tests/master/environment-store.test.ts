import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, type MasterDatabase } from "../../lib/master/database.ts";
import { createEnvironmentStore, SECRET_BYTES, type LaunchedWith } from "../../lib/master/environment-store.ts";

const dirs: string[] = [];
const opened: MasterDatabase[] = [];
afterEach(() => {
  opened.splice(0).forEach((db) => db.close());
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function open(path: string): MasterDatabase {
  const db = openDatabase(path);
  opened.push(db);
  return db;
}

function dbPath(): string {
  const d = mkdtempSync(join(tmpdir(), "mv-envs-"));
  dirs.push(d);
  return join(d, "master.db");
}

const launched: LaunchedWith = { image: "24.04", cpus: 1, memory: "1G", disk: null, networks: ["bridged"], cloudInit: null };

describe("the environment store", () => {
  test("documents, secrets and members survive a reopen; secrets are generated once", () => {
    const path = dbPath();
    let t = 1000;
    const store = createEnvironmentStore(open(path), () => t);
    store.save("lab", '{"name":"lab"}');
    const first = store.secrets("lab", ["token", "other"]);
    expect(first.get("token")).toMatch(new RegExp(`^[0-9a-f]{${SECRET_BYTES * 2}}$`));
    expect(first.get("token")).not.toBe(first.get("other"));
    store.addMember("lab", { instance: "lab-a", node: "n1", launched });
    t = 2000;
    store.save("lab", '{"name":"lab","v":2}');
    store.recordApply("lab", false);
    opened.pop()!.close();

    const again = createEnvironmentStore(open(path));
    expect(again.get("lab")).toEqual({ name: "lab", document: '{"name":"lab","v":2}', createdMs: 1000, updatedMs: 2000, lastApply: { ms: expect.any(Number), ok: false } });
    expect(again.secrets("lab", ["token"]).get("token")).toBe(first.get("token")!);
    expect(again.members("lab")).toEqual([{ instance: "lab-a", node: "n1", launched }]);
  });

  test("forget drops the document, its secrets and its members; a new environment of that name gets new secrets", () => {
    const path = dbPath();
    const store = createEnvironmentStore(open(path));
    store.save("lab", "{}");
    const before = store.secrets("lab", ["token"]).get("token");
    store.addMember("lab", { instance: "lab-a", node: "n1", launched });
    store.forget("lab");
    expect(store.get("lab")).toBeNull();
    expect(store.members("lab")).toEqual([]);
    const db = opened[0]!.db;
    expect(db.query("SELECT count(*) AS n FROM environment_secrets").get()).toEqual({ n: 0 });
    expect(db.query("SELECT count(*) AS n FROM environment_members").get()).toEqual({ n: 0 });
    store.save("lab", "{}");
    expect(store.secrets("lab", ["token"]).get("token")).not.toBe(before!);
  });

  test("a database that refuses a write fails the call with E_STORAGE and keeps nothing in memory", () => {
    const db = open(dbPath());
    const store = createEnvironmentStore(db);
    db.db.exec("DROP TABLE environment_members");
    expect(() => store.addMember("lab", { instance: "lab-a", node: "n1", launched })).toThrow(expect.objectContaining({ code: "E_STORAGE", message: expect.stringContaining('environment "lab"') }));
    expect(store.members("lab")).toEqual([]);
  });
});
