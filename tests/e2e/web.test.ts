/**
 * The web console (issue 13) in a real browser: Debian's Chromium driven by
 * playwright-core (tests/e2e/browser.ts), against a real master and workers
 * on the simulated host. Each test does what a person does — logs in, reads
 * the table, launches, confirms, types into the terminal — and checks what
 * the page shows against the API and the simulated hosts. Screenshots of
 * every main view are written where the output says ("screenshots: DIR").
 */
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { arrayOf, parseJson } from "../../lib/core/parse.ts";
import { parseAuditEvent, type AuditEvent } from "../../lib/protocol/audit.ts";
import { parseLaunchPlan } from "../../lib/protocol/operations.ts";
import { browserUnavailable, launchBrowser, screenshot, watchPageErrors, type PageErrors } from "./browser.ts";
import {
  api,
  apiInstances,
  apiNodes,
  apiSessions,
  hostMultipass,
  removeTempDirs,
  simConfig,
  simStates,
  startMaster,
  startWorker,
  stopAll,
  tempDir,
  waitFor,
  type MasterHandle,
  type WorkerHandle,
} from "./harness.ts";

setDefaultTimeout(120_000);

const COOKIE = "multiverse_session";
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const unavailable = browserUnavailable();
if (unavailable) console.log(`web console: the browser tests are skipped: ${unavailable}`);

let master: MasterHandle;
let n1: WorkerHandle;
let n2: WorkerHandle;
let browser: Browser;

beforeAll(async () => {
  if (unavailable) return;
  master = await startMaster();
  const sims = [tempDir("sim-w1"), tempDir("sim-w2")];
  // Phases of 40 ms: a launch shows several progress lines, a stop ends quickly.
  for (const sim of sims) simConfig(sim, { stepMs: 40 });
  expect((await hostMultipass(sims[0]!, ["launch", "--name", "web"])).code).toBe(0);
  expect((await hostMultipass(sims[0]!, ["launch", "--name", "db"])).code).toBe(0);
  expect((await hostMultipass(sims[1]!, ["launch", "--name", "cache"])).code).toBe(0);
  [n1, n2] = await Promise.all([startWorker(master, "n1", { simDir: sims[0] }), startWorker(master, "n2", { simDir: sims[1] })]);
  await waitFor("3 instances", async () => (await apiInstances(master)).length === 3);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await stopAll();
  removeTempDirs();
});

/** Every context a test opened, closed after it. */
const opened: BrowserContext[] = [];

afterEach(async () => {
  for (const context of opened.splice(0)) await context.close().catch(() => {});
});

interface PageOptions {
  /** The session cookie's value to start with; none: logged out. */
  cookie?: string;
  colorScheme?: "light" | "dark";
  viewport?: { width: number; height: number };
}

/** A new browser context (its own cookies and storage) and a page in it, watched for errors. */
async function newPage(options: PageOptions = {}): Promise<{ context: BrowserContext; page: Page; errors: PageErrors }> {
  const context = await browser.newContext({ baseURL: master.apiUrl, colorScheme: options.colorScheme ?? "light", viewport: options.viewport ?? { width: 1280, height: 800 } });
  context.setDefaultTimeout(15_000);
  if (options.cookie !== undefined) {
    await context.addCookies([{ name: COOKIE, value: options.cookie, domain: "127.0.0.1", path: "/", httpOnly: true, sameSite: "Strict", secure: false }]);
  }
  const page = await context.newPage();
  const errors = watchPageErrors(page);
  opened.push(context);
  return { context, page, errors };
}

/** Nothing went wrong inside the page: no uncaught error, nothing the CSP refused. */
function expectCleanPage(errors: PageErrors): void {
  expect(errors.uncaught).toEqual([]);
  expect(errors.refused).toEqual([]);
}

/** Logs in through the API as the page would; returns the session cookie's value. */
async function sessionCookie(): Promise<string> {
  const response = await fetch(`${master.apiUrl}/api/v1/session`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: master.apiUrl },
    body: JSON.stringify({ token: master.apiToken }),
  });
  expect(response.status).toBe(200);
  const match = new RegExp(`(?:^|,\\s*)${COOKIE}=([^;]+)`).exec(response.headers.get("set-cookie") ?? "");
  if (!match) throw new Error(`no ${COOKIE} in Set-Cookie: ${response.headers.get("set-cookie")}`);
  return match[1]!;
}

/** A page logged in with a fresh session cookie. */
async function loggedInPage(options: Omit<PageOptions, "cookie"> = {}): Promise<{ context: BrowserContext; page: Page; errors: PageErrors; cookie: string }> {
  const cookie = await sessionCookie();
  return { ...(await newPage({ ...options, cookie })), cookie };
}

