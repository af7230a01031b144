/**
 * The worker's side of shells and execs: each session runs one `multipass
 * exec` process — under a real PTY, sized from the first byte, or with
 * separate pipes — and ends it when the session ends. Every process has an
 * owner: a session that loses its peer hangs the process up (PTY close or
 * SIGHUP) and kills its process group after a grace period.
 */
import type { ConsolaInstance } from "consola";
import type { Subprocess } from "bun";
import { AppError, messageOf, toAppError } from "../core/errors.ts";
import { newNonce, TrailerFilter, wrapCommand, wrapLoginShell } from "../multipass/exec-status.ts";
import type { Multipass } from "../multipass/driver.ts";
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

interface Running {
  proc: Subprocess;
  hangUp(): void;
}

/** Why a terminal session cannot run on `platform`, or null when it can. */
export function terminalUnavailable(platform: NodeJS.Platform): AppError | null {
  if (platform !== "win32") return null;
  return new AppError("E_UNAVAILABLE", "Interactive terminals are not available on this Windows worker; use exec without -t");
}

export function createSessionHost(deps: SessionHostDeps): SessionHost {
  const live = new Set<Running>();
  const graceMs = deps.graceMs ?? 1000;

  function session(): WsSession {
    let spec: SessionSpec | null = null;
    let running: Running | null = null;
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
      const nonce = newNonce();
      const argv = deps.multipass.execArgv(s.instance, s.kind === "shell" ? wrapLoginShell(nonce) : wrapCommand(s.command, nonce));
      running = spawnSession(current, argv, nonce, {
        output: (frame) => {
          // 0 = dropped: the master cannot keep up and bytes would be lost; end rather than corrupt.
          if (ws.send(frame) === 0) {
            deps.log.warn(`session on "${s.instance}": output dropped under backpressure; hanging up`);
            running?.hangUp();
          }
        },
        exited: (code) => {
          if (running) live.delete(running);
          finish(code);
        },
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
      const proc = running?.proc;
      if (!proc) {
        eofQueued = true;
        return;
      }
      if (proc.terminal) proc.terminal.write(new Uint8Array([4]));
      else if (proc.stdin && typeof proc.stdin !== "number") void proc.stdin.end();
    }

    function input(chunk: Uint8Array) {
      if (!running) {
        queued.push(chunk);
        return;
      }
      const proc = running.proc;
      if (proc.terminal) proc.terminal.write(chunk);
      else if (proc.stdin && typeof proc.stdin !== "number") proc.stdin.write(chunk);
    }

    function control(message: SessionControl) {
      switch (message.type) {
        case "resize":
          if (spec) spec = { ...spec, cols: message.cols, rows: message.rows };
          running?.proc.terminal?.resize(message.cols, message.rows);
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

  function spawnSession(
    spec: SessionSpec,
    argv: string[],
    nonce: string,
    on: { output: (frame: Uint8Array) => void; exited: (code: number | null) => void },
  ): Running {
    const env = { ...deps.env, TERM: spec.term };
    const filter = new TrailerFilter(nonce);
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    let exited = false;
    let proc: Subprocess;
    let outputDone: Promise<void>;

    if (spec.tty) {
      let eof: () => void = () => {};
      outputDone = new Promise((resolve) => (eof = resolve));
      proc = Bun.spawn(argv, {
        env,
        terminal: {
          cols: spec.cols,
          rows: spec.rows,
          name: spec.term,
          data: (_t, bytes) => {
            const out = filter.push(bytes);
            if (out.length > 0) on.output(out);
          },
          exit: () => eof(),
        },
      });
    } else {
      proc = Bun.spawn(argv, { env, stdin: "pipe", stdout: "pipe", stderr: "pipe", detached: true });
      const pump = async (stream: ReadableStream<Uint8Array>, channel: typeof CHANNEL_STDOUT | typeof CHANNEL_STDERR) => {
        for await (const chunk of stream) {
          const out = channel === CHANNEL_STDERR ? filter.push(chunk) : chunk;
          if (out.length > 0) on.output(channelFrame(channel, out));
        }
        if (channel === CHANNEL_STDERR) {
          const rest = filter.flush();
          if (rest.length > 0) on.output(channelFrame(channel, rest));
        }
      };
      outputDone = Promise.all([
        pump(proc.stdout as ReadableStream<Uint8Array>, CHANNEL_STDOUT),
        pump(proc.stderr as ReadableStream<Uint8Array>, CHANNEL_STDERR),
      ]).then(() => {});
    }

    const killGroup = () => {
      try {
        process.kill(-proc.pid, "SIGKILL");
      } catch {
        // The group is already gone.
      }
      proc.kill("SIGKILL");
    };

    void proc.exited.then(async (status) => {
      exited = true;
      // Output written just before exit is still in flight; a grandchild holding the
      // terminal or a pipe open must not hold the exit back for long.
      await Promise.race([outputDone, Bun.sleep(500)]);
      if (spec.tty) {
        const rest = filter.flush();
        if (rest.length > 0) on.output(rest);
        proc.terminal?.close();
      }
      clearTimeout(killTimer);
      killGroup();
      const code = filter.status ?? (proc.signalCode ? 255 : status);
      on.exited(code);
    });

    return {
      proc,
      hangUp() {
        if (exited || killTimer) return;
        if (proc.terminal) proc.terminal.close();
        else proc.kill("SIGHUP");
        killTimer = setTimeout(killGroup, graceMs);
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
      await Promise.all(procs.map((r) => r.proc.exited));
    },
  };
}
