/**
 * One copy session from the client (`multiverse cp`, issue 14): a WebSocket
 * on the session wire to a copy-in or copy-out route, with flow control
 * both ways. What goes up (a tar, or stdin's bytes) is sent no faster than
 * the master takes it (SEND_BACKLOG_BYTES); what comes down is handed to an
 * async consumer, and the socket is not read while more than that bound
 * waits for it. Resolves once the socket has closed, with the remote status
 * and, when there is one, why it failed.
 */
import { AppError, messageOf, toAppError } from "../core/errors.ts";
import { DEFAULT_LIVENESS } from "../net/liveness.ts";
import { CopyStderr } from "../protocol/copy.ts";
import { CHANNEL_STDERR, CHANNEL_STDOUT, parseSessionControl, SEND_BACKLOG_BYTES, SESSION_CLOSE } from "../protocol/session.ts";
import type { Refusal } from "./reconnect.ts";
import { SessionLink, type LinkTarget } from "./session-link.ts";

export interface CopyLinkOptions {
  target: LinkTarget;
  /** The route's path (and query), asked again over plain HTTP to explain a refused upgrade. */
  path: string;
  diagnose?: (path: string) => Promise<Refusal | null>;
  /** What to send up; nothing (stdin closed at once) when absent. */
  source?: AsyncIterable<Uint8Array>;
  /** Bytes from the remote stdout; the socket is not read while a backlog of them waits. */
  onStdout?: (bytes: Uint8Array) => void | Promise<void>;
  /** Bytes sent or received, for a progress bar; `total` once the remote side announced it. */
  onProgress?: (bytes: number, total: number | null) => void;
  /** Ends the copy from this side (Ctrl-C): the remote side is hung up. */
  signal?: AbortSignal;
}

export interface CopyLinkResult {
  /** The remote status; null when there was none (refused, lost, ended from here). */
  code: number | null;
  /** The session's `error`, or why the link failed. */
  error: AppError | null;
  /** A failure on this side: a local file that cannot be read or written. */
  localError: AppError | null;
  stderr: CopyStderr;
}

/** How often a full upload backlog is looked at (a client WebSocket has no drain event). */
const SEND_POLL_MS = 10;

/** Runs one copy session to its end. */
export function runCopyLink(options: CopyLinkOptions): Promise<CopyLinkResult> {
  return new Promise((resolve) => {
    const stderr = new CopyStderr();
    let code: number | null = null;
    let error: AppError | null = null;
    let localError: AppError | null = null;
    let opened = false;
    let closed = false;
    let moved = 0;
    let work: Promise<void> = Promise.resolve();
    let waiting = 0;
    let paused = false;

    const fail = (why: AppError) => {
      localError ??= why;
      link.close(SESSION_CLOSE.exit, "client failed");
    };
    const progress = (n: number) => {
      moved += n;
      options.onProgress?.(moved, stderr.size);
    };

    const pump = async () => {
      try {
        for await (const chunk of options.source ?? []) {
          if (closed || localError) return;
          link.send(chunk);
          progress(chunk.length);
          while (link.bufferedAmount > SEND_BACKLOG_BYTES && link.isOpen) await Bun.sleep(SEND_POLL_MS);
        }
        if (!closed && !localError) link.control({ type: "eof" });
      } catch (e) {
        fail(toAppError(e, "E_USAGE"));
      }
    };

    const stdout = (bytes: Uint8Array) => {
      const consume = options.onStdout;
      if (consume === undefined || localError) return;
      waiting += bytes.length;
      if (waiting > SEND_BACKLOG_BYTES && !paused) {
        paused = true;
        link.pause();
      }
      work = work.then(async () => {
        if (localError) return;
        try {
          await consume(bytes);
          progress(bytes.length);
        } catch (e) {
          fail(toAppError(e, "E_USAGE"));
        } finally {
          waiting -= bytes.length;
          if (paused && waiting <= SEND_BACKLOG_BYTES / 2) {
            paused = false;
            link.resume();
          }
        }
      });
    };

    const message = (data: string | Uint8Array) => {
      if (typeof data !== "string") {
        if (data[0] === CHANNEL_STDOUT) stdout(data.subarray(1));
        else if (data[0] === CHANNEL_STDERR) stderr.push(data.subarray(1));
        return;
      }
      try {
        const control = parseSessionControl(data);
        if (control.type === "ping") link.control({ type: "pong" });
        else if (control.type === "exit") code = control.code;
        else if (control.type === "error") error ??= new AppError(control.code, control.message);
      } catch (e) {
        error ??= new AppError("E_PROTOCOL", `the master sent a bad control frame: ${messageOf(e)}`);
        link.close(SESSION_CLOSE.protocolError, "protocol error");
      }
    };

    const close = async (closeCode: number) => {
      closed = true;
      options.signal?.removeEventListener("abort", abort);
      await work;
      if (!opened && error === null && localError === null) {
        const why = await options.diagnose?.(options.path).catch(() => null);
        error = new AppError(why?.code ?? "E_UNREACHABLE", why?.message ?? `cannot open the copy session (code ${closeCode})`);
      } else if (code === null && error === null && localError === null) {
        error = new AppError("E_UNREACHABLE", `the connection to the master was lost (code ${closeCode})`);
      }
      resolve({ code, error, localError, stderr });
    };

    const link: SessionLink = new SessionLink(options.target, DEFAULT_LIVENESS, {
      open: () => {
        opened = true;
        void pump();
      },
      message,
      close: (closeCode) => void close(closeCode),
      silent: () => {
        error ??= new AppError("E_TIMEOUT", "the master stopped answering (network lost?)");
        link.close(SESSION_CLOSE.peerTimeout, "peer timeout");
      },
    });
    const abort = () => fail(new AppError("E_CANCELLED", "interrupted"));
    options.signal?.addEventListener("abort", abort);
  });
}
