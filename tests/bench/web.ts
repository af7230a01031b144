/**
 * Web console benchmark (issue 13), in Debian's Chromium (tests/e2e/browser.ts)
 * against a real master whose hosts are fake ones speaking the real join
 * protocol (tests/support/fake-fleet.ts):
 * - page weight: the document and every asset the page loads, as served (with
 *   the encoding the master chose) and gzipped here as a browser would get
 *   them from a compressing server;
 * - navigation → first rendered instance table, on loopback, cold (a new
 *   browser context) and warm (the same context navigating again), with 20
 *   and with 2,000 instances;
 * - staying smooth with 2,000 instances: a snapshot in which a few rows
 *   changed — the page's handling of it (parse, store, table update), the
 *   time to the next frame, and how many rows' DOM nodes were replaced
 *   rather than updated in place.
 * Figures only: nothing here passes or fails on timing.
 *
 *   bun run bench             (all benchmarks)
 *   bun tests/bench/web.ts    (this one)
 */
import { loadavg } from "node:os";
import { gzipSync } from "node:zlib";
import type { Browser, Page } from "playwright-core";
import { generateNodeKey } from "../../lib/net/node-key.ts";
import { runMasterLink } from "../../lib/worker/cluster-client.ts";
import { browserUnavailable, launchBrowser } from "../e2e/browser.ts";
import { apiInstances, removeTempDirs, startMaster, stopAll, waitFor, type MasterHandle } from "../e2e/harness.ts";
import { fakeHost, startFleetAgent, type FakeHost } from "../support/fake-fleet.ts";
import { createTestLog } from "../support/test-log.ts";

const HOSTS = 4;
const PER_HOST = 500;
const ROUNDS = 10;
const CHANGED_PER_ROUND = 5;
const NAVIGATIONS = 5;

/**
 * Put into the page before its own scripts (CDP injects it, so the page's
 * CSP does not apply): times every `snapshot` listener of the page's
 * EventSource — its run, and the next frame after it — and records them.
 */
const SNAPSHOT_PROBE = `(() => {
  const add = EventSource.prototype.addEventListener;
  window.__snapshots = [];
  EventSource.prototype.addEventListener = function (type, listener, options) {
    if (type === "snapshot" && typeof listener === "function") {
      const inner = listener;
      listener = function (event) {
        const started = performance.now();
        try {
          return inner.call(this, event);
        } finally {
          const entry = { at: Date.now(), bytes: String(event.data).length, handlerMs: performance.now() - started, frameMs: null };
          window.__snapshots.push(entry);
          requestAnimationFrame(() => setTimeout(() => { entry.frameMs = performance.now() - started; }, 0));
        }
      };
    }
    return add.call(this, type, listener, options);
  };
})()`;

/** Marks the table's current rows and counts rows added and removed from now on. */
const WATCH_ROWS = `(() => {
  window.__rowsBefore = new WeakSet(document.querySelectorAll("tr[data-instance]"));
  const counts = (window.__rowMutations = { added: 0, removed: 0, cellsChanged: 0 });
  window.__rowObserver?.disconnect();
  window.__rowObserver = new MutationObserver((records) => {
    for (const r of records) {
      for (const n of r.addedNodes) if (n.nodeName === "TR") counts.added++;
      for (const n of r.removedNodes) if (n.nodeName === "TR") counts.removed++;
      if (r.type === "characterData" || (r.type === "childList" && r.target.nodeName !== "TBODY")) counts.cellsChanged++;
    }
  });
  window.__rowObserver.observe(document.querySelector("table[data-testid=instances-table]"), { subtree: true, childList: true, characterData: true });
})()`;

/**
 * The few browser globals the page-side functions below use: they run in the
 * page, and the root program has no DOM library.
 */
