/**
 * A kept shell (issue 12): a terminal shell that may outlive its client. It
 * owns its process (from the Multipass driver) and its screen mirror, and
 * knows who is connected: at most one writer (the attached client, whose
 * keys and resizes reach the PTY) and any number of read-only viewers. The
 * session keeper (session-keeper.ts) owns the shell itself: it detaches it
 * when the writer goes, ends it past its grace period or the bounds, and
 * ends them all when the worker stops.
 *
 * Output goes to the mirror, and to the clients connected; with nobody
 * attached only to the mirror, so nothing but the mirror's bounded screen
 * and scrollback is held for an absent client. The PTY's output is paused
 * (as a session's is for a slow master) while any holder asks: a client's
 * socket with a backlog, or the mirror with bytes it has not parsed.
 *
 * Its life: running ──exit──▶ exited; running ──end(reason)──▶ ending (the
 * process is hung up) ──exit──▶ exited. The mirror is freed once exited.
 */
import { AppError } from "../core/errors.ts";
import { LOGIN_SHELL, type ExecProcess } from "../multipass/driver.ts";
import { SEND_BACKLOG_BYTES, type SessionSpec } from "../protocol/session.ts";
import { ScreenMirror } from "./screen-mirror.ts";
import type { HostContext } from "./session-host.ts";
import type { Keepable } from "./session-keeper.ts";

/** Bytes the mirror may have unparsed before the PTY is paused for it. */
export const MIRROR_BACKLOG_BYTES = SEND_BACKLOG_BYTES;

/** A connected client, as the shell sees it (a session socket's handler). */
export interface ShellClient {
  /** Bytes of the shell's output; `at` is the offset of their first byte in the shell's whole output. */
  output(bytes: Uint8Array, at: number): void;
  /**
   * The shell has ended: `code` is its status, or null when the worker ended
   * it, with `error` saying why. The client is no longer connected.
   */
  ended(code: number | null, error?: AppError): void;
  /** The program took the input backlog: the writer's socket may be read again. */
  inputReady(): void;
  /** Another client of the same token attached as the writer: this one leaves, the shell goes on. */
  displaced(): void;
}

/** What a connected client does to the shell: a writer types and resizes; a viewer's feed only holds output. */
export interface ShellFeed {
  write(bytes: Uint8Array): boolean;
  endInput(): void;
  resize(cols: number, rows: number): void;
  pauseOutput(): void;
  resumeOutput(): void;
}

export type KeptShellState = "running" | "ending" | "exited";

/** The start frame of a shell to keep: a terminal shell with the master's id and its opener's token id. */
export type KeepableSpec = SessionSpec & { id: string; owner: string };

export class KeptShell implements Keepable {
  readonly id: string;
  readonly owner: string;
  readonly instance: string;
  readonly startedAt: number;
  readonly process: ExecProcess;
  #state: KeptShellState = "running";
  readonly #mirror: ScreenMirror;
  readonly #host: HostContext;
  #writer: ShellClient | null;
  readonly #viewers = new Set<ShellClient>();
  /** Who wants the PTY's output paused; it is read while nobody does. */
  readonly #holds = new Set<unknown>();
  /** Bytes of output so far. */
  #written = 0;
  #lastActivity: number;
  /** Why the worker ended it (grace, eviction, shutdown); null while it runs or when it exited by itself. */
  #endReason: string | null = null;

  /**
   * Starts the login shell under a PTY and registers it with the keeper and
   * among the host's live processes, attached to `writer`.
   * @throws AppError E_CONFLICT when a shell of that id is kept already;
   *   MultipassError as the driver's exec does (nothing is registered then)
   */
  constructor(spec: KeepableSpec, host: HostContext, writer: ShellClient) {
    const { deps, keeper, live } = host;
    if (keeper.get(spec.id)) throw new AppError("E_CONFLICT", `A shell with id ${spec.id} is already kept on this node`);
    this.#host = host;
    this.id = spec.id;
    this.owner = spec.owner;
    this.instance = spec.instance;
    this.startedAt = host.now();
    this.#lastActivity = this.startedAt;
    this.#writer = writer;
    this.process = deps.multipass.exec({
      instance: spec.instance,
      command: LOGIN_SHELL,
      env: deps.env,
      term: spec.term,
      terminal: { cols: spec.cols, rows: spec.rows },
      ...(deps.graceMs === undefined ? {} : { graceMs: deps.graceMs }),
      onOutput: (_stream, bytes) => this.#output(bytes),
      onInputReady: () => this.#writer?.inputReady(),
    });
    this.#mirror = new ScreenMirror({ cols: spec.cols, rows: spec.rows });
    keeper.add(this);
    live.add(this.process);
    void this.process.exited.then((code) => {
      live.delete(this.process);
      this.#exited(code);
    });
  }

  get state(): KeptShellState {
    return this.#state;
  }

  get cols(): number {
    return this.#mirror.cols;
  }

  get rows(): number {
    return this.#mirror.rows;
  }

  get viewers(): number {
    return this.#viewers.size;
  }

