/**
 * The audit trail: one durable record before and one after every mutating
 * call. The {@link AuditLog} contract is here; the master keeps the trail in
 * its database (audit-store.ts, issue 15). `createAuditLog` is the older home,
 * append-only JSON lines (`<data-dir>/events.jsonl`, mode 0600), the format
 * audit-store.ts imports once from an older master; tests/bench/audit.ts
 * measures the two side by side.
 *
 * Storage choice: the file is scanned once on open into an in-memory index of
 * `{ id, time, byte offset, length }` (a few dozen bytes per record, so ~100k
 * records cost a few MB); `list` walks that index from the newest end and
 * reads only the lines it returns, in one `pread` per contiguous run. The
 * master must be the file's only writer while it runs (no rotation in place).
 */
import { closeSync, fchmodSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { auditEvent, forEachLine, listLimit, tell } from "./audit-records.ts";
import { parseAuditEvent, parseEventsSince, type AuditEvent } from "../protocol/audit.ts";
import { AppError, errnoOf, messageOf } from "../core/errors.ts";
import { parseJson } from "../core/parse.ts";

export interface AuditLog {
  /**
   * Appends one record (its params passed through {@link sanitizeParams})
   * durably, written and fsync'ed, before returning it with its id and time.
   * A failed append consumes no id, unless the partly written record could
   * not be cut off the file again; then its id is skipped, never reused.
   * @throws AppError E_STORAGE when it cannot be written (unwritable dir, disk full), naming the file.
   */
  append(record: Omit<AuditEvent, "id" | "time">): AuditEvent;
  /**
   * Records in id order. `since` is an ISO time with a zone (records at or
   * after it) or an event id as a decimal string (records with a greater id);
   * `limit` caps the count (default 1000, max 10000), keeping the newest.
   * @throws AppError E_USAGE for a bad since/limit; E_STORAGE when the file cannot be read back.
   */
  list(options?: { since?: string; limit?: number }): AuditEvent[];
  /**
   * The "requested" records that had no "done" when the log was opened: calls
   * a master stopped or was killed in the middle of (reconcile.ts settles
   * them), in id order. @throws AppError E_STORAGE when the file cannot be read back.
   */
  interrupted(): AuditEvent[];
  /**
   * Calls `listener` with every record appended from now on, once it is on
   * disk (the watch stream's audit events). Called synchronously inside
   * `append`: a listener must only take note; one that throws does not stop
   * the others nor fail the append.
   * @returns a function that removes the listener.
   */
  onAppend(listener: (event: AuditEvent) => void): () => void;
}

interface IndexEntry {
  id: number;
  timeMs: number;
  /** Byte offset of the line in the file, and its length without the newline. */
  offset: number;
  length: number;
}

const REASONS: Record<string, string> = {
  ENOSPC: "the disk is full",
  EDQUOT: "the disk quota is exceeded",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EROFS: "the file system is read-only",
  ENOTDIR: "a part of its path is not a directory",
  EEXIST: "its directory's path is taken by a file",
  EISDIR: "it is a directory",
  ENOENT: "its directory does not exist",
  EIO: "an I/O error occurred",
};

function storageError(doing: string, path: string, error: unknown): AppError {
  const code = errnoOf(error);
  const why = code === null ? messageOf(error) : `${REASONS[code] ?? messageOf(error)} (${code})`;
  return new AppError("E_STORAGE", `The master cannot ${doing} its audit log "${path}": ${why}`, { cause: error });
}


/** What the open log knows of its file. */
interface LogState {
  entries: IndexEntry[];
  nextId: number;
  exists: boolean;
  /** The file ends in a partial line: the next record must start on a new one. */
  torn: boolean;
}

/**
 * Opens the audit log at `path`, reading any existing file to index it and
 * find the last id. Lines that do not parse (a torn last line after a crash,
 * damage) are skipped and reported through `warn`; so are ids that do not
 * increase. Nothing is created until the first append.
 * @throws AppError E_STORAGE when the file exists but cannot be read.
 */
export function createAuditLog(options: { path: string; now?: () => number; warn?: (message: string) => void }): AuditLog {
  const { path } = options;
  const now = options.now ?? Date.now;
  const { skipped, open, ...scanned } = scan(path);
  const state: LogState = scanned;
  const interrupted = [...open.values()].sort((a, b) => a.offset - b.offset);
  if (skipped > 0) options.warn?.(`Audit log "${path}": skipped ${skipped} line(s) that could not be read`);
  const listeners = new Set<(event: AuditEvent) => void>();

  return {
    append(record) {
      const event = auditEvent(state.nextId, now(), record);
      const lead = state.torn ? "\n" : "";
      const line = JSON.stringify(event);
      const start = writeDurably(path, state, Buffer.from(lead + line + "\n"));
      if (!state.exists) syncDirectory(dirname(path));
      state.exists = true;
      state.torn = false;
      state.nextId = event.id + 1;
      state.entries.push({ id: event.id, timeMs: Date.parse(event.time), offset: start + lead.length, length: Buffer.byteLength(line) });
      tell(listeners, event);
      return event;
    },

    list(listOptions = {}) {
      const limit = listLimit(listOptions.limit);
      const since = listOptions.since === undefined ? null : parseEventsSince(listOptions.since);
      const picked: IndexEntry[] = [];
      for (let i = state.entries.length - 1; i >= 0 && picked.length < limit; i--) {
        const entry = state.entries[i]!;
        if (since?.kind === "id" && entry.id <= since.id) break;
        // Not a break: the clock may have stepped back, so times need not increase with ids.
        if (since?.kind === "time" && entry.timeMs < since.ms) continue;
        picked.push(entry);
      }
      return readEntries(path, picked.reverse());
    },

    interrupted: () => readEntries(path, interrupted),

    onAppend(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** A scanned file: its state, the lines skipped, and the requests without an end by request id. */
type Scanned = LogState & { skipped: number; open: Map<string, IndexEntry> };

/**
 * Indexes the file at `path` as it is now (an absent file is an empty log),
 * with the "requested" records that have no "done" by request id.
 * @throws AppError E_STORAGE
 */
function scan(path: string): Scanned {
  const state: Scanned = { entries: [], open: new Map(), nextId: 1, exists: false, torn: false, skipped: 0 };
  const index = (offset: number, bytes: Buffer) => {
    if (bytes.length === 0) return;
    try {
      const event = parseAuditEvent(parseJson(bytes.toString("utf8"), "line"));
      if (event.id >= state.nextId) {
        const entry = { id: event.id, timeMs: Date.parse(event.time), offset, length: bytes.length };
        state.entries.push(entry);
        state.nextId = event.id + 1;
        if (event.phase === "requested") state.open.set(event.requestId, entry);
        else state.open.delete(event.requestId);
        return;
      }
    } catch {
      // counted below
    }
    state.skipped++;
  };

  try {
    const read = forEachLine(path, index);
    state.exists = read.exists;
    state.torn = read.torn;
  } catch (error) {
    throw storageError("read", path, error);
  }
  return state;
}

function openForAppend(path: string): number {
  try {
    return openSync(path, "a", 0o600);
  } catch (error) {
    if (errnoOf(error) !== "ENOENT") throw error;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    return openSync(path, "a", 0o600);
  }
}

/**
 * Writes `bytes` at the end and fsyncs; returns where they start. On failure
 * the file is cut back when possible; when not, `state` learns that an id is
 * used up and whether the file now ends mid-line.
 */
function writeDurably(path: string, state: LogState, bytes: Buffer): number {
  let fd: number;
  try {
    fd = openForAppend(path);
  } catch (error) {
    throw storageError("write", path, error);
  }
  let start = 0;
  let written = 0;
  try {
    const stat = fstatSync(fd);
    start = stat.size;
    if (stat.isFile() && (stat.mode & 0o777) !== 0o600) fchmodSync(fd, 0o600);
    while (written < bytes.length) {
      const n = writeSync(fd, bytes, written, bytes.length - written);
      if (n <= 0) throw new Error("the write made no progress");
      written += n;
    }
    fsyncSync(fd);
    return start;
  } catch (error) {
    if (written > 0) {
      try {
        ftruncateSync(fd, start);
      } catch {
        // Part of the record stays in the file: it must never share an id with a later record.
        state.nextId++;
        state.torn = bytes[written - 1] !== 10;
      }
    }
    throw storageError("write", path, error);
  } finally {
    closeSync(fd);
  }
}

/** Makes a new file's directory entry durable; best effort, as not every system can fsync a directory. */
function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // The record itself is on disk; only the new name might not survive a power cut.
  }
}

/** Reads the lines of `entries` (in file order), one read per contiguous run. */
function readEntries(path: string, entries: IndexEntry[]): AuditEvent[] {
  if (entries.length === 0) return [];
  const events: AuditEvent[] = [];
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw storageError("read", path, error);
  }
  try {
    let i = 0;
    while (i < entries.length) {
      let j = i;
      while (j + 1 < entries.length && entries[j + 1]!.offset === entries[j]!.offset + entries[j]!.length + 1) j++;
      const first = entries[i]!;
      const end = entries[j]!.offset + entries[j]!.length;
      const buffer = Buffer.alloc(end - first.offset);
      let got = 0;
      while (got < buffer.length) {
        const n = readSync(fd, buffer, got, buffer.length - got, first.offset + got);
        if (n === 0) break;
        got += n;
      }
      for (const entry of entries.slice(i, j + 1)) {
        const at = entry.offset - first.offset;
        events.push(parseStored(buffer.toString("utf8", at, at + entry.length), path, entry));
      }
      i = j + 1;
    }
  } catch (error) {
    throw error instanceof AppError ? error : storageError("read", path, error);
  } finally {
    closeSync(fd);
  }
  return events;
}

function parseStored(text: string, path: string, entry: IndexEntry): AuditEvent {
  try {
    const event = parseAuditEvent(parseJson(text, "line"));
    if (event.id === entry.id) return event;
  } catch {
    // reported below
  }
  throw new AppError("E_STORAGE", `The audit log "${path}" changed under the master: event ${entry.id} at byte ${entry.offset} no longer reads back`);
}
