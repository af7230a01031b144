/**
 * The two secrets of a cluster: the join token (workers) and the API token
 * (clients). They are different so that a stolen worker credential cannot
 * drive the client API and a client cannot impersonate a node.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { AppError, errnoOf, messageOf } from "../core/errors.ts";

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
 * A token file that is empty or blank is what a write cut short by an older
 * version left (a full disk at first start): no token was ever handed out
 * from it, so it is treated as absent and replaced.
 * @throws AppError E_STORAGE when the file cannot be read or written.
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
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const existing = readExisting(path);
    if (existing !== null) {
      chmodSync(path, 0o600);
      return { token: existing, source: "file", path };
    }
    const token = generateToken(kind);
    writeAtomically(path, token + "\n");
    return { token, source: "created", path };
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError("E_STORAGE", `Cannot create the ${kind} token "${path}": ${messageOf(error)}`, { cause: error });
  }
}

/** The token in `path`, or null when there is none: no file, or an empty one. */
function readExisting(path: string): string | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return null;
    throw error;
  }
  const token = text.trim();
  return token === "" ? null : token;
}

/**
 * Writes `path` whole or not at all: a temporary file in the same directory
 * (mode 0600 from its creation), flushed to disk, then renamed over `path`,
 * so a full disk or a crash never leaves a partial or empty file (a token, a
 * key) behind. @throws the file system's error; nothing is left behind then.
 */
export function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.${randomBytes(8).toString("hex")}.tmp`;
  let fd: number | null = null;
  try {
    fd = openSync(temporary, "wx", 0o600);
    const bytes = Buffer.from(text);
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temporary, path);
  } catch (error) {
    if (fd !== null) closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  syncDirectory(dirname(path));
}

/** Makes a rename in `dir` durable; some filesystems refuse to sync a directory, which costs only durability. */
function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Not every platform can open or sync a directory.
  }
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
