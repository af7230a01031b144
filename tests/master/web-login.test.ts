/**
 * The web console's login on the API server: the cookie it sets, what the
 * cookie opens (GETs anywhere; changes and WebSocket upgrades only from the
 * master's own origin), what a Bearer token still does, logout, expiry, the
 * lockout, and the headers every API answer carries.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditTrailIn, closeAuditTrails } from "../support/audit-trail.ts";
import { createMaster } from "../../lib/master/master.ts";
import { loadNodeKeys } from "../../lib/master/node-keys.ts";
import { createWebSessions, WEB_SESSION_TTL_MS } from "../../lib/master/web-sessions.ts";
import { tokenId } from "../../lib/net/tokens.ts";
import { websocketHandler } from "../../lib/net/ws.ts";
import type { FailureLimits } from "../../lib/net/rate-limit.ts";
import { parseErrorBody, parseWebSessionView } from "../../lib/protocol/api.ts";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { selfSignedCertificate } from "../support/certificate.ts";
import { createTestLog } from "../support/test-log.ts";
import { waitFor } from "../e2e/harness.ts";
import { API, JOIN, readyCount, runCleanups, startWorker } from "../support/in-process.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  closeAuditTrails();
  for (const c of cleanups.splice(0).reverse()) await c();
  await runCleanups();
});

/** A master on port 0 whose login sessions run on a clock the test moves. */
function startMaster(options: { tls?: boolean; authLimits?: FailureLimits } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "mv-web-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  let now = Date.now();
  const webSessions = createWebSessions({ now: () => now });
  const master = createMaster({
    audit: auditTrailIn(dataDir),
    log: createTestLog().log,
    joinToken: JOIN,
    apiToken: API,
    heartbeatMs: 200,
    downGraceMs: 60_000,
    nodeTimeoutMs: 1000,
    version: "test",
    authLimits: options.authLimits,
    nodeKeys: loadNodeKeys(null),
    webSessions,
  });
  const tls = options.tls ? selfSignedCertificate() : undefined;
  const serve = (fetch: typeof master.apiApp.fetch) =>
    Bun.serve({ hostname: "127.0.0.1", port: 0, fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }), ...(tls ? { tls } : {}) });
  const cluster = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: master.clusterApp.fetch, websocket: websocketHandler({ maxPayloadLength: 1 << 20 }) });
  const api = serve(master.apiApp.fetch);
  cleanups.push(async () => {
    master.close();
    await Promise.all([cluster.stop(true), api.stop(true)]);
  });
  const origin = `${tls ? "https" : "http"}://127.0.0.1:${api.port}`;
  return { master, cluster, api, origin, tls, advance: (ms: number) => (now += ms) };
}

type Started = ReturnType<typeof startMaster>;

function call(m: Started, path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(`${m.origin}${path}`, { ...init, ...(m.tls ? { tls: { ca: m.tls.cert } } : {}) } as RequestInit);
}

function login(m: Started, token: string, headers: Record<string, string> = {}): Promise<Response> {
  return call(m, "/api/v1/session", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ token }) });
}

