/**
 * The wire of interactive shells and execs: one WebSocket per session, on
 * both hops (client ⇄ master ⇄ worker).
 *
 * - Binary frames carry bytes. Towards the program: its input (keys, piped
 *   stdin). From the program: with a terminal, the terminal's bytes as they
 *   are; without one, the first byte names the stream
 *   ({@link CHANNEL_STDOUT} or {@link CHANNEL_STDERR}) and the rest is data.
 * - Text frames carry one JSON {@link SessionControl} each. The server always
 *   sends `exit` before it closes; `code` is the remote status, or null when
 *   the session failed before the program could report one (an `error`
 *   frame then says why).
 * - Either side sends `ping` at least every {@link PING_INTERVAL_MS}; the
 *   other answers `pong`. Silence for {@link PEER_TIMEOUT_MS} means the peer
 *   is gone. This keeps idle sessions alive through proxies.
 *
 * Kept shells (issue 12). A terminal shell whose start frame carries an `id`
 * and an `owner` (the token id of the client that opened it) may outlive its
 * client: the worker keeps it for its grace period, and a client of the same
 * token attaches again with an {@link AttachSpec} as the start frame.
 * - Right after such a shell starts, the worker sends `session` (its id; the
 *   master fills in the node) so the client can come back to it.
 * - The answer to an attach is `attached`, then binary frames that restore
 *   the screen on a freshly reset terminal, then the live stream.
 * - The client may send `detach`: the worker answers `detached` and closes
 *   with {@link SESSION_CLOSE.detached}; the shell goes on. Closing without
 *   `exit` is allowed only this way: every other end is `exit`, then close.
 * - A read-only attach gets the output and no say: its input and resizes
 *   are ignored, and its `detach` only ends its own watch (`detached`). It
 *   stays while the shell is detached (it does not stop the grace clock),
 *   and gets `exit` when the shell ends (after `error` when the worker ended it).
 *
 * Forwards (issue 14): a `forward` session carries one TCP connection to a
 * port of the instance, on this same wire (forward.ts).
 */
import { AppError, isErrorCode, type ErrorCode } from "../core/errors.ts";
import { arrayOf, boolean, field, integer, object, optional, ParseError, parseJson, string } from "../core/parse.ts";
import { validateInstanceName } from "../core/validate.ts";
import { WS_CLOSE } from "./close.ts";
import { parseForwardSpec } from "./forward.ts";

/** Close codes of a session socket, on both hops. */
export const SESSION_CLOSE = {
  /** After the `exit` frame: the program ended, or the session was ended. */
  exit: WS_CLOSE.normal,
  /** The peer sent nothing, not even a pong, for {@link PEER_TIMEOUT_MS}. */
  peerTimeout: 4004,
  /** A text frame that is not a {@link SessionControl}. */
  badControl: WS_CLOSE.policyViolation,
  /** The server broke the wire (a frame out of place). */
  protocolError: WS_CLOSE.protocolError,
  /** After a `detached` frame: the shell goes on without this client. */
  detached: 4010,
} as const;

export const CHANNEL_STDOUT = 1;
export const CHANNEL_STDERR = 2;

/**
 * Flow control, the same on every hop: a side that has more than this many
 * bytes queued for its peer (a WebSocket's buffered amount, an HTTP answer's
 * queue, a program's unread input) stops reading what feeds that queue — its
 * other socket, the program's output, the local stdin — and reads again once
 * the queue is back under it. So a slow reader slows the program down, and
 * what a session holds on each hop stays bounded.
 */
export const SEND_BACKLOG_BYTES = 1024 * 1024;

export const PING_INTERVAL_MS = 20_000;
export const PEER_TIMEOUT_MS = 65_000;

/**
 * A client may say how often it pings (`keepalive=MS` in a session route's
 * query, at least {@link MIN_KEEPALIVE_MS}, at most {@link PING_INTERVAL_MS}):
 * the master then pings it as often and counts it gone after four missed
 * intervals (at least {@link MIN_PEER_TIMEOUT_MS}) rather than 65 s — so a
 * kept shell whose client lost its network is detached in seconds, its grace
 * period starts, and the client's reattach finds it free.
 */
