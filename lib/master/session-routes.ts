/**
 * API routes of shells and execs:
 * - `GET /api/v1/instances/:ref/shell` — WebSocket; `cols`, `rows`, `term`;
 * - `GET /api/v1/instances/:ref/exec` — WebSocket; repeated `arg`, `tty`,
 *   `cols`, `rows`, `term`;
 * - `POST /api/v1/instances/:ref/exec` — JSON `{ command, stdin? }` in,
 *   NDJSON out, streamed as produced: `{type:"stdout"|"stderr", data}`
 *   (base64), then `{type:"exit", code}` (and `{type:"error"}` before it on
 *   failure). For curl and scripts; the client uses the WebSocket.
 * - `GET /api/v1/sessions` — live sessions.
 *
 * A WebSocket client sees a refused upgrade only as code 1006, so the
 * client asks the same URL again over plain HTTP: what refused the upgrade
 * itself (the audit trail that cannot be written, 503) is remembered for a
 * short while and given to that request, from the same token, as its answer.
 * (Tokens and lockouts refuse the plain request as they refused the upgrade.)
 */
import type { Context, Hono } from "hono";
import type { ConsolaInstance } from "consola";
import type { AuditLog } from "./audit-log.ts";
import { recordRequest, type Caller } from "./audit-policy.ts";
import { AppError, messageOf, toAppError } from "../core/errors.ts";
import { readBody } from "../net/http.ts";
import { streamedResponse } from "../net/stream.ts";
import { arrayOf, field, object, optional, string } from "../core/parse.ts";
import type { NodeEntry, Registry } from "./registry.ts";
import { sessionTarget } from "./targets.ts";
import type { ClientEnd, Delivery, RelayHandle, SessionOutcome } from "./session-ends.ts";
import type { SessionRelay } from "./session-relay.ts";
import {
  CHANNEL_STDERR,
  CHANNEL_STDOUT,
  controlFrame,
  DEFAULT_COLS,
  DEFAULT_ROWS,
  parseSessionControl,
  SEND_BACKLOG_BYTES,
  SESSION_CLOSE,
  specFromQuery,
  validateCommand,
  type SessionKind,
  type SessionSpec,
} from "../protocol/session.ts";
import { parseInstanceRef } from "../core/validate.ts";
import { upgrade, type BunEnv, type Socket } from "../net/ws.ts";

/** Largest POST exec body (command and stdin). */
const MAX_EXEC_BODY_BYTES = 8 * 1024 * 1024;

export interface SessionRouteDeps {
  registry: Registry;
  relay: SessionRelay;
  /** Every session is in the audit trail: who opened what where, and how it ended. */
  audit: AuditLog;
  caller: (c: Context) => Caller;
  log: ConsolaInstance;
}

export function registerSessionRoutes(app: Hono<BunEnv>, deps: SessionRouteDeps): void {
  const { registry, relay, audit, log } = deps;
  const refusals = createRefusals();

  /**
   * Records that `spec` is asked for on `node`, before anything opens; a
   * session that cannot be recorded is refused (E_STORAGE, 503), as every
   * mutating call is. Returns what records its end.
   */
  function recordSession(c: Context<BunEnv>, node: NodeEntry, spec: SessionSpec): (outcome: SessionOutcome) => void {
    const params = spec.kind === "exec" ? { command: [...spec.command], tty: spec.tty } : { tty: spec.tty };
    const call = { token: deps.caller(c).tokenId, action: spec.kind, node: node.name, instance: spec.instance, params };
    try {
      return recordRequest({ audit, log }, call);
    } catch (error) {
      const e = toAppError(error, "E_STORAGE");
      throw new AppError(e.code, `Not opening the ${spec.kind} on "${spec.instance}": ${e.message}`, { cause: error });
    }
  }

  const webSocketRoute = (kind: SessionKind) => (c: Context<BunEnv>) => {
    const { node, name } = sessionTarget(registry, parseInstanceRef(c.req.param("ref")));
    const url = new URL(c.req.url);
    const spec = specFromQuery(kind, name, url.searchParams);
    const key = `${deps.caller(c).tokenId} ${url.pathname}${url.search}`;
    // Checked before the audit record, so a plain GET leaves none behind.
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw refusals.take(key) ?? new AppError("E_USAGE", "Expected a WebSocket upgrade request");
    }
    let onEnd: (outcome: SessionOutcome) => void;
    try {
      onEnd = recordSession(c, node, spec);
    } catch (error) {
      refusals.remember(key, toAppError(error));
      throw error;
    }
    try {
      return upgrade(c, socketSession(relay, node, spec, onEnd));
    } catch (error) {
      const e = toAppError(error);
      onEnd({ exitCode: null, error: { code: e.code, message: e.message } });
      throw error;
    }
  };
  app.get("/api/v1/instances/:ref/shell", webSocketRoute("shell"));
  app.get("/api/v1/instances/:ref/exec", webSocketRoute("exec"));

  app.post("/api/v1/instances/:ref/exec", async (c) => {
    const { command, stdin } = await readBody(c, MAX_EXEC_BODY_BYTES, (value) => {
      const body = object(value, "body");
      return { command: validateCommand(field(body, "command", "body", arrayOf(string))), stdin: field(body, "stdin", "body", optional(string)) };
    });
    const { node, name } = sessionTarget(registry, parseInstanceRef(c.req.param("ref")));
    const spec: SessionSpec = { kind: "exec", instance: name, command, tty: false, cols: DEFAULT_COLS, rows: DEFAULT_ROWS, term: "dumb" };
    const onEnd = recordSession(c, node, spec);
    let handle: RelayHandle | null = null;
    return streamedResponse(
      (out) => {
        const input = stdinFeeder(new TextEncoder().encode(stdin ?? ""), () => handle);
        const end: ClientEnd = {
          binary(bytes) {
            const stream = bytes[0] === CHANNEL_STDERR ? "stderr" : bytes[0] === CHANNEL_STDOUT ? "stdout" : null;
            if (stream && !out.write({ type: stream, data: Buffer.from(bytes.subarray(1)).toString("base64") })) return "lost";
            return out.full ? "full" : "more";
          },
          control(message) {
            if (message.type === "exit" || message.type === "error") out.write(message);
          },
          close: () => out.close(),
          pauseInput: () => input.pause(),
          resumeInput: () => input.resume(),
        };
        out.onDrain(() => handle?.drained());
        handle = relay.open(node, spec, end, onEnd);
        input.resume();
      },
      { onCancel: () => handle?.clientGone() },
    );
  });

  app.get("/api/v1/sessions", (c) => c.json(relay.list()));
}

