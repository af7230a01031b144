/**
 * Where a transferred file or directory lands (src/ssh/sftp_utils.cpp, 1.16):
 * the local and remote file and directory targets, `--parents`, and the
 * SFTPError texts, with their paths printed as upstream's fmt calls print them.
 */

import { mkdirSync } from "node:fs";
import { errnoOf, fileName, joinPath, localExists, localIsDirectory, localStatus, parentPath, pathElements, quotePath, strerror } from "./fspath.ts";
import { SftpFailure, type SftpSession } from "./sftp.ts";

/** upstream's SFTPError: one failed step, logged as `[sftp]` or printed as it is, depending on the caller. */
export class SftpError extends Error {}

/** Runs one SFTP request; a failure becomes the SftpError `message(<ssh error>)`. */
export function attempt<T>(request: () => T, message: (sshError: string) => string): T {
  try {
    return request();
  } catch (error) {
    if (error instanceof SftpFailure) throw new SftpError(message(error.message));
    throw error;
  }
}

/** `fs::create_directory(p, ec)`: the error text, or null (an existing directory is fine). */
export function createDirectory(path: string): string | null {
  try {
    mkdirSync(path);
    return null;
  } catch (error) {
    const code = errnoOf(error);
    if (code === "EEXIST" && localStatus(path).kind === "dir") return null;
    return strerror(code);
  }
}

/** `fs::create_directories(p, ec)`: the error text, or null. */
function createDirectories(path: string): string | null {
  const status = localStatus(path);
  if (status.kind === "dir") return null;
  if (status.kind !== "missing" && status.kind !== "error") return strerror("ENOTDIR");
  try {
    mkdirSync(path, { recursive: true });
    return null;
  } catch (error) {
    return strerror(errnoOf(error));
  }
}

/** get_local_file_target: the file a pulled `source` is written to. */
export function localFileTarget(source: string, target: string, makeParent: boolean): string {
  const found = localExists(target);
  if (!found.exists && found.error === null) {
    const parent = parentPath(target) === "" ? "." : parentPath(target);
    const created = makeParent ? createDirectories(parent) : null;
    if (created !== null) throw new SftpError(`cannot create local directory ${parent}: ${created}`);
    const above = localExists(parent);
    if (above.exists) return target;
    throw new SftpError(above.error !== null ? `cannot access ${parent}: ${above.error}` : "local target does not exist");
  }
  if (found.error !== null) throw new SftpError(`cannot access ${target}: ${found.error}`);
  if (!localIsDirectory(target).dir) return target;
  const full = joinPath(target, fileName(source));
  const inside = localIsDirectory(full);
  if (inside.dir) throw new SftpError(`cannot overwrite local directory ${full} with non-directory`);
  if (inside.error !== null && inside.error !== strerror("ENOENT")) throw new SftpError(`cannot access ${full}: ${inside.error}`);
  return full;
}

/** get_local_dir_target: the directory a pulled directory `source` becomes (created here). */
export function localDirTarget(source: string, target: string, makeParent: boolean): string {
  const checkDirectory = (path: string): boolean => {
    const found = localExists(path);
    if (found.exists && !localIsDirectory(path).dir) throw new SftpError(`cannot overwrite local non-directory ${path} with directory`);
    if (found.error !== null) throw new SftpError(`cannot access ${path}: ${found.error}`);
    return found.exists;
  };
  if (!checkDirectory(target)) {
    const created = makeParent ? createDirectories(target) : createDirectory(target);
    if (created !== null) throw new SftpError(`cannot create local directory ${target}: ${created}`);
    return target;
  }
  const child = joinPath(target, fileName(source));
  checkDirectory(child);
  const created = createDirectory(child);
  if (created !== null) throw new SftpError(`cannot create local directory ${child}: ${created}`);
  return child;
}

/** SFTPUtils::mkdir_recursive: each partial path (`a`, `a/b`, …) made a directory unless it is one. */
export function mkdirRecursive(session: SftpSession, path: string): void {
  const elements = pathElements(path);
  let partial = "";
  elements.forEach((element, i) => {
    partial = i === 0 ? element : `${partial}/${element}`;
    const attributes = session.lstat(partial);
    if (attributes !== null && attributes.type !== "directory") {
      throw new SftpError(`cannot overwrite remote non-directory ${quotePath(partial)} with directory`);
    }
    if (attributes === null) {
      const current = partial;
      attempt(() => session.mkdir(current), (e) => `cannot create remote directory ${quotePath(current)}: ${e}`);
    }
  });
}

/** get_remote_file_target: the file a pushed `source` (or stdin) is written to. */
export function remoteFileTarget(session: SftpSession, source: string, target: string, makeParent: boolean): string {
  let full = target === "" ? fileName(source) : target;
  const attributes = session.stat(full);
  if (attributes === null) {
    const parent = parentPath(full) === "" ? "." : parentPath(full);
    if (makeParent) mkdirRecursive(session, parent);
    if (session.stat(parent) !== null) return full;
    throw new SftpError("remote target does not exist");
  }
  if (attributes.type !== "directory") return full;
  full = `${full}/${fileName(source)}`;
  if (session.stat(full)?.type === "directory") {
    throw new SftpError(`cannot overwrite remote directory ${quotePath(full)} with non-directory`);
  }
  return full;
}

/** get_remote_dir_target: the directory a pushed directory `source` becomes (created here). */
export function remoteDirTarget(session: SftpSession, source: string, target: string, makeParent: boolean): string {
  const attributes = session.stat(target);
  if (attributes !== null && attributes.type !== "directory") {
    throw new SftpError(`cannot overwrite remote non-directory ${target} with directory`);
  }
  if (attributes === null) {
    if (makeParent) mkdirRecursive(session, target);
    else attempt(() => session.mkdir(target), (e) => `cannot create remote directory ${target}: ${e}`);
    return target;
  }
  const child = `${target}/${fileName(source)}`;
  const inside = session.stat(child);
  if (inside !== null && inside.type !== "directory") {
    throw new SftpError(`cannot overwrite remote non-directory ${quotePath(child)} with directory`);
  }
  if (inside === null) attempt(() => session.mkdir(child), (e) => `cannot create remote directory ${quotePath(child)}: ${e}`);
  return child;
}
