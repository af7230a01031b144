import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
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

  test("an empty or blank token file (a write an older version cut short) is treated as absent and replaced", () => {
    for (const content of ["", "\n", "  \n"]) {
      const d = dir();
      writeFileSync(join(d, "join-token"), content, { mode: 0o644 });
      const t = loadOrCreateToken(d, "join");
      expect(t.source).toBe("created");
      expect(tokenKind(t.token)).toBe("join");
      expect(readFileSync(t.path, "utf8")).toBe(t.token + "\n");
      expect(statSync(t.path).mode & 0o777).toBe(0o600);
      expect(loadOrCreateToken(d, "join")).toEqual({ token: t.token, source: "file", path: t.path });
    }
  });

  test("tokens are written through a temporary file renamed into place: nothing else is left in the data dir", () => {
    const d = dir();
    loadOrCreateToken(d, "join");
    loadOrCreateToken(d, "api");
    expect(readdirSync(d).sort()).toEqual(["api-token", "join-token"]);
  });

  test.skipIf(process.getuid?.() === 0)("a data dir that cannot be written leaves no token file and says why", () => {
    const d = dir();
    chmodSync(d, 0o500);
    try {
      expect(() => loadOrCreateToken(d, "join")).toThrow(/Cannot create the join token/);
      expect(readdirSync(d)).toEqual([]);
    } finally {
      chmodSync(d, 0o700);
    }
  });

  test("comparison and ids", () => {
    expect(tokensEqual("abc", "abc")).toBe(true);
    expect(tokensEqual("abc", "abd")).toBe(false);
    expect(tokensEqual("abc", "abcd")).toBe(false);
    expect(tokenId("secret")).toMatch(/^[0-9a-f]{12}$/);
    expect(tokenId("secret")).not.toContain("secret");
  });
});
