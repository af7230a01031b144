/**
 * O_EXCL lock files shared by state.lock and daemon.busy: create one with its
 * content, look at one, and break one that its own staleness rule calls stale
 * without ever removing a lock that a live process has just taken.
 */

import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";

/** What a lock file holds and how old it is. */
export interface LockFileInfo {
  readonly content: string;
  readonly ino: number;
  /** ms since the file was last written. */
  readonly age: number;
}

/**
 * Creates `path` exclusively and writes `content` into it.
 * @returns false when the file already exists.
 * @throws the fs error for anything but EEXIST.
 */
export function tryCreate(path: string, content: string): boolean {
  try {
    const fd = openSync(path, "wx");
    writeSync(fd, content);
    closeSync(fd);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

/** The lock file's content, inode and age, or null when there is none. */
export function lockFileInfo(path: string): LockFileInfo | null {
  try {
    const stat = statSync(path);
    return { content: readFileSync(path, "utf8"), ino: stat.ino, age: Date.now() - stat.mtimeMs };
  } catch {
    return null;
  }
}

export function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone: someone else cleaned it up.
  }
}

/**
 * Removes `path` if `isStale` says so. A second O_EXCL "breaker" file
 * serialises breakers, and the lock is re-checked under it, so a lock freshly
 * taken by a live process is never removed by someone who saw the old, dead one.
 * A breaker file left by a dead breaker is itself judged by the pid it holds.
 */
export function breakStaleLock(path: string, isStale: (info: LockFileInfo) => boolean): void {
  const seen = lockFileInfo(path);
  if (seen === null || !isStale(seen)) return;
  const breaker = `${path}.break`;
  if (!tryCreate(breaker, String(process.pid))) {
    const other = lockFileInfo(breaker);
    if (other !== null && isStalePidFile(other)) unlinkQuietly(breaker);
    return;
  }
  try {
    const now = lockFileInfo(path);
    if (now !== null && now.ino === seen.ino && now.content === seen.content && isStale(now)) unlinkQuietly(path);
  } finally {
    unlinkQuietly(breaker);
  }
}

/** Whether a process with this pid exists (EPERM means it does, owned by someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Nothing holds a pid lock longer than a few ms, so an old one belongs to a stuck or recycled pid. */
const PID_LOCK_MAX_AGE_MS = 10_000;
/** A lock file is empty only between its creation and its write. */
const EMPTY_LOCK_GRACE_MS = 2_000;

/** The rule of a short-held lock file that holds a pid: stale when old, empty for too long, or its pid is dead. */
export function isStalePidFile(info: LockFileInfo): boolean {
  if (info.age > PID_LOCK_MAX_AGE_MS) return true;
  const pid = Number(info.content);
  if (info.content.trim() === "" || !Number.isSafeInteger(pid) || pid <= 0) return info.age > EMPTY_LOCK_GRACE_MS;
  return !isAlive(pid);
}
