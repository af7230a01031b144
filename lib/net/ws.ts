/**
 * Server-side WebSockets on Bun with Hono routes. A route authenticates and
 * validates as usual, then hands the request to {@link upgrade} with a
 * per-connection {@link WsSession}; the server's one {@link websocketHandler}
 * dispatches Bun's events to it. Unlike hono/bun's helper this keeps `drain`,
 * which the relays need for backpressure.
 */
import type { ServerWebSocket, Server, WebSocketHandler } from "bun";
import type { Context } from "hono";
import { AppError } from "../core/errors.ts";
import { WS_CLOSE } from "../protocol/close.ts";

export type Socket = ServerWebSocket<WsData>;

/** Callbacks of one server-side connection. Thrown errors close it with 1011. */
export interface WsSession {
  open?(ws: Socket): void;
  message?(ws: Socket, message: string | Buffer): void;
  close?(ws: Socket, code: number, reason: string): void;
  /** The socket can take more data after `send` reported backpressure. */
  drain?(ws: Socket): void;
  /** The peer answered a protocol-level ping: it is alive. */
  pong?(ws: Socket): void;
}

export interface WsData {
  session: WsSession;
}

/** How a request was authenticated (net/http.ts `requireToken`). */
export interface Credential {
  via: "bearer" | "cookie";
  /** When a cookie's browser session ends (ms since the epoch); null for a Bearer token. */
  expiresAt: number | null;
}

/**
 * Hono environment of apps served by Bun: `c.env` is the Bun server;
 * `credential` is set once a request is authenticated.
 */
export type BunEnv = { Bindings: Server<WsData>; Variables: { credential?: Credential } };

function guard(ws: Socket, fn: () => void): void {
  try {
    fn();
  } catch {
    ws.close(WS_CLOSE.internalError, "internal error");
  }
}

/** The `websocket` option for `Bun.serve`. */
export function websocketHandler(limits: { maxPayloadLength: number; idleTimeoutSeconds?: number; backpressureLimit?: number }): WebSocketHandler<WsData> {
  return {
    maxPayloadLength: limits.maxPayloadLength,
    backpressureLimit: limits.backpressureLimit ?? 16 * 1024 * 1024,
    idleTimeout: limits.idleTimeoutSeconds ?? 120,
    sendPings: true,
    open: (ws) => guard(ws, () => ws.data.session.open?.(ws)),
    message: (ws, message) => guard(ws, () => ws.data.session.message?.(ws, message)),
    close: (ws, code, reason) => ws.data.session.close?.(ws, code, reason),
    drain: (ws) => guard(ws, () => ws.data.session.drain?.(ws)),
    pong: (ws) => guard(ws, () => ws.data.session.pong?.(ws)),
  };
}

/**
 * Upgrades the request of `c` to a WebSocket run by `session`.
 * @throws AppError E_USAGE when the request is not a WebSocket upgrade.
 */
export function upgrade(c: Context<BunEnv>, session: WsSession): Response {
  const server = c.env;
  if (!server || typeof server.upgrade !== "function") throw new AppError("E_INTERNAL", "WebSocket upgrade needs the Bun server");
  if (!server.upgrade(c.req.raw, { data: { session } })) {
    throw new AppError("E_USAGE", "Expected a WebSocket upgrade request");
  }
  // Bun has taken over the socket; this response is never sent.
  return new Response(null);
}

/** The peer address Bun saw for a request, or null (e.g. under app.request()). */
export function peerAddress(c: Context<BunEnv>): string | null {
  const server = c.env;
  if (!server || typeof server.requestIP !== "function") return null;
  return server.requestIP(c.req.raw)?.address ?? null;
}
