import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Runtime } from '../../src/runtime/index.js';
import { ROOT } from './runtime.js';

// Real Chromium for the dashboard's tests: Debian's own build, driven by playwright-core, which
// never downloads a browser. A test that needs it and does not find it fails (CI must run it).

/** Where screenshots go (git-ignored). */
export const ARTIFACTS = join(ROOT, 'test-artifacts');

/**
 * Debian's Chromium builds, the one the tests drive first: the headless shell (package
 * chromium-headless-shell: the same Blink and V8 without the desktop browser around them, the
 * Chromium Playwright itself runs headless) costs the suite's pages 35% less CPU than the whole
 * browser in headless mode (the 15 files that open pages: 70 s against 108 s), and passes the same tests.
 */
const DEBIAN_CHROMIUMS = ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium'];

/** The chromium to drive: CHROMIUM_PATH, else Debian's headless shell, else Debian's chromium. */
export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH || DEBIAN_CHROMIUMS.find((p) => existsSync(p)) || DEBIAN_CHROMIUMS[0]!;
}

export interface OpenOptions {
  viewport?: { width: number; height: number };
  /**
   * The page's own transitions (bars sliding, pop-ups fading in). Off unless asked for: a page
   * opens as for a reader who asked for reduced motion (the dashboard honours it, web/styles.css),
   * since a live run moves its bars several times a second and headless Chromium paints each
   * transition in software, every frame: a third of its CPU under the demo for what no assertion
   * reads. The tests of how the page looks (smoke, layout) keep them.
   */
  motion?: boolean;
}

/** A page whose troubles are all recorded, for one assertion at the end of a test. */
export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** console.error messages (Chromium logs failed loads and CSP refusals there too). */
  consoleErrors: string[];
  /** Requests that failed outright or got a 4xx/5xx answer: `GET <url> → <status or error>`. */
  failedRequests: string[];
  /** securitypolicyviolation events and console "Content Security Policy" messages. */
  cspViolations: string[];
  /** Uncaught exceptions and unhandled rejections in the page. */
  pageErrors: string[];
  /** Everything above in one list, `[kind] message`: `[]` for a clean page. */
  problems(): string[];
  /** Saves a PNG of the viewport as test-artifacts/<name>.png; returns its path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export interface TestBrowser {
  browser: Browser;
  /** Opens `url` in a fresh context (own storage) and waits for its load event. */
  open(url: string, opts?: OpenOptions): Promise<WatchedPage>;
  close(): Promise<void>;
}

const CSP_EVENT = '__ironCageCspViolation';

/** Reports the page's CSP violations to the test; runs before any of the page's own scripts. */
const LISTEN_FOR_CSP = `document.addEventListener('securitypolicyviolation', (e) => {
  window.${CSP_EVENT}(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});`;

/** The worker's one Chromium: every file of a worker opens its pages in it (a launch is about a second of a 2-core machine). */
let shared: Promise<Browser> | null = null;

async function workerBrowser(executablePath: string): Promise<Browser> {
  const running = shared && (await shared.catch(() => null));
  if (running?.isConnected()) return running;
  // Chromium refuses to run its sandbox as root (CI containers); anyone else keeps it.
  const root = process.getuid?.() === 0;
  shared = chromium.launch({
    executablePath,
    headless: true,
    chromiumSandbox: !root,
    // Containers often give /dev/shm only 64 MB, which crashes renderers.
    args: [...(root ? ['--no-sandbox'] : []), '--disable-dev-shm-usage'],
  });
  return shared;
}

/**
 * Headless Chromium for a test file, or throws with how to install it when it is missing. Each
 * page opens in a context of its own (its own storage, cookies, viewport), in the worker's one
 * browser process; `close` closes this file's contexts, not the browser, which lives as long as
 * the worker (and is launched again if it died).
 *
 * @example
 * const b = await launchBrowser();
 * const p = await b.open(`${t.rt.url}/#token=${t.rt.adminToken}`);
 * expect(p.problems()).toEqual([]);
 * await b.close();
 */
