/**
 * The client's end of a shell or an exec: one WebSocket to the master, the
 * local terminal in raw mode while the session is interactive, and the
 * remote status as the result. The local terminal is restored on every way
 * out — remote exit, master death, network loss, a signal to the client —
 * and an end that is not a normal exit is explained on stderr.
 */
import { EXIT } from "../cli/run.ts";
import { messageOf } from "../core/errors.ts";
import { stripControl } from "../core/format.ts";
import { DEFAULT_LIVENESS, watchPeer, type Liveness, type LivenessTimes } from "../net/liveness.ts";
import { CHANNEL_STDERR, CHANNEL_STDOUT, controlFrame, parseSessionControl, SEND_BACKLOG_BYTES, SESSION_CLOSE, type SessionControl, type SessionKind } from "../protocol/session.ts";
import type { TerminalIo } from "./terminal-io.ts";

export interface SessionRequest {
  /**
   * Explains a refused upgrade (the WebSocket shows only code 1006): asks the
   * same route over plain HTTP and returns the master's error message.
   */
  diagnose?: (path: string) => Promise<string | null>;
  /** http(s) base URL of the master. */
  baseUrl: string;
  token: string | null;
  /** Trust for an https master. */
  tls?: { ca: string } | undefined;
  kind: SessionKind;
  /** `NAME@NODE`, already resolved. */
  ref: string;
  command: string[];
  /** Run the remote side under a terminal. */
  tty: boolean;
  io: TerminalIo;
  liveness?: LivenessTimes;
}

/**
 * Where a client's session is. It only moves forward: `connecting` → `open`
 * when the WebSocket opens; `connecting` → `diagnosing` when the upgrade is
 * refused and the master is asked why; any → `ended` once, when the terminal
 * is restored and the status reported.
 */
export type SessionState = "connecting" | "open" | "diagnosing" | "ended";

/** Runs a session to its end; resolves with the exit status the client should have. */
export function runSession(request: SessionRequest): Promise<number> {
  return new Promise((resolve) => {
    // The session lives on in the listeners of its socket and of the terminal.
    new ClientSession(request, resolve);
  });
}