declare const document: {
  querySelector(selector: string): { textContent: string | null } | null;
  querySelectorAll(selector: string): { length: number };
};
/** What {@link SNAPSHOT_PROBE} leaves on the page's window. */
interface ProbedWindow {
  __snapshots: SnapshotEntry[];
}

interface SnapshotEntry {
  at: number;
  bytes: number;
  handlerMs: number;
  frameMs: number | null;
}

function p(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

async function sessionCookie(master: MasterHandle): Promise<string> {
  const response = await fetch(`${master.apiUrl}/api/v1/session`, { method: "POST", headers: { "content-type": "application/json", origin: master.apiUrl }, body: JSON.stringify({ token: master.apiToken }) });
  const cookie = /multiverse_session=([^;]+)/.exec(response.headers.get("set-cookie") ?? "")?.[1];
  if (response.status !== 200 || cookie === undefined) throw new Error(`POST /api/v1/session answered ${response.status} without the session cookie`);
  return cookie;
}

/** A master and `hosts` fake hosts of `perHost` instances each, joined; `stop` ends the fleet. */
async function fleet(hosts: number, perHost: number): Promise<{ master: MasterHandle; hosts: FakeHost[]; stop: () => Promise<void> }> {
  const master = await startMaster({ heartbeat: "5s" });
  const fake = Array.from({ length: hosts }, (_, i) => fakeHost(i, perHost));
  const key = generateNodeKey().key;
  const agent = startFleetAgent(key);
  const controller = new AbortController();
  const { log } = createTestLog();
  const links = fake.map((host, i) =>
    runMasterLink(
      {
        masterUrl: `http://127.0.0.1:${master.clusterPort}`,
        joinToken: master.joinToken,
        name: `host-${i}`,
        key,
        agentPort: agent.port ?? 0,
        advertiseAddr: `127.0.0.1:${agent.port}`,
        version: "bench",
        monitor: host.monitor,
        log,
        onMembership: () => {},
      },
      controller.signal,
    ),
  );
  await waitFor("every instance on the master", async () => (await apiInstances(master)).length === hosts * perHost, 60_000, 200);
  return {
    master,
    hosts: fake,
    stop: async () => {
      controller.abort();
      await Promise.all(links);
      await agent.stop(true);
      await stopAll();
    },
  };
}

/** The document and every asset a logged-out page load fetches (nothing under /api/). */
async function pageWeight(browser: Browser, master: MasterHandle): Promise<string[]> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const responses: Promise<{ path: string; encoding: string; served: number; raw: number; gzip: number }>[] = [];
  page.on("response", (response) => {
    const url = new URL(response.url());
    if (url.origin !== master.apiUrl || url.pathname.startsWith("/api/")) return;
    responses.push(
      (async () => {
        const body = await response.body();
        const sizes = await response.request().sizes();
        return { path: url.pathname, encoding: (await response.headerValue("content-encoding")) ?? "none", served: sizes.responseBodySize, raw: body.length, gzip: gzipSync(body).length };
      })(),
    );
  });
  await page.goto(master.apiUrl + "/", { waitUntil: "networkidle" });
  const all = await Promise.all(responses);
  await context.close();
  const lines = all.map((r) => `    ${r.path.padEnd(32)} ${kb(r.raw).padStart(10)} raw   ${kb(r.served).padStart(10)} as served (${r.encoding})   ${kb(r.gzip).padStart(10)} gzip -6`);
  const sum = (f: (r: (typeof all)[number]) => number) => all.reduce((n, r) => n + f(r), 0);
  lines.push(`    ${"total".padEnd(32)} ${kb(sum((r) => r.raw)).padStart(10)} raw   ${kb(sum((r) => r.served)).padStart(10)} as served        ${kb(sum((r) => r.gzip)).padStart(10)} gzip -6   (${all.length} responses)`);
  return lines;
}

