/**
 * push and pull of transfer (src/ssh/sftp_client.cpp, 1.16): a file or, with
 * `-r`, a directory tree, between this host and an instance. Directories get
 * their source's permission bits after their contents are in, deepest first;
 * symbolic links are copied as links, never followed inside a tree. Each
 * failure is logged as an `[error] [sftp]` line and the copy goes on with the
 * next entry; push and pull then return false.
 */

import { chmodSync, lstatSync, readdirSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { errnoOf, joinPath, localIsDirectory, localStatus, quotePath, strerror, trimSlashes } from "./fspath.ts";
import { SftpFailure, type SftpSession } from "./sftp.ts";
import { pullFile, pushFile } from "./sftp-files.ts";
import { attempt, createDirectory, localDirTarget, localFileTarget, remoteDirTarget, remoteFileTarget, SftpError } from "./sftp-targets.ts";
import type { TransferFlags } from "./transfer-args.ts";

/** Returned by a step whose failure was logged. */
const FAILED = Symbol("failed");

/** An SFTP client on one session; `log` prints one `[error] [sftp]` line. */
export class SftpClient {
  constructor(
    private readonly session: SftpSession,
    private readonly log: (message: string) => void,
  ) {}

  /** Runs one step of a copy; an SftpError is logged and gives FAILED. */
  private guarded<T>(step: () => T): T | typeof FAILED {
    try {
      return step();
    } catch (error) {
      if (!(error instanceof SftpError)) throw error;
      this.log(error.message);
      return FAILED;
    }
  }

  /** SFTPClient::pull: one remote file or (with -r) tree into `target`. */
  pull(sourcePath: string, target: string, flags: TransferFlags): boolean {
    const source = trimSlashes(sourcePath);
    const result = this.guarded(() => {
      if (this.session.stat(sourcePath)?.type === "directory") {
        if (!flags.recursive) throw new SftpError(`omitting remote directory ${sourcePath}: recursive mode not specified`);
        const full = localDirTarget(source, target, flags.parents);
        return this.pullDir(source, full, this.remoteDirectory(source));
      }
      pullFile(this.session, source, localFileTarget(source, target, flags.parents));
      return true;
    });
    return result === true;
  }

  private remoteDirectory(path: string): string[] {
    return attempt(() => this.session.readdir(path), (e) => `cannot open remote directory '${path}': ${e}`);
  }

  private pullDir(source: string, target: string, rootNames: string[]): boolean {
    let ok = true;
    const modes: Array<[string, number]> = [[target, this.session.stat(source)?.mode ?? 0o755]];
    const visit = (dir: string, names: string[]): void => {
      for (const name of names) {
        const remote = `${dir}/${name}`;
        const attributes = this.session.lstat(remote);
        if (attributes === null) continue;
        const local = joinPath(target, remote.slice(source.length + 1));
        if (attributes.type === "directory") {
          // The tree walk opens a directory as it meets it: one it cannot open is skipped whole.
          const children = this.guarded(() => this.remoteDirectory(remote));
          if (children === FAILED) {
            ok = false;
            continue;
          }
          const made = this.guarded(() => {
            const error = createDirectory(local);
            if (error !== null) throw new SftpError(`cannot create local directory ${local}: ${error}`);
            modes.push([local, attributes.mode]);
          });
          ok = made !== FAILED && ok;
          visit(remote, children);
          continue;
        }
        ok = this.guarded(() => this.pullEntry(remote, local, attributes.type)) !== FAILED && ok;
      }
    };
    visit(source, rootNames);
    for (const [path, mode] of modes.reverse()) {
      try {
        chmodSync(path, mode & 0o7777);
      } catch {
        this.log(`cannot set permissions for local directory ${path}`);
        ok = false;
      }
    }
    return ok;
  }

  private pullEntry(remote: string, local: string, type: string): void {
    if (type === "regular") return pullFile(this.session, remote, local);
    if (type !== "symlink") throw new SftpError(`cannot copy "${remote}": not a regular file`);
    const link = attempt(() => this.session.readlink(remote), (e) => `cannot read remote link "${remote}": ${e}`);
    if (localIsDirectory(local).dir) throw new SftpError(`cannot overwrite local directory ${local} with non-directory`);
    try {
      rmSync(local, { force: true });
      symlinkSync(link, local);
    } catch (error) {
      throw new SftpError(`cannot create local symlink ${local}: ${strerror(errnoOf(error))}`);
    }
  }

  /** SFTPClient::push: one local file or (with -r) tree into `target` in the instance. */
  push(sourcePath: string, target: string, flags: TransferFlags): boolean {
    const source = trimSlashes(sourcePath);
    const result = this.guarded(() => {
      const local = localIsDirectory(sourcePath);
      if (local.dir) {
        if (!flags.recursive) throw new SftpError(`omitting local directory ${sourcePath}: recursive mode not specified`);
        const full = remoteDirTarget(this.session, source, target, flags.parents);
        let names: string[];
        try {
          names = readdirSync(source);
        } catch (error) {
          throw new SftpError(`cannot open local directory ${source}: ${strerror(errnoOf(error))}`);
        }
        return this.pushDir(source, full, names);
      }
      if (local.error !== null) throw new SftpError(`cannot access ${sourcePath}: ${local.error}`);
      pushFile(this.session, source, remoteFileTarget(this.session, source, target, flags.parents));
      return true;
    });
    return result === true;
  }

  private pushDir(source: string, target: string, rootNames: string[]): boolean {
    let ok = true;
    const rootStatus = localStatus(source);
    const modes: Array<[string, number]> = [[target, "mode" in rootStatus ? rootStatus.mode : 0o755]];
    const visit = (dir: string, names: string[]): void => {
      for (const name of names) {
        const local = joinPath(dir, name);
        const remote = target + local.slice(source.length);
        let stat: ReturnType<typeof lstatSync>;
        try {
          stat = lstatSync(local);
        } catch {
          continue;
        }
        if (stat.isDirectory()) {
          const made = this.guarded(() => {
            try {
              this.session.mkdir(remote);
            } catch (error) {
              if (!(error instanceof SftpFailure)) throw error;
              if (!error.exists) throw new SftpError(`cannot create remote directory ${quotePath(remote)}: ${error.message}`);
            }
            modes.push([remote, stat.mode]);
          });
          ok = made !== FAILED && ok;
          let children: string[];
          try {
            children = readdirSync(local);
          } catch (error) {
            // std::filesystem's tree iterator throws here, past the per-entry handling: the transfer of this instance ends.
            throw new Error(`filesystem error: cannot increment recursive directory iterator: ${strerror(errnoOf(error))}`);
          }
          visit(local, children);
          continue;
        }
        ok = this.guarded(() => this.pushEntry(local, remote, stat)) !== FAILED && ok;
      }
    };
    visit(source, rootNames);
    for (const [path, mode] of modes.reverse()) {
      const set = this.guarded(() =>
        attempt(() => this.session.chmod(path, mode), (e) => `cannot set permissions for remote directory ${path}: ${e}`),
      );
      ok = set !== FAILED && ok;
    }
    return ok;
  }

  private pushEntry(local: string, remote: string, stat: { isFile(): boolean; isSymbolicLink(): boolean }): void {
    if (stat.isFile()) return pushFile(this.session, local, remote);
    if (!stat.isSymbolicLink()) throw new SftpError(`cannot copy ${local}: not a regular file`);
    let link: string;
    try {
      link = readlinkSync(local);
    } catch (error) {
      throw new SftpError(`cannot read local link ${local}: ${strerror(errnoOf(error))}`);
    }
    if (this.session.lstat(remote)?.type === "directory") {
      throw new SftpError(`cannot overwrite remote directory ${quotePath(remote)} with non-directory`);
    }
    attempt(
      () => {
        this.session.unlinkIfPresent(remote);
        this.session.symlink(link, remote);
      },
      (e) => `cannot create remote symlink ${quotePath(remote)}: ${e}`,
    );
  }
}
