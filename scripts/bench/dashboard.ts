// The dashboard in real Chromium (Debian's, through playwright-core):
//   1. event→DOM latency: the event's timestamp (ms, set when the server records it) → the
//      event-log row showing it, measured in the page, at 50 events/s while 100 other WebSocket clients are connected
//   2. bundle size (gzip) of what the page loads
//   3. navigation → first full render (the live snapshot on screen), on loopback
//   4. 1,000 viewers: event→DOM in Chromium with 999 plain WebSocket clients at 500 ev/s,
//      and the server's CPU for that fan-out with the coalesced flush (WS_COALESCE) against a
//      flush per tick, alternated in one run
//   6. the page under a live run (`iron-cage demo` at 0.25 s a lead, DASHBOARD_PART=live): how busy
//      its renderer's main thread is (CDP Performance metrics: TaskDuration, LayoutCount) over
//      20 s of the run, at 1440×900
//   5. a long run (1,000,000 events, 200,000 LLM calls, one agent) served by `iron-cage serve`:
//      p99 of the timeline's pages and overview, RSS loaded and with 1,000 viewers, and a reload to
//      a complete first screen (FIRST_RENDER and the waterfall's first page, `iron-cage:timeline-ready`)
// Parts and sizes: DASHBOARD_PART=all|page|viewers|run|live; DASHBOARD_VIEWERS (999), DASHBOARD_RATE
// (500), DASHBOARD_SECONDS (10), DASHBOARD_RUN_CALLS (200000), DASHBOARD_RUN_EVENTS (1000000),
// DASHBOARD_RUN_DB=<file>: the long run on that state file, written first only when it does not exist (and kept).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// Aliased: `performance` inside the functions run in the page is the page's own (the bundler would rename a module binding of that name).
import { performance as clock } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser } from 'playwright-core';
import { WS_COALESCE } from '../../src/server/index.js';
import { adminKey, api, benchRuntime, emitPaced, fillRun, fmt, percentile, report, rssMb, serve, startClients, viewerUrls, wsClientsChild, type Row } from './lib.js';

const env = (name: string, def: number) => {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v.replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name}=${v}: a positive integer, please`);
  return n;
};
const PART = process.env.DASHBOARD_PART ?? 'all';
const VIEWERS = env('DASHBOARD_VIEWERS', 999);
const RATE = env('DASHBOARD_RATE', 500);
const SECONDS = env('DASHBOARD_SECONDS', 10);
const RUN_CALLS = env('DASHBOARD_RUN_CALLS', 200_000);
const RUN_EVENTS = env('DASHBOARD_RUN_EVENTS', 1_000_000);
const RUN_DB = process.env.DASHBOARD_RUN_DB || null;
const TIMELINE_READY = 'iron-cage:timeline-ready';

/** Runs in the page before its own scripts: the delay of every event-log row as it is added. */
const OBSERVE_ROWS = `
window.__rowDelays = [];
new MutationObserver((records) => {
  const now = performance.timeOrigin + performance.now();
  for (const r of records) for (const n of r.addedNodes) {
    if (n.nodeType === 1 && n.dataset && n.dataset.testid === 'event-row' && n.dataset.ts) window.__rowDelays.push(now - Date.parse(n.dataset.ts));
  }
}).observe(document, { childList: true, subtree: true });`;

const launch = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-dev-shm-usage'],
  });

async function page(rows: Row[]) {
  const { rt, stop } = await benchRuntime();
  const browser = await launch();
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
}

/** Event→DOM delays in Chromium (sorted) while `viewers` other clients listen at RATE ev/s, and what the server (this process) spent meanwhile. */
async function viewersRun(browser: Browser | null, viewers: number) {
  const { rt, stop } = await benchRuntime();
  try {
    const total = RATE * SECONDS;
    const { done, child } = await startClients(await viewerUrls(rt.url, rt.adminToken, viewers), viewers, total, MEASURE_EVERY);
    let pageDelays: () => Promise<number[]> = async () => [];
    if (browser) {
      const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
      await ctx.addInitScript(OBSERVE_ROWS);
      const p = await ctx.newPage();
      await p.goto(`${rt.url}/#token=${rt.adminToken}`);
      await p.waitForSelector('[data-testid=conn][data-state=live]');
      pageDelays = async () => {
        // The page may keep only the latest rows of a burst: what it showed, once it has settled.
        await p.waitForFunction((n) => (window as any).__rowDelays.length >= n, Math.floor(total * 0.9), { timeout: 30_000 }).catch(() => undefined);
        return ((await p.evaluate(() => (window as any).__rowDelays)) as number[]).sort((a, b) => a - b);
      };
    }
    const cpu0 = process.cpuUsage();
    const t0 = clock.now();
    await emitPaced(rt, { rate: RATE, total, tickMs: 2, severity: 'info', message: (i) => `dashboard probe ${i}` });
    // A client cut off as too far behind (1013) never has them all: given up after a grace, its run counted as incomplete (NaN).
    const got = await Promise.race([done, new Promise<null>((r) => setTimeout(() => r(null), SECONDS * 1000 + 30_000).unref())]);
    if (got === null) process.stderr.write(`dashboard: ${viewers} clients did not all receive the ${total} events within 30 s of the end\n`);
    const clientDelays = (got ?? [Number.NaN]).sort((a, b) => a - b);
    const wall = clock.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const delays = await pageDelays();
    child.kill();
    return { delays, clientDelays, cpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100 };
  } finally {
    await stop();
  }
}