/** Milliseconds from navigation start to the first and to the last instance row being in a frame. */
async function timeToTable(page: Page, path: string, rows: number): Promise<{ first: number; all: number }> {
  await page.goto(path, { waitUntil: "commit" });
  // One predicate, run at every frame of the new document, notes both moments.
  const times = await page.waitForFunction(
    (n) => {
      const probe = globalThis as unknown as { __firstRow?: number };
      const count = document.querySelectorAll("tr[data-instance]").length;
      if (count > 0 && probe.__firstRow === undefined) probe.__firstRow = performance.now();
      return count >= n && { first: probe.__firstRow ?? NaN, all: performance.now() };
    },
    rows,
    { polling: "raf", timeout: 60_000 },
  );
  const value = await times.jsonValue();
  if (value === false) throw new Error("the table never filled");
  return value;
}

async function navigationFigures(browser: Browser, master: MasterHandle, rows: number, label: string): Promise<string[]> {
  const cookie = await sessionCookie(master);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addCookies([{ name: "multiverse_session", value: cookie, domain: "127.0.0.1", path: "/", httpOnly: true, sameSite: "Strict" }]);
  const page = await context.newPage();
  const cold = await timeToTable(page, `${master.apiUrl}/instances`, rows);
  const warm: { first: number; all: number }[] = [];
  for (let i = 0; i < NAVIGATIONS; i++) warm.push(await timeToTable(page, `${master.apiUrl}/instances`, rows));
  const shown = await page.locator("tr[data-instance]").count();
  await context.close();
  const firsts = warm.map((w) => w.first).sort((a, b) => a - b);
  const alls = warm.map((w) => w.all).sort((a, b) => a - b);
  // The table is drawn from the first snapshot in one go: when both are the same frame, one line says it.
  const sameFrame = warm.every((w) => w.first === w.all) && cold.first === cold.all;
  if (sameFrame) return [`  ${label}: navigation → table with all ${shown} rows drawn   cold ${cold.all.toFixed(0)} ms   warm p50 ${p(alls, 0.5).toFixed(0)} ms (max ${alls.at(-1)!.toFixed(0)}, ${NAVIGATIONS} loads)`];
  return [
    `  ${label}: navigation → first row   cold ${cold.first.toFixed(0)} ms   warm p50 ${p(firsts, 0.5).toFixed(0)} ms (max ${firsts.at(-1)!.toFixed(0)}, ${NAVIGATIONS} loads)`,
    `  ${label}: navigation → all ${shown} rows   cold ${cold.all.toFixed(0)} ms   warm p50 ${p(alls, 0.5).toFixed(0)} ms (max ${alls.at(-1)!.toFixed(0)})`,
  ];
}