export const MIN_KEEPALIVE_MS = 1_000;
export const MIN_PEER_TIMEOUT_MS = 10_000;

/** The client's declared ping interval from a session route's query; null when it declares none. @throws AppError E_USAGE */
export function keepaliveFromQuery(query: URLSearchParams): number | null {
  const text = query.get("keepalive");
  if (text === null) return null;
  const ms = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(ms >= MIN_KEEPALIVE_MS && ms <= PING_INTERVAL_MS)) {
    throw new AppError("E_USAGE", `Invalid keepalive "${text.slice(0, 20)}": expected milliseconds between ${MIN_KEEPALIVE_MS} and ${PING_INTERVAL_MS}`);
  }
  return ms;
}

export const DEFAULT_COLS = 80;
export const DEFAULT_ROWS = 24;
const MAX_DIMENSION = 1000;
const MAX_ARGS = 1024;
const MAX_ARGV_BYTES = 128 * 1024;

export type SessionControl =
  | { type: "resize"; cols: number; rows: number }
  | { type: "eof" }
  | { type: "ping" }
  | { type: "pong" }
  | { type: "exit"; code: number | null }
  | { type: "error"; code: ErrorCode; message: string }
  /** Worker → client: this shell is kept, under this id (node: filled in by the master). */
  | { type: "session"; id: string; node: string | null }
  /** Worker → client: attached; the screen's bytes come next. */
  | { type: "attached"; id: string; readOnly: boolean }
  /** Client → worker: leave the shell running without this client. */
  | { type: "detach" }
  /** Worker → client: this client is detached (it asked, its hop failed, or another client of the same token took the shell over: `reason` says so), the shell goes on; the close follows. */
  | { type: "detached"; id: string; reason?: string };

export type SessionKind = "shell" | "exec" | "forward";

/** What to run: the first text frame of a master → worker session. */
export interface SessionSpec {
  kind: SessionKind;
  instance: string;
  /** The command of an exec; empty for a shell. */
  command: string[];
  /** Run under a pseudo-terminal. Always true for a shell. */
  tty: boolean;
  cols: number;
  rows: number;
  /** TERM for the remote side. */
  term: string;
  /** The session's id (the master's); with `owner`, a terminal shell may be kept past its client. */
  id?: string;
  /**
   * False: the instance must already be running, and is not started for the
   * session (`multiverse cp`, as `multipass transfer`): E_CONFLICT otherwise.
   * Absent or true: a stopped instance is started, as `multipass exec` does.
   */
  autoStart?: boolean;
  /** The token id of the client that opened it: only that token may attach. */
  owner?: string;
  /** The instance's TCP port a forward connects to (1..65535); forwards only. */
  port?: number;
}

/** The start frame that takes a kept shell back (or watches it, read-only). */
export interface AttachSpec {
  kind: "attach";
  id: string;
  owner: string;
  readOnly: boolean;
  cols: number;
  rows: number;
}

export type SessionStart = SessionSpec | AttachSpec;

/** The longest `detached` reason kept. */
const MAX_REASON_CHARS = 200;

const SESSION_ID = /^[0-9a-f][0-9a-f-]{7,63}$/;
const TOKEN_ID = /^[0-9a-f]{1,64}$/;

/** Checks a session id (hex and dashes, as randomUUID makes them). @throws ParseError */
export function parseSessionId(value: unknown, path: string): string {
  const id = string(value, path);
  if (!SESSION_ID.test(id)) throw new ParseError(path, `not a session id: ${JSON.stringify(id.slice(0, 40))}`, "E_USAGE");
  return id;
}

function tokenId(value: unknown, path: string): string {
  const id = string(value, path);
  if (!TOKEN_ID.test(id)) throw new ParseError(path, "not a token id");
  return id;
}

function dimension(value: unknown, path: string): number {
  const n = integer(value, path);
  if (n < 1 || n > MAX_DIMENSION) throw new ParseError(path, `must be between 1 and ${MAX_DIMENSION}, got ${n}`, "E_USAGE");
  return n;
}

