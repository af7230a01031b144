/**
 * The state machine of a client's session (see {@link SessionState}): its
 * links to the master one after the other, the frames on them, the local
 * terminal (session-terminal.ts), the escapes, and for a kept shell the
 * reconnects (reconnect.ts). runSession (session.ts) starts one.
 */
import { EXIT } from "../cli/run.ts";
import { messageOf } from "../core/errors.ts";
import { stripControl } from "../core/format.ts";
import { DEFAULT_LIVENESS } from "../net/liveness.ts";
import { CHANNEL_STDERR, CHANNEL_STDOUT, parseSessionControl, SEND_BACKLOG_BYTES, SESSION_CLOSE, type SessionControl } from "../protocol/session.ts";
import { ESCAPE_HELP, type EscapeKey } from "./escapes.ts";
import { attachPath, DEFAULT_RECONNECT, KEPT_LIVENESS, Reconnection, type ReconnectEnd, type Refusal } from "./reconnect.ts";
import type { SessionRequest, SessionState } from "./session.ts";
import { sessionNotes, type KeptShell } from "./session-notes.ts";
import { SessionLink } from "./session-link.ts";
import { SessionTerminal } from "./session-terminal.ts";

/** The path of a session's route, with the terminal and (for exec) the command in its query. */
function sessionPath(request: SessionRequest): string {
  if (request.attach) return attachPath(request.attach.id, request.io.size(), request.attach.readOnly);
  const { cols, rows } = request.io.size();
  const query = new URLSearchParams({ cols: String(cols), rows: String(rows), term: request.io.term });
  // A shell may be kept: ping often from the start, and say so, so that a lost network detaches it in seconds.
  if (request.kind === "shell") query.set("keepalive", String(KEPT_LIVENESS.pingIntervalMs));
  if (request.kind === "exec") {
    query.set("tty", request.tty ? "1" : "0");
    for (const arg of request.command) query.append("arg", arg);
  }
  return `/api/v1/instances/${encodeURIComponent(request.ref)}/${request.kind}?${query}`;
}

/** What a terminal in raw mode sends for Ctrl-C. */
const CTRL_C = 0x03;

/**
 * Remote statuses of a command that the interrupt ended: 130 where a shell
 * reports the SIGINT (128 + 2), 255 where the command itself died of it, as
 * `multipass exec` (like ssh) reports any death by a signal.
 */
const INTERRUPTED_STATUSES = new Set([130, 255]);

/** The status of a client that `~.` disconnected or that could not reattach, as ssh's. */
const EXIT_DISCONNECTED = 255;

export class ClientSession {
  state: SessionState = "connecting";
  private link: SessionLink;
  /** Whether the current link's socket opened (a refused upgrade never does). */
  private linkOpened = false;
  /** The kept shell this is, once known: from the attach request, or the worker's `session` frame. */
  private kept: KeptShell | null;
  private readonly readOnly: boolean;
  private readonly notes: ReturnType<typeof sessionNotes>;
  private readonly terminal: SessionTerminal;
  /** Raw mode only when this terminal is the one typing into the remote terminal. */
  private readonly interactive: boolean;
  /** The remote status from the `exit` frame: undefined until it comes, null when the remote side had none. */
  private exitCode: number | null | undefined;
  /** Why the session failed, as the master (an `error` frame) or the link (silence, a bad frame) said. */
  private remoteError: Refusal | null = null;
  /** The master broke the wire: never reconnect after that. */
  private protocolError = false;
  private detached = false;
  /** Why the worker detached this client when it was not asked to (another client took the shell over). */
  private detachedReason: string | null = null;
  /** The socket is not read while stdout or stderr has a backlog: the master then holds the output back. */
  private outputPaused = false;
  /** The last key typed into the remote terminal was Ctrl-C (an interrupt that raw mode passes on as a byte). */
  private interruptTyped = false;
  private reconnection: Reconnection | null = null;

