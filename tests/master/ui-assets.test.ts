/**
 * The web console's page: bundled from lib/ui/index.html on a private
 * server, read into memory, and served by the API server without a
 * credential, with its content types, cache rules and security headers; a
 * bundle that fails leaves the API up and `/` saying why.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditTrailIn, closeAuditTrails } from "../support/audit-trail.ts";
import { createMaster } from "../../lib/master/master.ts";
import { loadNodeKeys } from "../../lib/master/node-keys.ts";
import { CONSOLE_CSP, loadConsole, MAX_CONSOLE_FILES, type ConsolePage } from "../../lib/master/ui-assets.ts";
import { parseErrorBody } from "../../lib/protocol/api.ts";
import { createTestLog } from "../support/test-log.ts";
import { API, JOIN } from "../support/in-process.ts";
import consoleHtml from "../../lib/ui/index.html";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  closeAuditTrails();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The master's API app with this console page. */
function apiApp(page?: ConsolePage) {
  const dataDir = mkdtempSync(join(tmpdir(), "mv-ui-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const master = createMaster({
    audit: auditTrailIn(dataDir),
    log: createTestLog().log,
    joinToken: JOIN,
    apiToken: API,
    heartbeatMs: 200,
    downGraceMs: 60_000,
    nodeTimeoutMs: 1000,
    version: "test",
    nodeKeys: loadNodeKeys(null),
    console: page,
  });
  cleanups.push(() => master.close());
  return master.apiApp;
}

/** A server on port 0 answering `files` (path → [content type, body]); 404 for anything else. */
function fakeBundler(files: Record<string, [string, string] | number>): string {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const file = files[new URL(req.url).pathname];
      if (file === undefined) return new Response("nope", { status: 404 });
      if (typeof file === "number") return new Response("", { status: file });
      return new Response(file[1], { headers: { "content-type": file[0] } });
    },
  });
  cleanups.push(() => server.stop(true));
  return `http://127.0.0.1:${server.port}`;
}

/** The real page, bundled as master.ts bundles it; the private server is stopped before anything is served. */
async function bundledPage(): Promise<ConsolePage> {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, development: false, routes: { "/": consoleHtml } });
  try {
    return await loadConsole(`http://127.0.0.1:${server.port}`);
  } finally {
    await server.stop(true);
  }
}

describe("loadConsole", () => {
  test("reads the document, what it references, and what the styles reference", async () => {
    const html = '<!doctype html><link rel="stylesheet" crossorigin href="/chunk-aaaaaaaa.css"><script type="module" src="/chunk-bbbbbbbb.js"></script>';
    const base = fakeBundler({
      "/": ["text/html;charset=utf-8", html],
      "/chunk-aaaaaaaa.css": ["text/css", "@font-face{src:url(/font-cccccccc.woff2)}"],
      "/chunk-bbbbbbbb.js": ["text/javascript", 'console.log("/not-a-file-dddddddd.png")'],
      "/font-cccccccc.woff2": ["application/octet-stream", "wOF2"],
    });
    const page = await loadConsole(base);
    if (page.state !== "ready") throw new Error(page.reason);
    expect(new TextDecoder().decode(page.document.body)).toBe(html);
    expect([...page.files].map(([path, f]) => [path, f.contentType])).toEqual([
      ["/chunk-aaaaaaaa.css", "text/css; charset=utf-8"],
      ["/chunk-bbbbbbbb.js", "text/javascript; charset=utf-8"],
      ["/font-cccccccc.woff2", "font/woff2"],
    ]);
  });

  test("a page that did not build, a missing file, or too many files: unavailable, saying why", async () => {
    expect(await loadConsole(fakeBundler({ "/": 500 }))).toEqual({ state: "unavailable", reason: expect.stringContaining("did not build: 500") });
    const missing = fakeBundler({ "/": ["text/html", '<script src="/chunk-bbbbbbbb.js"></script>'] });
    expect(await loadConsole(missing)).toEqual({ state: "unavailable", reason: expect.stringContaining('"/chunk-bbbbbbbb.js" is missing (404)') });
    const many: Record<string, [string, string]> = { "/": ["text/html", Array.from({ length: MAX_CONSOLE_FILES + 1 }, (_, i) => `<img src="/i${i}.png">`).join("")] };
    for (let i = 0; i <= MAX_CONSOLE_FILES; i++) many[`/i${i}.png`] = ["image/png", "x"];
    expect(await loadConsole(fakeBundler(many))).toEqual({ state: "unavailable", reason: expect.stringContaining(`more than ${MAX_CONSOLE_FILES} files`) });
    expect(await loadConsole("http://127.0.0.1:1")).toEqual({ state: "unavailable", reason: expect.stringContaining("could not be read") });
  });

  test("a bundler that never answers does not hold the master's start: unavailable past the deadline", async () => {
    const hung = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Promise<Response>(() => {}) });
    cleanups.push(() => hung.stop(true));
    expect(await loadConsole(`http://127.0.0.1:${hung.port}`, { timeoutMs: 50 })).toEqual({ state: "unavailable", reason: expect.stringContaining("could not be read") });
  });
});

