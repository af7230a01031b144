/**
 * The client's end of a shell or an exec: one WebSocket to the master at a
 * time, the local terminal in raw mode while the session is interactive, and
 * the remote status as the result. The local terminal is restored on every
 * way out — remote exit, master death, network loss, a signal to the client —
 * and an end that is not a normal exit is explained on stderr.
 *
 * A kept shell (issue 12: the worker said `session`, or this is an attach)
 * also rides out a dropped connection: the client attaches again by itself
 * (reconnect.ts), the screen comes back, and keys typed meanwhile are
 * dropped, not sent late. Enter `~` escapes (escapes.ts) disconnect or detach.
 */
import type { LivenessTimes } from "../net/liveness.ts";
import type { SessionKind } from "../protocol/session.ts";
import type { ReconnectPolicy, Refusal } from "./reconnect.ts";
import { ClientSession } from "./session-machine.ts";
import type { KeptShell } from "./session-notes.ts";
import type { TerminalIo } from "./terminal-io.ts";
import type { ClientTls } from "./api-client.ts";

export type { Refusal } from "./reconnect.ts";

export interface SessionRequest {
  /**
   * Explains a refused upgrade (the WebSocket shows only code 1006): asks the
   * same route over plain HTTP and returns the master's error, or null when
   * the route took everything but the missing upgrade.
   */
  diagnose?: (path: string) => Promise<Refusal | null>;
  /** http(s) base URL of the master. */
  baseUrl: string;
  token: string | null;
  /** Trust for an https master. */
  tls?: ClientTls | undefined;
  kind: SessionKind;
  /** `NAME@NODE`, already resolved. */
  ref: string;
  command: string[];
  /** Run the remote side under a terminal. */
  tty: boolean;
  io: TerminalIo;
  liveness?: LivenessTimes;
  /** Take a kept shell back (`attach`) instead of opening one; `kind` is then "shell". */
  attach?: KeptShell & { readOnly: boolean };
  /**
   * Whether `node` is Ready on the master now. A reattach refused as not
   * found is final only then: a master that has just restarted does not know
   * a node's shells until the node joins it again. Without it, never final.
   */
  nodeReady?: (node: string) => Promise<boolean>;
  reconnect?: ReconnectPolicy;
}

/**
 * Where a client's session is. `connecting` → `open` when the socket opens
 * (an attach: → `attaching` until `attached`); `connecting` → `diagnosing`
 * when the upgrade is refused and the master is asked why. A kept shell:
 * `open` → `detaching` on Enter ~ d, until `detached`; `open` →
 * `reconnecting` when its connection is lost, → `open` again once attached.
 * Any → `ended` once, when the terminal is restored and the status reported.
 */
export type SessionState = "connecting" | "attaching" | "open" | "detaching" | "reconnecting" | "diagnosing" | "ended";

/** Runs a session to its end; resolves with the exit status the client should have. */
export function runSession(request: SessionRequest): Promise<number> {
  return new Promise((resolve) => {
    // The session lives on in the listeners of its socket and of the terminal.
    new ClientSession(request, resolve);
  });
}

