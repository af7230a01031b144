/**
 * The browser terminal's connection to a shell, over the session wire: a new
 * shell, or a kept one taken back through the attach route, and the ride
 * through drops (0.5 s doubling to 5 s, as the CLI). A state machine: `status`
 * says where it is, and every close goes through shell-policy's afterClose.
 */
import type { ErrorCode } from "../core/errors.ts";
import { parseInstanceView, parseNodeView } from "../protocol/api.ts";
import { controlFrame, parseSessionControl, parseSessionId, type SessionControl } from "../protocol/session.ts";
import { ApiError, getJson } from "./api.ts";
import { parseSessionListing } from "./session-listing.ts";
import { afterClose, attachPath, KEEPALIVE_MS, reconnectDelay, RECONNECT_LIMIT_MS, shellPath, SILENCE_MS, socketUrl, storageKey, type ConnectionFacts, type ShellStatus, type Size } from "./shell-policy.ts";

export interface TerminalSink {
  write: (data: Uint8Array) => void;
  /** Clears the screen before a kept shell's screen is restored. */
  reset: () => void;
  size: () => Size;
}

type Mode = { kind: "shell" } | { kind: "attach"; id: string; firstLoad: boolean };

/** One WebSocket and what it saw; it ends once, by its close or by silence. */
class Connection {
  readonly socket: WebSocket;
  readonly facts: ConnectionFacts;
  errorMessage: string | undefined;
  /** Whether the upgrade was accepted: a refused one closes with 1006 and nothing a page can read. */
  opened = false;
  private heardAt = Date.now();
  private done = false;
  private readonly pinger: ReturnType<typeof setInterval>;

  constructor(
    readonly mode: Mode,
    url: string,
    private readonly events: { onOpen: () => void; onBytes: (data: Uint8Array) => void; onControl: (c: SessionControl) => void; onEnd: (code: number) => void },
  ) {
    this.facts = { established: false, closeCode: 1006, sessionId: mode.kind === "attach" ? mode.id : null };
    this.socket = new WebSocket(url);
    this.socket.binaryType = "arraybuffer";
    // A dead network may take minutes to close a socket: silence past SILENCE_MS ends it here.
    this.pinger = setInterval(() => (Date.now() - this.heardAt > SILENCE_MS ? this.end(4004) : this.send({ type: "ping" })), KEEPALIVE_MS);
    this.socket.addEventListener("open", () => {
      this.heardAt = Date.now();
      this.opened = true;
      events.onOpen();
    });
    this.socket.addEventListener("message", (event: MessageEvent<unknown>) => this.receive(event.data));
    this.socket.addEventListener("close", (event) => this.end(event.code));
  }

  get open(): boolean {
    return !this.done && this.socket.readyState === WebSocket.OPEN;
  }

  send(message: SessionControl): void {
    if (this.open) this.socket.send(controlFrame(message));
  }

  sendBytes(data: Uint8Array<ArrayBuffer>): void {
    if (this.open) this.socket.send(data);
  }

  private receive(data: unknown): void {
    this.heardAt = Date.now();
    if (data instanceof ArrayBuffer) return this.events.onBytes(new Uint8Array(data));
    if (typeof data !== "string") return;
    let message: SessionControl;
    try {
      message = parseSessionControl(data);
    } catch {
      return this.socket.close(1008, "bad control frame");
    }
    if (message.type === "ping") return this.send({ type: "pong" });
    if (message.type === "exit") this.facts.exit = { code: message.code };
    if (message.type === "detached") this.facts.detached = message.reason === undefined ? {} : { reason: message.reason };
    if (message.type === "session") this.facts.sessionId = message.id;
    if (message.type === "error") {
      this.facts.error = message.code;
      this.errorMessage = message.message;
    }
    this.events.onControl(message);
  }

  /** Ends the connection; the owner hears of it unless `quiet`. */
  end(code: number, quiet = false): void {
    if (this.done) return;
    this.done = true;
    clearInterval(this.pinger);
    this.facts.closeCode = code;
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    if (!quiet) this.events.onEnd(code);
  }
}

