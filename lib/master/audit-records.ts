/**
 * What both homes of the audit trail share — the JSON-lines file
 * (audit-log.ts) and the SQLite table (audit-store.ts): how a record is
 * built and told to listeners, how a listing's limit is checked, and how a
 * JSON-lines file is read line by line (the file's own index, and the
 * table's one-time import).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { sanitizeParams } from "./audit-sanitize.ts";
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, type AuditEvent } from "../protocol/audit.ts";
import { AppError, errnoOf } from "../core/errors.ts";

const SCAN_CHUNK = 1 << 20;

/** The record `append` stores under `id` at `timeMs`: its params sanitized, nothing but the known fields. */
export function auditEvent(id: number, timeMs: number, record: Omit<AuditEvent, "id" | "time">): AuditEvent {
  const event: AuditEvent = {
    id,
    time: new Date(timeMs).toISOString(),
    requestId: record.requestId,
    phase: record.phase,
    token: record.token,
    action: record.action,
    node: record.node,
    instance: record.instance,
  };
  if (record.params !== undefined) event.params = sanitizeParams(record.params);
  if (record.result !== undefined) event.result = record.result;
  if (record.error !== undefined) event.error = { code: record.error.code, message: record.error.message };
  if (record.exitCode !== undefined) event.exitCode = record.exitCode;
  return event;
}

/** Tells each `onAppend` listener of a written record; one that throws does not stop the others. */
export function tell(listeners: Iterable<(event: AuditEvent) => void>, event: AuditEvent): void {
  for (const listener of listeners) {
    try {
      listener(event);
    } catch {
      // The record is written; a listener's fault is its own.
    }
  }
}

/** Checks a listing's limit (default {@link DEFAULT_LIST_LIMIT}). @throws AppError E_USAGE */
export function listLimit(limit: number = DEFAULT_LIST_LIMIT): number {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new AppError("E_USAGE", `Invalid limit ${limit}: expected a number between 1 and ${MAX_LIST_LIMIT}`);
  }
  return limit;
}

/**
 * Calls `line` with each line of the file at `path` (without its newline)
 * and where it starts, the last one even without a newline; reads in 1 MiB
 * chunks, so memory stays bounded whatever the file's size. An absent file
 * has no lines. @returns whether the file exists and ends mid-line.
 * @throws the read's error (a directory, permissions, I/O)
 */
export function forEachLine(path: string, line: (offset: number, bytes: Buffer) => void): { exists: boolean; torn: boolean } {
  let fd: number | null = null;
  try {
    fd = openSync(path, "r");
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
    // Read only up to the size seen now: a device such as /dev/full would never end.
    const chunk = Buffer.allocUnsafe(SCAN_CHUNK);
    let pos = 0;
    let carry = Buffer.alloc(0);
    while (pos < stat.size) {
      const n = readSync(fd, chunk, 0, Math.min(SCAN_CHUNK, stat.size - pos), pos);
      if (n === 0) break;
      const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      const base = pos - carry.length;
      let start = 0;
      for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
        line(base + start, data.subarray(start, nl));
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start));
      pos += n;
    }
    if (carry.length > 0) line(pos - carry.length, carry);
    return { exists: true, torn: carry.length > 0 };
  } catch (error) {
    const code = errnoOf(error);
    if (code === "ENOENT" || code === "ENOTDIR") return { exists: false, torn: false };
    throw error;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
