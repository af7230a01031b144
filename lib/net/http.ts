/**
 * What every Hono app of multiverse shares: the error body, authentication
 * (a Bearer token, or the web console's cookie with an Origin check), the
 * API's security headers, and a body-size limit.
 */
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie } from "hono/cookie";
import type { ConsolaInstance } from "consola";
import { AppError, messageOf, toAppError } from "../core/errors.ts";
import { ParseError } from "../core/parse.ts";
import type { FailureLimiter } from "./rate-limit.ts";
import { peerAddress, type BunEnv } from "./ws.ts";
import type { ErrorBody } from "../protocol/api.ts";
import { tokensEqual } from "./tokens.ts";

/**
 * A Hono app with what every multiverse server needs: JSON error answers
 * (never a stack, never a 5xx for bad input), a JSON 404, the headers of
 * {@link apiHeaders} on every answer, and a body limit answered with 413
 * before a handler reads anything.
 */
export function createBaseApp(options: { log: ConsolaInstance; maxBodyBytes: number; name: string }): Hono<BunEnv> {
  const app = new Hono<BunEnv>();
  app.onError((error, c) => {
    if (!(error instanceof AppError)) options.log.error(`${options.name} ${c.req.method} ${c.req.path}: ${messageOf(error)}`);
    return errorResponse(c, error);
  });
  app.notFound((c) => errorResponse(c, new AppError("E_NOT_FOUND", `No route ${c.req.method} ${c.req.path.slice(0, 200)}`)));
  app.use("*", apiHeaders());
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
  const plan = e.details?.["plan"];
  if (plan !== undefined) body.error.plan = plan;
  return c.json(body, e.status as 400);
}

/**
 * The token of a request: `Authorization: Bearer …`, and nothing else —
 * never a query parameter, as URLs end up in logs, histories and Referer
 * headers. Browsers, which cannot set headers on a WebSocket, use the
 * console's session cookie instead (master/api-server.ts).
 */
export function presentedToken(c: Context): string | null {
  const header = c.req.header("authorization");
  if (header === undefined) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

/** How a server checks a token, and whom it locks out. */
export interface TokenCheck {
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
}

/**
 * The browser session a cookie stands for (the web console's login). Its
 * value is looked up, never compared or logged here.
 */
export interface CookieAuth {
  /** The cookie's name. */
  name: string;
  /** The live session of a cookie value, or null (unknown, ended, expired). */
  find(value: string): { expiresAt: number } | null;
}

/**
 * Requires a token that `expected` names, as `Authorization: Bearer`, or —
 * with `cookie` — a browser session's cookie. A request authenticated by the
 * cookie that could change something (any method but GET and HEAD, and every
 * WebSocket upgrade) must come from the server's own origin
 * ({@link crossSiteRefusal}): a cookie goes with requests other sites make
 * the browser send; a Bearer token never does. Sets `credential` for the
 * handlers. Wrong-kind tokens get their own message so a user who pasted the
 * join token into the client learns why, without the message ever
 * containing a token.
 */
export function requireToken(options: TokenCheck & { cookie?: CookieAuth }): MiddlewareHandler<BunEnv> {
  return async (c, next) => {
    const token = presentedToken(c);
    if (token !== null && tokensEqual(token, options.expected())) {
      c.set("credential", { via: "bearer", expiresAt: null });
      return next();
    }
    const value = token === null && c.req.header("authorization") === undefined && options.cookie ? getCookie(c, options.cookie.name) : undefined;
    if (value !== undefined && options.cookie) {
      const session = options.cookie.find(value);
      if (session === null) {
        // Not a guess worth counting (256 random bits): a browser still holding an ended session's cookie.
        return errorResponse(c, new AppError("E_UNAUTHORIZED", "Your console session has ended (logged out or expired): log in again"));
      }
      const refused = crossSiteRefusal(c);
      if (refused) return errorResponse(c, refused);
      c.set("credential", { via: "cookie", expiresAt: session.expiresAt });
      return next();
    }
    return tokenRefusal(c, options, token);
  };
}

/**
 * The answer to a request whose token is missing (null) or wrong: 429 while
 * its address is locked out, else a failure counted against the address and
 * 401, saying which token was expected.
 */
export function tokenRefusal(c: Context<BunEnv>, check: TokenCheck, token: string | null): Response {
  const peer = peerAddress(c) ?? "unknown";
  const locked = check.limiter?.lockedFor(peer) ?? 0;
  if (locked > 0) {
    c.header("retry-after", String(Math.ceil(locked / 1000)));
    return errorResponse(c, new AppError("E_RATE_LIMITED", `Too many failed attempts from this address; try again in ${Math.ceil(locked / 1000)}s`));
  }
  check.limiter?.fail(peer);
  if (token === null) return errorResponse(c, new AppError("E_UNAUTHORIZED", `Missing token: send "Authorization: Bearer <${check.realm} token>"`));
  const why = check.wrongKind?.(token) ?? `The ${check.realm} token was refused`;
  return errorResponse(c, new AppError("E_UNAUTHORIZED", why));
}

/**
 * Refuses (E_FORBIDDEN) a request that could change something — any method
 * but GET and HEAD, or a WebSocket upgrade — unless its `Origin` header is
 * this server's own origin (the scheme, host and port it was asked at).
 * Browsers send `Origin` on such requests and scripts cannot forge it in a
 * browser, so this refuses what another site makes a logged-in browser send.
 * @returns the error to answer with, or null when the request may go on.
 */
export function crossSiteRefusal(c: Context): AppError | null {
  const upgrade = c.req.header("upgrade")?.toLowerCase() === "websocket";
  if (!upgrade && (c.req.method === "GET" || c.req.method === "HEAD")) return null;
  const origin = c.req.header("origin");
  if (origin !== undefined && origin === new URL(c.req.url).origin) return null;
  return new AppError("E_FORBIDDEN", "cross-site request refused: a request with the console's session cookie must come from the console's own origin");
}

/**
 * Headers every API answer carries: no content-type sniffing (a JSON answer
 * is never run as a script or shown as a page), and no Referer to anywhere.
 */
export function apiHeaders(): MiddlewareHandler<BunEnv> {
  return async (c, next) => {
    await next();
    c.res.headers.set("x-content-type-options", "nosniff");
    c.res.headers.set("referrer-policy", "no-referrer");
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