export async function launchBrowser(): Promise<TestBrowser> {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath)) {
    throw new Error(
      `Chromium not found at ${executablePath}: the browser tests need it. Install Debian's headless Chromium ` +
        '(`apt-get update && apt-get install -y chromium-headless-shell`, as .ci/run does) or set CHROMIUM_PATH to a Chromium binary.',
    );
  }
  const browser = await workerBrowser(executablePath);
  const contexts = new Set<BrowserContext>();
  const open = async (url: string, opts: OpenOptions = {}): Promise<WatchedPage> => {
    const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 720 }, reducedMotion: opts.motion ? 'no-preference' : 'reduce' });
    contexts.add(context);
    context.once('close', () => contexts.delete(context));
    const page = await context.newPage();
    const w = watch(page, context);
    await context.exposeFunction(CSP_EVENT, (text: string) => w.cspViolations.push(text));
    await context.addInitScript(LISTEN_FOR_CSP);
    await page.goto(url, { waitUntil: 'load' });
    return w;
  };
  const close = async () => {
    await Promise.all([...contexts].map((c) => c.close().catch(() => undefined)));
  };
  return { browser, open, close };
}

function watch(page: Page, context: BrowserContext): WatchedPage {
  const w: WatchedPage = {
    page,
    context,
    consoleErrors: [],
    failedRequests: [],
    cspViolations: [],
    pageErrors: [],
    problems: () => [
      ...w.consoleErrors.map((m) => `[console] ${m}`),
      ...w.failedRequests.map((m) => `[request] ${m}`),
      ...w.cspViolations.map((m) => `[csp] ${m}`),
      ...w.pageErrors.map((m) => `[page] ${m}`),
    ],
    screenshot: async (name) => {
      mkdirSync(ARTIFACTS, { recursive: true });
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path });
      return path;
    },
    close: () => context.close(),
  };
  page.on('console', (m) => {
    const where = m.location().url ? ` (${m.location().url}:${m.location().lineNumber})` : '';
    if (m.type() === 'error') w.consoleErrors.push(m.text() + where);
    if (m.text().includes('Content Security Policy')) w.cspViolations.push(m.text());
  });
  page.on('pageerror', (err) => w.pageErrors.push(err.stack ?? err.message));
  page.on('requestfailed', (r) => w.failedRequests.push(`${r.method()} ${r.url()} → ${r.failure()?.errorText ?? 'failed'}`));
  page.on('response', (r) => {
    if (r.status() >= 400) w.failedRequests.push(`${r.request().method()} ${r.url()} → ${r.status()}`);
  });
  return w;
}

/**
 * Shows the page in the dark and the light theme at each size and, once it has laid out, calls
 * `each` with how far the page scrolls sideways there (px; 0 or less: not at all).
 *
 * @example
 *   await inEveryThemeAndSize(page, [{ width: 390, height: 844 }], async ({ theme, size, overflow }) => {
 *     expect(overflow, `${size.width}px ${theme}`).toBeLessThanOrEqual(0);
 *   });
 */
export async function inEveryThemeAndSize(
  w: WatchedPage,
  sizes: Array<{ width: number; height: number }>,
  each: (at: { theme: 'dark' | 'light'; size: { width: number; height: number }; overflow: number }) => Promise<void>,
): Promise<void> {
  const p = w.page;
  for (const theme of ['dark', 'light'] as const) {
    await p.evaluate((th) => {
      document.documentElement.dataset.theme = th;
    }, theme);
    for (const size of sizes) {
      await p.setViewportSize(size);
      await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      await each({ theme, size, overflow });
    }
  }
}

/**
 * A tab of `rt`'s dashboard whose live feed the test can hold back: once `hold()` is called it
 * hears nothing more, as a tab that missed a change (its buttons still offer what is stale, and
 * the server must refuse them). Every socket of `rt` is dropped once so this tab reconnects
 * through the test's route; other tabs reconnect and resume by themselves.
 *
 * @example
 *   const deaf = await openHeldTab(browser, rt, `${rt.url}/#token=${rt.adminToken}`);
 *   deaf.hold(); // … change something over the API: deaf.tab does not hear of it
 */
export async function openHeldTab(b: TestBrowser, rt: Runtime, url: string, opts: OpenOptions = {}): Promise<{ tab: WatchedPage; hold: () => void }> {
  const tab = await b.open(url, { viewport: { width: 1280, height: 720 }, ...opts });
  let held = false;
  await tab.page.routeWebSocket(/\/ws/, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((m) => {
      if (!held) ws.send(m);
    });
  });
  const live = () => tab.page.waitForSelector('[data-testid=conn][data-state=live]', { timeout: 20_000 });
  await live();
  // Its socket opened before the route: drop every socket so the tab reconnects through it.
  for (const c of [...(rt as any).server.hub.clients]) c.ws.terminate();
  await tab.page.waitForSelector('[data-testid=conn][data-state=reconnecting]', { timeout: 20_000 });
  await live();
  return { tab, hold: () => void (held = true) };
}