  lastActivityAt(): number {
    return this.#lastActivity;
  }

  memoryBytes(): number {
    return this.#mirror.memoryBytes();
  }

  /** The writer's feed: its keys, eof and resizes reach the PTY; its backlog holds the output. */
  writerFeed(client: ShellClient): ShellFeed {
    return {
      write: (bytes) => {
        if (this.#writer !== client || this.#state !== "running") return true;
        this.#lastActivity = this.#host.now();
        return this.process.write(bytes);
      },
      endInput: () => {
        if (this.#writer === client) this.process.endInput();
      },
      resize: (cols, rows) => {
        if (this.#writer === client) this.resize(cols, rows);
      },
      pauseOutput: () => this.#hold(client),
      resumeOutput: () => this.#release(client),
    };
  }

  /** A viewer's feed: no say in the shell; its backlog holds the output like anyone's. */
  viewerFeed(client: ShellClient): ShellFeed {
    return {
      write: () => true,
      endInput: () => {},
      resize: () => {},
      pauseOutput: () => this.#hold(client),
      resumeOutput: () => this.#release(client),
    };
  }

  /** The PTY and the mirror at a new size (the mirror first, so the next snapshot has it). */
  resize(cols: number, rows: number): void {
    if (this.#state === "exited") return;
    this.#mirror.resize(cols, rows);
    this.process.resize(cols, rows);
  }

  /** `client` is the writer now (the keeper has attached it); a writer it takes over from is told, and leaves. */
  attachWriter(client: ShellClient): void {
    const previous = this.#writer;
    this.#writer = client;
    if (previous !== null && previous !== client) previous.displaced();
  }

  addViewer(client: ShellClient): void {
    if (this.#state === "running") this.#viewers.add(client);
  }

  /**
   * `client` is gone (its socket closed, it detached, or it broke the wire):
   * a viewer just leaves; the writer's leaving detaches the shell (which the
   * keeper may end at once, with no grace period).
   */
  drop(client: ShellClient, why: string): void {
    this.#release(client);
    if (this.#viewers.delete(client) || this.#writer !== client) return;
    this.#writer = null;
    if (this.#state === "running") this.#host.keeper.detach(this.id, why);
  }

  /**
   * The screen as terminal output for a freshly reset terminal, and the
   * offset in the output it reflects: output from there on is live.
   */
  capture(): Promise<{ screen: string; through: number }> {
    return this.#mirror.capture();
  }

  /** Ends it (the keeper's call, which has already let it go): the process is hung up and every client told why. */
  end(reason: string): void {
    if (this.#state !== "running") return;
    this.#state = "ending";
    this.#endReason = reason;
    this.process.hangUp();
    const error = new AppError("E_CANCELLED", `Shell ${this.id} on "${this.instance}" was ended: ${reason}`);
    for (const client of this.#clients()) client.ended(null, error);
  }

  #clients(): ShellClient[] {
    const clients = [...this.#viewers];
    if (this.#writer) clients.unshift(this.#writer);
    this.#writer = null;
    this.#viewers.clear();
    return clients;
  }

  #output(bytes: Uint8Array): void {
    this.#lastActivity = this.#host.now();
    const at = this.#written;
    this.#written += bytes.length;
    this.#mirror.write(bytes);
    if (this.#mirror.pendingBytes > MIRROR_BACKLOG_BYTES) this.#holdForMirror();
    this.#writer?.output(bytes, at);
    for (const viewer of this.#viewers) viewer.output(bytes, at);
  }

  /** Paused until the mirror has parsed what it has (more may come in flight: it waits again). */
  #holdForMirror(): void {
    const key = this.#mirror;
    if (this.#holds.has(key)) return;
    this.#hold(key);
    const wait = (): void => {
      void this.#mirror.settled().then(() => {
        if (this.#mirror.pendingBytes > MIRROR_BACKLOG_BYTES && this.#state !== "exited") return wait();
        this.#release(key);
      });
    };
    wait();
  }

  #hold(key: unknown): void {
    if (this.#holds.has(key)) return;
    this.#holds.add(key);
    if (this.#holds.size === 1) this.process.pauseOutput();
  }

  #release(key: unknown): void {
    if (this.#holds.delete(key) && this.#holds.size === 0) this.process.resumeOutput();
  }

  /** The process is gone: it leaves the keeper, its clients get its status (unless ended), and the mirror is freed. */
  #exited(code: number): void {
    const wasRunning = this.#state === "running";
    this.#state = "exited";
    this.#host.keeper.remove(this.id);
    const reason = this.#endReason ?? `exited with status ${code}`;
    this.#host.deps.onShellEnded?.({ id: this.id, instance: this.instance, owner: this.owner, exitCode: wasRunning ? code : null, reason });
    if (wasRunning) {
      if (this.#writer === null) this.#host.deps.log.info(`shell ${this.id} on "${this.instance}" exited (status ${code}) while detached`);
      for (const client of this.#clients()) client.ended(code);
    }
    this.#holds.clear();
    this.#mirror.dispose();
  }
}
