/**
 * One session socket on the worker, from the upgrade to its close: a shell
 * or an exec of its own, a kept shell it opened (kept-shell.ts), or a kept
 * shell it attached to, as its writer or as a read-only viewer.
 *
 * A session is a state machine:
 *
 *     awaiting-start ──new session──▶ starting ──process started──▶ running
 *            │        ──attach──────▶ restoring ──screen sent─────▶ running
 *            │                           │                            │
 *            └───────────────────────────┴────────────────────────────┴──▶ ended
 *
 * A session of its own process ends when the program exits, the master goes
 * silent or breaks the wire, the instance cannot run it, or the socket
 * closes; the process is then hung up. A session on a kept shell ends the
 * same ways, but only the shell's exit (or the worker ending the shell) ends
 * the shell: otherwise the session leaves it (`detached`, then close) and a
 * writer's leaving detaches the shell, which the keeper keeps.
 *
 * A forward (issue 14) is a session whose "process" is a TCP connection to a
 * port of the instance's own address (forward-socket.ts, forward-targets.ts):
 * it never starts the instance, and it also ends, with the reason, when the
 * instance goes down.
 */
import { AppError, messageOf, toAppError } from "../core/errors.ts";
import { LOGIN_SHELL, type ExecProcess, type ExecStream } from "../multipass/driver.ts";
import { parseJson } from "../core/parse.ts";
import { DEFAULT_LIVENESS, watchPeer, type Liveness } from "../net/liveness.ts";
import {
  CHANNEL_STDERR,
  CHANNEL_STDOUT,
  channelFrame,
  controlFrame,
  parseSessionControl,
  parseSessionStart,
  SESSION_CLOSE,
  type AttachSpec,
  type SessionControl,
  type SessionSpec,
} from "../protocol/session.ts";
import { ForwardSocket } from "./forward-socket.ts";
import { KeptShell, type KeepableSpec, type ShellClient, type ShellFeed } from "./kept-shell.ts";
import type { HostContext, HostedSession, SessionSocket, SessionState } from "./session-host.ts";
import { SessionInput } from "./session-input.ts";
import { SessionOutput } from "./session-output.ts";

const DEFAULT_START_TIMEOUT_MS = 10_000;

/** Why a terminal session cannot run on `platform`, or null when it can. */
export function terminalUnavailable(platform: NodeJS.Platform): AppError | null {
  if (platform !== "win32") return null;
  return new AppError("E_UNAVAILABLE", "Interactive terminals are not available on this Windows worker; use exec without -t");
}

const TRANSITIONS: Readonly<Record<SessionState, readonly SessionState[]>> = {
  "awaiting-start": ["starting", "restoring", "ended"],
  starting: ["running", "ended"],
  restoring: ["running", "ended"],
  running: ["ended"],
  ended: [],
};

function frameOf(stream: ExecStream, bytes: Uint8Array): Uint8Array {
  if (stream === "terminal") return bytes;
  return channelFrame(stream === "stdout" ? CHANNEL_STDOUT : CHANNEL_STDERR, bytes);
}

/** A terminal shell the master has named and given an owner: kept past its client while the keeper keeps shells. */
function keepable(spec: SessionSpec, host: HostContext): spec is KeepableSpec {
  return spec.kind === "shell" && spec.tty && spec.id !== undefined && spec.owner !== undefined && host.keeper.keeps;
}

/** One session socket, from the upgrade to its close. */
export class Session implements HostedSession, ShellClient {
  #state: SessionState = "awaiting-start";
  /** The start frame of a new session, with the latest size the master asked for. */
  #spec: SessionSpec | null = null;
  /** A process of its own (hung up when the session ends). */
  #process: ExecProcess | null = null;
  /** The kept shell it opened or attached to. */
  #shell: KeptShell | null = null;
  /** Where input goes and whose output a backlog pauses. */
  #feed: ShellFeed | null = null;
  readonly #input = new SessionInput();
  readonly #output = new SessionOutput(() => this.#dropped());
  #socket: SessionSocket | null = null;
  #startTimer: ReturnType<typeof setTimeout> | undefined;
  /** A forward's watch on its instance, stopped when the session ends. */
  #unwatch: (() => void) | null = null;
  readonly #liveness: Liveness;
  readonly #host: HostContext;

