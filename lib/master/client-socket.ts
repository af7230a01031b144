/**
 * The client's WebSocket of a shell, exec or attach on the master: the
 * adapter that makes it a relayed session's {@link ClientEnd}, and the memory
 * of refused upgrades.
 *
 * A WebSocket client sees a refused upgrade only as code 1006, so the client
 * asks the same URL again over plain HTTP: what refused the upgrade itself
 * (the audit trail that cannot be written, 503) is remembered for a short
 * while and given to that request, from the same token, as its answer.
 */
import type { LivenessTimes } from "../net/liveness.ts";
import { AppError, messageOf } from "../core/errors.ts";
import { controlFrame, parseSessionControl, SEND_BACKLOG_BYTES, SESSION_CLOSE } from "../protocol/session.ts";
import type { Socket, WsSession } from "../net/ws.ts";
import type { ClientEnd, Delivery, RelayHandle } from "./session-ends.ts";

/** What became of a frame sent on a client's WebSocket. */
function delivery(socket: Socket | null, sent: number): Delivery {
  // -1 means queued under backpressure, which the bound keeps small; 0 means dropped.
  if (socket === null || sent === 0) return "lost";
  return socket.getBufferedAmount() > SEND_BACKLOG_BYTES ? "full" : "more";
}

/** Adapts a client's WebSocket to the relayed session `open` starts once the socket is up. */
export function socketSession(open: (client: ClientEnd) => RelayHandle, liveness?: LivenessTimes): WsSession {
  let handle: RelayHandle | null = null;
  let socket: Socket | null = null;
  const end: ClientEnd = {
    ...(liveness === undefined ? {} : { liveness }),
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
      handle = open(end);
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

/** How long, and for how many upgrades at most, a refusal is kept for the plain request that asks why. */
const REFUSAL_TTL_MS = 30_000;
const MAX_REFUSALS = 256;

export interface Refusals {
  /** Remembers why the upgrade of `key` (token id and URL) was refused. */
  remember(key: string, error: AppError): void;
  /** The refusal of `key`, once, if it is recent. */
  take(key: string): AppError | null;
}

/** Why recent upgrades were refused, by token and URL: bounded in number and in time. */
export function createRefusals(): Refusals {
  const refused = new Map<string, { error: AppError; at: number }>();
  return {
    remember(key, error) {
      refused.delete(key);
      refused.set(key, { error, at: Date.now() });
      // Map iteration is insertion order: the oldest go first.
      for (const old of refused.keys()) {
        if (refused.size <= MAX_REFUSALS) break;
        refused.delete(old);
      }
    },
    take(key) {
      const found = refused.get(key);
      refused.delete(key);
      return found !== undefined && Date.now() - found.at <= REFUSAL_TTL_MS ? found.error : null;
    },
  };
}
