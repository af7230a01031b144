/**
 * Security by default, checked route by route: every registered route but
 * /healthz, the agent's /identity (it only signs the nonce it is given) and
 * the web console's page and files (no cluster data in them:
 * ui-assets.test.ts) refuses a missing token, a wrong token and the other
 * kind of token — the console's login refuses them in its body;
 * repeated failures lock an address out, but never a request with the right token; bodies over the limit are
 * 413 before a handler reads them; no answer ever carries a token.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Hono } from "hono";
import { createFakeMultipass } from "../support/fake-multipass.ts";
import { waitFor } from "../e2e/harness.ts";
import { API, JOIN, listInstances, readyCount, runCleanups, startMaster, startWorker } from "../support/in-process.ts";
import type { BunEnv } from "../../lib/net/ws.ts";

afterEach(runCleanups);

/** A concrete request for every route of `app` (path parameters filled in). */
function routesOf(app: Hono<BunEnv>): { method: string; path: string }[] {
  const seen = new Set<string>();
  const out: { method: string; path: string }[] = [];
  for (const r of app.routes) {
    if (r.method === "ALL") continue; // middleware
    const path = r.path.replace(/:(\w+)(\{[^}]*\})?/g, (_m, name: string, pattern?: string) => (pattern ? pattern.slice(1, -1).split("|")[0]! : name === "ref" || name === "name" ? "web" : "n1"));
    const key = `${r.method} ${path}`;
    if (!seen.has(key)) out.push({ method: r.method, path });
    seen.add(key);
  }
  return out;
}

async function cluster() {
  // Enough failures allowed for every route to be tried with every wrong token.
  const limits = { maxFailures: 10_000, windowMs: 60_000, lockoutMs: 60_000 };
  const m = startMaster(0, undefined, limits);
  const w = startWorker(m.cluster.port!, "n1", createFakeMultipass([{ name: "web" }]), undefined, undefined, undefined, undefined, limits);
  await waitFor("joined", () => readyCount(m.master) === 1);
  return { m, w };
}

describe("every route needs the right token", () => {
  test("client API, cluster server and agent server: no token, a wrong one, the other kind → 401", async () => {
    const { m, w } = await cluster();
    const agentToken = m.master.registry.get("n1")!.agentToken;
    const apps: [string, Hono<BunEnv>, number, (string | null)[], string][] = [
      ["api", m.master.apiApp, m.api.port!, [null, "mva_wrong-but-well-formed-0000000000000000", JOIN, agentToken], API],
      ["cluster", m.master.clusterApp, m.cluster.port!, [null, "mvj_wrong-but-well-formed-0000000000000000", API, agentToken], JOIN],
      ["agent", w.worker.agentApp, w.agent.port!, [null, "wrong", JOIN, API], agentToken],
    ];
    let checked = 0;
    for (const [name, app, port, wrong, right] of apps) {
      const routes = routesOf(app);
      expect(routes.length).toBeGreaterThan(name === "cluster" ? 2 : 4);
      for (const { method, path } of routes) {
        // The console's page: GET of any path outside /api, served without a credential by design.
        if (name === "api" && method === "GET" && path === "/*") continue;
        // The console's login takes the token in its body.
        const login = name === "api" && method === "POST" && path === "/api/v1/session";
        for (const token of wrong) {
          const response = await fetch(`http://127.0.0.1:${port}${path}`, {
            method,
            headers: { ...(token === null || login ? {} : { authorization: `Bearer ${token}` }), "content-type": "application/json" },
            ...(method === "POST" ? { body: login && token !== null ? JSON.stringify({ token }) : "{}" } : {}),
          });
          const body = await response.text();
          // /identity without a nonce is a bad request, whatever the token; so is a login without one.
          const expected = path === "/healthz" ? 200 : path === "/identity" || (login && token === null) ? 400 : 401;
          expect({ app: name, method, path, status: response.status }).toEqual({ app: name, method, path, status: expected });
          for (const secret of [API, JOIN, agentToken]) expect(body).not.toContain(secret);
          checked++;
        }
      }
      // The right token opens the door (whatever the route then says about an empty body).
      const first = routes.find((r) => r.path !== "/healthz" && r.path !== "/identity" && r.method === "GET" && !/shell|exec|session|join/.test(r.path))!;
      const ok = await fetch(`http://127.0.0.1:${port}${first.path}`, { headers: { authorization: `Bearer ${right}` } });
      expect({ app: name, path: first.path, status: ok.status }).toEqual({ app: name, path: first.path, status: 200 });
    }
    expect(checked).toBeGreaterThan(60);
  });

  test("repeated failures from one address are locked out; a request with the right token from it still passes", async () => {
    const m = startMaster(0, undefined, { maxFailures: 5, windowMs: 60_000, lockoutMs: 60_000 });
    const get = (token: string | null) => fetch(`http://127.0.0.1:${m.api.port}/api/v1/nodes`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 5; i++) expect((await get(`mva_guess-${i}-000000000000000000000000000000`)).status).toBe(401);
    for (const wrong of ["mva_guess-5-000000000000000000000000000000", null]) {
      const locked = await get(wrong);
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(50);
      expect(await locked.json()).toMatchObject({ error: { code: "E_RATE_LIMITED" } });
    }
    // Throttling failures must not lock out the valid caller: anyone sharing its address could.
    expect((await get(API)).status).toBe(200);
    // The cluster server keeps its own count: workers are not locked out by a client's guesses.
    const ping = await fetch(`http://127.0.0.1:${m.cluster.port}/cluster/v1/ping`, { headers: { authorization: `Bearer ${JOIN}` } });
    expect(ping.status).toBe(200);
  });
});

describe("bodies", () => {
  test("a body over the limit is 413 before any handler reads it; garbage JSON is 400", async () => {
    const { m } = await cluster();
    const post = (path: string, body: string, port = m.api.port!) =>
      fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", headers: { authorization: `Bearer ${API}`, "content-type": "application/json" }, body });
    const huge = JSON.stringify({ name: "web2", cloudInit: "x".repeat(10 * 1024 * 1024) });
    const r = await post("/api/v1/instances", huge);
    expect(r.status).toBe(413);
    expect(await r.json()).toMatchObject({ error: { code: "E_TOO_LARGE" } });
    expect((await post("/api/v1/instances", "{not json")).status).toBe(400);
    expect((await post("/api/v1/instances", "[1,2]")).status).toBe(400);
    expect((await post("/api/v1/instances", '{"name":123}')).status).toBe(400);
    expect((await listInstances(m.master)).map((i) => i.name)).toEqual(["web"]);
  });
});