  constructor(
    private readonly request: SessionRequest,
    private readonly resolve: (code: number) => void,
  ) {
    const { io, tty, attach } = request;
    this.kept = attach ? { id: attach.id, node: attach.node } : null;
    this.readOnly = attach?.readOnly ?? false;
    this.notes = sessionNotes(request.ref);
    this.interactive = tty && io.stdinIsTTY;
    // Without a remote terminal, stdin is forwarded only when something was piped in; a watcher reads only the escapes.
    const forwardStdin = !this.readOnly && (tty || !io.stdinIsTTY);
    this.terminal = new SessionTerminal(
      io,
      { interactive: this.interactive, readStdin: forwardStdin || this.interactive, escapes: this.interactive && request.kind === "shell", resizes: tty && !this.readOnly },
      {
        input: (bytes) => this.input(bytes),
        escape: (key) => this.escape(key),
        eof: () => this.link.control({ type: "eof" }),
        lost: (why) => this.terminalLost(why),
        resize: (size) => this.state === "open" && this.link.control({ type: "resize", ...size }),
        signal: (signal) => this.interrupted(signal),
        writable: () => this.writable(),
      },
    );
    this.link = this.connect(sessionPath(request));
  }

  /** A new link to `path`; the events of a link that is no longer the session's are ignored. */
  private connect(path: string): SessionLink {
    this.linkOpened = false;
    this.outputPaused = false;
    this.exitCode = undefined;
    this.remoteError = null;
    const target = { url: `${this.request.baseUrl.replace(/^http/, "ws")}${path}`, token: this.request.token, tls: this.request.tls };
    const times = this.request.liveness ?? (this.kept || this.request.kind === "shell" || this.request.attach ? KEPT_LIVENESS : DEFAULT_LIVENESS);
    const link: SessionLink = new SessionLink(target, times, {
      open: () => link === this.link && this.opened(),
      message: (data) => link === this.link && this.received(data),
      close: (code, reason) => link === this.link && this.closed(path, code, reason),
      silent: () => link === this.link && this.peerSilent(),
    });
    return link;
  }

  /** The socket opened: the terminal is set up (once); a new session is open, an attach waits for `attached`. */
  private opened(): void {
    this.linkOpened = true;
    if (this.state !== "connecting") return;
    this.state = this.request.attach ? "attaching" : "open";
    if (!this.terminal.start() && !this.readOnly) this.link.control({ type: "eof" });
  }

  /** A frame from the master: output bytes, or a control message. */
  private received(data: string | Uint8Array): void {
    if (this.state === "ended") return;
    if (typeof data === "string") return this.receivedControl(data);
    // A reattach that has not been answered yet has no screen to show.
    if (this.state === "reconnecting") return;
    let more = true;
    if (this.request.tty) more = this.terminal.output(data);
    else if (data[0] === CHANNEL_STDOUT) more = this.terminal.output(data.subarray(1));
    else if (data[0] === CHANNEL_STDERR) more = this.terminal.output(data.subarray(1), "stderr");
    // What the terminal or the pipe has not taken stays with the master, not here.
    if (!more && !this.outputPaused) {
      this.outputPaused = true;
      this.link.pause();
    }
  }

  /** Stdout and stderr took their backlog: the socket is read again. */
  private writable(): void {
    if (!this.outputPaused) return;
    this.outputPaused = false;
    this.link.resume();
  }

  /**
   * Input goes only to an open session, and never from a watcher; keys typed
   * while disconnected are dropped (and the status line says so), never sent
   * late. While the socket has a full backlog, stdin is not read.
   */
  private input(bytes: Uint8Array): void {
    if (this.state === "reconnecting") return this.reconnection?.discard();
    if (this.state !== "open" || this.readOnly) return;
    if (this.interactive && bytes.length > 0) this.interruptTyped = bytes[bytes.length - 1] === CTRL_C;
    this.link.send(bytes);
    if (this.link.bufferedAmount > SEND_BACKLOG_BYTES) this.terminal.holdStdin(() => this.link.bufferedAmount <= SEND_BACKLOG_BYTES || !this.link.isOpen);
  }

