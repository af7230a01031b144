/**
 * A real browser for end-to-end tests: Debian's `chromium` driven by
 * playwright-core through its `executablePath` — never a browser download.
 * A test file launches one Chromium (`launchBrowser`) in `beforeAll`, opens a
 * new context per test (cheap: its own cookies and storage), and closes the
 * browser in `afterAll`.
 *
 * Screenshots go to `$MULTIVERSE_SCREENSHOTS` when set, else to a temporary
 * directory created on the first one; its path is printed then, so a person
 * can open the PNGs the run took.
 */
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

/** Where Debian (and a few others) put Chromium. `MULTIVERSE_CHROMIUM` names another one. */
const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

/** The Chromium executable the tests drive, or null when there is none. */
export function chromiumPath(): string | null {
  const fromEnv = process.env["MULTIVERSE_CHROMIUM"];
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  return CANDIDATES.find((path) => existsSync(path)) ?? null;
}

/** Why the browser tests cannot run here, or null when they can. */
export function browserUnavailable(): string | null {
  if (chromiumPath() !== null) return null;
  const env = process.env["MULTIVERSE_CHROMIUM"];
  return env ? `MULTIVERSE_CHROMIUM=${env} does not exist` : `no Chromium at ${CANDIDATES.join(" or ")} (Debian: apt-get install chromium; .ci/run installs it as root)`;
}

/**
 * Launches headless Chromium. playwright-core passes `--no-sandbox` (its
 * `chromiumSandbox` is off by default), without which Chromium refuses to
 * start as root; `--disable-dev-shm-usage` keeps it off a small /dev/shm.
 * @throws Error when there is no Chromium, or it does not start within a minute
 */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === null) throw new Error(browserUnavailable() ?? "no Chromium");
  return chromium.launch({ executablePath, headless: true, chromiumSandbox: false, timeout: 60_000, args: ["--disable-dev-shm-usage", "--disable-gpu"] });
}

let shotsDir: string | null = null;

/** The directory screenshots go to, created (and printed) on the first call. */
export function screenshotDir(): string {
  if (shotsDir !== null) return shotsDir;
  const fromEnv = process.env["MULTIVERSE_SCREENSHOTS"];
  if (fromEnv) mkdirSync(fromEnv, { recursive: true });
  shotsDir = fromEnv || mkdtempSync(join(tmpdir(), "mv-screenshots-"));
  console.log(`screenshots: ${shotsDir}`);
  return shotsDir;
}

/** Saves a PNG of what `page` shows (its viewport, or the whole page) as `NAME.png`; returns its path. */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<string> {
  const path = join(screenshotDir(), `${name.replace(/[^\w.-]+/g, "-")}.png`);
  await page.screenshot({ path, fullPage: options.fullPage ?? false });
  return path;
}

/** What went wrong inside a page, as {@link watchPageErrors} collects it. */
export interface PageErrors {
  /** Uncaught exceptions and unhandled rejections of the page's scripts. */
  uncaught: string[];
  /** What the Content-Security-Policy refused (a script, a style, a connection). */
  refused: string[];
}

/**
 * Collects the page's uncaught errors and its CSP refusals. Console errors
 * such as "Failed to load resource: 401" are not collected: a page asking
 * whether it is logged in gets those by design.
 * Call once per page, right after creating it.
 */
export function watchPageErrors(page: Page): PageErrors {
  const found: PageErrors = { uncaught: [], refused: [] };
  page.on("pageerror", (error) => found.uncaught.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy|Refused to/i.test(message.text())) found.refused.push(message.text());
  });
  return found;
}