/** Parses one control frame. @throws ParseError */
export function parseSessionControl(text: string): SessionControl {
  const o = object(parseJson(text, "control"), "control");
  const type = field(o, "type", "control", string);
  switch (type) {
    case "resize":
      return { type, cols: field(o, "cols", "resize", dimension), rows: field(o, "rows", "resize", dimension) };
    case "eof":
    case "ping":
    case "pong":
      return { type };
    case "exit": {
      const code = o["code"];
      return { type, code: code === null ? null : field(o, "code", "exit", integer) };
    }
    case "error": {
      const code = field(o, "code", "error", string);
      return { type, code: isErrorCode(code) ? code : "E_INTERNAL", message: field(o, "message", "error", string) };
    }
    case "session": {
      const node = o["node"];
      return { type, id: field(o, "id", "session", parseSessionId), node: node === null || node === undefined ? null : field(o, "node", "session", string) };
    }
    case "attached":
      return { type, id: field(o, "id", "attached", parseSessionId), readOnly: field(o, "readOnly", "attached", boolean) };
    case "detach":
      return { type };
    case "detached": {
      const reason = field(o, "reason", "detached", optional(string));
      return { type, id: field(o, "id", "detached", parseSessionId), ...(reason === undefined ? {} : { reason: reason.slice(0, MAX_REASON_CHARS) }) };
    }
    default:
      throw new ParseError("control.type", `unknown control message ${JSON.stringify(type).slice(0, 40)}`);
  }
}

export function controlFrame(message: SessionControl): string {
  return JSON.stringify(message);
}

/** Checks a TERM value; terminal names are short words. @throws AppError E_USAGE */
export function validateTerm(term: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/.test(term)) throw new AppError("E_USAGE", `Invalid terminal type "${term.slice(0, 70)}"`);
  return term;
}

/** Checks an exec command: at least one word, no NUL, bounded. @throws AppError E_USAGE */
export function validateCommand(command: string[]): string[] {
  if (command.length === 0) throw new AppError("E_USAGE", "No command given: put it after --, as in: exec web -- uname -a");
  if (command.length > MAX_ARGS) throw new AppError("E_USAGE", `Too many arguments (${command.length}; at most ${MAX_ARGS})`);
  let bytes = 0;
  for (const arg of command) {
    if (arg.includes("\u0000")) throw new AppError("E_USAGE", "An argument contains a NUL byte, which no program can receive");
    bytes += Buffer.byteLength(arg);
  }
  if (bytes > MAX_ARGV_BYTES) throw new AppError("E_USAGE", `The command is too long (${bytes} bytes; at most ${MAX_ARGV_BYTES})`);
  return command;
}

/** Parses and validates a start frame: a new session or an attach. @throws ParseError / AppError E_USAGE */
export function parseSessionStart(value: unknown): SessionStart {
  const o = object(value, "start");
  if (o["kind"] !== "attach") return parseSessionSpec(value);
  return {
    kind: "attach",
    id: field(o, "id", "start", parseSessionId),
    owner: field(o, "owner", "start", tokenId),
    readOnly: field(o, "readOnly", "start", boolean),
    cols: field(o, "cols", "start", dimension),
    rows: field(o, "rows", "start", dimension),
  };
}

/** Parses and validates the start frame of a new session. @throws ParseError / AppError E_USAGE */
export function parseSessionSpec(value: unknown): SessionSpec {
  const o = object(value, "start");
  const kind = field(o, "kind", "start", string);
  // A forward's fields are checked first: an address is refused as one, whatever else the frame holds.
  if (kind === "forward") return parseForwardSpec(o, () => ({
    instance: validateInstanceName(field(o, "instance", "start", string)),
    cols: field(o, "cols", "start", dimension),
    rows: field(o, "rows", "start", dimension),
    term: validateTerm(field(o, "term", "start", string)),
    ...(o["id"] === undefined ? {} : { id: field(o, "id", "start", parseSessionId) }),
    ...(o["owner"] === undefined ? {} : { owner: field(o, "owner", "start", tokenId) }),
  }));
  if (kind !== "shell" && kind !== "exec") throw new ParseError("start.kind", `expected shell, exec or forward, got ${JSON.stringify(kind).slice(0, 20)}`);
  const command = field(o, "command", "start", arrayOf(string));
  if (kind === "exec") validateCommand(command);
  else if (command.length > 0) throw new ParseError("start.command", "a shell takes no command");
  return {
    kind,
    instance: validateInstanceName(field(o, "instance", "start", string)),
    command,
    tty: kind === "shell" ? true : field(o, "tty", "start", boolean),
    cols: field(o, "cols", "start", dimension),
    rows: field(o, "rows", "start", dimension),
    term: validateTerm(field(o, "term", "start", string)),
    ...(o["autoStart"] === undefined ? {} : { autoStart: field(o, "autoStart", "start", boolean) }),
    ...(o["id"] === undefined ? {} : { id: field(o, "id", "start", parseSessionId) }),
    ...(o["owner"] === undefined ? {} : { owner: field(o, "owner", "start", tokenId) }),
  };
}