/** A page's shell into instance `ref`: start it, type into it, resize it, detach from it, leave it. */
export class ShellLink {
  private status: ShellStatus = { state: "connecting" };
  private conn: Connection | null = null;
  private sessionId: string | null = null;
  private attempt = 0;
  private lostAt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly ref: string,
    private readonly sink: TerminalSink,
    private readonly onStatus: (status: ShellStatus) => void,
  ) {}

  /** Takes the page's kept shell back when it has one, else opens a new shell. */
  start(): void {
    this.stopped = false;
    const stored = this.stored();
    this.setStatus({ state: "connecting" });
    this.sessionId = stored;
    this.connect(stored === null ? { kind: "shell" } : { kind: "attach", id: stored, firstLoad: true });
  }

  input(data: string): void {
    if (this.status.state === "connected" && !this.status.readOnly) this.conn?.sendBytes(this.encoder.encode(data));
  }

  resize(size: Size): void {
    if (this.status.state === "connected") this.conn?.send({ type: "resize", ...size });
  }

  /** Leaves the shell running on its node; a reload takes it back. */
  detach(): void {
    if (this.sessionId !== null) this.conn?.send({ type: "detach" });
  }

  /** Ends the page's connection (the view is left); a kept shell stays kept. */
  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.conn?.end(1000, true);
    this.conn = null;
  }

  private setStatus(next: ShellStatus): void {
    this.status = next;
    this.onStatus(next);
  }

  private stored(): string | null {
    try {
      const id = sessionStorage.getItem(storageKey(this.ref));
      return id === null ? null : parseSessionId(id, "stored");
    } catch {
      return null;
    }
  }

  private remember(id: string | null): void {
    this.sessionId = id;
    try {
      if (id === null) sessionStorage.removeItem(storageKey(this.ref));
      else sessionStorage.setItem(storageKey(this.ref), id);
    } catch {
      // Storage refused: a reload starts a new shell instead of taking this one back.
    }
  }

  private connect(mode: Mode): void {
    clearTimeout(this.timer);
    const size = this.sink.size();
    const path = mode.kind === "shell" ? shellPath(this.ref, size) : attachPath(mode.id, size);
    const conn: Connection = new Connection(mode, socketUrl(location, path), {
      onOpen: () => {
        if (mode.kind !== "shell") return;
        conn.facts.established = true;
        this.attempt = 0;
        this.setStatus({ state: "connected", readOnly: false });
      },
      onBytes: (data) => this.sink.write(data),
      onControl: (message) => {
        if (message.type === "session") this.remember(message.id);
        if (message.type !== "attached") return;
        conn.facts.established = true;
        this.attempt = 0;
        this.sink.reset();
        this.setStatus({ state: "connected", readOnly: message.readOnly });
      },
      onEnd: () => this.ended(conn),
    });
    this.conn = conn;
  }

  private ended(conn: Connection): void {
    if (this.conn === conn) this.conn = null;
    if (this.stopped) return;
    const { mode, facts } = conn;
    if (mode.kind === "attach" && !facts.established) return this.attachFailed(mode, facts.error);
    if (mode.kind === "shell" && !conn.opened) return void this.explainRefusal();
    const next = afterClose({ ...facts, sessionId: facts.sessionId ?? this.sessionId });
    if (next.kind === "detached") return this.setStatus({ state: "detached", reason: next.reason });
    if (next.kind === "reconnect") {
      this.lostAt = Date.now();
      this.setStatus({ state: "reconnecting", sinceMs: this.lostAt });
      return this.retry(facts.sessionId ?? this.sessionId!);
    }
    this.remember(null);
    const message = next.kind === "lost" ? (conn.errorMessage ?? "the connection was lost, and this shell was not kept by its node") : conn.errorMessage;
    this.setStatus({ state: "ended", code: next.kind === "ended" ? next.code : null, ...(message === undefined ? {} : { message }) });
  }

  /** A new shell's upgrade was refused: the instance's own answer says why (gone, or in what state). */
  private async explainRefusal(): Promise<void> {
    let message: string;
    try {
      const instance = await getJson(`/api/v1/instances/${encodeURIComponent(this.ref)}`, (v) => parseInstanceView(v, "instance"));
      message = `the master refused the shell (${this.ref} is ${instance.state})`;
    } catch (error) {
      message = error instanceof Error ? error.message : String(error);
    }
    if (!this.stopped) this.setStatus({ state: "ended", code: null, message });
  }

  private retry(id: string): void {
    if (Date.now() - this.lostAt > RECONNECT_LIMIT_MS) return this.setStatus({ state: "ended", code: null, message: "gave up reconnecting after 10 minutes" });
    this.timer = setTimeout(() => this.connect({ kind: "attach", id, firstLoad: false }), reconnectDelay(this.attempt++));
  }

  private attachFailed(mode: { id: string; firstLoad: boolean }, code: ErrorCode | undefined): void {
    if (mode.firstLoad) {
      // The stored shell is not there to take back (it ended, or this token cannot have it): a new one.
      this.remember(null);
      return this.connect({ kind: "shell" });
    }
    if (code === "E_UNAUTHORIZED" || code === "E_FORBIDDEN") return this.setStatus({ state: "ended", code: null, message: "the session ended: log in again" });
    void stillKept(mode.id, this.ref).then((kept) => {
      if (this.stopped) return;
      if (kept !== false) return this.retry(mode.id);
      this.remember(null);
      this.setStatus({ state: "ended", code: null, message: "the shell is gone (it ended, or its grace period passed)" });
    });
  }
}

/**
 * Whether the master still lists shell `id` as this token's; null when it
 * cannot say: unreachable, or the shell's node not Ready (a master that has
 * just restarted knows a node's shells only once the node joins it again).
 */
async function stillKept(id: string, ref: string): Promise<boolean | null> {
  try {
    const sessions = await getJson("/api/v1/sessions", parseSessionListing);
    if (sessions.some((s) => s.id === id && s.mine)) return true;
    const node = await getJson(`/api/v1/nodes/${encodeURIComponent(ref.split("@")[1] ?? "")}`, (v) => parseNodeView(v, "node"));
    return node.state === "Ready" ? false : null;
  } catch (error) {
    return error instanceof ApiError && error.status === 401 ? false : null;
  }
}
