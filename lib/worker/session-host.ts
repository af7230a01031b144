/**
 * The worker's side of shells and execs: each session runs one exec from the
 * Multipass driver — under a real PTY, sized from the first byte, or with
 * separate pipes — and ends it when the session ends. Every process has an
 * owner: a session that loses its peer hangs the process up (the driver
 * closes the PTY or sends SIGHUP, and kills the process group after a grace
 * period).
 *
 * A session is a state machine:
 *
 *     awaiting-start ──start frame──▶ starting ──exec started──▶ running
 *            │                           │                          │
 *            └───────────────────────────┴──────────────────────────┴──▶ ended
 *
 * It ends when the program exits, when the master goes silent or breaks the
 * wire, when the instance cannot run the session, or when the socket closes.
 */
import type { ConsolaInstance } from "consola";
import { AppError, messageOf, toAppError } from "../core/errors.ts";
import { LOGIN_SHELL, type ExecProcess, type ExecStream, type Multipass } from "../multipass/driver.ts";
import { parseJson } from "../core/parse.ts";
import { DEFAULT_LIVENESS, watchPeer, type Liveness, type LivenessTimes } from "../net/liveness.ts";
import {
  CHANNEL_STDERR,
  CHANNEL_STDOUT,
  channelFrame,
  controlFrame,
  parseSessionControl,
  parseSessionSpec,
  SEND_BACKLOG_BYTES,
  SESSION_CLOSE,
  type SessionControl,
  type SessionSpec,
} from "../protocol/session.ts";
import type { Socket, WsSession } from "../net/ws.ts";

export interface SessionHostDeps {
  multipass: Multipass;
  log: ConsolaInstance;
  /** Starts the instance if needed, like `multipass exec` would (without spinner noise). */
  ensureRunning: (instance: string) => Promise<void>;
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
}

export interface SessionHost {
  /** A handler for one session socket. */
  session(): HostedSession;
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

const DEFAULT_START_TIMEOUT_MS = 10_000;

/** Where a session is in its life (see the diagram at the top). */
export type SessionState = "awaiting-start" | "starting" | "running" | "ended";

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

const TRANSITIONS: Readonly<Record<SessionState, readonly SessionState[]>> = {
  "awaiting-start": ["starting", "ended"],
  starting: ["running", "ended"],
  running: ["ended"],
  ended: [],
};

/** What every session of a host shares. */
interface HostContext {
  deps: SessionHostDeps;
  /** The processes of all sessions, until each has exited. */
  live: Set<ExecProcess>;
}

function frameOf(stream: ExecStream, bytes: Uint8Array): Uint8Array {
  if (stream === "terminal") return bytes;
  return channelFrame(stream === "stdout" ? CHANNEL_STDOUT : CHANNEL_STDERR, bytes);
}

/** One session socket, from the upgrade to the exit frame. */
class Session implements HostedSession {
  #state: SessionState = "awaiting-start";
  /** The start frame, with the latest size the master asked for. */
  #spec: SessionSpec | null = null;
  #process: ExecProcess | null = null;
  /** Input, and the master's `eof`, that came before the process started. */
  readonly #pending: { input: Uint8Array[]; bytes: number; eof: boolean } = { input: [], bytes: 0, eof: false };
  #socket: SessionSocket | null = null;
  /** The socket is not read: the program has not taken the input it has (or has not started). */
  #inputPaused = false;
  /** The program's output is not read: the master has not taken what was sent. */
  #outputPaused = false;
  #startTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #liveness: Liveness;

  readonly #host: HostContext;

  constructor(host: HostContext) {
    this.#host = host;
    this.#liveness = watchPeer(
      host.deps.liveness ?? DEFAULT_LIVENESS,
      () => {
        // While the socket is not read, the master's frames wait unread: the silence is ours.
        if (this.#inputPaused) this.#liveness.heard();
        this.#send({ type: "ping" });
      },
      () => {
        host.deps.log.warn(`session on "${this.#spec?.instance ?? "?"}": the master went silent; hanging up`);
        this.#end(null, new AppError("E_TIMEOUT", "The master stopped answering pings"), SESSION_CLOSE.peerTimeout);
      },
    );
  }

  get state(): SessionState {
    return this.#state;
  }

  open(ws: SessionSocket): void {
    this.#socket = ws;
    const timeoutMs = this.#host.deps.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    this.#startTimer = setTimeout(() => this.#end(null, new AppError("E_PROTOCOL", "No start frame in time")), timeoutMs);
  }