/**
 * Reads `cols`, `rows`, `term`, `tty` and (for exec) repeated `arg` from a
 * client's query string. @throws AppError E_USAGE
 */
export function specFromQuery(kind: "shell" | "exec", instance: string, query: URLSearchParams): SessionSpec {
  const dim = (key: string, fallback: number) => queryDimension(query, key, fallback);
  const tty = query.get("tty");
  if (tty !== null && tty !== "0" && tty !== "1" && tty !== "true" && tty !== "false") throw new AppError("E_USAGE", `Invalid tty "${tty.slice(0, 20)}": expected 1 or 0`);
  return {
    kind,
    instance,
    command: kind === "exec" ? validateCommand(query.getAll("arg")) : [],
    tty: kind === "shell" || tty === "1" || tty === "true",
    cols: dim("cols", DEFAULT_COLS),
    rows: dim("rows", DEFAULT_ROWS),
    term: validateTerm(query.get("term") ?? "xterm-256color"),
  };
}

/** `cols` or `rows` of a query string, `fallback` when absent. @throws AppError E_USAGE */
function queryDimension(query: URLSearchParams, key: string, fallback: number): number {
  const text = query.get(key);
  if (text === null) return fallback;
  if (!/^\d{1,4}$/.test(text)) throw new AppError("E_USAGE", `Invalid ${key} "${text.slice(0, 20)}": expected a number between 1 and ${MAX_DIMENSION}`);
  return dimension(Number(text), key);
}

/**
 * The attach start frame of `GET /api/v1/sessions/:id/attach`: `cols`,
 * `rows` and `readOnly` (1 or 0) from the client's query string; `id` is
 * checked with {@link parseSessionId}, `owner` is the caller's token id.
 * @throws ParseError / AppError E_USAGE
 */
export function attachFromQuery(id: string, owner: string, query: URLSearchParams): AttachSpec {
  const readOnly = query.get("readOnly");
  if (readOnly !== null && readOnly !== "0" && readOnly !== "1" && readOnly !== "true" && readOnly !== "false") {
    throw new AppError("E_USAGE", `Invalid readOnly "${readOnly.slice(0, 20)}": expected 1 or 0`);
  }
  return {
    kind: "attach",
    id: parseSessionId(id, "id"),
    owner: tokenId(owner, "owner"),
    readOnly: readOnly === "1" || readOnly === "true",
    cols: queryDimension(query, "cols", DEFAULT_COLS),
    rows: queryDimension(query, "rows", DEFAULT_ROWS),
  };
}

/** Prefixes an exec output chunk with its stream. */
export function channelFrame(channel: typeof CHANNEL_STDOUT | typeof CHANNEL_STDERR, data: Uint8Array): Uint8Array {
  const frame = new Uint8Array(data.length + 1);
  frame[0] = channel;
  frame.set(data, 1);
  return frame;
}

/**
 * One line of the streamed `POST /api/v1/instances/:ref/exec` answer: output
 * (base64, so any bytes survive), then an `exit` (or `error` and `exit`).
 */
export type ExecLine = { type: "stdout" | "stderr"; data: string } | SessionControl;

/** @throws ParseError */
export function parseExecLine(line: string): ExecLine {
  const o = object(parseJson(line, "exec line"), "exec line");
  const type = o["type"];
  if (type === "stdout" || type === "stderr") return { type, data: field(o, "data", "exec line", string) };
  return parseSessionControl(line);
}
