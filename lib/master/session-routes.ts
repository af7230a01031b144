/**
 * API routes of shells and execs:
 * - `GET /api/v1/instances/:ref/shell` — WebSocket; `cols`, `rows`, `term`;
 * - `GET /api/v1/instances/:ref/exec` — WebSocket; repeated `arg`, `tty`,
 *   `cols`, `rows`, `term`;
 * - `POST /api/v1/instances/:ref/exec` — JSON `{ command, stdin? }` in,
 *   NDJSON out, streamed as produced: `{type:"stdout"|"stderr", data}`
 *   (base64), then `{type:"exit", code}` (and `{type:"error"}` before it on
 *   failure). For curl and scripts; the client uses the WebSocket.
 * - `GET /api/v1/instances/:ref/forward` — WebSocket; `port` (1..65535):
 *   one TCP connection to that port of the instance's own address (issue
 *   14). Binary frames are the connection's bytes both ways; `eof` either
 *   way is a half-close; `exit` 0 is a clean end, `error` then `exit` null a
 *   failure (refused, reset, the instance going down). There is no address
 *   parameter: the worker dials only the instance's address as Multipass
 *   reports it, and a query naming one (or anything but `port` and
 *   `keepalive`) is refused with E_USAGE. A stopped instance is refused
 *   (E_CONFLICT), not started. With websocat:
 *   `websocat -b -H "Authorization: Bearer $TOKEN" ws://MASTER/api/v1/instances/web/forward?port=80`
 * - `GET /api/v1/sessions` — live sessions: the relay's, merged with the
 *   shells the Ready nodes keep (kept-sessions.ts), `mine` for the caller.
 * - `GET /api/v1/sessions/:id/attach` — WebSocket; `cols`, `rows`,
 *   `readOnly` (1|0): takes a kept shell of the caller's token back (or
 *   watches it), relayed as a shell is. An id no node keeps for this token
 *   is E_NOT_FOUND, whoever else's it may be.
 *
 * A shell opens under a fresh session id, with the caller's token id as its
 * owner, so its node may keep it past its client (issue 12). Every shell,
 * exec, forward (action "forward", params { port }) and attach is in the audit trail; a kept shell left running without
 * its client (detached) also leaves a "detach" record.
 *
 * A refused upgrade is explained to the client's plain HTTP retry as
 * client-socket.ts says. (Tokens and lockouts refuse the plain request as
 * they refused the upgrade; a lookup that finds no session refuses both.)
 */
import { livenessForKeepalive, type LivenessTimes } from "../net/liveness.ts";
import { randomUUID } from "node:crypto";
import type { Context, Hono } from "hono";
import type { ConsolaInstance } from "consola";
import type { AuditLog } from "./audit-log.ts";
import { recordRequest, type AuditedCall, type Caller } from "./audit-policy.ts";
import { AppError, messageOf, toAppError } from "../core/errors.ts";
import { readBody } from "../net/http.ts";
import { streamedResponse } from "../net/stream.ts";
import { arrayOf, field, object, optional, string } from "../core/parse.ts";
import type { Registry } from "./registry.ts";
import { sessionTarget } from "./targets.ts";
import type { ClientEnd, RelayHandle, SessionOutcome } from "./session-ends.ts";
import type { SessionRelay } from "./session-relay.ts";
import { createRefusals, socketSession } from "./client-socket.ts";
import { mergeSessions, type KeptSessions } from "./kept-sessions.ts";
import { registerCopyRoutes } from "./copy-routes.ts";
import {
  attachFromQuery,
  keepaliveFromQuery,
  CHANNEL_STDERR,
  CHANNEL_STDOUT,
  DEFAULT_COLS,
  DEFAULT_ROWS,
  specFromQuery,
  validateCommand,
  type SessionSpec,
} from "../protocol/session.ts";
import { forwardFromQuery } from "../protocol/forward.ts";
import { parseInstanceRef } from "../core/validate.ts";
import { upgrade, type BunEnv, type WsSession } from "../net/ws.ts";

