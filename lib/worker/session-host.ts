/**
 * The worker's side of shells and execs: each session socket runs one exec
 * from the Multipass driver — under a real PTY, sized from the first byte, or
 * with separate pipes — or attaches to a kept shell (issue 12). Every process
 * has an owner: a session's own process is hung up when the session ends (the
 * driver closes the PTY or sends SIGHUP, and kills the process group after a
 * grace period); a kept shell (kept-shell.ts) is owned by the session keeper
 * (session-keeper.ts), which ends it when nobody attaches within the grace
 * period, past its bounds, or at shutdown.
 *
 * Which shells are kept: a terminal `shell` whose start frame carries the
 * master's session id and the opener's token id, while the grace period is
 * not 0. Execs, with or without a terminal, never are.
 *
 * The state machine of one session socket is in hosted-session.ts.
 */
import type { ShellEnded } from "../protocol/join.ts";
import type { ConsolaInstance } from "consola";
import type { ExecProcess, Multipass } from "../multipass/driver.ts";
import type { LivenessTimes } from "../net/liveness.ts";
import type { Socket, WsSession } from "../net/ws.ts";
import type { KeptSessionView } from "../protocol/agent.ts";
import type { ForwardTargets } from "./forward-targets.ts";
import { Session } from "./hosted-session.ts";
import type { KeptShell } from "./kept-shell.ts";
import { DEFAULT_SESSION_GRACE_MS, SessionKeeper } from "./session-keeper.ts";

export interface SessionHostDeps {
  multipass: Multipass;
  log: ConsolaInstance;
  /** Starts the instance if needed, like `multipass exec` would (without spinner noise). */
  ensureRunning: (instance: string) => Promise<void>;
  /** Checks that the instance runs, never starting it, for a session whose spec says `autoStart: false` (cp); without it, such sessions are refused. */
  checkRunning?: (instance: string) => Promise<void>;
  /**
   * Where a forward to an instance connects (its own address, as Multipass
   * reports it), and when it must end (forward-targets.ts). Without it,
   * forwards are refused.
   */
  forwardTargets?: Pick<ForwardTargets, "addressOf" | "watch">;
  /** How long a forward's connection may take (default CONNECT_TIMEOUT_MS, forward-socket.ts). */
  forwardConnectMs?: number;
  /** Environment of the exec processes. */
  env: Record<string, string | undefined>;
  /**
   * The host's platform. Bun has PTYs only on POSIX, so a Windows worker
   * refuses terminal sessions (`shell`, `exec -t`) with E_UNAVAILABLE and runs
   * everything else.
   */
  platform: NodeJS.Platform;
  /** Time between hang-up and SIGKILL. */
  graceMs?: number;
  liveness?: LivenessTimes;
  /** How long the master may take to send the start frame. */
  startTimeoutMs?: number;
  /**
   * How long a shell whose client went away is kept (0: it ends with its
   * client), and how many detached shells (and how much of their mirrors) a
   * worker keeps. Defaults: session-keeper.ts.
   */
  keep?: { graceMs: number; maxDetached?: number; maxDetachedBytes?: number };
  /** Hears each kept shell's end, for the master's audit trail (shell-ends.ts). */
  onShellEnded?: (ended: ShellEnded) => void;
  now?: () => number;
}

export interface SessionHost {
  /** A handler for one session socket. */
  session(): HostedSession;
  /** Processes currently running (kept shells' included). */
  readonly running: number;
  /** The kept shells, attached or detached (`GET /agent/v1/sessions`). */
  list(): KeptSessionView[];
  /** Ends every kept shell and hangs up every session, then waits for their processes (worker shutdown). */
  closeAll(): Promise<void>;
}

/** Where a session is in its life (see the diagram in hosted-session.ts). */
export type SessionState = "awaiting-start" | "starting" | "restoring" | "running" | "ended";

/** What a session needs of its socket: sending, closing, and flow control both ways. */
export type SessionSocket = Pick<Socket, "send" | "close" | "getBufferedAmount" | "pause" | "resume">;

/** One session socket's handler, and where the session is. */
export interface HostedSession extends WsSession {
  readonly state: SessionState;
  open(ws: SessionSocket): void;
  message(ws: SessionSocket, message: string | Buffer): void;
  /** The socket has closed, whoever closed it. */
  close(ws: SessionSocket, code: number, reason: string): void;
  /** The socket took some of what was buffered (Bun's `drain`). */
  drain(ws: SessionSocket): void;
}

/** What every session of a host shares. */
export interface HostContext {
  deps: SessionHostDeps;
  /** The processes of all sessions and kept shells, until each has exited. */
  live: Set<ExecProcess>;
  keeper: SessionKeeper<KeptShell>;
  now: () => number;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Creates the host of a worker's sessions. Each session gets its process from
 * `deps.multipass.exec` and owns it until it has exited, or hands a kept
 * shell to the keeper; `closeAll` ends them all and waits for them.
 */
export function createSessionHost(deps: SessionHostDeps): SessionHost {
  const now = deps.now ?? Date.now;
  const keep = deps.keep ?? { graceMs: DEFAULT_SESSION_GRACE_MS };
  const keeper = new SessionKeeper<KeptShell>({ ...keep, log: deps.log, now });
  const host: HostContext = { deps, live: new Set(), keeper, now };
  return {
    session: () => new Session(host),
    get running() {
      return host.live.size;
    },
    list() {
      return keeper.list().flatMap((view) => {
        const shell = keeper.get(view.id);
        if (shell === null) return [];
        return [
          {
            id: view.id,
            instance: view.instance,
            owner: view.owner,
            state: view.state,
            startedAt: iso(view.startedAt),
            lastActivityAt: iso(view.lastActivityAt),
            detachedUntil: view.detachedAt === null ? null : iso(view.detachedAt + keeper.graceMs),
            cols: shell.cols,
            rows: shell.rows,
            viewers: shell.viewers,
          },
        ];
      });
    },
    async closeAll() {
      keeper.closeAll("the worker is stopping");
      const children = [...host.live];
      for (const child of children) child.hangUp();
      await Promise.all(children.map((child) => child.exited));
    },
  };
}
