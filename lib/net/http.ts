/**
 * What every Hono app of multiverse shares: the error body, bearer-token
 * authentication, and a body-size limit.
 */
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ConsolaInstance } from "consola";
import { AppError, messageOf, toAppError } from "../core/errors.ts";
import { ParseError } from "../core/parse.ts";
import type { FailureLimiter } from "./rate-limit.ts";
import { peerAddress, type BunEnv } from "./ws.ts";
import type { ErrorBody } from "../protocol/api.ts";
import { tokensEqual } from "./tokens.ts";

/**
 * A Hono app with what every multiverse server needs: JSON error answers
 * (never a stack, never a 5xx for bad input), a JSON 404, and a body limit
 * answered with 413 before a handler reads anything.
 */
export function createBaseApp(options: { log: ConsolaInstance; maxBodyBytes: number; name: string }): Hono<BunEnv> {
  const app = new Hono<BunEnv>();
  app.onError((error, c) => {
    if (!(error instanceof AppError)) options.log.error(`${options.name} ${c.req.method} ${c.req.path}: ${messageOf(error)}`);
    return errorResponse(c, error);
  });
  app.notFound((c) => errorResponse(c, new AppError("E_NOT_FOUND", `No route ${c.req.method} ${c.req.path.slice(0, 200)}`)));
  app.use(
    "*",
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: (c) => errorResponse(c, new AppError("E_TOO_LARGE", `Request body is larger than ${options.maxBodyBytes} bytes`)),
    }),
  );
  return app;
}

/** The JSON answer for any error: `{ "error": { code, message } }` with its status. */
export function errorResponse(c: Context, error: unknown): Response {
  const e = toAppError(error);
  const body: ErrorBody = { error: { code: e.code, message: e.code === "E_INTERNAL" ? "Internal error" : e.message } };
  const candidates = e.details?.["candidates"];
  if (Array.isArray(candidates)) body.error.candidates = candidates.map(String);
  return c.json(body, e.status as 400);
}

/**
 * The token of a request: `Authorization: Bearer …`, and nothing else —
 * never a query parameter, as URLs end up in logs, histories and Referer
 * headers. Browsers, which cannot set headers on a WebSocket, use the
 * console's session cookie instead (api-server.ts).
 */
export function presentedToken(c: Context): string | null {
  const header = c.req.header("authorization");
  if (header === undefined) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

/**
 * Requires a token that `accepts` recognises. Wrong-kind tokens get their own
 * message so a user who pasted the join token into the client learns why,
 * without the message ever containing a token.
 */
export function requireToken(options: {
  expected: () => string;
  realm: string;
  /** Message for a token of the other kind, when it can be recognised. */
  wrongKind?: (token: string) => string | null;
  /**
   * Locks out addresses that fail too often. Only failures are throttled: a
   * request with the valid token always passes, so nobody who shares an
   * address with a caller (or makes a caller fail) can lock that caller out.
   */
  limiter?: FailureLimiter;
}): MiddlewareHandler<BunEnv> {
  return async (c, next) => {
    const peer = peerAddress(c) ?? "unknown";
    const token = presentedToken(c);
    if (token !== null && tokensEqual(token, options.expected())) return next();
    const locked = options.limiter?.lockedFor(peer) ?? 0;
    if (locked > 0) {
      c.header("retry-after", String(Math.ceil(locked / 1000)));
      return errorResponse(c, new AppError("E_RATE_LIMITED", `Too many failed attempts from this address; try again in ${Math.ceil(locked / 1000)}s`));
    }
    if (token === null) {
      options.limiter?.fail(peer);
      return errorResponse(c, new AppError("E_UNAUTHORIZED", `Missing token: send "Authorization: Bearer <${options.realm} token>"`));
    }
    options.limiter?.fail(peer);
    const why = options.wrongKind?.(token) ?? `The ${options.realm} token was refused`;
    return errorResponse(c, new AppError("E_UNAUTHORIZED", why));
  };
}

/**
 * Reads a JSON request body of at most `maxBytes` and checks it with `parse`.
 * A body of the wrong shape is the caller's mistake (400), not a protocol
 * fault between our own processes. @throws AppError E_TOO_LARGE / E_USAGE
 */
export async function readBody<T>(c: Context, maxBytes: number, parse: (value: unknown) => T): Promise<T> {
  const value = await readJsonBody(c, maxBytes);
  try {
    return parse(value);
  } catch (error) {
    if (error instanceof ParseError) throw new AppError("E_USAGE", `Invalid request: ${error.message}`);
    throw error;
  }
}

/** Reads a JSON request body of at most `maxBytes`. @throws AppError E_TOO_LARGE / E_USAGE */
export async function readJsonBody(c: Context, maxBytes: number): Promise<unknown> {
  const length = Number(c.req.header("content-length") ?? "0");
  if (length > maxBytes) throw new AppError("E_TOO_LARGE", `Request body is larger than ${maxBytes} bytes`);
  const text = await c.req.text();
  if (Buffer.byteLength(text) > maxBytes) throw new AppError("E_TOO_LARGE", `Request body is larger than ${maxBytes} bytes`);
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AppError("E_USAGE", "Request body is not valid JSON");
  }
}

/**
 * Lifts the server's idle timeout for this request: for a handler that waits
 * (a lifecycle call behind a 300 s stop, live info from a busy node) without
 * streaming. The handler's own bound — the operation's, the node's timeout —
 * is what ends the wait. A no-op under `app.request()`, which has no server.
 */
export function holdOpen(c: Context<BunEnv>): void {
  const server = c.env;
  if (server && typeof server.timeout === "function") server.timeout(c.req.raw, 0);
}
