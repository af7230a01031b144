import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateToken, loadOrCreateToken, tokenId, tokenKind, tokensEqual } from "../../lib/net/tokens.ts";

const dirs: string[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), "mv-tokens-"));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("tokens", () => {
  test("generated tokens carry their kind and at least 128 random bits", () => {
    const a = generateToken("join");
    const b = generateToken("join");
    expect(a).not.toBe(b);
    expect(tokenKind(a)).toBe("join");
    expect(tokenKind(generateToken("api"))).toBe("api");
    expect(tokenKind("something-else")).toBeNull();
    expect(Buffer.from(a.slice(4), "base64url").length * 8).toBeGreaterThanOrEqual(128);
  });

  test("created once with mode 0600, then read back", () => {
    const d = dir();
    const first = loadOrCreateToken(d, "api");
    expect(first.source).toBe("created");
    expect(statSync(first.path).mode & 0o777).toBe(0o600);
    const again = loadOrCreateToken(d, "api");
    expect(again).toEqual({ token: first.token, source: "file", path: first.path });
    expect(readFileSync(first.path, "utf8").trim()).toBe(first.token);
  });

  test("the environment overrides and nothing is written", () => {
    const d = dir();
    const t = loadOrCreateToken(d, "join", "from-the-environment-123");
    expect(t).toMatchObject({ token: "from-the-environment-123", source: "env" });
    expect(() => statSync(join(d, "join-token"))).toThrow();
    expect(() => loadOrCreateToken(d, "join", "short")).toThrow(/too short/);
  });

  test("an empty token file is an error, not a silent new token", () => {
    const d = dir();
    writeFileSync(join(d, "api-token"), "\n");
    expect(() => loadOrCreateToken(d, "api")).toThrow(/is empty/);
  });

  test("comparison and ids", () => {
    expect(tokensEqual("abc", "abc")).toBe(true);
    expect(tokensEqual("abc", "abd")).toBe(false);
    expect(tokensEqual("abc", "abcd")).toBe(false);
    expect(tokenId("secret")).toMatch(/^[0-9a-f]{12}$/);
    expect(tokenId("secret")).not.toContain("secret");
  });
});