  /** Enter ~ and a key. */
  private escape(key: EscapeKey): void {
    if (key === "?") return this.terminal.note(`\r\n${ESCAPE_HELP}\r\n`);
    if (key === ".") return this.leave(EXIT_DISCONNECTED, this.notes.disconnected(this.kept, this.readOnly, this.state === "reconnecting"));
    if (this.readOnly) return this.leave(EXIT.ok, this.notes.stoppedWatching(this.kept));
    if (this.kept === null) return this.terminal.note(`\r\nmultiverse: ${this.notes.notKept}\r\n`);
    // Disconnected, the shell is detached already; not attached yet, leaving is detaching.
    if (this.state !== "open") return this.leave(EXIT.ok, this.notes.detached(this.kept));
    this.state = "detaching";
    this.link.control({ type: "detach" });
  }

  /** This client goes; a kept shell goes on without it. */
  private leave(code: number, note: string): void {
    if (this.state === "reconnecting") this.link.drop();
    else this.link.close(SESSION_CLOSE.exit, "client disconnected");
    this.end(code, note);
  }

  private receivedControl(text: string): void {
    let message: SessionControl;
    try {
      message = parseSessionControl(text);
    } catch (error) {
      this.remoteError = { code: "E_PROTOCOL", message: `the master sent a bad control frame: ${messageOf(error)}` };
      this.protocolError = true;
      this.link.close(SESSION_CLOSE.protocolError, "protocol error");
      return;
    }
    if (message.type === "ping") this.link.control({ type: "pong" });
    else if (message.type === "exit") this.exitCode = message.code;
    else if (message.type === "error") this.remoteError = { code: message.code, message: message.message };
    else if (message.type === "detached") {
      this.detached = true;
      this.detachedReason = message.reason ?? null;
    }
    else if (message.type === "attached") this.attached(message.id);
    else if (message.type === "session" && this.kept === null && this.request.kind === "shell") {
      this.kept = { id: message.id, node: message.node };
      if (!this.request.liveness) this.link.rewatch(KEPT_LIVENESS);
    }
  }

  /** The worker took this client (back): the screen's bytes and the live stream follow. */
  private attached(id: string): void {
    if (this.state !== "attaching" && this.state !== "reconnecting") return;
    if (this.kept) this.kept = { ...this.kept, id };
    if (this.state === "reconnecting") {
      this.reconnection?.stop();
      this.reconnection = null;
      this.terminal.note(this.interactive ? "\r\x1b[K" : "multiverse: reconnected\n");
    }
    this.state = "open";
  }

  /** The master said nothing for too long: a kept shell reconnects; any other session ends, as a failure. */
  private peerSilent(): void {
    if (this.state === "reconnecting") {
      this.link.drop();
      return this.reconnection?.failed({ code: null, message: "the master stopped answering" });
    }
    if (this.kept && this.state === "open") return this.lost();
    this.remoteError = { code: "E_TIMEOUT", message: "the master stopped answering (network lost?)" };
    this.link.close(SESSION_CLOSE.peerTimeout, "peer timeout");
    this.end(EXIT.failure);
  }

  /**
   * The local terminal is gone (EOF or EIO on it): any → ended, as a hang-up
   * would; a shell that is not kept ends too rather than be left waiting.
   */
  private terminalLost(why: string): void {
    this.link.close(SESSION_CLOSE.exit, "client terminal closed");
    this.end(EXIT.interrupted, `${why}; ${this.notes.leftBehind(this.kept)}`);
  }

  /** A signal to the client: any → ended, as interrupted. */
  private interrupted(signal: NodeJS.Signals): void {
    this.link.close(SESSION_CLOSE.exit, "client interrupted");
    this.end(EXIT.interrupted, `interrupted by ${signal}; ${this.notes.leftBehind(this.kept)}`);
  }