/** Waits until `locator`'s text matches `pattern`; returns the text. @throws Error with the last text seen */
async function waitForText(locator: Locator, pattern: RegExp, timeoutMs = 5_000): Promise<string> {
  let last: string | null = null;
  try {
    return await waitFor(`${pattern}`, async () => {
      last = await locator.textContent({ timeout: 500 }).catch(() => null);
      return last !== null && pattern.test(last) ? last : null;
    }, timeoutMs);
  } catch {
    throw new Error(`${locator} did not show ${pattern} within ${timeoutMs} ms; its text: ${JSON.stringify(last)}`);
  }
}

/** Logs in through the page's own form. */
async function logInThroughForm(page: Page, token: string): Promise<void> {
  await page.locator("input[data-testid=login-token]").fill(token);
  await page.locator("button[data-testid=login-submit]").click();
}

async function auditEvents(): Promise<AuditEvent[]> {
  const { status, body } = await api(master, "/api/v1/events");
  expect(status).toBe(200);
  return arrayOf(parseAuditEvent)(body, "events");
}

/** The "requested" audit records of `action` on `instance`. */
async function requested(action: string, instance: string): Promise<AuditEvent[]> {
  return (await auditEvents()).filter((e) => e.phase === "requested" && e.action === action && e.instance === instance);
}

/** The text of a cell of the instance table's row NAME@NODE. */
function cell(page: Page, ref: string, col: string) {
  return page.locator(`tr[data-instance="${ref}"] td[data-col=${col}]`);
}

/** The instance table's rows as NAME@NODE → state, read from the DOM. */
async function tableStates(page: Page): Promise<Map<string, string>> {
  const rows = page.locator("table[data-testid=instances-table] tr[data-instance]");
  const out = new Map<string, string>();
  for (const row of await rows.all()) {
    const ref = await row.getAttribute("data-instance");
    out.set(ref ?? "?", ((await row.locator("td[data-col=state]").textContent()) ?? "").trim());
  }
  return out;
}

/** The terminal's visible rows, as text (xterm.js's DOM renderer writes spaces as no-break spaces). */
async function terminalRows(page: Page): Promise<string[]> {
  const texts = await page.locator("[data-testid=terminal] .xterm-rows > div").allTextContents();
  return texts.map((t) => t.replaceAll("\u00a0", " ").trimEnd());
}

