/**
 * One master per data dir: an exclusive lock file holding the owner's pid.
 * Two masters on one dir would both append to the audit trail and hand out
 * duplicate event ids. A lock whose pid is gone (a killed master) is stale
 * and taken over; so is one with our own pid, which can only be a previous
 * run's (a container restarted with the same pid).
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { AppError, errnoOf, messageOf } from "../core/errors.ts";

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

/** Whether a process with `pid` exists (signal 0 checks without signalling). */
export type PidAlive = (pid: number) => boolean;

/**
 * Takes the lock of `dataDir` for `pid`.
 * @throws AppError E_CONFLICT when a live process holds it; E_STORAGE when
 *   the lock file cannot be written or read.
 */
export function lockDataDir(dataDir: string, pid: number, alive: PidAlive): DataDirLock {
  const path = join(dataDir, "master.lock");
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    for (let attempt = 0; attempt < 3; attempt++) {
      if (create(path, pid)) return handle(path, pid);
      const owner = ownerOf(path);
      if (owner !== null && owner !== pid && alive(owner)) {
        throw new AppError("E_CONFLICT", `Another master (pid ${owner}) is using the data dir "${dataDir}"; stop it, or give this one another --data-dir`);
      }
      // Stale: its master is gone. Another starter may race us here; `create` decides.
      rmSync(path, { force: true });
    }
    throw new AppError("E_CONFLICT", `Cannot take the lock "${path}": another master keeps taking it`);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError("E_STORAGE", `Cannot lock the data dir "${dataDir}": ${messageOf(error)}`, { cause: error });
  }
}

function create(path: string, pid: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (error) {
    if (errnoOf(error) === "EEXIST") return false;
    throw error;
  }
  try {
    writeSync(fd, `${pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** The pid in a lock file; null when it is unreadable, empty or gone (a starter cut short). */
function ownerOf(path: string): number | null {
  try {
    const text = readFileSync(path, "utf8").trim();
    return /^\d{1,10}$/.test(text) ? Number(text) : null;
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return null;
    throw error;
  }
}

function handle(path: string, pid: number): DataDirLock {
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      try {
        if (ownerOf(path) === pid) rmSync(path, { force: true });
      } catch {
        // A lock left behind is stale once this process is gone, and taken over then.
      }
    },
  };
}

/** The default {@link PidAlive}: `kill(pid, 0)`; EPERM means it exists under another user. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) === "EPERM";
  }
}