/** Of the plain clients, every this-many-th times its events (the rest only read): one child process keeps up. */
const MEASURE_EVERY = 10;

async function viewersPart(rows: Row[]) {
  // The fan-out's CPU, flush per tick (before) against coalesced (after), alternated, no browser.
  const cpu: Record<'tick' | 'coalesced', number[]> = { tick: [], coalesced: [] };
  const p99: Record<'tick' | 'coalesced', number[]> = { tick: [], coalesced: [] };
  const kept = WS_COALESCE.above;
  for (const mode of ['tick', 'coalesced', 'tick', 'coalesced'] as const) {
    WS_COALESCE.above = mode === 'tick' ? Number.POSITIVE_INFINITY : kept;
    const r = await viewersRun(null, VIEWERS + 1);
    cpu[mode].push(r.cpuPct);
    p99[mode].push(percentile(r.clientDelays, 99));
  }
  WS_COALESCE.above = kept;
  const range = (xs: number[], d = 0) => `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}`;
  rows.push({
    metric: `server CPU, ${VIEWERS + 1} WebSocket clients at ${RATE} ev/s: flush per tick → one per ${WS_COALESCE.ms} ms window (2 runs each, alternated)`,
    value: `${range(cpu.tick)} % → ${range(cpu.coalesced)} % of a core`,
  });
  rows.push({ metric: `event→client p99 at those clients (every ${MEASURE_EVERY}th one timed): per tick → coalesced`, value: `${range(p99.tick, 1)} → ${range(p99.coalesced, 1)} ms` });
  // Event→DOM with the browser as the thousandth viewer.
  const browser = await launch();
  try {
    const r = await viewersRun(browser, VIEWERS);
    const q = percentile(r.delays, 99);
    rows.push({ metric: `event→DOM p50 (Chromium + ${VIEWERS} WebSocket clients, ${RATE} ev/s)`, value: `${fmt(percentile(r.delays, 50), 1)} ms` });
    rows.push({ metric: `event→DOM p99 (Chromium + ${VIEWERS} WebSocket clients, ${RATE} ev/s)`, value: `${fmt(q, 1)} ms`, target: '< 100 ms', ok: q < 100 });
    rows.push({ metric: 'rows measured (of events sent)', value: `${fmt(r.delays.length, 0)} of ${fmt(RATE * SECONDS, 0)}` });
  } finally {
    await browser.close();
  }
}

