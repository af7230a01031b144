/**
 * The browser terminal's decisions, apart from sockets and the DOM: which
 * route a connection takes, how long to wait before the next try, what a
 * closed socket means and what the status line says. Pure; terminal-link.ts
 * acts on them.
 */
import { backoffDelay, type BackoffPolicy } from "../core/backoff.ts";
import type { ErrorCode } from "../core/errors.ts";
import { SESSION_CLOSE } from "../protocol/session.ts";

/** As the CLI: 0.5 s doubling to 5 s, for as long as a worker keeps a detached shell by default. */
export const SHELL_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 5_000 };
export const RECONNECT_LIMIT_MS = 10 * 60_000;
/** The declared keepalive: the page pings this often, and the master counts it gone after four misses. */
export const KEEPALIVE_MS = 2_500;
/** Nothing at all from the master for this long: the connection is dead even if the socket does not say so. */
export const SILENCE_MS = 10_000;

export interface Size {
  cols: number;
  rows: number;
}

/** The route of a new shell into `ref` (NAME@NODE). */
export function shellPath(ref: string, size: Size): string {
  const q = new URLSearchParams({ cols: String(size.cols), rows: String(size.rows), term: "xterm-256color", keepalive: String(KEEPALIVE_MS) });
  return `/api/v1/instances/${encodeURIComponent(ref)}/shell?${q}`;
}

/** The route that takes kept shell `id` back. */
export function attachPath(id: string, size: Size): string {
  const q = new URLSearchParams({ cols: String(size.cols), rows: String(size.rows), keepalive: String(KEEPALIVE_MS) });
  return `/api/v1/sessions/${encodeURIComponent(id)}/attach?${q}`;
}

/** A path on the page's own origin as a WebSocket URL: wss: under https:. */
export function socketUrl(location: { protocol: string; host: string }, path: string): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
}

/** Where a page keeps the id of the kept shell it shows for `ref`. */
export function storageKey(ref: string): string {
  return `multiverse.shell.${ref}`;
}

/** What one connection saw before it closed. */
export interface ConnectionFacts {
  /** The socket opened and the shell answered (a `session`, `attached` or any output). */
  established: boolean;
  /** The `exit` frame's code, when one came. */
  exit?: { code: number | null };
  /** A `detached` frame, with its reason. */
  detached?: { reason?: string };
  /** The last `error` frame's code. */
  error?: ErrorCode;
  /** The socket's close code. */
  closeCode: number;
  /** The kept shell's id, when the shell has one. */
  sessionId: string | null;
}

export type AfterClose =
  | { kind: "ended"; code: number | null; error?: ErrorCode }
  | { kind: "detached"; reason: string }
  | { kind: "reconnect" }
  | { kind: "lost" };

/**
 * The one place that decides what a closed connection means, as the CLI does:
 * an `exit` ends the page's shell; a detach on purpose (or a take-over by
 * another page of the same token) ends it too, and another try would only
 * take the shell back from whoever has it now; a detach that follows an error
 * or a hop gone silent (4004), and a socket that simply dropped, are ridden
 * out through the attach route when the shell is kept; a shell that is not
 * kept is lost with its connection.
 */
export function afterClose(f: ConnectionFacts): AfterClose {
  if (f.exit !== undefined) return { kind: "ended", code: f.exit.code, ...(f.error === undefined ? {} : { error: f.error }) };
  const failed = f.error !== undefined || f.closeCode === SESSION_CLOSE.peerTimeout;
  if (f.detached !== undefined && !failed) return { kind: "detached", reason: f.detached.reason ?? "detached" };
  if (f.error === "E_UNAUTHORIZED" || f.error === "E_USAGE" || f.error === "E_FORBIDDEN") return { kind: "ended", code: null, error: f.error };
  return f.sessionId === null ? { kind: "lost" } : { kind: "reconnect" };
}

/** The pause before reconnect attempt `attempt` (0 first). */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  return backoffDelay(attempt, SHELL_BACKOFF, random);
}

export type ShellStatus =
  | { state: "connecting" }
  | { state: "connected"; readOnly: boolean }
  | { state: "reconnecting"; sinceMs: number }
  | { state: "ended"; code: number | null; message?: string }
  | { state: "detached"; reason: string };

/** The status line's words. */
export function statusText(status: ShellStatus, nowMs: number): string {
  switch (status.state) {
    case "connecting":
      return "connecting…";
    case "connected":
      return status.readOnly ? "connected (read-only)" : "connected";
    case "reconnecting": {
      const s = Math.floor((nowMs - status.sinceMs) / 1000);
      return s < 1 ? "reconnecting…" : `reconnecting… (${s} s, keys typed meanwhile are dropped)`;
    }
    case "ended":
      if (status.code !== null) return `ended with status ${status.code}`;
      return `ended${status.message === undefined ? "" : `: ${status.message}`}`;
    case "detached":
      return `detached: ${status.reason}`;
  }
}
