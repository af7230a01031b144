/**
 * The guest's SFTP server as transfer sees it (OpenSSH's sftp-server, protocol
 * 3, reached through libssh): file operations on the instance's files, with
 * failures reported as libssh's `ssh_get_error` text, `SFTP server: <status>`,
 * where the status is what sftp-server maps the errno to (`No such file`,
 * `Permission denied`, `Bad message`, `Operation unsupported`, else `Failure`).
 *
 * Paths are the guest's: relative ones are relative to the session's working
 * directory, the home, and `/home/ubuntu/…` is the home too; other absolute
 * paths are this host's (the stand-in has no guest root file system). `~` is
 * not expanded: sftp-server takes `~/x` as a relative path under a directory
 * named `~`, as upstream transfer does.
 */

import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, statSync, symlinkSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { errnoOf } from "./fspath.ts";
import { guestPathToHost, type InstanceFiles } from "./homes.ts";

/** SFTP file types of the attributes sftp-server sends. */
export type SftpType = "regular" | "directory" | "symlink" | "special";

/** The attributes of one file: its type and st_mode. */
export interface SftpAttributes {
  readonly type: SftpType;
  readonly mode: number;
}

/** A failed SFTP request: `message` is ssh_get_error's text; `exists` is libssh's FILE_ALREADY_EXISTS after mkdir. */
export class SftpFailure extends Error {
  constructor(
    message: string,
    readonly exists = false,
  ) {
    super(message);
  }
}

/** sftp-server's errno_to_portable, then its status message, as libssh reports it. */
export function sftpMessage(code: string | undefined): string {
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
    case "EBADF":
    case "ELOOP":
      return "SFTP server: No such file";
    case "EPERM":
    case "EACCES":
    case "EFAULT":
      return "SFTP server: Permission denied";
    case "ENAMETOOLONG":
    case "EINVAL":
      return "SFTP server: Bad message";
    case "ENOSYS":
      return "SFTP server: Operation unsupported";
    default:
      return "SFTP server: Failure";
  }
}

function fail(error: unknown): never {
  throw new SftpFailure(sftpMessage(errnoOf(error)));
}

function typeOf(stat: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): SftpType {
  if (stat.isSymbolicLink()) return "symlink";
  return stat.isFile() ? "regular" : stat.isDirectory() ? "directory" : "special";
}

/**
 * One SFTP session into an instance. Every method throws SftpFailure where
 * sftp-server answers with an error status. `mountPoints` are the host paths
 * of the instance's mount links (homes.ts): a guest sees a mounted directory
 * there, not a symbolic link.
 */
export class SftpSession {
  constructor(
    private readonly files: InstanceFiles,
    private readonly mountPoints: ReadonlySet<string> = new Set(),
  ) {}

  /** Where a guest path lives on this host. */
  hostPath(path: string): string {
    const plain = path.replace(/\/{2,}/g, "/");
    if (plain === "~" || plain.startsWith("~/")) return join(this.files.home, plain);
    return guestPathToHost(this.files, plain);
  }

  /** SSH_FXP_STAT (follows symlinks); null when it fails. */
  stat(path: string): SftpAttributes | null {
    try {
      const stat = statSync(this.hostPath(path));
      return { type: typeOf(stat), mode: stat.mode };
    } catch {
      return null;
    }
  }

  /** SSH_FXP_LSTAT; null when it fails. */
  lstat(path: string): SftpAttributes | null {
    try {
      const host = this.hostPath(path);
      const stat = lstatSync(host);
      if (stat.isSymbolicLink() && this.mountPoints.has(host.replace(/\/+$/, ""))) return this.stat(path);
      return { type: typeOf(stat), mode: stat.mode };
    } catch {
      return null;
    }
  }

  /** sftp_mkdir; an existing path fails with `exists` set (libssh lstat()s after sftp-server's plain Failure). */
  mkdir(path: string, mode = 0o777): void {
    try {
      mkdirSync(this.hostPath(path), { mode });
    } catch (error) {
      throw new SftpFailure(sftpMessage(errnoOf(error)), this.lstat(path) !== null);
    }
  }

  /** sftp_open for reading; returns the handle (an fd). */
  openRead(path: string): number {
    try {
      return openSync(this.hostPath(path), "r");
    } catch (error) {
      return fail(error);
    }
  }

  /** sftp_open with O_WRONLY | O_CREAT | O_TRUNC and mode 0664 (the session's umask applies). */
  openWrite(path: string): number {
    try {
      return openSync(this.hostPath(path), "w", 0o664);
    } catch (error) {
      return fail(error);
    }
  }

  /** sftp_read: bytes read into `buffer`, 0 at the end. */
  read(handle: number, buffer: Buffer): number {
    try {
      return readSync(handle, buffer, 0, buffer.length, null);
    } catch (error) {
      return fail(error);
    }
  }

  /** sftp_write of all of `bytes`. */
  write(handle: number, bytes: Uint8Array): void {
    try {
      for (let done = 0; done < bytes.length; ) done += writeSync(handle, bytes, done, bytes.length - done);
    } catch (error) {
      fail(error);
    }
  }

  close(handle: number): void {
    try {
      closeSync(handle);
    } catch {
      // Closing a handle cannot fail in a way transfer reports.
    }
  }

  /** sftp_chmod (SSH_FXP_SETSTAT with permissions). */
  chmod(path: string, mode: number): void {
    try {
      chmodSync(this.hostPath(path), mode & 0o7777);
    } catch (error) {
      fail(error);
    }
  }

  /** The names in a directory (sftp_opendir + sftp_readdir), `.` and `..` left out. */
  readdir(path: string): string[] {
    try {
      return readdirSync(this.hostPath(path));
    } catch (error) {
      return fail(error);
    }
  }

  readlink(path: string): string {
    try {
      return readlinkSync(this.hostPath(path));
    } catch (error) {
      return fail(error);
    }
  }

  /** sftp_unlink; a missing file is not an error. */
  unlinkIfPresent(path: string): void {
    try {
      unlinkSync(this.hostPath(path));
    } catch (error) {
      if (errnoOf(error) !== "ENOENT") fail(error);
    }
  }

  symlink(target: string, path: string): void {
    try {
      symlinkSync(target, this.hostPath(path));
    } catch (error) {
      fail(error);
    }
  }
}