async function runPart(rows: Row[]) {
  const dir = mkdtempSync(join(tmpdir(), 'iron-bench-run-'));
  try {
    const db = RUN_DB ?? join(dir, 'run.db');
    const agentId = 'long-run-001';
    if (!(RUN_DB && existsSync(RUN_DB))) {
      const { seconds } = await fillRun(db, { rows: RUN_CALLS, events: RUN_EVENTS, agentIds: [agentId], toolEvery: 4, notableEvery: 100 });
      rows.push({ metric: `wrote a run of ${fmt(RUN_CALLS, 0)} LLM calls, ${fmt(RUN_CALLS / 4, 0)} tool calls, ${fmt(RUN_EVENTS, 0)} events (one agent)`, value: `${fmt(seconds, 1)} s` });
    } else process.stderr.write(`dashboard: reusing ${RUN_DB} (DASHBOARD_RUN_DB)\n`);
    const s = await serve(db, adminKey(db));
    try {
      const rssLoaded = rssMb(s.pid).now;
      const base = `/api/agents/${agentId}/timeline`;
      const latest = await api(s.origin, base, s.admin);
      const overview = await api(s.origin, `${base}/overview`, s.admin);
      const N = 100;
      const timed = async (name: string, path: (i: number) => string, target = true) => {
        for (let i = 0; i < 3; i++) await api(s.origin, path(i), s.admin);
        const t: number[] = [];
        for (let i = 0; i < N; i++) {
          const t0 = clock.now();
          await api(s.origin, path(i), s.admin);
          t.push(clock.now() - t0);
        }
        t.sort((a, b) => a - b);
        const q = percentile(t, 99);
        rows.push({ metric: `${name} p99 (p50), ${N} sequential`, value: `${fmt(q, 1)} ms (${fmt(percentile(t, 50), 1)})`, ...(target ? { target: '< 50 ms', ok: q < 50 } : {}) });
      };
      const span = overview.endMs - overview.startMs;
      await timed('GET …/timeline (the newest 300 items)', () => base);
      await timed('GET …/timeline?around=<a random instant>', (i) => `${base}?around=${overview.startMs + Math.floor(((i * 7919) % N) * (span / N))}`);
      await timed('GET …/timeline?before=<cursor> (paging back, 300 a page)', () => `${base}?before=${latest.before}`);
      await timed('GET …/timeline?lanes=llm&limit=1000', () => `${base}?lanes=llm&limit=1000`);
      await timed('GET …/timeline/overview (240 buckets, ≤ 500 marks)', () => `${base}/overview`);
      rows.push({
        metric: 'that run as the timeline counts it',
        value: `${fmt(latest.total.llm, 0)} LLM, ${fmt(latest.total.tool, 0)} tool, ${fmt(latest.total.events, 0)} timeline events; overview ${overview.buckets.length} buckets of ${fmt(overview.bucketMs / 60_000, 0)} min, ${overview.marks.length} marks`,
      });
      // 999 viewers plus the browser.
      const { child } = await startClients(await viewerUrls(s.origin, s.admin, VIEWERS), VIEWERS, Number.MAX_SAFE_INTEGER);
      const rssViewers = rssMb(s.pid).now;
      const browser = await launch();
      try {
        const loads: number[] = [];
        let missing: string | null = null;
        for (let i = 0; i < 3 && missing === null; i++) {
          const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
          const p = await ctx.newPage();
          await p.goto(`${s.origin}/#token=${s.admin}`);
          await p.waitForFunction(() => performance.getEntriesByName('iron-cage:first-render').length > 0, null, { timeout: 15_000 });
          const ready = await p
            .waitForFunction((mark) => performance.getEntriesByName(mark).length > 0, TIMELINE_READY, { timeout: 10_000 })
            .then(() => true)
            .catch(() => false);
          if (ready)
            loads.push(await p.evaluate((mark) => Math.max(performance.getEntriesByName('iron-cage:first-render')[0]!.startTime, performance.getEntriesByName(mark)[0]!.startTime), TIMELINE_READY));
          else missing = `the page never marked ${TIMELINE_READY} within 10 s (the waterfall's first page): not measured. Is the timeline page in this build?`;
          await ctx.close();
        }
        if (!missing) await scrolling(browser, s.origin, s.admin, rows);
        const rssAll = rssMb(s.pid);
        if (missing) rows.push({ metric: 'reload of that run to a complete first screen', value: missing, target: '< 2,000 ms', ok: false });
        else {
          loads.sort((a, b) => a - b);
          rows.push({
            metric: 'reload of that run to a complete first screen (first render + the timeline’s first page), median of 3',
            value: `${fmt(loads[1]!, 0)} ms`,
            target: '< 2,000 ms',
            ok: loads[1]! < 2000,
          });
        }
        rows.push({
          metric: `iron-cage RSS with that run: loaded → + ${VIEWERS} viewers → + the page (peak)`,
          value: `${fmt(rssLoaded, 0)} → ${fmt(rssViewers, 0)} → ${fmt(rssAll.now, 0)} MB (${fmt(rssAll.peak, 0)})`,
        });
      } finally {
        await browser.close();
        child.kill();
      }
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Scroll steps up the timeline of the long run, each 20 rows, a frame apart (pages load as it goes). */
const SCROLL_STEPS = 400;

/**
 * The long run's timeline scrolled back from the live end in Chromium: frame times while it
 * scrolls and loads pages (requestAnimationFrame intervals), the rows in the page, and the page's
 * JavaScript heap (after a GC) before and after.
 */
async function scrolling(browser: Browser, origin: string, admin: string, rows: Row[]) {
  const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  try {
    const p = await ctx.newPage();
    const cdp = await ctx.newCDPSession(p);
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      return ((await cdp.send('Runtime.getHeapUsage')) as { usedSize: number }).usedSize / 1024 / 1024;
    };
    await p.goto(`${origin}/#token=${admin}`);
    await p.waitForFunction((mark) => performance.getEntriesByName(mark).length > 0, TIMELINE_READY, { timeout: 15_000 });
    const before = await heap();
    const r = await p.evaluate(async (steps) => {
      const el = document.querySelector('[data-testid=timeline]') as HTMLElement;
      const frames: number[] = [];
      let last = performance.now();
      let on = true;
      const tick = (t: number) => {
        frames.push(t - last);
        last = t;
        if (on) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      const frame = () => new Promise<void>((done) => requestAnimationFrame(() => done()));
      const first = (el.querySelector('[data-key]') as HTMLElement | null)?.dataset.key ?? null;
      for (let i = 0; i < steps; i++) {
        el.scrollTop = Math.max(0, el.scrollTop - 26 * 20);
        await frame();
      }
      on = false;
      const keys = Array.from(el.querySelectorAll('[data-key]'), (x) => (x as HTMLElement).dataset.key);
      return { frames: frames.slice(1), first, top: keys[0] ?? null, inDom: keys.length };
    }, SCROLL_STEPS);
    const after = await heap();
    const f = r.frames.sort((a, b) => a - b);
    const p99 = percentile(f, 99);
    rows.push({
      metric: `frame time scrolling that run's timeline back ${SCROLL_STEPS} × 20 rows (pages loading as it goes): p50 / p99 / worst`,
      value: `${fmt(percentile(f, 50), 1)} / ${fmt(p99, 1)} / ${fmt(f.at(-1)!, 1)} ms (${f.length} frames, ${r.inDom} rows in the page at the end)`,
      target: 'p99 < 50 ms',
      ok: p99 < 50,
    });
    rows.push({ metric: 'the page’s JavaScript heap after a GC: at the live end → after that scroll', value: `${fmt(before, 1)} → ${fmt(after, 1)} MB` });
    if (r.first === r.top) rows.push({ metric: 'scrolling moved the window', value: 'no: the first row is still the first (check the timeline’s data-key rows)', ok: false });
  } finally {
    await ctx.close();
  }
}

/** 6: the renderer's work while a demo streams its events (a lead every 0.25 s: ~90 events/s). */
async function livePart(rows: Row[]) {
  const dir = mkdtempSync(join(tmpdir(), 'iron-cage-bench-live-'));
  const demo = spawn(process.execPath, [join(process.cwd(), 'bin/iron-cage.js'), 'demo', '--pace', '0.25', '--port', '0', '--db', join(dir, 'demo.db'), '--stay', '--sandbox', 'off'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  const browser = await launch();
  try {
    let out = '';
    demo.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const started = clock.now();
    let url: string | undefined;
    while (!(url = /dashboard (http:\/\/127\.0\.0\.1:\d+\/#login=\S+)/.exec(out)?.[1])) {
      if (clock.now() - started > 30_000 || demo.exitCode !== null) throw new Error(`the demo did not print its dashboard link:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const p = await ctx.newPage();
    await p.goto(url);
    await p.waitForSelector('[data-testid=conn][data-state=live]');
    const cdp = await ctx.newCDPSession(p);
    await cdp.send('Performance.enable');
    const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const seconds = 20;
    let requests = 0;
    p.on('request', () => requests++);
    const before = await metrics();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const after = await metrics();
    rows.push({ metric: 'the page’s REST requests while it streams (each one a query on the cage)', value: `${fmt(requests / seconds, 1)}/s` });
    const busy = (after.TaskDuration! - before.TaskDuration!) / seconds;
    rows.push({
      metric: `renderer main thread busy, the demo at 0.25 s a lead (${seconds} s of it, 1440×900)`,
      value: `${fmt(busy * 100, 0)}% (${fmt((after.LayoutCount! - before.LayoutCount!) / seconds, 0)} layouts/s, ${fmt((after.RecalcStyleCount! - before.RecalcStyleCount!) / seconds, 0)} style recalcs/s)`,
      target: '< 35%',
      ok: busy < 0.35,
    });
    await ctx.close();
  } finally {
    await browser.close();
    demo.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const rows: Row[] = [];
  if (PART === 'all' || PART === 'page') await page(rows);
  if (PART === 'all' || PART === 'viewers') await viewersPart(rows);
  if (PART === 'all' || PART === 'run') await runPart(rows);
  if (PART === 'all' || PART === 'live') await livePart(rows);
  report('dashboard', 'Dashboard in Chromium (npm run bench -- dashboard)', rows);
  process.exit(0);
}

// Last, so the constants above exist when main runs.
if (process.argv[2] === 'clients') wsClientsChild();
else await main();
