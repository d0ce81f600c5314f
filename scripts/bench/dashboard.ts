// The dashboard in real Chromium (Debian's, through playwright-core):
//   1. event→DOM latency: the event's timestamp (ms, set when the server records it) → the
//      event-log row showing it, measured in the page, at 50 events/s while 100 other WebSocket clients are connected
//   2. bundle size (gzip) of what the page loads
//   3. navigation → first full render (the live snapshot on screen), on loopback
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { benchRuntime, emitPaced, fmt, percentile, report, startClients, wsClientsChild } from './lib.js';

/** Runs in the page before its own scripts: the delay of every event-log row as it is added. */
const OBSERVE_ROWS = `
window.__rowDelays = [];
new MutationObserver((records) => {
  const now = performance.timeOrigin + performance.now();
  for (const r of records) for (const n of r.addedNodes) {
    if (n.nodeType === 1 && n.dataset && n.dataset.testid === 'event-row' && n.dataset.ts) window.__rowDelays.push(now - Date.parse(n.dataset.ts));
  }
}).observe(document, { childList: true, subtree: true });`;

async function main() {
  const { rt, stop } = await benchRuntime();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-dev-shm-usage'],
  });
  const rows = [];
  const url = `${rt.url}/#token=${rt.adminToken}`;

  // 3 first: cold navigations (new context each: no cache, no session).
  const renders: number[] = [];
  for (let i = 0; i < 7; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
    const page = await ctx.newPage();
    await page.goto(url);
    await page.waitForFunction(() => performance.getEntriesByName('iron-cage:first-render').length > 0, null, { timeout: 10_000 });
    renders.push(await page.evaluate(() => performance.getEntriesByName('iron-cage:first-render')[0]!.startTime));
    await ctx.close();
  }
  renders.sort((a, b) => a - b);

  // 1. Event→DOM with 100 other clients.
  const rate = 50;
  const seconds = 10;
  const total = rate * seconds;
  const { done } = await startClients(`${rt.url.replace('http', 'ws')}/ws?token=${rt.adminToken}`, 100, total);
  const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  await ctx.addInitScript(OBSERVE_ROWS);
  const page = await ctx.newPage();
  await page.goto(url);
  await page.waitForSelector('[data-testid=conn][data-state=live]');
  await emitPaced(rt, { rate, total, tickMs: 2, severity: 'info', message: (i) => `dashboard probe ${i}` });
  await done;
  await page.waitForFunction((n) => (window as any).__rowDelays.length >= n, total, { timeout: 30_000 });
  const delays = ((await page.evaluate(() => (window as any).__rowDelays)) as number[]).sort((a, b) => a - b);
  await browser.close();
  await stop();

  const p99 = percentile(delays, 99);
  rows.push({ metric: `event→DOM p50 (Chromium + 100 WebSocket clients, ${rate} ev/s)`, value: `${fmt(percentile(delays, 50), 1)} ms` });
  rows.push({ metric: `event→DOM p99 (Chromium + 100 WebSocket clients, ${rate} ev/s)`, value: `${fmt(p99, 1)} ms`, target: '< 100 ms', ok: p99 < 100 });
  rows.push({ metric: 'rows measured', value: fmt(delays.length, 0) });

  // 2. What the page downloads, gzipped (source maps are not fetched by the page).
  const web = join(process.cwd(), 'dist/web');
  const manifest = JSON.parse(readFileSync(join(web, 'manifest.json'), 'utf8')) as { js: string; css: string | null };
  const files = [join(web, 'index.html'), join(web, 'assets', manifest.js), ...(manifest.css ? [join(web, 'assets', manifest.css)] : [])];
  const gz = files.reduce((a, f) => a + gzipSync(readFileSync(f), { level: 9 }).length, 0);
  rows.push({ metric: 'bundle (index.html + JS + CSS), gzip', value: `${fmt(gz / 1024, 1)} KB`, target: '< 80 KB', ok: gz < 80 * 1024 });

  const median = percentile(renders, 50);
  rows.push({ metric: `navigation → first full render, median of ${renders.length} cold loads`, value: `${fmt(median, 0)} ms`, target: '< 300 ms', ok: median < 300 });
  rows.push({ metric: 'navigation → first full render, slowest', value: `${fmt(renders.at(-1)!, 0)} ms` });
  report('dashboard', 'Dashboard in Chromium (npm run bench -- dashboard)', rows);
  process.exit(0);
}

// Last, so the constants above exist when main runs.
if (process.argv[2] === 'clients') wsClientsChild();
else await main();
