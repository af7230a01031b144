/**
 * The worker's node key: created once (mode 0600), the same key at every
 * later start, per node name; a file that is not a key is left alone.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyNodeSignature } from "../../lib/net/node-key.ts";
import { identityPath, loadOrCreateIdentity } from "../../lib/worker/identity.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), "mv-identity-"));
  dirs.push(d);
  return join(d, "data");
}

test("the key is created on first start, private to its owner, and the same key at the next", () => {
  const dir = dataDir();
  const first = loadOrCreateIdentity(dir, "n1");
  expect(first.created).toBe(true);
  expect(first.path).toBe(identityPath(dir, "n1"));
  expect(statSync(first.path).mode & 0o777).toBe(0o600);
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  expect(readFileSync(first.path, "utf8")).toContain("BEGIN PRIVATE KEY");
  // Written whole: no temporary file is left beside it.
  expect(readdirSync(dir)).toEqual(["worker-n1.key"]);
  const again = loadOrCreateIdentity(dir, "n1");
  expect(again.created).toBe(false);
  expect(again.key.publicKey).toBe(first.key.publicKey);
  expect(verifyNodeSignature(first.key.publicKey, "text", again.key.sign("text"))).toBe(true);
  expect(verifyNodeSignature(first.key.publicKey, "other text", again.key.sign("text"))).toBe(false);
  // Another node name on the same host is another node.
  expect(loadOrCreateIdentity(dir, "n2").key.publicKey).not.toBe(first.key.publicKey);
});

test("a key file that is not an Ed25519 key stops the worker and is left for its owner", () => {
  const dir = dataDir();
  loadOrCreateIdentity(dir, "n1");
  writeFileSync(identityPath(dir, "n1"), "garbage");
  expect(() => loadOrCreateIdentity(dir, "n1")).toThrow(/is not a private key in PEM/);
  expect(readFileSync(identityPath(dir, "n1"), "utf8")).toBe("garbage");
});
