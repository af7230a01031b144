/**
 * The worker's side of shells and execs: each session runs one exec from the
 * Multipass driver — under a real PTY, sized from the first byte, or with
 * separate pipes — and ends it when the session ends. Every process has an
 * owner: a session that loses its peer hangs the process up (the driver
 * closes the PTY or sends SIGHUP, and kills the process group after a grace
 * period).
 */
import type { ConsolaInstance } from "consola";
import { AppError, messageOf, toAppError } from "../core/errors.ts";
import { LOGIN_SHELL, type ExecProcess, type Multipass } from "../multipass/driver.ts";
import { parseJson } from "../core/parse.ts";
import { DEFAULT_LIVENESS, watchPeer, type LivenessTimes } from "../net/liveness.ts";
import {
  CHANNEL_STDERR,
  CHANNEL_STDOUT,
  channelFrame,
  controlFrame,
  parseSessionControl,
  parseSessionSpec,
  type SessionControl,
  type SessionSpec,
} from "../protocol/session.ts";
import type { Socket, WsSession } from "../net/ws.ts";

export interface SessionHostDeps {
  multipass: Multipass;
  log: ConsolaInstance;
  /** Starts the instance if needed, like `multipass exec` would (without spinner noise). */
  ensureRunning: (instance: string) => Promise<void>;
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
}

export interface SessionHost {
  /** A handler for one session socket. */
  session(): WsSession;
  /** Processes currently running. */
  readonly running: number;
  /** Hangs up every session (worker shutdown). */
  closeAll(): Promise<void>;
}

/** Why a terminal session cannot run on `platform`, or null when it can. */
export function terminalUnavailable(platform: NodeJS.Platform): AppError | null {
  if (platform !== "win32") return null;
  return new AppError("E_UNAVAILABLE", "Interactive terminals are not available on this Windows worker; use exec without -t");
}

export function createSessionHost(deps: SessionHostDeps): SessionHost {
  const live = new Set<ExecProcess>();

  function session(): WsSession {
    let spec: SessionSpec | null = null;
    let running: ExecProcess | null = null;
    let finished = false;
    const queued: Uint8Array[] = [];
    /** The master's `eof` came before the process started. */
    let eofQueued = false;
    let socket: Socket | null = null;
    let startTimer: ReturnType<typeof setTimeout> | undefined;
    const liveness = watchPeer(
      deps.liveness ?? DEFAULT_LIVENESS,
      () => send({ type: "ping" }),
      () => {
        deps.log.warn(`session on "${spec?.instance ?? "?"}": the master went silent; hanging up`);
        running?.hangUp();
        finish(null, new AppError("E_TIMEOUT", "The master stopped answering pings"), 4004);
      },
    );

    function send(message: SessionControl) {
      socket?.send(controlFrame(message));
    }

    /** Sends `exit` (after `error`, if any), then closes: always in that order. */
    function finish(code: number | null, error?: AppError, closeCode = 1000) {
      if (finished) return;
      finished = true;
      liveness.stop();
      if (error) send({ type: "error", code: error.code, message: error.message });
      send({ type: "exit", code });
      socket?.close(closeCode, closeCode === 1000 ? "exit" : "peer timeout");
    }

    async function start(ws: Socket, s: SessionSpec) {
      spec = s;
      const noTerminal = s.tty ? terminalUnavailable(deps.platform) : null;
      if (noTerminal) return finish(null, noTerminal);
      try {
        await deps.ensureRunning(s.instance);
      } catch (error) {
        return finish(null, toAppError(error));
      }
      if (finished) return;
      // Resizes that came while the instance was starting are in `spec`: the PTY opens at the latest size.
      const current = spec ?? s;
      try {
        running = deps.multipass.exec({
          instance: s.instance,
          command: s.kind === "shell" ? LOGIN_SHELL : s.command,
          env: deps.env,
          term: current.term,
          terminal: current.tty ? { cols: current.cols, rows: current.rows } : null,
          ...(deps.graceMs === undefined ? {} : { graceMs: deps.graceMs }),
          onOutput: (stream, bytes) => {
            const frame = stream === "terminal" ? bytes : channelFrame(stream === "stdout" ? CHANNEL_STDOUT : CHANNEL_STDERR, bytes);
            // 0 = dropped: the master cannot keep up and bytes would be lost; end rather than corrupt.
            if (ws.send(frame) === 0) {
              deps.log.warn(`session on "${s.instance}": output dropped under backpressure; hanging up`);
              running?.hangUp();
            }
          },
        });
      } catch (error) {
        return finish(null, toAppError(error));
      }
      const child = running;
      void child.exited.then((code) => {
        live.delete(child);
        finish(code);
      });
      live.add(running);
      for (const chunk of queued.splice(0)) input(chunk);
      if (eofQueued) endInput();
    }

    /**
     * The client's stdin ended: close the pipe, or on a terminal type the EOF
     * character (Ctrl-D), as a terminal does when piped input runs out.
     */
    function endInput() {
      if (!running) {
        eofQueued = true;
        return;
      }
      running.endInput();
    }

    function input(chunk: Uint8Array) {
      if (!running) {
        queued.push(chunk);
        return;
      }
      running.write(chunk);
    }

    function control(message: SessionControl) {
      switch (message.type) {
        case "resize":
          if (spec) spec = { ...spec, cols: message.cols, rows: message.rows };
          running?.resize(message.cols, message.rows);
          break;
        case "eof":
          endInput();
          break;
        case "ping":
          send({ type: "pong" });
          break;
        default:
          break;
      }
    }

    return {
      open(ws) {
        socket = ws;
        startTimer = setTimeout(() => finish(null, new AppError("E_PROTOCOL", "No start frame in time")), deps.startTimeoutMs ?? 10_000);
      },
      message(ws, raw) {
        liveness.heard();
        try {
          if (typeof raw !== "string") {
            input(new Uint8Array(raw));
            return;
          }
          if (spec === null) {
            clearTimeout(startTimer);
            void start(ws, parseSessionSpec(parseJson(raw, "start")));
            return;
          }
          control(parseSessionControl(raw));
        } catch (error) {
          deps.log.warn(`session: ${messageOf(error)}`);
          running?.hangUp();
          finish(null, toAppError(error, "E_PROTOCOL"));
        }
      },
      drain() {},
      close() {
        clearTimeout(startTimer);
        liveness.stop();
        socket = null;
        finished = true;
        running?.hangUp();
      },
    };
  }

  return {
    session,
    get running() {
      return live.size;
    },
    async closeAll() {
      const procs = [...live];
      for (const r of procs) r.hangUp();
      await Promise.all(procs.map((r) => r.exited));
    },
  };
}
