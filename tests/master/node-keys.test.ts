/**
 * The keys pinned to node names: trust on first use, kept across restarts,
 * forgotten only when asked, refused to another key meanwhile.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "../../lib/core/errors.ts";
import { loadNodeKeys, nodeKeysPath } from "../../lib/master/node-keys.ts";
import { Registry } from "../../lib/master/registry.ts";
import { generateNodeKey } from "../../lib/net/node-key.ts";
import { resources } from "../support/in-process.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
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

  test("pins survive a restart of the master (a new store on the same file), and so does forgetting", () => {
    const path = nodeKeysPath(dataDir());
    const first = loadNodeKeys(path);
    first.pin("n1", K1);
    first.pin("n2", K2);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const second = loadNodeKeys(path);
    expect(second.pin("n1", K2)).toBe("other");
    expect(second.get("n2")).toBe(K2);
    expect(second.forget("n1")).toBe(true);
    expect(second.forget("n1")).toBe(false);
    const third = loadNodeKeys(path);
    expect(third.get("n1")).toBeNull();
    expect(third.pin("n1", K2)).toBe("pinned");
  });

  test("a damaged file stops the master with what to do, rather than forgetting every node", () => {
    const path = nodeKeysPath(dataDir());
    for (const text of ["{not json", JSON.stringify({ nodes: { n1: { publicKey: "short", pinnedAt: "x" } } }), JSON.stringify({ nodes: { "../x": { publicKey: K1, pinnedAt: "x" } } })]) {
      writeFileSync(path, text);
      let caught: unknown;
      try {
        loadNodeKeys(path);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(AppError);
      expect(caught).toMatchObject({ code: "E_STORAGE", message: expect.stringContaining("remove it to forget every node's key") });
    }
  });

  test("a pin that cannot be saved is not made", () => {
    const dir = dataDir();
    const path = join(dir, "missing-dir", "node-keys.json");
    const keys = loadNodeKeys(path);
    expect(() => keys.pin("n1", K1)).toThrow(/Cannot save the node keys/);
    expect(keys.get("n1")).toBeNull();
  });
});

describe("the registry and the pins", () => {
  const snapshot = { multipassVersion: null, multipassError: null, resources, allocated: { cpus: 0, memory: 0, disk: 0, unknown: 0 }, instances: [] };
  function registryWith(path: string | null) {
    let now = 0;
    const registry = new Registry({ now: () => now, heartbeatMs: 100, downGraceMs: 1000, nodeKeys: loadNodeKeys(path) });
    const join = (name: string, key: string) => {
      registry.keys.pin(name, key);
      return registry.join({ id: `${name}-id`, name, address: "127.0.0.1:1", version: "t", agentToken: "s", agentCert: null, snapshot, close: () => {} });
    };
    return { registry, join, at: (t: number) => (now = t) };
  }

  test("removing a node forgets its key, so another host may take the name", () => {
    const path = nodeKeysPath(dataDir());
    const { registry, join } = registryWith(path);
    join("n1", K1);
    registry.disconnect("n1-id", "n1");
    expect(registry.remove("n1", { force: false }).state).toBe("Down");
    expect(registry.keys.get("n1")).toBeNull();
    expect(loadNodeKeys(path).get("n1")).toBeNull();
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

test("the pin file names each node and its key, nothing secret", () => {
  const path = nodeKeysPath(dataDir());
  loadNodeKeys(path).pin("n1", K1);
  const text = readFileSync(path, "utf8");
  expect(text).toContain(K1);
  expect(text).not.toContain("PRIVATE");
});
