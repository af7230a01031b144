/**
 * The web console's login, on the API server:
 * - `POST /api/v1/session` — JSON `{ token }` (the API token, pasted once):
 *   200 {@link WebSessionView} and the `multiverse_session` cookie
 *   (`HttpOnly; SameSite=Strict; Path=/`, `Secure` under TLS, 12 h). A wrong
 *   token is 401 and counts against the address like a wrong Bearer token;
 *   a request from another site (a foreign `Origin`) is 403. It is the one
 *   `/api` route reached without a credential: the token is in its body.
 * - `GET /api/v1/session` — who the caller is: the token id and when the
 *   browser session ends (null with a Bearer token);
 * - `DELETE /api/v1/session` — 204: ends the cookie's session on the master
 *   and clears the cookie.
 *
 * The token never goes into a URL, a cookie or a log: the cookie holds 256
 * random bits that the master maps to the token's id (web-sessions.ts).
 */
import type { Context, Hono } from "hono";
import { getCookie } from "hono/cookie";
import { AppError } from "../core/errors.ts";
import { crossSiteRefusal, readBody, tokenRefusal, type TokenCheck } from "../net/http.ts";
import { tokenId, tokensEqual } from "../net/tokens.ts";
import type { BunEnv } from "../net/ws.ts";
import { parseLoginRequest, WEB_SESSION_COOKIE, type WebSessionView } from "../protocol/api.ts";
import { WEB_SESSION_TTL_MS, type WebSessions } from "./web-sessions.ts";

/** Largest login body: a token and its JSON. */
const MAX_LOGIN_BODY_BYTES = 4096;

export interface WebRouteDeps {
  sessions: WebSessions;
  /** The API token's check, shared with the `/api` middleware (and its lockout). */
  check: TokenCheck;
}

/** Adds `POST /api/v1/session`; register it before the `/api` middleware, which it replaces for itself. */
export function registerLogin(app: Hono<BunEnv>, deps: WebRouteDeps): void {
  app.post("/api/v1/session", async (c) => {
    // Scripts send no Origin; a browser always does, and only the console's own may log in.
    if (c.req.header("origin") !== undefined) {
      const refused = crossSiteRefusal(c);
      if (refused) throw refused;
    }
    const { token } = await readBody(c, MAX_LOGIN_BODY_BYTES, parseLoginRequest);
    if (!tokensEqual(token, deps.check.expected())) return tokenRefusal(c, deps.check, token);
    const { cookie, session } = deps.sessions.create(tokenId(token));
    c.header("set-cookie", sessionCookie(c, cookie, Math.floor(WEB_SESSION_TTL_MS / 1000)));
    c.header("cache-control", "no-store");
    const body: WebSessionView = { tokenId: tokenId(token), expiresAt: new Date(session.expiresAt).toISOString() };
    return c.json(body);
  });
}

/** Adds `GET` and `DELETE /api/v1/session`; register them after the `/api` middleware. */
export function registerWebSessionRoutes(app: Hono<BunEnv>, deps: WebRouteDeps): void {
  app.get("/api/v1/session", (c) => {
    const credential = c.get("credential");
    if (!credential) throw new AppError("E_INTERNAL", "The session route was reached without a credential");
    const expiresAt = credential.expiresAt === null ? null : new Date(credential.expiresAt).toISOString();
    const body: WebSessionView = { tokenId: tokenId(deps.check.expected()), expiresAt };
    c.header("cache-control", "no-store");
    return c.json(body);
  });

  app.delete("/api/v1/session", (c) => {
    const cookie = getCookie(c, WEB_SESSION_COOKIE);
    if (cookie !== undefined) deps.sessions.end(cookie);
    c.header("set-cookie", sessionCookie(c, "", 0));
    return c.body(null, 204);
  });
}

/** The `Set-Cookie` value of a session cookie; `Secure` when the request came over TLS. */
function sessionCookie(c: Context, value: string, maxAgeSeconds: number): string {
  const secure = new URL(c.req.url).protocol === "https:" ? "; Secure" : "";
  return `${WEB_SESSION_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeSeconds}${secure}`;
}