/** Waits until a row of the terminal matches `pattern`; returns the match. */
async function waitForTerminal(page: Page, pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
  let rows: string[] = [];
  try {
    return await waitFor(`${pattern} in the terminal`, async () => {
      rows = await terminalRows(page);
      for (const row of rows) {
        const m = pattern.exec(row);
        if (m) return m;
      }
      return null;
    }, timeoutMs);
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; the screen:\n${rows.join("\n")}`);
  }
}

/** Types a line into the page's terminal as a person would (the terminal has the focus). */
async function typeLine(page: Page, line: string): Promise<void> {
  await page.keyboard.type(line);
  await page.keyboard.press("Enter");
}

/**
 * Resizes the window, then asks the shell its size: `stty size` must give
 * the terminal's rows (its row elements) and columns (the width at which a
 * long line wraps in the page), i.e. the PTY follows the page's terminal.
 */
async function sizeAfterResize(page: Page, viewport: { width: number; height: number }, tag: string): Promise<{ rows: number; cols: number }> {
  const before = await page.locator("[data-testid=terminal] .xterm-rows > div").count();
  await page.setViewportSize(viewport);
  await waitFor("the terminal refitted", async () => (await page.locator("[data-testid=terminal] .xterm-rows > div").count()) !== before, 5_000);
  const rows = await page.locator("[data-testid=terminal] .xterm-rows > div").count();
  await typeLine(page, `clear; echo ${tag}=$(stty size); printf '%*s\\n' 600 '' | tr ' ' W; echo END-${tag}`);
  await waitForTerminal(page, new RegExp(`^END-${tag}$`));
  const m = await waitForTerminal(page, new RegExp(`^${tag}=(\\d+) (\\d+)$`));
  const wrapped = (await terminalRows(page)).find((r) => /^W+$/.test(r)) ?? "";
  const size = { rows: Number(m[1]), cols: Number(m[2]) };
  expect(size.rows).toBe(rows);
  expect(wrapped.length).toBe(size.cols);
  return size;
}

describe.skipIf(unavailable !== null)("web console in Chromium", () => {
  test("the page's document carries the CSP, X-Frame-Options and nosniff, at / and at a deep link; ?token= authenticates nothing", async () => {
    for (const path of ["/", "/instances/web@n1/shell", "/events"]) {
      const response = await fetch(master.apiUrl + path);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type") ?? "").toContain("text/html");
      expect(response.headers.get("content-security-policy")).toBe(CSP);
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    }
    expect((await fetch(`${master.apiUrl}/api/v1/instances?token=${encodeURIComponent(master.apiToken)}`)).status).toBe(401);
    expect((await fetch(`${master.apiUrl}/api/v1/session`)).status).toBe(401);
  });

  test("log in: a wrong token shows the error and sets no cookie; the right one opens the console, and the token is nowhere in the page, its storage or its URLs", async () => {
    const { context, page, errors } = await newPage();
    const urls: string[] = [];
    page.on("request", (request) => urls.push(request.url()));
    await page.goto("/");
    await page.locator("form[data-testid=login]").waitFor();
    await screenshot(page, "login-light");

    await logInThroughForm(page, "not-the-token-0123456789");
    await page.locator("[data-testid=login-error]").waitFor({ state: "visible" });
    await waitForText(page.locator("[data-testid=login-error]"), /\S/);
    expect((await context.cookies()).filter((c) => c.name === COOKIE)).toEqual([]);
    await screenshot(page, "login-wrong-token");

    await logInThroughForm(page, master.apiToken);
    await page.locator("a[data-testid=nav-overview]").waitFor();
    await page.locator("form[data-testid=login]").waitFor({ state: "hidden" });
    const [cookie] = (await context.cookies()).filter((c) => c.name === COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });

    // The page, its storage, its address and every request it made, after login.
    await page.locator("[data-testid=live][data-state=live]").waitFor();
    const seen = await page.evaluate<{ html: string; values: string[]; local: string; session: string; href: string; cookie: string }>(`({
      html: document.documentElement.outerHTML,
      values: [...document.querySelectorAll("input, textarea")].map((e) => e.value),
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
      href: location.href,
      cookie: document.cookie,
    })`);
    expect(seen.html).not.toContain(master.apiToken);
    expect(seen.values.filter((v) => v.includes(master.apiToken))).toEqual([]);
    expect(seen.local).not.toContain(master.apiToken);
    expect(seen.session).not.toContain(master.apiToken);
    expect(seen.href).not.toContain(master.apiToken);
    expect(seen.cookie).not.toContain(COOKIE);
    expect(urls.length).toBeGreaterThan(0);
    expect(urls.filter((u) => u.includes(master.apiToken) || u.includes(encodeURIComponent(master.apiToken)))).toEqual([]);
    expectCleanPage(errors);
  });

  test("overview: every node with its state, as GET /api/v1/nodes has it", async () => {
    const { page, errors } = await loggedInPage();
    await page.goto("/");
    const nodes = await apiNodes(master);
    for (const node of nodes) {
      const state = page.locator(`[data-testid=nodes] [data-node="${node.name}"] [data-field=state]`);
      await waitForText(state, new RegExp(`^\\s*${node.state}\\s*$`, "i"));
    }
    expect(await page.locator("[data-testid=nodes] [data-node]").count()).toBe(nodes.length);
    await screenshot(page, "overview-light", { fullPage: true });
    expectCleanPage(errors);
  });

  test("the instance table is GET /api/v1/instances: the same NAME@NODE, states, addresses and releases; filter and sort work", async () => {
    const { page, errors } = await loggedInPage();
    await page.goto("/");
    await page.locator("a[data-testid=nav-instances]").click();
    const instances = await apiInstances(master);
    await waitFor("every instance in the table", async () => (await tableStates(page)).size === instances.length);
    const fromApi = new Map(instances.map((i) => [`${i.name}@${i.node}`, i.state.toLowerCase()]));
    const fromPage = new Map([...(await tableStates(page))].map(([ref, state]) => [ref, state.toLowerCase()]));
    expect(fromPage).toEqual(fromApi);
    for (const i of instances) {
      const ref = `${i.name}@${i.node}`;
      expect(((await cell(page, ref, "name").textContent()) ?? "").trim()).toBe(i.name);
      expect(((await cell(page, ref, "node").textContent()) ?? "").trim()).toBe(i.node);
      // The first address is the one a person needs; the release may be shown short ("24.04").
      if (i.ipv4[0] !== undefined) expect(await cell(page, ref, "ipv4").textContent()).toContain(i.ipv4[0]);
      const version = /\d+\.\d+/.exec(i.release ?? "")?.[0];
      if (version !== undefined) expect(await cell(page, ref, "release").textContent()).toContain(version);
    }
    await screenshot(page, "instances-light", { fullPage: true });

    await page.locator("input[data-testid=filter]").fill("cache");
    await waitFor("only cache left", async () => [...(await tableStates(page)).keys()].join() === "cache@n2", 3_000);
    // Labels filter too, as key=value (an environment's instances: multiverse/env=NAME).
    const labelled = await fetch(`${master.apiUrl}/api/v1/instances/web@n1/labels`, {
      method: "POST",
      headers: { authorization: `Bearer ${master.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ set: { tier: "front" } }),
    });
    expect(labelled.status).toBe(200);
    await page.locator("input[data-testid=filter]").fill("tier=front");
    await waitFor("only the labelled web left", async () => [...(await tableStates(page)).keys()].join() === "web@n1", 3_000);
    await page.locator("input[data-testid=filter]").fill("");
    await waitFor("every row back", async () => (await tableStates(page)).size === instances.length, 3_000);

    const names = async () => (await page.locator("tr[data-instance] td[data-col=name]").allTextContents()).map((t) => t.trim());
    const ascending = [...instances.map((i) => i.name)].sort();
    await page.locator("th[data-sort=name]").click();
    const first = await names();
    expect([ascending, [...ascending].reverse()]).toContainEqual(first);
    await page.locator("th[data-sort=name]").click();
    await waitFor("the order reversed", async () => JSON.stringify(await names()) === JSON.stringify([...first].reverse()), 3_000);
    expectCleanPage(errors);
  });

  test("a change made at the host itself shows in the open page within 3 s, without a reload", async () => {
    const { page, errors } = await loggedInPage();
    await page.goto("/instances");
    await page.locator("[data-testid=live][data-state=live]").waitFor();
    await waitForText(cell(page, "web@n1", "state"), /running/i);
    // A mark on the window: a reload would wipe it.
    await page.evaluate("window.__notReloaded = true");

    expect((await hostMultipass(n1.simDir, ["stop", "web"])).code).toBe(0);
    // 3 s is the issue's correctness bound for the live stream (the worker's 250 ms poll, the join
    // socket, the watch stream, the page's update), not a performance figure: tests/bench/web.ts measures.
    await waitForText(cell(page, "web@n1", "state"), /^\s*stopped\s*$/i, 3_000);
    expect(await page.evaluate("window.__notReloaded === true")).toBe(true);

    expect((await hostMultipass(n1.simDir, ["start", "web"])).code).toBe(0);
    await waitForText(cell(page, "web@n1", "state"), /^\s*running\s*$/i, 3_000);
    expect(await page.evaluate("window.__notReloaded === true")).toBe(true);
    expectCleanPage(errors);
  });

  test("launch: the preview names the node the dry run picks, progress lines come before the result, and the new instance joins the table", async () => {
    const { page, errors } = await loggedInPage();
    await page.goto("/instances");
    await page.locator("button[data-testid=launch-open]").click();
    const dialog = page.locator("dialog[data-testid=launch]");
    await dialog.waitFor({ state: "visible" });
    const cloudInit = "#cloud-config\nruncmd:\n  - echo from-the-browser\n";
    await dialog.locator("[name=name]").fill("fresh");
    await dialog.locator("textarea[name=cloudInit]").fill(cloudInit);
    await expect(dialog.locator("select[name=node]").inputValue()).resolves.toBe("");

    const planResponse = await fetch(`${master.apiUrl}/api/v1/instances`, {
      method: "POST",
      headers: { authorization: `Bearer ${master.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "fresh", dryRun: true }),
    });
    expect(planResponse.status).toBe(200);
    const { node } = parseLaunchPlan(parseJson(await planResponse.text(), "plan"));
    const preview = dialog.locator("[data-testid=launch-preview]");
    await waitFor(`the preview naming ${node}`, async () => new RegExp(`\\b${node}\\b`).test((await preview.textContent()) ?? ""), 5_000);
    await screenshot(page, "launch-preview-light");

    // Everything the dialog shows while it launches, in order, as the page changes it.
    await page.evaluate(`(() => {
      const dialog = document.querySelector("dialog[data-testid=launch]");
      const seen = (window.__launchSeen = []);
      const read = () => {
        const progress = dialog.querySelector("[data-testid=launch-progress]")?.textContent.trim() ?? "";
        const result = dialog.querySelector("[data-testid=launch-result]")?.textContent.trim() ?? "";
        const last = seen[seen.length - 1];
        if (!last || last.progress !== progress || last.result !== result) seen.push({ progress, result });
      };
      new MutationObserver(read).observe(dialog, { subtree: true, childList: true, characterData: true });
    })()`);
    await dialog.locator("button[data-testid=launch-submit]").click();
    await waitFor("the launch's result", async () => /fresh/.test((await page.locator("[data-testid=launch-result]").textContent()) ?? ""), 30_000);
    await screenshot(page, "launch-result-light");
    const seen = await page.evaluate<{ progress: string; result: string }[]>("window.__launchSeen");
    const firstResult = seen.findIndex((s) => s.result !== "");
    const progressBefore = seen.slice(0, firstResult).filter((s) => /Creating|Retrieving|Verifying|Preparing|Configuring|Starting|Waiting/i.test(s.progress));
    expect(progressBefore.length).toBeGreaterThan(0);

    const launched = await waitFor("fresh in the API", async () => (await apiInstances(master)).find((i) => i.name === "fresh"));
    expect(launched).toMatchObject({ node, state: "Running" });
    const simDir = node === "n1" ? n1.simDir : n2.simDir;
    expect(readFileSync(join(simDir, "instances", "fresh", "user-data"), "utf8")).toBe(cloudInit);

    if (await dialog.isVisible()) await page.keyboard.press("Escape");
    await waitFor("fresh in the table", async () => /running/i.test((await cell(page, `fresh@${node}`, "state").textContent({ timeout: 200 }).catch(() => "")) ?? ""), 5_000);
    expectCleanPage(errors);
  });

  test("stop and delete ask first: cancel does nothing, OK does it (delete with purge)", async () => {
    const { page, errors } = await loggedInPage();
    await page.goto("/instances");
    const confirm = page.locator("dialog[data-testid=confirm]");
    const bulk = (action: string) => page.locator(`button[data-action=${action}]:not(tr button)`);
    const select = () => page.locator('tr[data-instance="db@n1"] input[data-testid=select]').check();

    await select();
    await bulk("stop").click();
    await confirm.waitFor({ state: "visible" });
    expect(await confirm.textContent()).toContain("db");
    await screenshot(page, "confirm-stop-light");
    await confirm.locator("button[data-testid=confirm-cancel]").click();
    await confirm.waitFor({ state: "hidden" });
    await waitForText(cell(page, "db@n1", "state"), /running/i);

    if (!(await page.locator('tr[data-instance="db@n1"] input[data-testid=select]').isChecked())) await select();
    await bulk("stop").click();
    await confirm.waitFor({ state: "visible" });
    await confirm.locator("button[data-testid=confirm-ok]").click();
    await waitFor("db stopped in the page", async () => /stopped/i.test((await cell(page, "db@n1", "state").textContent()) ?? ""), 10_000);
    expect(simStates(n1.simDir).get("db")).toBe("Stopped");
    // One stop only: the cancelled one sent nothing.
    expect(await requested("stop", "db")).toHaveLength(1);

    if (!(await page.locator('tr[data-instance="db@n1"] input[data-testid=select]').isChecked())) await select();
    await bulk("delete").click();
    await confirm.waitFor({ state: "visible" });
    await confirm.locator("button[data-testid=confirm-cancel]").click();
    await confirm.waitFor({ state: "hidden" });
    expect(simStates(n1.simDir).has("db")).toBe(true);

    if (!(await page.locator('tr[data-instance="db@n1"] input[data-testid=select]').isChecked())) await select();
    await bulk("delete").click();
    await confirm.waitFor({ state: "visible" });
    await confirm.locator("input[name=purge]").check();
    await screenshot(page, "confirm-delete-light");
    await confirm.locator("button[data-testid=confirm-ok]").click();
    await page.locator('tr[data-instance="db@n1"]').waitFor({ state: "detached", timeout: 10_000 });
    expect(simStates(n1.simDir).has("db")).toBe(false);
    expect((await apiInstances(master)).some((i) => i.name === "db")).toBe(false);
    expect(await requested("delete", "db")).toHaveLength(1);
    expectCleanPage(errors);
  });

  test("terminal: type a command and read its output; the shell follows the window's size; a reload brings the same shell back with its screen; logout ends the session", async () => {
    const { context, page, errors, cookie } = await loggedInPage({ viewport: { width: 1000, height: 640 } });
    await page.goto("/instances/web@n1");
    const instance = page.locator("[data-testid=instance]");
    await waitForText(instance.locator("[data-field=state]"), /running/i);
    await waitFor("live figures", async () => /\d/.test((await instance.locator("[data-testid=figures]").textContent()) ?? ""), 10_000);
    await screenshot(page, "instance-light");

    await instance.locator("[data-testid=open-shell]").click();
    await page.waitForURL(/\/instances\/web@n1\/shell$/);
    await page.locator("[data-testid=terminal] .xterm-rows").waitFor();
    await waitForTerminal(page, /ubuntu@web:~[$#]/);
    await page.locator("[data-testid=terminal] .xterm").click();
    await typeLine(page, "echo $((6*7))");
    await waitForTerminal(page, /^42$/);

    const small = await sizeAfterResize(page, { width: 900, height: 560 }, "SMALL");
    const large = await sizeAfterResize(page, { width: 1400, height: 900 }, "LARGE");
    expect(large.rows).toBeGreaterThan(small.rows);
    expect(large.cols).toBeGreaterThan(small.cols);

    await typeLine(page, "clear; echo before-$((5*5))-reload");
    await waitForTerminal(page, /^before-25-reload$/);
    await screenshot(page, "terminal-light");
    const [shell] = (await apiSessions(master)).filter((s) => s.instance === "web" && s.kind === "shell");
    expect(shell).toBeDefined();

    await page.reload();
    await waitForTerminal(page, /^before-25-reload$/);
    const after = (await apiSessions(master)).filter((s) => s.instance === "web" && s.kind === "shell");
    expect(after.map((s) => s.id)).toEqual([shell!.id]);
    await page.locator("[data-testid=terminal] .xterm").click();
    await typeLine(page, "echo again-$((1+1))");
    await waitForTerminal(page, /^again-2$/);
    await waitForText(page.locator("[data-testid=terminal-status]"), /\S/);

    await page.locator("button[data-testid=logout]").click();
    await page.locator("form[data-testid=login]").waitFor();
    const response = await fetch(`${master.apiUrl}/api/v1/session`, { headers: { cookie: `${COOKIE}=${cookie}` } });
    expect(response.status).toBe(401);
    expect((await context.cookies()).filter((c) => c.name === COOKIE && c.value === cookie)).toEqual([]);
    expectCleanPage(errors);
  });

  test("another origin carrying the cookie is refused: a POST and a WebSocket upgrade get 403 and nothing is stopped or opened", async () => {
    const cookie = await sessionCookie();
    const sessionsBefore = (await apiSessions(master)).map((s) => s.id);
    const body = JSON.stringify({ instances: ["web@n1"] });
    const post = (headers: Record<string, string>) =>
      fetch(`${master.apiUrl}/api/v1/actions/stop`, { method: "POST", headers: { cookie: `${COOKIE}=${cookie}`, "content-type": "application/json", ...headers }, body });
    const foreign = await post({ origin: "http://evil.example" });
    expect(foreign.status).toBe(403);
    expect(await foreign.text()).toContain("E_FORBIDDEN");
    expect((await post({})).status).toBe(403);

    // From a page in the browser on another port of the same host: same site, so Chromium sends the
    // SameSite=Strict cookie along — only the Origin check stands between that page and the cluster.
    // Chromium does not report the headers of a no-cors request, so a page without the cookie is the
    // control: it gets 401 where the page with the cookie gets 403.
    const evil = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("<!doctype html><title>elsewhere</title><p>elsewhere</p>", { headers: { "content-type": "text/html" } }) });
    const stopFrom = async (page: Page): Promise<number> => {
      await page.goto(`http://127.0.0.1:${evil.port}/`);
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith("/api/v1/actions/stop")),
        page.evaluate(`fetch(${JSON.stringify(`${master.apiUrl}/api/v1/actions/stop`)}, { method: "POST", mode: "no-cors", credentials: "include", headers: { "content-type": "text/plain" }, body: ${JSON.stringify(body)} }).catch(() => null)`),
      ]);
      return response.status();
    };
    try {
      expect(await stopFrom((await newPage()).page)).toBe(401);
      const { page } = await newPage({ cookie });
      expect(await stopFrom(page)).toBe(403);

      const wsUrl = `${master.apiUrl.replace("http", "ws")}/api/v1/instances/web@n1/shell?cols=80&rows=24`;
      const outcome = await page.evaluate<string>(`new Promise((resolve) => {
        const socket = new WebSocket(${JSON.stringify(wsUrl)});
        socket.onopen = () => { resolve("open"); socket.close(); };
        socket.onerror = () => resolve("refused");
        setTimeout(() => resolve("no answer"), 5000);
      })`);
      expect(outcome).toBe("refused");
    } finally {
      evil.stop(true);
    }
    expect(await upgradeStatus("/api/v1/instances/web@n1/shell?cols=80&rows=24", { cookie: `${COOKIE}=${cookie}`, origin: "http://evil.example" })).toBe(403);

    expect(simStates(n1.simDir).get("web")).toBe("Running");
    expect(await requested("stop", "web")).toEqual([]);
    // No shell was opened for the other origin: no session that was not there before.
    expect((await apiSessions(master)).filter((s) => !sessionsBefore.includes(s.id))).toEqual([]);
  });

  test("deep links open their view: /instances/NAME@NODE and its /shell when logged in, and after the login form when not", async () => {
    const { page, errors } = await loggedInPage();
    const labelled = await fetch(`${master.apiUrl}/api/v1/instances/cache@n2/labels`, {
      method: "POST",
      headers: { authorization: `Bearer ${master.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ set: { "multiverse/env": "lab", role: "cache" } }),
    });
    expect(labelled.status).toBe(200);
    await page.goto("/instances/cache@n2");
    const instance = page.locator("[data-testid=instance]");
    await instance.waitFor();
    expect(await instance.textContent()).toContain("cache");
    await waitForText(instance.locator("[data-field=state]"), /running/i);
    await waitForText(instance.locator("[data-field=labels]"), /^multiverse\/env=lab, role=cache$/);
    await screenshot(page, "instance-labels-light");

    await page.goto("/instances/cache@n2/shell");
    await waitForTerminal(page, /ubuntu@cache:~[$#]/);
    expectCleanPage(errors);

    const fresh = await newPage();
    await fresh.page.goto("/instances/cache@n2");
    await fresh.page.locator("form[data-testid=login]").waitFor();
    await logInThroughForm(fresh.page, master.apiToken);
    await fresh.page.locator("[data-testid=instance]").waitFor();
    expect(await fresh.page.locator("[data-testid=instance]").textContent()).toContain("cache");
    expectCleanPage(fresh.errors);
  });

  test("events: the audit trail in a table, one row per request, filterable", async () => {
    const { page, errors } = await loggedInPage();
    await page.goto("/events");
    const events = await auditEvents();
    const newest = events[events.length - 1]!;
    // A row is a request: its records' ids in data-event-ids, its newest one in data-event-id.
    await page.locator(`table[data-testid=events-table] tr[data-event-ids~="${newest.id}"]`).waitFor();
    await screenshot(page, "events-light", { fullPage: true });

    const tableRows = () =>
      page.locator("table[data-testid=events-table] tr[data-event-id]").evaluateAll((rows): { id: number; ids: number[] }[] =>
        rows.map((r) => ({ id: Number(r.getAttribute("data-event-id")), ids: (r.getAttribute("data-event-ids") ?? "").split(" ").map(Number) })),
      );
    const everyRow = await tableRows();
    const recorded = new Map((await auditEvents()).map((e) => [e.id, e]));
    const requestsShown = new Set<string>();
    // The page hears records in order: it has every one up to the newest it shows.
    const seenUpTo = Math.max(...everyRow.flatMap((r) => r.ids));
    for (const row of everyRow) {
      expect(row.id).toBe(Math.max(...row.ids));
      const requestIds = new Set(row.ids.map((id) => recorded.get(id)?.requestId));
      // Every record of a row is in the trail, all of one request, and no request has two rows.
      expect(requestIds.has(undefined)).toBe(false);
      expect(requestIds.size).toBe(1);
      const [requestId] = requestIds;
      expect(requestsShown.has(requestId!)).toBe(false);
      requestsShown.add(requestId!);
      // Its requested and done records both, when the trail has them.
      expect(row.ids.sort((a, b) => a - b)).toEqual([...recorded.values()].filter((e) => e.requestId === requestId && e.id >= Math.min(...row.ids) && e.id <= seenUpTo).map((e) => e.id));
    }
    expect(everyRow.flatMap((r) => r.ids)).toContain(newest.id);
    await page.locator("input[data-testid=events-filter]").fill("delete");
    // Every delete is still there, and the filter took rows away: the trail has stops, launches, shells too.
    const deletes = events.filter((e) => e.action === "delete").map((e) => e.id);
    expect(deletes.length).toBeGreaterThan(0);
    const shown = await waitFor("the table filtered", async () => {
      const rows = await tableRows();
      const ids = rows.flatMap((r) => r.ids);
      return rows.length < everyRow.length && deletes.every((id) => ids.includes(id)) ? rows : null;
    }, 3_000);
    for (const row of shown) {
      const records = row.ids.map((id) => events.find((e) => e.id === id) ?? recorded.get(id));
      const text = (await page.locator(`tr[data-event-id="${row.id}"]`).textContent()) ?? "";
      expect(`${JSON.stringify(records)} ${text}`.toLowerCase()).toContain("delete");
    }
    expectCleanPage(errors);
  });

  test("the theme button switches light and dark; screenshots of every view in dark and on a phone", async () => {
    const { page, errors } = await loggedInPage();
    await page.goto("/");
    await page.locator("[data-testid=nodes] [data-node]").first().waitFor();
    const background = () => page.evaluate<string>("getComputedStyle(document.body).backgroundColor");
    const light = await background();
    await page.locator("button[data-testid=theme]").click();
    await waitFor("another background", async () => (await background()) !== light, 3_000);
    const dark = await background();
    await screenshot(page, "overview-dark", { fullPage: true });

    await page.locator("a[data-testid=nav-instances]").click();
    await page.locator("tr[data-instance]").first().waitFor();
    expect(await background()).toBe(dark);
    await screenshot(page, "instances-dark", { fullPage: true });
    await page.locator("button[data-testid=launch-open]").click();
    await page.locator("dialog[data-testid=launch] [name=name]").fill("preview-only");
    await waitFor("a preview", async () => /\bn[12]\b/.test((await page.locator("[data-testid=launch-preview]").textContent()) ?? ""), 5_000);
    await screenshot(page, "launch-preview-dark");
    await page.keyboard.press("Escape");

    await page.goto("/instances/web@n1");
    await waitFor("live figures", async () => /\d/.test((await page.locator("[data-testid=instance] [data-testid=figures]").textContent()) ?? ""), 10_000);
    await screenshot(page, "instance-dark");
    await page.goto("/instances/web@n1/shell");
    await waitForTerminal(page, /ubuntu@web:~[$#]/);
    await screenshot(page, "terminal-dark");
    await page.goto("/events");
    await page.locator("tr[data-event-id]").first().waitFor();
    await screenshot(page, "events-dark", { fullPage: true });
    expect(await background()).toBe(dark);
    await page.locator("button[data-testid=logout]").click();
    await page.locator("form[data-testid=login]").waitFor();
    await screenshot(page, "login-dark");
    expectCleanPage(errors);

    const phone = await loggedInPage({ viewport: { width: 390, height: 844 } });
    await phone.page.goto("/instances");
    await phone.page.locator("tr[data-instance]").first().waitFor();
    await screenshot(phone.page, "instances-phone", { fullPage: true });
    // Readable on a phone: nothing wider than the screen makes the whole page scroll sideways.
    expect(await phone.page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    expectCleanPage(phone.errors);
  });

  test("the page rides out a dropped connection: it says it is reconnecting, comes back by itself, and shows what changed meanwhile", async () => {
    const proxy = startCutProxy(new URL(master.apiUrl));
    try {
      const { page, errors } = await loggedInPage();
      await page.goto(`${proxy.url}/instances`);
      await page.locator("[data-testid=live][data-state=live]").waitFor();
      await waitForText(cell(page, "cache@n2", "state"), /running/i);
      await page.evaluate("window.__notReloaded = true");

      proxy.cut();
      await page.locator("[data-testid=live][data-state=reconnecting]").waitFor({ timeout: 10_000 });
      expect((await hostMultipass(n2.simDir, ["stop", "cache"])).code).toBe(0);
      await page.locator("[data-testid=live][data-state=live]").waitFor({ timeout: 30_000 });
      await waitForText(cell(page, "cache@n2", "state"), /^\s*stopped\s*$/i, 10_000);
      expect(await page.evaluate("window.__notReloaded === true")).toBe(true);
      expectCleanPage(errors);
    } finally {
      proxy.stop();
    }
  });
});

/** One end of a connection through {@link startCutProxy}: its other end, and what waits to be written to it. */
interface ProxyEnd {
  peer: Socket<ProxyEnd> | null;
  out: Uint8Array[];
  /** What the browser sent before the connection to the master was up. */
  early: Uint8Array[];
}

/** Writes what `socket` will take now and queues the rest for its drain. */
function proxySend(socket: Socket<ProxyEnd>, chunk: Uint8Array): void {
  if (socket.data.out.length > 0) {
    socket.data.out.push(new Uint8Array(chunk));
    return;
  }
  const written = socket.write(chunk);
  if (written < chunk.length) socket.data.out.push(new Uint8Array(chunk.subarray(Math.max(0, written))));
}

function proxyFlush(socket: Socket<ProxyEnd>): void {
  while (socket.data.out.length > 0) {
    const chunk = socket.data.out[0]!;
    const written = socket.write(chunk);
    if (written < chunk.length) {
      socket.data.out[0] = chunk.subarray(Math.max(0, written));
      return;
    }
    socket.data.out.shift();
  }
}

/**
 * A TCP proxy on another port of 127.0.0.1 to the master's API: `cut()` ends
 * every connection through it at once, as a dropped network does, and keeps
 * listening, so whatever reconnects gets through again.
 */
function startCutProxy(target: URL): { url: string; cut: () => void; stop: () => void } {
  const open = new Set<Socket<ProxyEnd>>();
  const ends = (socket: Socket<ProxyEnd>) => {
    open.delete(socket);
    socket.data.peer?.end();
  };
  const listener = Bun.listen<ProxyEnd>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(browserSide) {
        browserSide.data = { peer: null, out: [], early: [] };
        open.add(browserSide);
        void Bun.connect<ProxyEnd>({
          hostname: target.hostname,
          port: Number(target.port),
          data: { peer: browserSide, out: [], early: [] },
          socket: {
            open(masterSide) {
              open.add(masterSide);
              browserSide.data.peer = masterSide;
              for (const chunk of browserSide.data.early.splice(0)) proxySend(masterSide, chunk);
            },
            data(masterSide, chunk) {
              if (masterSide.data.peer) proxySend(masterSide.data.peer, chunk);
            },
            drain: proxyFlush,
            close: ends,
            error: ends,
          },
        }).catch(() => browserSide.end());
      },
      data(browserSide, chunk) {
        if (browserSide.data.peer) proxySend(browserSide.data.peer, chunk);
        else browserSide.data.early.push(new Uint8Array(chunk));
      },
      drain: proxyFlush,
      close: ends,
      error: ends,
    },
  });
  return {
    url: `http://127.0.0.1:${listener.port}`,
    cut: () => {
      for (const socket of [...open]) socket.end();
    },
    stop: () => {
      listener.stop(true);
      for (const socket of [...open]) socket.end();
    },
  };
}

/**
 * Asks for a WebSocket upgrade over a raw TCP connection (fetch hides the
 * handshake) with `headers`; resolves with the HTTP status of the answer.
 */
async function upgradeStatus(path: string, headers: Record<string, string>): Promise<number> {
  const host = new URL(master.apiUrl);
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${host.host}`,
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  let answer = "";
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to the upgrade of ${path}: ${JSON.stringify(answer)}`)), 10_000);
    void Bun.connect({
      hostname: host.hostname,
      port: Number(host.port),
      socket: {
        open(socket) {
          socket.write(`${lines.join("\r\n")}\r\n\r\n`);
        },
        data(socket, data) {
          answer += data.toString("latin1");
          const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
          if (m) {
            clearTimeout(timer);
            socket.end();
            resolve(Number(m[1]));
          }
        },
        error(_socket, error) {
          clearTimeout(timer);
          reject(error);
        },
      },
    }).catch(reject);
  });
}
