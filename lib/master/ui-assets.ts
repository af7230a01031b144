/**
 * The web console's page, served from memory by the API server: one HTML
 * document (a single-page app) at `/` and at every path outside `/api` and
 * `/healthz` (deep links such as `/instances/NAME@NODE/shell`), and the
 * files it references (scripts, styles, fonts, images).
 *
 * The entry bundles `lib/ui/index.html` with Bun's HTML import on a private
 * loopback server and hands its base URL to {@link loadConsole}, which reads
 * the document and every file it references (and the files the styles and
 * scripts reference) into memory; the entry then stops that server. So the
 * same code serves the page from the source tree and from a compiled
 * executable, with headers this module decides.
 *
 * The page and its files hold no cluster data, so they are served without a
 * credential: the one exception besides `/healthz` to "every route needs a
 * credential". Everything the page shows comes from the API, with the
 * session cookie.
 */
import type { Context, Hono } from "hono";
import { AppError, messageOf } from "../core/errors.ts";
import { fetchPeer } from "../net/fetch.ts";
import type { BunEnv } from "../net/ws.ts";

/**
 * The Content-Security-Policy of the console's document: nothing inline but
 * styles (xterm.js injects a <style>), no eval, nothing from elsewhere. The
 * page has no font of its own: Bun's bundler would inline a small one as a
 * `data:` URL, which `font-src 'self'` refuses — a font added to the page
 * needs `data:` here (and in the browser tests' copy of this policy).
 */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Most files the page may have, and most bytes in all: it is the page's own files, nothing else. */
export const MAX_CONSOLE_FILES = 64;
export const MAX_CONSOLE_BYTES = 32 * 1024 * 1024;

/** Longest the bundling and reading of the page may take (a slow board bundling the terminal): past it the master starts without it. */
export const CONSOLE_LOAD_TIMEOUT_MS = 60_000;

/** One file of the page, and its gzip encoding when that is smaller (made once, at load). */
export interface ConsoleFile {
  contentType: string;
  body: Uint8Array<ArrayBuffer>;
  gzip: Uint8Array<ArrayBuffer> | null;
}

/** Text compresses (the script to about a quarter); fonts and images are compressed already. */
const COMPRESSIBLE = /^(text\/|application\/json|image\/svg\+xml)/;

function consoleFile(contentType: string, body: Uint8Array<ArrayBuffer>): ConsoleFile {
  if (!COMPRESSIBLE.test(contentType)) return { contentType, body, gzip: null };
  const gzip = new Uint8Array(Bun.gzipSync(body, { level: 9 }));
  return { contentType, body, gzip: gzip.length < body.length * 0.9 ? gzip : null };
}

/** The page in memory, or why there is none (the API is served all the same; `/` answers 503). */
export type ConsolePage =
  | { state: "ready"; document: ConsoleFile; files: ReadonlyMap<string, ConsoleFile> }
  | { state: "unavailable"; reason: string };

/** A page that says why there is no console (no bundle was made, or it failed). */
export function unavailableConsole(reason: string): ConsolePage {
  return { state: "unavailable", reason };
}

const TYPES: Record<string, string> = {
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  map: "application/json",
  json: "application/json",
  woff2: "font/woff2",
  woff: "font/woff",
  ttf: "font/ttf",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  webp: "image/webp",
};

/** A local path the document references: `src="/…"` or `href="/…"`. */
const HTML_REFERENCE = /\b(?:src|href)\s*=\s*["'](\/[^"'?#\s]*)["']/g;
/** A hashed file name the bundler wrote, as styles (`url(/f-kg9yknnc.woff2)`) and scripts refer to it. */
const BUNDLED_NAME = /\/[A-Za-z0-9_.-]+-[a-z0-9]{8}\.[a-z0-9]+\b/g;

/**
 * Reads the console from the server at `baseUrl` (the private bundling
 * server): `/`, the files the document references, and the bundled files the
 * styles and scripts name. Never throws: a failure (the bundle did not build,
 * a referenced file is missing, past the bounds or past `timeoutMs`) is an
 * unavailable page with the reason.
 */