  /**
   * The socket closed: → ended with the remote status, the error, or the
   * lost connection; a kept shell → reconnecting; when it never opened,
   * → diagnosing. While reconnecting: that attempt failed.
   */
  private closed(path: string, code: number, reason: string): void {
    if (this.state === "ended") return;
    if (this.state === "reconnecting") return this.attemptClosed(path);
    if (typeof this.exitCode === "number" && this.interruptTyped && INTERRUPTED_STATUSES.has(this.exitCode)) {
      return this.end(EXIT.interrupted, "interrupted by Ctrl-C; the remote command ended");
    }
    if (typeof this.exitCode === "number") return this.end(this.exitCode, this.remoteError?.message);
    if (this.kept && (this.detached || code === SESSION_CLOSE.detached || this.state === "detaching")) {
      // Detached by a failure (the master lost the node, is going away, or a hop went silent: 4004), not on purpose: the shell is kept, so ride it out.
      if (this.state === "open" && (this.remoteError || code === SESSION_CLOSE.peerTimeout) && !this.protocolError) return this.lost();
      const note = this.readOnly ? this.notes.shellDetached(this.kept) : this.notes.detached(this.kept);
      return this.end(EXIT.ok, this.detachedReason === null ? note : `${stripControl(this.detachedReason)}; ${note}`);
    }
    if (this.kept && this.state === "open" && !this.protocolError) return this.lost();
    if (this.remoteError) return this.end(EXIT.failure, this.remoteError.message);
    if (this.state === "open" || this.state === "attaching") return this.end(EXIT.failure, `the connection to the master was lost (code ${code})`);
    const fallback = `cannot open the ${this.request.attach ? "attach" : this.request.kind} session at ${this.request.baseUrl} (code ${code}${reason ? `: ${reason}` : ""})`;
    const { diagnose } = this.request;
    if (!diagnose) return this.end(EXIT.failure, fallback);
    this.state = "diagnosing";
    void diagnose(path).then(
      (why) => this.end(EXIT.failure, why?.message ?? fallback),
      () => this.end(EXIT.failure, fallback),
    );
  }

  /** open → reconnecting: the link is forgotten, and attempts start (reconnect.ts paces and judges them). */
  private lost(): void {
    const kept = this.kept!;
    this.state = "reconnecting";
    this.link.drop();
    this.outputPaused = false;
    // Stdin must be read while disconnected: Enter ~ . has to work.
    this.terminal.releaseStdin();
    const { nodeReady } = this.request;
    this.reconnection = new Reconnection({
      policy: this.request.reconnect ?? DEFAULT_RECONNECT,
      ticking: this.interactive,
      attempt: () => {
        const link = (this.link = this.connect(attachPath(kept.id, this.request.io.size(), this.readOnly)));
        return () => link.drop();
      },
      ...(nodeReady && kept.node !== null ? { nodeReady: () => nodeReady(kept.node!) } : {}),
      end: (outcome) => this.end(EXIT_DISCONNECTED, this.reconnectEnd(kept, outcome)),
      status: (line, first) => this.terminal.note(this.interactive ? `${first ? "\r\n" : "\r\x1b[K"}${line}` : `${line}\n`),
    });
  }

  private reconnectEnd(kept: KeptShell, outcome: ReconnectEnd): string {
    if (outcome.kind === "gaveUp") return this.notes.gaveUp(kept, outcome.elapsedMs, outcome.why);
    const { failure } = outcome;
    return failure.code === "E_NOT_FOUND" ? this.notes.shellGone(failure.message) : `cannot reattach: ${failure.message}`;
  }

  /** The attempt's socket closed before `attached`: why, from the worker's error or the master's refusal. */
  private attemptClosed(path: string): void {
    const { diagnose } = this.request;
    if (this.linkOpened || !diagnose) return this.reconnection?.failed(this.remoteError ?? { code: null, message: "the connection was lost" });
    const link = this.link;
    void diagnose(path).then(
      (why) => link === this.link && this.reconnection?.failed(why ?? { code: null, message: "the master refused the connection" }),
      (error) => link === this.link && this.reconnection?.failed({ code: null, message: messageOf(error) }),
    );
  }

  /** any → ended: restores the local terminal, says why on stderr when there is a why, and reports `code`. */
  private end(code: number, note?: string): void {
    if (this.state === "ended") return;
    this.state = "ended";
    this.reconnection?.stop();
    this.terminal.restore();
    this.link.resume();
    const why = note ?? this.remoteError?.message;
    if (why) this.terminal.note(`${this.interactive ? "\r\n" : ""}multiverse: ${stripControl(why)}\n`);
    void this.request.io.flush().then(() => this.resolve(code));
  }
}