  message(ws: SessionSocket, raw: string | Buffer): void {
    if (this.#state === "ended") return;
    this.#liveness.heard();
    try {
      if (typeof raw !== "string") this.#input(new Uint8Array(raw));
      else if (this.#state === "awaiting-start") {
        clearTimeout(this.#startTimer);
        void this.#begin(ws, parseSessionSpec(parseJson(raw, "start")));
      } else this.#control(parseSessionControl(raw));
    } catch (error) {
      this.#host.deps.log.warn(`session: ${messageOf(error)}`);
      this.#end(null, toAppError(error, "E_PROTOCOL"));
    }
  }

  /** The master took some of the output: the program's output is read again once the backlog is under the bound. */
  drain(ws: SessionSocket): void {
    if (!this.#outputPaused || ws.getBufferedAmount() > SEND_BACKLOG_BYTES) return;
    this.#outputPaused = false;
    this.#process?.resumeOutput();
  }

  /** The socket has closed, whoever closed it: nobody is left to tell, so the process is hung up. */
  close(): void {
    clearTimeout(this.#startTimer);
    this.#liveness.stop();
    this.#socket = null;
    if (this.#state !== "ended") this.#to("ended");
    this.#process?.hangUp();
  }

  #to(next: SessionState): void {
    if (!TRANSITIONS[this.#state].includes(next)) throw new AppError("E_INTERNAL", `session: no transition from ${this.#state} to ${next}`);
    this.#state = next;
  }

  #send(message: SessionControl): void {
    this.#socket?.send(controlFrame(message));
  }

  /** awaiting-start → starting: the instance is made ready for the process (or the session ends). */
  async #begin(ws: SessionSocket, spec: SessionSpec): Promise<void> {
    this.#to("starting");
    this.#spec = spec;
    const noTerminal = spec.tty ? terminalUnavailable(this.#host.deps.platform) : null;
    if (noTerminal) return this.#end(null, noTerminal);
    try {
      await this.#host.deps.ensureRunning(spec.instance);
    } catch (error) {
      return this.#end(null, toAppError(error));
    }
    if (this.#state !== "starting") return;
    this.#run(ws);
  }

  /** starting → running: the exec starts at the latest size, and gets what the master sent meanwhile. */
  #run(ws: SessionSocket): void {
    const spec = this.#spec;
    if (spec === null) return;
    const { deps, live } = this.#host;
    let child: ExecProcess;
    try {
      child = deps.multipass.exec({
        instance: spec.instance,
        command: spec.kind === "shell" ? LOGIN_SHELL : spec.command,
        env: deps.env,
        term: spec.term,
        terminal: spec.tty ? { cols: spec.cols, rows: spec.rows } : null,
        ...(deps.graceMs === undefined ? {} : { graceMs: deps.graceMs }),
        onOutput: (stream, bytes) => this.#output(ws, stream, bytes),
        onInputReady: () => this.#resumeInput(),
      });
    } catch (error) {
      return this.#end(null, toAppError(error));
    }
    this.#to("running");
    this.#process = child;
    live.add(child);
    void child.exited.then((code) => {
      live.delete(child);
      this.#end(code);
    });
    let more = true;
    for (const chunk of this.#pending.input.splice(0)) more = child.write(chunk);
    this.#pending.bytes = 0;
    if (this.#pending.eof) child.endInput();
    if (more) this.#resumeInput();
  }

  /** Output for the master; past the bound, the program's output is no longer read until `drain`. */
  #output(ws: SessionSocket, stream: ExecStream, bytes: Uint8Array): void {
    // 0 = dropped (past Bun's own limit, which the bound keeps us far from): end rather than corrupt.
    if (ws.send(frameOf(stream, bytes)) === 0) {
      this.#host.deps.log.warn(`session on "${this.#spec?.instance ?? "?"}": output dropped under backpressure; hanging up`);
      this.#process?.hangUp();
      return;
    }
    if (!this.#outputPaused && ws.getBufferedAmount() > SEND_BACKLOG_BYTES) {
      this.#outputPaused = true;
      this.#process?.pauseOutput();
    }
  }

  /** Input for the program; while it has not taken what it has, the socket is not read. */
  #input(chunk: Uint8Array): void {
    if (this.#process) {
      if (!this.#process.write(chunk)) this.#pauseInput();
      return;
    }
    this.#pending.input.push(chunk);
    this.#pending.bytes += chunk.length;
    if (this.#pending.bytes > SEND_BACKLOG_BYTES) this.#pauseInput();
  }

  #pauseInput(): void {
    if (this.#inputPaused) return;
    this.#inputPaused = true;
    this.#socket?.pause();
  }

  #resumeInput(): void {
    if (!this.#inputPaused) return;
    this.#inputPaused = false;
    this.#socket?.resume();
  }

  /** The client's stdin ended: the driver closes the pipe, or types Ctrl-D on a terminal. */
  #endInput(): void {
    if (this.#process) this.#process.endInput();
    else this.#pending.eof = true;
  }

  #control(message: SessionControl): void {
    switch (message.type) {
      case "resize":
        if (this.#spec) this.#spec = { ...this.#spec, cols: message.cols, rows: message.rows };
        this.#process?.resize(message.cols, message.rows);
        break;
      case "eof":
        this.#endInput();
        break;
      case "ping":
        this.#send({ type: "pong" });
        break;
      default:
        break;
    }
  }

  /**
   * → ended: the process (if any) is hung up, and the master is told why
   * (`error`, if any), then `exit`, then the socket closes: always in that order.
   */
  #end(code: number | null, error?: AppError, closeCode: number = SESSION_CLOSE.exit): void {
    if (this.#state === "ended") return;
    this.#to("ended");
    clearTimeout(this.#startTimer);
    this.#liveness.stop();
    this.#process?.hangUp();
    // The close handshake needs the socket read.
    this.#resumeInput();
    if (error) this.#send({ type: "error", code: error.code, message: error.message });
    this.#send({ type: "exit", code });
    this.#socket?.close(closeCode, closeCode === SESSION_CLOSE.exit ? "exit" : "peer timeout");
  }
}

/**
 * Creates the host of a worker's sessions. Each session gets its process from
 * `deps.multipass.exec` and owns it until it has exited; `closeAll` hangs
 * them all up and waits for them.
 */
export function createSessionHost(deps: SessionHostDeps): SessionHost {
  const host: HostContext = { deps, live: new Set() };
  return {
    session: () => new Session(host),
    get running() {
      return host.live.size;
    },
    async closeAll() {
      const children = [...host.live];
      for (const child of children) child.hangUp();
      await Promise.all(children.map((child) => child.exited));
    },
  };
}