describe("the page on the API server", () => {
  test("the bundled lib/ui/index.html: the document at / and at deep links with its CSP, its files with their types, from memory, without a credential", async () => {
    const page = await bundledPage();
    if (page.state !== "ready") throw new Error(page.reason);
    const app = apiApp(page);
    const root = await app.request("/");
    expect(root.status).toBe(200);
    expect(root.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(root.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self';");
    expect(CONSOLE_CSP).not.toContain("unsafe-eval");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    expect(root.headers.get("x-frame-options")).toBe("DENY");
    expect(root.headers.get("x-content-type-options")).toBe("nosniff");
    expect(root.headers.get("referrer-policy")).toBe("no-referrer");
    const html = await root.text();
    // No inline script: every <script> has a src.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    for (const path of ["/instances/web@n1", "/instances/web@n1/shell", "/events", "/login"]) {
      const deep = await app.request(path);
      expect({ path, status: deep.status, csp: deep.headers.get("content-security-policy") }).toEqual({ path, status: 200, csp: CONSOLE_CSP });
      expect(await deep.text()).toBe(html);
    }
    const script = /<script[^>]*\bsrc="(\/[^"]+\.js)"/.exec(html)?.[1];
    const style = /<link[^>]*\bhref="(\/[^"]+\.css)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    for (const [path, type] of [[script!, "text/javascript; charset=utf-8"], [style!, "text/css; charset=utf-8"]] as const) {
      const file = await app.request(path);
      expect({ path, status: file.status, type: file.headers.get("content-type"), cache: file.headers.get("cache-control") }).toEqual({ path, status: 200, type, cache: "public, max-age=31536000, immutable" });
      expect(file.headers.get("x-content-type-options")).toBe("nosniff");
      expect(new Uint8Array(await file.arrayBuffer())).toEqual(page.files.get(path)!.body);
      // A browser that takes gzip gets it: the same bytes, a fraction of the size.
      const zipped = await app.request(path, { headers: { "accept-encoding": "gzip, deflate, br" } });
      expect({ encoding: zipped.headers.get("content-encoding"), vary: zipped.headers.get("vary") }).toEqual({ encoding: "gzip", vary: "accept-encoding" });
      const gzipped = new Uint8Array(await zipped.arrayBuffer());
      expect(gzipped.length).toBeLessThan(page.files.get(path)!.body.length * 0.9);
      expect(Bun.gunzipSync(gzipped)).toEqual(page.files.get(path)!.body);
    }
  });

  test("/api stays the API: an unknown /api path is a JSON 404 with the token, 401 without", async () => {
    const app = apiApp((await bundledPage()));
    const known = await app.request("/api/unknown", { headers: { authorization: `Bearer ${API}` } });
    expect(known.status).toBe(404);
    expect(parseErrorBody(await known.json())?.error.code).toBe("E_NOT_FOUND");
    const anonymous = await app.request("/api/unknown");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("content-type")).toStartWith("application/json");
    expect((await app.request("/healthz")).headers.get("content-type")).toStartWith("application/json");
  });

  test("without a page (the bundle failed) the API is served and / answers 503 saying why", async () => {
    const app = apiApp({ state: "unavailable", reason: "the console's page did not build: 500" });
    const root = await app.request("/");
    expect(root.status).toBe(503);
    expect(root.headers.get("content-type")).toStartWith("text/plain");
    expect(await root.text()).toContain("the console's page did not build: 500");
    expect((await app.request("/instances/web@n1")).status).toBe(503);
    expect((await app.request("/api/v1/nodes", { headers: { authorization: `Bearer ${API}` } })).status).toBe(200);
    expect((await apiApp().request("/")).status).toBe(503);
  });
});