/** Largest POST exec body (command and stdin). */
const MAX_EXEC_BODY_BYTES = 8 * 1024 * 1024;

export interface SessionRouteDeps {
  registry: Registry;
  relay: SessionRelay;
  /** The shells the nodes keep, looked up on each call. */
  kept: KeptSessions;
  /** Every session is in the audit trail: who opened what where, and how it ended. */
  audit: AuditLog;
  caller: (c: Context) => Caller;
  log: ConsolaInstance;
}

export function registerSessionRoutes(app: Hono<BunEnv>, deps: SessionRouteDeps): void {
  const { registry, relay, kept } = deps;
  const refusals = createRefusals();

  /**
   * Records that `call` is asked for, before anything opens; a session that
   * cannot be recorded is refused (E_STORAGE, 503), as every mutating call
   * is. Returns what records its end (and its detach, for a kept shell).
   */
  function recordSession(c: Context<BunEnv>, call: Omit<AuditedCall, "token">, refused: string): (outcome: SessionOutcome) => void {
    const token = deps.caller(c).tokenId;
    let done: (outcome: SessionOutcome) => void;
    try {
      done = recordRequest(deps, { ...call, token });
    } catch (error) {
      const e = toAppError(error, "E_STORAGE");
      throw new AppError(e.code, `${refused}: ${e.message}`, { cause: error });
    }
    return (outcome) => {
      if (outcome.detached) recordDetach({ ...call, token }, outcome);
      done(outcome);
    };
  }

  /** A "detach" record: the kept shell goes on without this client, and may be attached again. */
  function recordDetach(call: AuditedCall, outcome: SessionOutcome): void {
    const params = { session: call.params?.["session"], ...(outcome.error ? { why: outcome.error.message } : {}) };
    try {
      recordRequest(deps, { token: call.token, action: "detach", node: call.node, instance: call.instance, params })({ error: null });
    } catch (error) {
      deps.log.error(`audit trail: cannot record the detach of session ${String(params.session)}: ${messageOf(error)}`);
    }
  }

  /**
   * Upgrades to `session` once the call is recorded. A plain request (the
   * client asking why its upgrade was refused) gets the remembered refusal
   * of `key` instead, and leaves no record behind.
   */
  function upgradeRecorded(c: Context<BunEnv>, key: string, record: () => (outcome: SessionOutcome) => void, session: (onEnd: (outcome: SessionOutcome) => void) => WsSession): Response {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw refusals.take(key) ?? new AppError("E_USAGE", "Expected a WebSocket upgrade request");
    }
    let onEnd: (outcome: SessionOutcome) => void;
    try {
      onEnd = record();
    } catch (error) {
      refusals.remember(key, toAppError(error));
      throw error;
    }
    try {
      return upgrade(c, session(onEnd));
    } catch (error) {
      const e = toAppError(error);
      onEnd({ exitCode: null, error: { code: e.code, message: e.message } });
      throw error;
    }
  }

  /** How to watch a client that declared its keepalive (keepalive=MS), else undefined: the relay's own times. */
  const clientTimes = (url: URL): LivenessTimes | undefined => {
    const keepalive = keepaliveFromQuery(url.searchParams);
    return keepalive === null ? undefined : livenessForKeepalive(keepalive);
  };

  const refusalKey = (c: Context<BunEnv>, url: URL) => `${deps.caller(c).tokenId} ${url.pathname}${url.search}`;

  const webSocketRoute = (kind: "shell" | "exec") => (c: Context<BunEnv>) => {
    const { node, name } = sessionTarget(registry, parseInstanceRef(c.req.param("ref")));
    const url = new URL(c.req.url);
    const owner = deps.caller(c).tokenId;
    const spec: SessionSpec = { ...specFromQuery(kind, name, url.searchParams), ...(kind === "shell" ? { id: randomUUID() } : {}), owner };
    const times = clientTimes(url);
    const params = spec.kind === "exec" ? { command: [...spec.command], tty: spec.tty } : { tty: spec.tty, session: spec.id };
    const call = { action: spec.kind, node: node.name, instance: spec.instance, params };
    return upgradeRecorded(
      c,
      refusalKey(c, url),
      () => recordSession(c, call, `Not opening the ${spec.kind} on "${spec.instance}"`),
      (onEnd) => socketSession((end) => relay.open(node, spec, end, onEnd), times),
    );
  };
  app.get("/api/v1/instances/:ref/shell", webSocketRoute("shell"));
  app.get("/api/v1/instances/:ref/exec", webSocketRoute("exec"));

  app.get("/api/v1/instances/:ref/forward", (c) => {
    const url = new URL(c.req.url);
    const ref = parseInstanceRef(c.req.param("ref"));
    // The query first: an address is refused whatever the instance.
    const forward = forwardFromQuery(ref.name, url.searchParams);
    const { node, name } = sessionTarget(registry, ref);
    const spec: SessionSpec = { ...forward, instance: name, owner: deps.caller(c).tokenId };
    const times = clientTimes(url);
    const call = { action: "forward", node: node.name, instance: name, params: { port: spec.port } };
    return upgradeRecorded(
      c,
      refusalKey(c, url),
      () => recordSession(c, call, `Not opening the forward to port ${spec.port} of "${name}"`),
      (onEnd) => socketSession((end) => relay.open(node, spec, end, onEnd), times),
    );
  });

  app.get("/api/v1/sessions/:id/attach", async (c) => {
    const url = new URL(c.req.url);
    const owner = deps.caller(c).tokenId;
    const spec = attachFromQuery(c.req.param("id"), owner, url.searchParams);
    const times = clientTimes(url);
    const { node, session } = await kept.find(spec.id, owner, c.req.raw.signal);
    const call = { action: "attach", node: node.name, instance: session.instance, params: { session: spec.id, readOnly: spec.readOnly } };
    return upgradeRecorded(
      c,
      refusalKey(c, url),
      () => recordSession(c, call, `Not attaching to session "${spec.id}"`),
      (onEnd) => socketSession((end) => relay.attach(node, session, spec, end, onEnd), times),
    );
  });

  // cp (issue 14): copies are execs of a script the master builds, recorded and relayed as execs are (copy-routes.ts).
  registerCopyRoutes(app, {
    registry,
    relay,
    record: recordSession,
    upgrade: (c, node, spec, call, refused) => {
      const url = new URL(c.req.url);
      return upgradeRecorded(c, refusalKey(c, url), () => recordSession(c, call, refused), (onEnd) => socketSession((end) => relay.open(node, spec, end, onEnd), clientTimes(url)));
    },
  });

  app.get("/api/v1/sessions", async (c) => c.json(mergeSessions(relay.list(), await kept.list(c.req.raw.signal), deps.caller(c).tokenId)));

  app.post("/api/v1/instances/:ref/exec", async (c) => {
    const { command, stdin } = await readBody(c, MAX_EXEC_BODY_BYTES, (value) => {
      const body = object(value, "body");
      return { command: validateCommand(field(body, "command", "body", arrayOf(string))), stdin: field(body, "stdin", "body", optional(string)) };
    });
    const { node, name } = sessionTarget(registry, parseInstanceRef(c.req.param("ref")));
    const spec: SessionSpec = { kind: "exec", instance: name, command, tty: false, cols: DEFAULT_COLS, rows: DEFAULT_ROWS, term: "dumb", owner: deps.caller(c).tokenId };
    const call = { action: "exec", node: node.name, instance: name, params: { command: [...command], tty: false } };
    const onEnd = recordSession(c, call, `Not opening the exec on "${name}"`);
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