/** How long, and for how many upgrades at most, a refusal is kept for the plain request that asks why. */
const REFUSAL_TTL_MS = 30_000;
const MAX_REFUSALS = 256;

/** Why recent upgrades were refused, by token and URL: bounded in number and in time. */
function createRefusals() {
  const refused = new Map<string, { error: AppError; at: number }>();
  return {
    remember(key: string, error: AppError): void {
      refused.delete(key);
      refused.set(key, { error, at: Date.now() });
      // Map iteration is insertion order: the oldest go first.
      for (const old of refused.keys()) {
        if (refused.size <= MAX_REFUSALS) break;
        refused.delete(old);
      }
    },
    /** The refusal of `key`, once, if it is recent. */
    take(key: string): AppError | null {
      const found = refused.get(key);
      refused.delete(key);
      return found !== undefined && Date.now() - found.at <= REFUSAL_TTL_MS ? found.error : null;
    },
  };
}

/** Chunks of a POST exec's stdin: the body is read whole, and fed to the node only as fast as it takes it. */
const STDIN_CHUNK_BYTES = 64 * 1024;

/** Feeds `stdin` to the session in chunks while not paused, then its end. */
function stdinFeeder(stdin: Uint8Array, handle: () => RelayHandle | null) {
  let offset = 0;
  let paused = true;
  let ended = false;
  return {
    pause: () => void (paused = true),
    resume() {
      paused = false;
      const h = handle();
      if (h === null || ended) return;
      while (!paused && offset < stdin.length) {
        const chunk = stdin.subarray(offset, offset + STDIN_CHUNK_BYTES);
        offset += chunk.length;
        h.input(chunk);
      }
      if (paused) return;
      ended = true;
      h.control({ type: "eof" });
    },
  };
}

/** What became of a frame sent on a client's WebSocket. */
function delivery(socket: Socket | null, sent: number): Delivery {
  // -1 means queued under backpressure, which the bound keeps small; 0 means dropped.
  if (socket === null || sent === 0) return "lost";
  return socket.getBufferedAmount() > SEND_BACKLOG_BYTES ? "full" : "more";
}

/** Adapts a client's WebSocket to a relayed session. */
function socketSession(relay: SessionRelay, node: NodeEntry, spec: SessionSpec, onEnd: (outcome: SessionOutcome) => void) {
  let handle: RelayHandle | null = null;
  let socket: Socket | null = null;
  const end: ClientEnd = {
    binary: (bytes) => delivery(socket, socket?.send(bytes) ?? 0),
    control: (message) => void socket?.send(controlFrame(message)),
    close: (code, reason) => socket?.close(code, reason),
    ping: () => void socket?.ping(),
    pauseInput: () => socket?.pause(),
    resumeInput: () => socket?.resume(),
  };
  return {
    open(ws: Socket) {
      socket = ws;
      handle = relay.open(node, spec, end, onEnd);
    },
    message(ws: Socket, raw: string | Buffer) {
      if (!handle) return;
      if (typeof raw !== "string") {
        handle.input(new Uint8Array(raw));
        return;
      }
      try {
        handle.control(parseSessionControl(raw));
      } catch (error) {
        // A client that speaks garbage loses its own session, nothing else.
        handle.clientGone();
        handle = null;
        ws.send(controlFrame({ type: "error", code: "E_PROTOCOL", message: `Bad control frame: ${messageOf(error)}` }));
        ws.send(controlFrame({ type: "exit", code: null }));
        ws.close(SESSION_CLOSE.badControl, "bad control frame");
      }
    },
    pong() {
      handle?.heard();
    },
    drain(ws: Socket) {
      if (ws.getBufferedAmount() <= SEND_BACKLOG_BYTES) handle?.drained();
    },
    close() {
      socket = null;
      handle?.clientGone();
    },
  };
}