/** Logs in with the API token; the `Cookie` header value the browser would send back. */
async function loggedIn(m: Started): Promise<string> {
  const res = await login(m, API);
  expect(res.status).toBe(200);
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

async function errorCode(res: Response): Promise<string | undefined> {
  return parseErrorBody(await res.json())?.error.code;
}

describe("POST /api/v1/session (login)", () => {
  test("the API token gets an HttpOnly, SameSite=Strict cookie for 12 hours, and the token's id; the token is nowhere in the answer", async () => {
    const m = startMaster();
    const res = await login(m, API);
    expect(res.status).toBe(200);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^multiverse_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
    expect(cookie).not.toContain("Secure");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const text = await res.text();
    expect(text).not.toContain(API);
    const view = parseWebSessionView(JSON.parse(text));
    expect(view.tokenId).toBe(tokenId(API));
    expect(Date.parse(view.expiresAt!) - Date.now()).toBeGreaterThan(WEB_SESSION_TTL_MS - 60_000);
  });

  test("under TLS the cookie is also Secure", async () => {
    const m = startMaster({ tls: true });
    const res = await login(m, API);
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie")).toMatch(/; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200; Secure$/);
  });

  test("a wrong token or the join token is 401 with no cookie, and counts against the address like a wrong Bearer token; the right one still logs in", async () => {
    const m = startMaster({ authLimits: { maxFailures: 3, windowMs: 60_000, lockoutMs: 60_000 } });
    const wrong = await login(m, "mva_wrong-but-well-formed-0000000000000000");
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    expect(await errorCode(wrong)).toBe("E_UNAUTHORIZED");
    const join = await login(m, JOIN);
    expect(join.status).toBe(401);
    expect(parseErrorBody(await join.json())?.error.message).toContain("This is the join token");
    expect((await call(m, "/api/v1/nodes", { headers: { authorization: "Bearer mva_guess-000000000000000000000000000000" } })).status).toBe(401);
    // Three failures, logins and Bearer alike: the address is locked out.
    const locked = await login(m, "mva_wrong-but-well-formed-0000000000000000");
    expect(locked.status).toBe(429);
    expect(locked.headers.get("retry-after")).not.toBeNull();
    expect((await login(m, API)).status).toBe(200);
  });

  test("bad bodies are 400 and change nothing; a browser's login from another site is 403", async () => {
    const m = startMaster();
    for (const body of ["", "{}", '{"token":""}', '{"token":7}', "not json", JSON.stringify({ token: "x".repeat(2000) })]) {
      const res = await call(m, "/api/v1/session", { method: "POST", headers: { "content-type": "application/json" }, body });
      expect({ body: body.slice(0, 20), status: res.status, cookie: res.headers.get("set-cookie") }).toEqual({ body: body.slice(0, 20), status: 400, cookie: null });
    }
    const foreign = await login(m, API, { origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("set-cookie")).toBeNull();
    expect((await login(m, API, { origin: m.origin })).status).toBe(200);
  });
});

describe("what the cookie opens", () => {
  test("GETs, without an Origin: the API's routes and GET /api/v1/session", async () => {
    const m = startMaster();
    const cookie = await loggedIn(m);
    expect((await call(m, "/api/v1/nodes", { headers: { cookie } })).status).toBe(200);
    const session = await call(m, "/api/v1/session", { headers: { cookie } });
    expect(session.status).toBe(200);
    const view = parseWebSessionView(await session.json());
    expect(view.tokenId).toBe(tokenId(API));
    expect(view.expiresAt).not.toBeNull();
    expect((await call(m, "/api/v1/session")).status).toBe(401);
    const bearer = parseWebSessionView(await (await call(m, "/api/v1/session", { headers: { authorization: `Bearer ${API}` } })).json());
    expect(bearer).toEqual({ tokenId: tokenId(API), expiresAt: null });
  });

  test("a change with the cookie needs the master's own Origin: a foreign or missing one is 403; Bearer needs none", async () => {
    const m = startMaster();
    const cookie = await loggedIn(m);
    const remove = (headers: Record<string, string>) => call(m, "/api/v1/nodes/nope", { method: "DELETE", headers });
    for (const origin of [null, "https://evil.example", "null", `http://localhost:${m.api.port}`, `https://127.0.0.1:${m.api.port}`]) {
      const res = await remove({ cookie, ...(origin === null ? {} : { origin }) });
      expect({ origin, status: res.status }).toEqual({ origin, status: 403 });
      const body = parseErrorBody(await res.json());
      expect(body?.error).toMatchObject({ code: "E_FORBIDDEN", message: expect.stringContaining("cross-site request refused") });
    }
    // Through authentication, to the route: the node does not exist.
    expect((await remove({ cookie, origin: m.origin })).status).toBe(404);
    expect((await remove({ authorization: `Bearer ${API}`, origin: "https://evil.example" })).status).toBe(404);
    expect((await remove({ authorization: `Bearer ${API}` })).status).toBe(404);
  });

  test("a WebSocket upgrade with the cookie needs the master's own Origin; with it the shell runs", async () => {
    const m = startMaster();
    startWorker(m.cluster.port!, "n1", createFakeMultipass([{ name: "web" }]));
    await waitFor("joined", () => readyCount(m.master) === 1);
    const cookie = await loggedIn(m);
    const url = `ws://127.0.0.1:${m.api.port}/api/v1/instances/web/exec?arg=true`;
    const refused: Record<string, string>[] = [{ cookie }, { cookie, origin: "https://evil.example" }];
    for (const headers of refused) {
      const plain = await fetch(url.replace("ws:", "http:"), { headers: { ...headers, upgrade: "websocket", connection: "upgrade", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" } });
      expect(plain.status).toBe(403);
      const ws = new WebSocket(url, { headers } as unknown as string[]);
      const closed = await new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
      expect(closed.code).not.toBe(1000);
    }
    const ws = new WebSocket(url, { headers: { cookie, origin: m.origin } } as unknown as string[]);
    const frames: string[] = [];
    ws.onmessage = (e) => typeof e.data === "string" && frames.push(e.data);
    const closed = await new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
    expect(closed.code).toBe(1000);
    expect(frames.at(-1)).toBe('{"type":"exit","code":0}');
  });

  test("logout ends the session on the master and clears the cookie", async () => {
    const m = startMaster();
    const cookie = await loggedIn(m);
    const other = await loggedIn(m);
    expect((await call(m, "/api/v1/session", { method: "DELETE", headers: { cookie } })).status).toBe(403);
    const out = await call(m, "/api/v1/session", { method: "DELETE", headers: { cookie, origin: m.origin } });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(/^multiverse_session=; HttpOnly; SameSite=Strict; Path=\/; Max-Age=0$/);
    const after = await call(m, "/api/v1/nodes", { headers: { cookie } });
    expect(after.status).toBe(401);
    expect(parseErrorBody(await after.json())?.error.message).toContain("log in again");
    // Another browser's session is its own.
    expect((await call(m, "/api/v1/nodes", { headers: { cookie: other } })).status).toBe(200);
  });

  test("a session expires 12 hours after its login", async () => {
    const m = startMaster();
    const cookie = await loggedIn(m);
    m.advance(WEB_SESSION_TTL_MS - 1000);
    expect((await call(m, "/api/v1/nodes", { headers: { cookie } })).status).toBe(200);
    m.advance(1000);
    expect((await call(m, "/api/v1/nodes", { headers: { cookie } })).status).toBe(401);
  });

  test("a stale cookie is not counted as a guess: a browser holding one is not locked out", async () => {
    const m = startMaster({ authLimits: { maxFailures: 2, windowMs: 60_000, lockoutMs: 60_000 } });
    for (let i = 0; i < 5; i++) {
      expect((await call(m, "/api/v1/nodes", { headers: { cookie: "multiverse_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } })).status).toBe(401);
    }
    expect((await call(m, "/api/v1/nodes", { headers: { authorization: "Bearer mva_guess-000000000000000000000000000000" } })).status).toBe(401);
  });
});

describe("headers", () => {
  test("every API answer says nosniff and no-referrer: success, 401, 404, 400 and 413", async () => {
    const m = startMaster();
    const bearer = { authorization: `Bearer ${API}` };
    const answers = [
      await call(m, "/healthz"),
      await call(m, "/api/v1/nodes", { headers: bearer }),
      await call(m, "/api/v1/nodes"),
      await call(m, "/api/unknown", { headers: bearer }),
      await call(m, "/api/v1/events?limit=0", { headers: bearer }),
      await call(m, "/api/v1/session", { method: "POST", body: "x".repeat(10 * 1024 * 1024) }),
      await login(m, API),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 401, 404, 400, 413, 200]);
    for (const a of answers) {
      expect(a.headers.get("x-content-type-options")).toBe("nosniff");
      expect(a.headers.get("referrer-policy")).toBe("no-referrer");
    }
  });
});