/** Rounds of a few rows changing on the hosts, each timed and checked in the page. */
async function smoothness(browser: Browser, master: MasterHandle, hosts: FakeHost[]): Promise<string[]> {
  const cookie = await sessionCookie(master);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addCookies([{ name: "multiverse_session", value: cookie, domain: "127.0.0.1", path: "/", httpOnly: true, sameSite: "Strict" }]);
  await context.addInitScript(SNAPSHOT_PROBE);
  const page = await context.newPage();
  await page.goto(`${master.apiUrl}/instances`);
  const total = HOSTS * PER_HOST;
  await page.waitForFunction((n) => document.querySelectorAll("tr[data-instance]").length >= n, total, { timeout: 60_000 });
  const handler: number[] = [];
  const frame: number[] = [];
  const endToEnd: number[] = [];
  let replaced = 0;
  let reused = 0;
  let cellsChanged = 0;
  let snapshotBytes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    await page.evaluate(WATCH_ROWS);
    const seenBefore = await page.evaluate<number>("window.__snapshots.length");
    const host = hosts[round % hosts.length]!;
    const indices = Array.from({ length: CHANGED_PER_ROUND }, (_, i) => (round * 37 + i * 101) % PER_HOST);
    const changedAt = Date.now();
    const changed = host.flip(indices);
    const want = changed.map((c): [string, string] => [`${c.name}@host-${round % hosts.length}`, c.state.toLowerCase()]);
    await page.waitForFunction(
      (pairs) => pairs.every(([ref, state]) => document.querySelector(`tr[data-instance="${ref}"] td[data-col=state]`)?.textContent?.trim().toLowerCase() === state),
      want,
      { polling: "raf", timeout: 10_000 },
    );
    const shownAt = await page.evaluate<number>("Date.now()");
    await page.waitForFunction((from) => (globalThis as unknown as ProbedWindow).__snapshots.slice(from).every((s) => s.frameMs !== null), seenBefore, { timeout: 5_000 });
    const entries = (await page.evaluate<SnapshotEntry[]>(`window.__snapshots.slice(${seenBefore})`)).filter((e) => e.at <= shownAt + 1);
    for (const e of entries) {
      handler.push(e.handlerMs);
      frame.push(e.frameMs ?? NaN);
      snapshotBytes = Math.max(snapshotBytes, e.bytes);
    }
    endToEnd.push(shownAt - changedAt);
    const counts = await page.evaluate<{ added: number; removed: number; cellsChanged: number; kept: number }>(
      `({ ...window.__rowMutations, kept: [...document.querySelectorAll("tr[data-instance]")].filter((tr) => window.__rowsBefore.has(tr)).length })`,
    );
    replaced += counts.removed;
    reused += counts.kept;
    cellsChanged += counts.cellsChanged;
  }
  await context.close();
  handler.sort((a, b) => a - b);
  frame.sort((a, b) => a - b);
  endToEnd.sort((a, b) => a - b);
  return [
    `  ${total} instances, ${ROUNDS} rounds of ${CHANGED_PER_ROUND} rows changed on one host (${handler.length} snapshots of up to ${kb(snapshotBytes)})`,
    `    snapshot handled (parse, store, table)   p50 ${p(handler, 0.5).toFixed(1)} ms   max ${handler.at(-1)!.toFixed(1)} ms`,
    `    snapshot → next frame                    p50 ${p(frame, 0.5).toFixed(1)} ms   max ${frame.at(-1)!.toFixed(1)} ms`,
    `    host change → rows shown (end to end)    p50 ${p(endToEnd, 0.5).toFixed(0)} ms   max ${endToEnd.at(-1)!.toFixed(0)} ms   (the master coalesces snapshots to one per 250 ms)`,
    `    rows' DOM nodes replaced                 ${replaced} in ${ROUNDS} rounds; rows kept ${(reused / ROUNDS).toFixed(0)} of ${total} per round; ${(cellsChanged / ROUNDS).toFixed(1)} cell mutations per round`,
  ];
}

export async function runWebBench(): Promise<void> {
  const unavailable = browserUnavailable();
  if (unavailable) {
    console.log(`\nWeb console: skipped: ${unavailable}`);
    return;
  }
  const browser = await launchBrowser();
  const version = browser.version();
  const out: string[] = [];
  try {
    const small = await fleet(1, 20);
    try {
      out.push("  page weight (the document and its assets, logged out):", ...(await pageWeight(browser, small.master)));
      out.push(...(await navigationFigures(browser, small.master, 20, "20 instances")));
    } finally {
      await small.stop();
    }
    const big = await fleet(HOSTS, PER_HOST);
    try {
      out.push(...(await navigationFigures(browser, big.master, HOSTS * PER_HOST, `${HOSTS * PER_HOST} instances`)));
      out.push(...(await smoothness(browser, big.master, big.hosts)));
    } finally {
      await big.stop();
    }
  } finally {
    await browser.close();
    removeTempDirs();
  }
  console.log(`\nWeb console (Chromium ${version}, headless, loopback; load average ${loadavg()[0]!.toFixed(1)} at the end)`);
  for (const line of out) console.log(line);
}

if (import.meta.main) await runWebBench();