/** The path of a session's route, with the terminal and (for exec) the command in its query. */
function sessionPath(request: SessionRequest): string {
  const { cols, rows } = request.io.size();
  const query = new URLSearchParams({ cols: String(cols), rows: String(rows), term: request.io.term });
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

/** The bytes of a binary frame, or null when `data` holds none. */
function frameBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

class ClientSession {
  state: SessionState = "connecting";
  /** The remote status from the `exit` frame: undefined until it comes, null when the remote side had none. */
  private exitCode: number | null | undefined;
  /** Why the session failed, as the master (an `error` frame) or the link (silence, a bad frame) said. */
  private remoteError: string | null = null;
  /** What `end` undoes, in reverse order: liveness, signals, raw mode, resize and stdin listeners. */
  private readonly cleanups: (() => void)[] = [];
  private readonly ws: WebSocket;
  private readonly path: string;
  private readonly liveness: Liveness;
  /** Raw mode only when this terminal is the one typing into the remote terminal. */
  private readonly interactive: boolean;
  /** Without a remote terminal, stdin is forwarded only when something was piped in. */
  private readonly forwardStdin: boolean;
  /** The socket is not read while stdout or stderr has a backlog: the master then holds the output back. */
  private outputPaused = false;
  /** Stdin is not read while the socket has a full backlog; this looks for it to drain (a client WebSocket has no drain event). */
  private stdinPoll: ReturnType<typeof setInterval> | undefined;
  /** The last key typed into the remote terminal was Ctrl-C (an interrupt that raw mode passes on as a byte). */
  private interruptTyped = false;

  constructor(
    private readonly request: SessionRequest,
    private readonly resolve: (code: number) => void,
  ) {
    const { io, tty } = request;
    this.path = sessionPath(request);
    this.ws = new WebSocket(`${request.baseUrl.replace(/^http/, "ws")}${this.path}`, {
      headers: request.token ? { authorization: `Bearer ${request.token}` } : {},
      ...(request.tls ? { tls: request.tls } : {}),
    });
    this.ws.binaryType = "arraybuffer";
    this.interactive = tty && io.stdinIsTTY;
    this.forwardStdin = tty || !io.stdinIsTTY;
    this.liveness = watchPeer(
      request.liveness ?? DEFAULT_LIVENESS,
      () => {
        // While the socket is not read, the master's frames wait unread: the silence is ours.
        if (this.outputPaused) this.liveness.heard();
        this.control({ type: "ping" });
      },
      () => this.peerSilent(),
    );
    this.cleanups.push(() => this.liveness.stop());
    this.cleanups.push(io.onWritable(() => this.writable()));
    this.cleanups.push(() => clearInterval(this.stdinPoll));
    this.cleanups.push(io.onSignal((signal) => this.interrupted(signal)));
    this.ws.onopen = () => this.opened();
    this.ws.onmessage = (event) => this.received(event.data);
    this.ws.onclose = (event) => this.closed(event.code, event.reason);
  }

  private send(frame: string | Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  private control(message: SessionControl): void {
    this.send(controlFrame(message));
  }

  /** connecting → open: the local terminal goes raw (when interactive) and starts feeding the remote side. */
  private opened(): void {
    if (this.state !== "connecting") return;
    this.state = "open";
    const { io, tty } = this.request;
    if (this.interactive) {
      io.setRaw(true);
      this.cleanups.push(() => io.setRaw(false));
    }
    if (tty) this.cleanups.push(io.onResize(() => this.control({ type: "resize", ...io.size() })));
    if (this.forwardStdin) {
      this.cleanups.push(
        io.readStdin(
          (bytes) => this.sendInput(bytes),
          // A terminal in raw mode sends Ctrl-D as a byte: its end of input means it has closed.
          () => (this.interactive ? this.terminalLost("the terminal closed") : this.control({ type: "eof" })),
          (error) => this.terminalLost(`the terminal failed (${messageOf(error)})`),
        ),
      );
    } else {
      this.control({ type: "eof" });
    }
  }

  /** A frame from the master: output bytes, or a control message. */
  private received(data: unknown): void {
    if (this.state === "ended") return;
    this.liveness.heard();
    if (typeof data === "string") return this.receivedControl(data);
    const bytes = frameBytes(data);
    if (bytes === null) return;
    const { io } = this.request;
    let more = true;
    if (this.request.tty) more = io.writeStdout(bytes);
    else if (bytes[0] === CHANNEL_STDOUT) more = io.writeStdout(bytes.subarray(1));
    else if (bytes[0] === CHANNEL_STDERR) more = io.writeStderr(bytes.subarray(1));
    // What the terminal or the pipe has not taken stays with the master, not here.
    if (!more && !this.outputPaused) {
      this.outputPaused = true;
      this.ws.pause();
    }
  }

  /** Stdout and stderr took their backlog: the socket is read again. */
  private writable(): void {
    if (!this.outputPaused) return;
    this.outputPaused = false;
    this.ws.resume();
  }

  /** Stdin for the remote side; while the socket has a full backlog, stdin is not read. */
  private sendInput(bytes: Uint8Array): void {
    if (this.interactive && bytes.length > 0) this.interruptTyped = bytes[bytes.length - 1] === CTRL_C;
    this.send(bytes);
    if (this.stdinPoll !== undefined || this.ws.bufferedAmount <= SEND_BACKLOG_BYTES) return;
    const { io } = this.request;
    io.pauseStdin();
    this.stdinPoll = setInterval(() => {
      if (this.ws.bufferedAmount > SEND_BACKLOG_BYTES && this.ws.readyState === WebSocket.OPEN) return;
      clearInterval(this.stdinPoll);
      this.stdinPoll = undefined;
      io.resumeStdin();
    }, 20);
  }

  private receivedControl(text: string): void {
    let message: SessionControl;
    try {
      message = parseSessionControl(text);
    } catch (error) {
      this.remoteError = `the master sent a bad control frame: ${messageOf(error)}`;
      this.ws.close(SESSION_CLOSE.protocolError, "protocol error");
      return;
    }
    if (message.type === "ping") this.control({ type: "pong" });
    else if (message.type === "exit") this.exitCode = message.code;
    else if (message.type === "error") this.remoteError = message.message;
  }

  /** The master said nothing for too long: any → ended, as a failure. */
  private peerSilent(): void {
    this.remoteError = "the master stopped answering (network lost?)";
    this.ws.close(SESSION_CLOSE.peerTimeout, "peer timeout");
    this.end(EXIT.failure);
  }

  /**
   * The local terminal is gone (EOF or EIO on it): any → ended, as a hang-up
   * would, so the remote side is ended too rather than left waiting.
   */
  private terminalLost(why: string): void {
    this.ws.close(SESSION_CLOSE.exit, "client terminal closed");
    this.end(EXIT.interrupted, `${why}; session closed`);
  }

  /** A signal to the client: any → ended, as interrupted. */
  private interrupted(signal: NodeJS.Signals): void {
    this.ws.close(SESSION_CLOSE.exit, "client interrupted");
    this.end(EXIT.interrupted, `interrupted by ${signal}; session closed`);
  }

  /**
   * The socket closed: → ended with the remote status, the error, or the lost
   * connection; or, when it never opened, → diagnosing.
   */
  private closed(code: number, reason: string): void {
    if (this.state === "ended") return;
    if (typeof this.exitCode === "number" && this.interruptTyped && INTERRUPTED_STATUSES.has(this.exitCode)) {
      return this.end(EXIT.interrupted, "interrupted by Ctrl-C; the remote command ended");
    }
    if (typeof this.exitCode === "number") return this.end(this.exitCode, this.remoteError ?? undefined);
    if (this.remoteError) return this.end(EXIT.failure);
    if (this.state === "open") return this.end(EXIT.failure, `the connection to the master was lost (code ${code})`);
    const fallback = `cannot open the ${this.request.kind} session at ${this.request.baseUrl} (code ${code}${reason ? `: ${reason}` : ""})`;
    const { diagnose } = this.request;
    if (!diagnose) return this.end(EXIT.failure, fallback);
    this.state = "diagnosing";
    void diagnose(this.path).then(
      (why) => this.end(EXIT.failure, why ?? fallback),
      () => this.end(EXIT.failure, fallback),
    );
  }

  /** any → ended: restores the local terminal, says why on stderr when there is a why, and reports `code`. */
  private end(code: number, note?: string): void {
    if (this.state === "ended") return;
    this.state = "ended";
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      try {
        cleanup();
      } catch {
        // Restoring must go on even if one step fails.
      }
    }
    // The close handshake needs the socket read.
    this.ws.resume();
    const { io } = this.request;
    io.setRaw(false);
    const why = note ?? this.remoteError;
    if (why) io.writeStderr(`${this.interactive ? "\r\n" : ""}multiverse: ${stripControl(why)}\n`);
    void io.flush().then(() => this.resolve(code));
  }
}
