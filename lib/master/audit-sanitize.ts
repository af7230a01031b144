/**
 * What of a request's parameters the audit trail may keep: secret-looking
 * keys dropped, token-looking values and credentials in URLs redacted,
 * documents (cloud-init) and long strings kept only as their size and SHA-256.
 */
import { createHash } from "node:crypto";
import { tokenKind } from "../net/tokens.ts";

/** Strings longer than this (cloud-init, …) are recorded as `{ bytes, sha256 }`. */
export const MAX_PARAM_STRING = 256;

const SECRET_KEY = /token|secret|passw|credential|authorization|private.?key|api.?key/i;
/** Documents a user hands over (a cloud-init may set passwords): only their size and hash are kept, whatever their length. */
const DOCUMENT_KEY = /cloud.?init|user.?data|stdin/i;
/** The user:password@ of a URL (an image from a private server). */
const URL_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i;
const MAX_PARAM_DEPTH = 8;

/**
 * Params safe to keep: secret-looking keys dropped, token-looking values
 * redacted, credentials in URLs redacted, documents and long strings hashed.
 */
export function sanitizeParams(params: Record<string, unknown>): Record<string, unknown> {
  return sanitizeObject(params, 0);
}

function sanitizeObject(params: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(params)) {
    if (SECRET_KEY.test(key)) continue;
    const clean = typeof value === "string" && DOCUMENT_KEY.test(key) ? digest(value) : sanitizeValue(value, depth + 1);
    if (clean !== undefined) out[key] = clean;
  }
  return out;
}

function sanitizeValue(value: unknown, depth: number): unknown {
  if (typeof value === "string") {
    if (tokenKind(value) !== null) return "[redacted]";
    if (value.length > MAX_PARAM_STRING) return digest(value);
    return value.replace(URL_USERINFO, "$1[redacted]@");
  }
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "boolean" || value === null) return value;
  if (typeof value !== "object") return undefined;
  if (depth > MAX_PARAM_DEPTH) return "[too deep]";
  if (Array.isArray(value)) return value.map((item) => sanitizeValue(item, depth + 1) ?? null);
  return sanitizeObject(Object.fromEntries(Object.entries(value)), depth);
}

function digest(value: string): { bytes: number; sha256: string } {
  return { bytes: Buffer.byteLength(value), sha256: createHash("sha256").update(value).digest("hex") };
}
