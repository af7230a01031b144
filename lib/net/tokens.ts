/**
 * The two secrets of a cluster: the join token (workers) and the API token
 * (clients). They are different so that a stolen worker credential cannot
 * drive the client API and a client cannot impersonate a node.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppError, messageOf } from "../core/errors.ts";

export type TokenKind = "join" | "api";

const PREFIX: Record<TokenKind, string> = { join: "mvj_", api: "mva_" };

/** A fresh token: a kind prefix and 256 random bits, URL-safe. */
export function generateToken(kind: TokenKind): string {
  return PREFIX[kind] + randomBytes(32).toString("base64url");
}

/** The kind a token looks like, from its prefix; null for foreign tokens. */
export function tokenKind(token: string): TokenKind | null {
  if (token.startsWith(PREFIX.join)) return "join";
  if (token.startsWith(PREFIX.api)) return "api";
  return null;
}

/** A short, stable, non-secret id of a token for audit records. */
export function tokenId(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 12);
}

/**
 * Compares a presented token with the expected one in constant time. Both are
 * hashed first so that neither the length nor the content leaks through timing.
 */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Where the master keeps a token. */
export function tokenPath(dataDir: string, kind: TokenKind): string {
  return join(dataDir, `${kind}-token`);
}

/**
 * Reads the token of `kind` from the data dir, creating it (mode 0600) on
 * first use. `override` (from the environment) wins and is never written.
 * @throws AppError when the file exists but is empty or unreadable.
 */
export function loadOrCreateToken(
  dataDir: string,
  kind: TokenKind,
  override?: string,
): { token: string; source: "env" | "file" | "created"; path: string } {
  const path = tokenPath(dataDir, kind);
  if (override !== undefined && override !== "") {
    if (override.length < 16) throw new AppError("E_USAGE", `The ${kind} token from the environment is too short (at least 16 characters)`);
    return { token: override, source: "env", path };
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    const token = readFileSync(path, "utf8").trim();
    if (token === "") throw new AppError("E_USAGE", `The ${kind} token file "${path}" is empty; delete it to create a new token`);
    chmodSync(path, 0o600);
    return { token, source: "file", path };
  }
  const token = generateToken(kind);
  writeFileSync(path, token + "\n", { mode: 0o600, flag: "wx" });
  return { token, source: "created", path };
}

/** Reads a token file (for `--token-file`), trimmed. @throws AppError E_USAGE */
export function readTokenFile(path: string): string {
  try {
    const token = readFileSync(path, "utf8").trim();
    if (token === "") throw new Error("the file is empty");
    return token;
  } catch (error) {
    throw new AppError("E_USAGE", `Cannot read token file "${path}": ${messageOf(error)}`);
  }
}