  constructor(host: HostContext) {
    this.#host = host;
    this.#liveness = watchPeer(
      host.deps.liveness ?? DEFAULT_LIVENESS,
      () => {
        // While the socket is not read, the master's frames wait unread: the silence is ours.
        if (this.#input.paused) this.#liveness.heard();
        this.#send({ type: "ping" });
      },
      () => {
        host.deps.log.warn(`session on "${this.#instance()}": the master went silent; ${this.#shell ? "leaving the shell running" : "hanging up"}`);
        const error = new AppError("E_TIMEOUT", "The master stopped answering pings");
        if (this.#shell) this.#leave("the master went silent", error, SESSION_CLOSE.peerTimeout);
        else this.#end(null, error, SESSION_CLOSE.peerTimeout);
      },
    );
  }

  get state(): SessionState {
    return this.#state;
  }

  open(ws: SessionSocket): void {
    this.#socket = ws;
    this.#input.open(ws);
    this.#output.open(ws);
    const timeoutMs = this.#host.deps.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    this.#startTimer = setTimeout(() => this.#end(null, new AppError("E_PROTOCOL", "No start frame in time")), timeoutMs);
  }

  message(_ws: SessionSocket, raw: string | Buffer): void {
    if (this.#state === "ended") return;
    this.#liveness.heard();
    try {
      if (typeof raw !== "string") this.#input.write(new Uint8Array(raw));
      else if (this.#state === "awaiting-start") {
        clearTimeout(this.#startTimer);
        const start = parseSessionStart(parseJson(raw, "start"));
        if (start.kind === "attach") this.#attach(start);
        else void this.#begin(start);
      } else this.#control(parseSessionControl(raw));
    } catch (error) {
      this.#host.deps.log.warn(`session: ${messageOf(error)}`);
      if (this.#shell) this.#leave("its client broke the wire", toAppError(error, "E_PROTOCOL"));
      else this.#end(null, toAppError(error, "E_PROTOCOL"));
    }
  }

  /** The master took some of the output: the output is read again once the backlog is under the bound. */
  drain(): void {
    this.#output.drain();
  }

  /** The socket has closed, whoever closed it: its own process is hung up; a kept shell is left (detached). */
  close(): void {
    clearTimeout(this.#startTimer);
    this.#unwatch?.();
    this.#liveness.stop();
    this.#socket = null;
    this.#input.closed();
    this.#output.closed();
    if (this.#state !== "ended") this.#to("ended");
    this.#process?.hangUp();
    this.#shell?.drop(this, "its connection closed");
  }

  /** ShellClient: output of the kept shell; held back while the screen is being sent. */
  output(bytes: Uint8Array, at: number): void {
    this.#output.shellOutput(bytes, at);
  }

  /** ShellClient: the kept shell has ended for everyone. */
  ended(code: number | null, error?: AppError): void {
    this.#end(code, error);
  }

  /** ShellClient: the program took its input. */
  inputReady(): void {
    this.#input.resume();
  }

  /** ShellClient: another client of the same token took the shell over; this one leaves it, told why. */
  displaced(): void {
    this.#leave("taken over by another client", undefined, SESSION_CLOSE.detached, "another client of the same token attached to this shell");
  }

  #instance(): string {
    return this.#spec?.instance ?? this.#shell?.instance ?? "?";
  }

  #to(next: SessionState): void {
    if (!TRANSITIONS[this.#state].includes(next)) throw new AppError("E_INTERNAL", `session: no transition from ${this.#state} to ${next}`);
    this.#state = next;
  }

  #send(message: SessionControl): void {
    this.#socket?.send(controlFrame(message));
  }

  /** awaiting-start → starting: the instance is made ready for the process (or the session ends). */
  async #begin(spec: SessionSpec): Promise<void> {
    this.#to("starting");
    this.#spec = spec;
    if (spec.kind === "forward") return this.#forward(spec);
    const noTerminal = spec.tty ? terminalUnavailable(this.#host.deps.platform) : null;
    if (noTerminal) return this.#end(null, noTerminal);
    try {
      if (spec.autoStart !== false) await this.#host.deps.ensureRunning(spec.instance);
      else if (this.#host.deps.checkRunning) await this.#host.deps.checkRunning(spec.instance);
      else throw new AppError("E_UNAVAILABLE", "This worker cannot check that an instance runs without starting it");
    } catch (error) {
      return this.#end(null, toAppError(error));
    }
    // The latest size the master asked for while the instance started.
    const latest = this.#spec;
    if (this.#state !== "starting" || latest === null) return;
    try {
      if (keepable(latest, this.#host)) this.#keep(latest);
      else this.#run(latest);
    } catch (error) {
      return this.#end(null, toAppError(error));
    }
    this.#to("running");
    if (this.#feed) this.#input.to(this.#feed);
  }

  /** A process of its own, ended with the session. @throws MultipassError when it cannot start */
  #run(spec: SessionSpec): void {
    const { deps, live } = this.#host;
    const child = deps.multipass.exec({
      instance: spec.instance,
      command: spec.kind === "shell" ? LOGIN_SHELL : spec.command,
      env: deps.env,
      term: spec.term,
      terminal: spec.tty ? { cols: spec.cols, rows: spec.rows } : null,
      ...(deps.graceMs === undefined ? {} : { graceMs: deps.graceMs }),
      onOutput: (stream, bytes) => this.#output.send(frameOf(stream, bytes)),
      onInputReady: () => this.#input.resume(),
    });
    this.#process = child;
    this.#feed = child;
    this.#output.from(child);
    live.add(child);
    void child.exited.then((code) => {
      live.delete(child);
      this.#end(code);
    });
  }

  /**
   * starting → running: a forward's connection to the instance's own address,
   * ended with the session; a failure to connect ends the session with why.
   */
  async #forward(spec: SessionSpec): Promise<void> {
    const { deps, live } = this.#host;
    const port = spec.port ?? 0;
    const targets = deps.forwardTargets;
    let socket: ForwardSocket;
    try {
      if (targets === undefined) throw new AppError("E_UNAVAILABLE", "This worker does not forward ports");
      const host = await targets.addressOf(spec.instance);
      if (this.#state !== "starting") return;
      socket = new ForwardSocket({
        host,
        port,
        what: `port ${port} of "${spec.instance}"`,
        onOutput: (bytes) => this.#output.send(bytes),
        onInputReady: () => this.#input.resume(),
        onEnd: () => this.#send({ type: "eof" }),
        ...(deps.forwardConnectMs === undefined ? {} : { connectTimeoutMs: deps.forwardConnectMs }),
      });
      this.#process = socket;
      this.#unwatch = targets.watch(spec.instance, (why) => this.#end(null, why));
      await socket.connect();
    } catch (error) {
      return this.#end(null, toAppError(error));
    }
    if (this.#state !== "starting") return;
    this.#feed = socket;
    this.#output.from(socket);
    live.add(socket);
    void socket.exited.then(() => {
      live.delete(socket);
      this.#end(socket.failure === null ? 0 : null, socket.failure ?? undefined);
    });
    this.#to("running");
    this.#input.to(socket);
  }

  /** A kept shell, this session its writer; the client is told its id. @throws MultipassError, AppError E_CONFLICT */
  #keep(spec: KeepableSpec): void {
    const shell = new KeptShell(spec, this.#host, this);
    this.#shell = shell;
    this.#feed = shell.writerFeed(this);
    this.#output.from(this.#feed);
    this.#send({ type: "session", id: spec.id, node: null });
  }

  /**
   * awaiting-start → restoring: a kept shell taken back (or watched): sized
   * to this client if it writes, then `attached`, the screen, and the live
   * stream. @throws AppError E_NOT_FOUND, E_CONFLICT (from the keeper)
   */
  #attach(spec: AttachSpec): void {
    this.#to("restoring");
    const { keeper } = this.#host;
    const shell = spec.readOnly ? keeper.find(spec.id, spec.owner) : keeper.attach(spec.id, spec.owner);
    this.#shell = shell;
    this.#feed = spec.readOnly ? shell.viewerFeed(this) : shell.writerFeed(this);
    if (spec.readOnly) shell.addViewer(this);
    else {
      shell.attachWriter(this);
      if (spec.cols !== shell.cols || spec.rows !== shell.rows) shell.resize(spec.cols, spec.rows);
    }
    this.#output.from(this.#feed);
    this.#output.holdBack();
    this.#input.to(this.#feed);
    this.#send({ type: "attached", id: spec.id, readOnly: spec.readOnly });
    void this.#restoreScreen(shell);
  }

  /** restoring → running: a reset and the screen, then what came since the snapshot. */
  async #restoreScreen(shell: KeptShell): Promise<void> {
    const { screen, through } = await shell.capture();
    if (this.#state !== "restoring") return;
    const sent = await this.#output.restore(new TextEncoder().encode(`\x1bc${screen}`), through);
    if (this.#state !== "restoring") return;
    if (!sent) return this.#dropped();
    this.#to("running");
  }

  /** Bun dropped a frame: end rather than corrupt — a kept shell is left (an attach restores its screen), a process hung up. */
  #dropped(): void {
    this.#host.deps.log.warn(`session on "${this.#instance()}": output dropped under backpressure; ${this.#shell ? "leaving the shell" : "hanging up"}`);
    if (this.#shell) this.#leave("its output was dropped under backpressure", new AppError("E_INTERNAL", "Output was dropped under backpressure; attach again"));
    else this.#process?.hangUp();
  }

  #control(message: SessionControl): void {
    switch (message.type) {
      case "resize":
        if (this.#spec) this.#spec = { ...this.#spec, cols: message.cols, rows: message.rows };
        this.#feed?.resize(message.cols, message.rows);
        break;
      case "eof":
        this.#input.endInput();
        break;
      case "ping":
        this.#send({ type: "pong" });
        break;
      case "detach":
        if (this.#shell) this.#leave("detached by its client");
        break;
      default:
        break;
    }
  }

  /**
   * → ended: its own process (if any) is hung up, and the master is told why
   * (`error`, if any), then `exit`, then the socket closes: always in that order.
   */
  #end(code: number | null, error?: AppError, closeCode: number = SESSION_CLOSE.exit): void {
    if (this.#state === "ended") return;
    this.#finish();
    this.#process?.hangUp();
    if (error) this.#send({ type: "error", code: error.code, message: error.message });
    this.#send({ type: "exit", code });
    this.#socket?.close(closeCode, closeCode === SESSION_CLOSE.exit ? "exit" : "peer timeout");
  }

  /**
   * → ended, the kept shell going on: `error` (if any), `detached`, then the
   * close; a writer's leaving detaches the shell.
   */
  #leave(why: string, error?: AppError, closeCode: number = SESSION_CLOSE.detached, reason?: string): void {
    const shell = this.#shell;
    if (this.#state === "ended" || shell === null) return;
    this.#finish();
    if (error) this.#send({ type: "error", code: error.code, message: error.message });
    this.#send({ type: "detached", id: shell.id, ...(reason === undefined ? {} : { reason }) });
    this.#socket?.close(closeCode, closeCode === SESSION_CLOSE.detached ? "detached" : "peer timeout");
    shell.drop(this, why);
  }

  #finish(): void {
    this.#to("ended");
    this.#unwatch?.();
    clearTimeout(this.#startTimer);
    this.#liveness.stop();
    this.#output.stop();
    // The close handshake needs the socket read.
    this.#input.resume();
  }
}
