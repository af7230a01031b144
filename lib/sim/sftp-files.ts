/**
 * Single files through an SFTP session (src/ssh/sftp_client.cpp, 1.16): the
 * `-` streams and the file copies of push and pull. Bytes move in fixed-size
 * chunks, so memory stays the same for any file size, and a slow reader or
 * writer simply slows the copy. A copied file gets its source's permission
 * bits; a stream from stdin makes a new file 0664 (less the umask).
 */

import { chmodSync, closeSync, openSync, readSync, writeSync } from "node:fs";
import { errnoOf, localStatus, strerror } from "./fspath.ts";
import type { SftpSession } from "./sftp.ts";
import { attempt, remoteFileTarget, SftpError } from "./sftp-targets.ts";

/** stdout cannot be written any more (its reader went away): the copy stops without a message. */
export class OutputClosed extends Error {}

/** Bytes per read and write: memory stays at this, whatever the file size. */
const CHUNK = 256 * 1024;
/** The name a stream from stdin gets when its target is a directory. */
const STREAM_FILE_NAME = "stream_output.dat";

/** Reads up to `buffer.length` bytes; 0 at the end. */
export type Reader = (buffer: Buffer) => number;
/** Writes all of `bytes`. */
export type Writer = (bytes: Uint8Array) => void;

function retrying<T>(io: () => T): T {
  for (;;) {
    try {
      return io();
    } catch (error) {
      // A non-blocking stdin or stdout: wait for it as a blocking one would.
      if (errnoOf(error) !== "EAGAIN") throw error;
      Bun.sleepSync(1);
    }
  }
}

/** Reading from a file descriptor (a local file or stdin); throws the fs error. */
export function fdReader(fd: number): Reader {
  return (buffer) => retrying(() => readSync(fd, buffer, 0, buffer.length, null));
}

/** Writing to a file descriptor (a local file or stdout); throws the fs error. */
export function fdWriter(fd: number): Writer {
  return (bytes) => {
    for (let done = 0; done < bytes.length; ) done += retrying(() => writeSync(fd, bytes, done, bytes.length - done));
  };
}

/** do_pull_file: the remote file into `write` (which throws its own errors). */
function pullStream(session: SftpSession, source: string, write: Writer): void {
  const handle = attempt(() => session.openRead(source), (e) => `cannot open remote file ${source}: ${e}`);
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const count = attempt(() => session.read(handle, buffer), (e) => `cannot read from remote file ${source}: ${e}`);
      if (count === 0) return;
      write(buffer.subarray(0, count));
    }
  } finally {
    session.close(handle);
  }
}

/** do_push_file: `read` (which throws its own errors) into the remote file, created 0664 or truncated. */
function pushStream(session: SftpSession, read: Reader, target: string): void {
  const handle = attempt(() => session.openWrite(target), (e) => `cannot open remote file ${target}: ${e}`);
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const count = read(buffer);
      if (count === 0) return;
      attempt(() => session.write(handle, buffer.subarray(0, count)), (e) => `cannot write to remote file ${target}: ${e}`);
    }
  } finally {
    session.close(handle);
  }
}

/**
 * SFTPClient::pull_file: the local file is opened (created, truncated) first,
 * so a remote file that cannot be read leaves it empty, as upstream does.
 * @throws SftpError
 */
export function pullFile(session: SftpSession, source: string, target: string): void {
  let fd: number;
  try {
    fd = openSync(target, "w");
  } catch (error) {
    throw new SftpError(`cannot open local file ${target}: ${strerror(errnoOf(error))}`);
  }
  try {
    const write = fdWriter(fd);
    pullStream(session, source, (bytes) => {
      try {
        write(bytes);
      } catch (error) {
        throw new SftpError(`cannot write to local file ${target}: ${strerror(errnoOf(error))}`);
      }
    });
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(target, (session.stat(source)?.mode ?? 0o644) & 0o7777);
  } catch {
    throw new SftpError(`cannot set permissions for local file ${target}`);
  }
}

/** SFTPClient::push_file. @throws SftpError */
export function pushFile(session: SftpSession, source: string, target: string): void {
  let fd: number;
  try {
    fd = openSync(source, "r");
  } catch (error) {
    throw new SftpError(`cannot open local file ${source}: ${strerror(errnoOf(error))}`);
  }
  try {
    const read = fdReader(fd);
    pushStream(session, (buffer) => {
      try {
        return read(buffer);
      } catch (error) {
        throw new SftpError(`cannot read from local file ${source}: ${strerror(errnoOf(error))}`);
      }
    }, target);
  } finally {
    closeSync(fd);
  }
  const status = localStatus(source);
  const mode = "mode" in status ? status.mode : 0o644;
  attempt(() => session.chmod(target, mode), (e) => `cannot set permissions for remote file ${target}: ${e}`);
}

/** SFTPClient::from_cin: `read` into a remote file (no permissions copied). @throws SftpError */
export function fromStdin(session: SftpSession, read: Reader, target: string, makeParent: boolean): void {
  const full = remoteFileTarget(session, STREAM_FILE_NAME, target, makeParent);
  pushStream(session, (buffer) => {
    try {
      return read(buffer);
    } catch {
      // A failing std::cin just ends the stream.
      return 0;
    }
  }, full);
}

/** SFTPClient::to_cout: a remote file into `write`. @throws SftpError, or OutputClosed when `write` fails. */
export function toStdout(session: SftpSession, source: string, write: Writer): void {
  pullStream(session, source, (bytes) => {
    try {
      write(bytes);
    } catch {
      throw new OutputClosed();
    }
  });
}