export async function loadConsole(baseUrl: string, options: { fetch?: typeof fetch; timeoutMs?: number } = {}): Promise<ConsolePage> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? CONSOLE_LOAD_TIMEOUT_MS);
  const get = (path: string) => fetchPeer(options.fetch ?? fetch, { url: new URL(path, baseUrl).href, signal });
  try {
    const root = await get("/");
    const html = await root.text();
    if (!root.ok || !(root.headers.get("content-type") ?? "").startsWith("text/html")) {
      return unavailableConsole(`the console's page did not build: ${root.status} ${html.slice(0, 300)}`);
    }
    const files = new Map<string, ConsoleFile>();
    let bytes = html.length;
    const queue = [...html.matchAll(HTML_REFERENCE)].map((m) => ({ path: m[1]!, required: true }));
    while (queue.length > 0) {
      const { path, required } = queue.shift()!;
      if (files.has(path) || path === "/") continue;
      if (files.size >= MAX_CONSOLE_FILES) return unavailableConsole(`the console has more than ${MAX_CONSOLE_FILES} files`);
      const answer = await get(path);
      if (!answer.ok) {
        if (required) return unavailableConsole(`the console's file "${path}" is missing (${answer.status})`);
        continue;
      }
      const body = new Uint8Array(await answer.arrayBuffer());
      bytes += body.length;
      if (bytes > MAX_CONSOLE_BYTES) return unavailableConsole(`the console is larger than ${MAX_CONSOLE_BYTES} bytes`);
      const contentType = TYPES[extensionOf(path)] ?? answer.headers.get("content-type") ?? "application/octet-stream";
      files.set(path, consoleFile(contentType, body));
      if (/^text\/(css|javascript)/.test(contentType)) {
        // A script may mention names that are no files of ours: only the styles' and the document's references must exist.
        const isCss = contentType.startsWith("text/css");
        for (const m of new TextDecoder().decode(body).matchAll(BUNDLED_NAME)) queue.push({ path: m[0], required: isCss });
      }
    }
    return { state: "ready", document: consoleFile("text/html; charset=utf-8", new TextEncoder().encode(html)), files };
  } catch (error) {
    return unavailableConsole(`the console could not be read from its bundler: ${messageOf(error)}`);
  }
}

function extensionOf(path: string): string {
  const dot = path.lastIndexOf(".");
  return dot > path.lastIndexOf("/") ? path.slice(dot + 1).toLowerCase() : "";
}

/** A bundler's name with a content hash in it: it never changes content, so it may be cached for good. */
function isHashed(path: string): boolean {
  return /-[a-z0-9]{8}\.[a-z0-9]+$/.test(path);
}

/**
 * Serves `page()` on `app`: its files at their paths, the document at every
 * other GET outside `/api` (those stay JSON 404s). Register it last, after
 * every API route.
 */
export function registerConsoleRoutes(app: Hono<BunEnv>, page: () => ConsolePage): void {
  app.get("*", (c) => {
    const path = c.req.path;
    if (path === "/api" || path.startsWith("/api/")) throw new AppError("E_NOT_FOUND", `No route ${c.req.method} ${path.slice(0, 200)}`);
    const current = page();
    if (current.state === "unavailable") {
      return c.text(`The web console is not available: ${current.reason}\nThe API is served as usual.\n`, 503, { "cache-control": "no-store" });
    }
    const file = current.files.get(path);
    if (file) {
      const cache = isHashed(path) ? "public, max-age=31536000, immutable" : "no-cache";
      return fileResponse(c, file, cache);
    }
    return documentResponse(c, current.document);
  });
}

/** A file, gzipped for a browser that takes it (every one does). */
function fileResponse(c: Context, file: ConsoleFile, cache: string): Response {
  const headers: Record<string, string> = { "content-type": file.contentType, "cache-control": cache, vary: "accept-encoding" };
  const gzip = file.gzip !== null && /\bgzip\b/.test(c.req.header("accept-encoding") ?? "");
  if (gzip) headers["content-encoding"] = "gzip";
  return c.body(gzip ? file.gzip! : file.body, 200, headers);
}

/** The document, with the headers that keep it from being framed or running anything not its own. */
function documentResponse(c: Context, document: ConsoleFile): Response {
  c.header("content-security-policy", CONSOLE_CSP);
  c.header("x-frame-options", "DENY");
  return fileResponse(c, document, "no-cache");
}
