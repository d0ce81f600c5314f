import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { FIXTURES, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';
import { FakeService } from '../helpers/http.js';
import { GATEWAY_DEFAULTS } from '../../src/config/gateway.js';
import { withTools } from '../tools/helpers.js';

// Every panel at every size: one busy run (ten models, four external services, two of them
// failing, six secrets, a full event log, three pop-ups) seen in real Chromium at a phone, a
// laptop, a 1440×900 screen and a projector, in both themes. One page, resized and re-themed in
// turn; each state is measured in the page (nothing scrolls sideways, nothing is clipped, no word
// is split over two lines) and saved as a screenshot in test-artifacts/.

const SIZES = [
  { width: 390, height: 844 },
  { width: 1280, height: 720 },
  { width: 1440, height: 900 },
  { width: 1920, height: 1080 },
] as const;
const THEMES = ['dark', 'light'] as const;
/** Below this width the page is a phone: pop-ups fold to the newest. */
const PHONE = 760;
/** The most of the screen the pop-ups may cover. */
const TOAST_SHARE = 0.25;

/**
 * The only places allowed to scroll inside the page, and why (each carries data-scroll-region;
 * the page holds exactly these).
 */
const SCROLL_REGIONS: Record<string, string> = {
  'event-log': 'a live stream of up to 5,000 events, newest last: it follows the newest, pauses on hover, says "Jump to latest"',
  timeline: 'the run on one time axis, virtualised (only the visible rows exist), paged by cursor as it scrolls, following the live end at the bottom',
};

const SERVICES = {
  'linkedin-sales-navigator': { failing: true },
  'clearbit-company-enrichment': { failing: true },
  'hubspot-crm-contacts-v3': { failing: false },
  apollo: { failing: false },
};
const OPENAI_MODELS = ['gpt-4o', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-4-turbo', 'gpt-4', 'o3-mini', 'gpt-3.5-turbo'];
const ANTHROPIC_MODELS = ['claude-3-5-sonnet-20241022', 'claude-3-5-haiku-20241022'];
const SECRETS = [
  { name: 'OPENAI_API_KEY', environment: 'production', value: 'sk-proj-4f8a9c2e7b1d6f3a0c5e8b2d9f4a7c1e' },
  { name: 'ANTHROPIC_API_KEY', environment: 'production', value: 'sk-ant-api03-9c2e7b1d6f3a0c5e8b2d9f4a' },
  { name: 'LINKEDIN_SALES_NAVIGATOR_CLIENT_SECRET', environment: 'production', value: 'lnkd-7b1d6f3a0c5e8b2d9f4a7c1e4f8a' },
  { name: 'HUBSPOT_PRIVATE_APP_TOKEN', environment: 'staging', value: 'pat-eu1-3a0c5e8b-2d9f-4a7c-1e4f-8a9c2e7b1d6f' },
  { name: 'CLEARBIT_KEY', environment: 'development', value: 'sk_test_0c5e8b2d9f4a7c1e4f8a9c2e' },
  { name: 'SLACK_WEBHOOK_URL', environment: 'development', value: 'https://hooks.slack.com/services/T000/B000/XXXXXXXX' },
];

/** What an agent sends with each lead: a few thousand tokens of company dossier (calls cost cents, not micro-cents). */
const DOSSIER = Array.from(
  { length: 60 },
  (_, i) => `Filing ${i + 1}: Nimbuslake Freight & Logistics B.V., Rotterdam; 420 staff; fleet of 96 trucks; ERP SAP S/4HANA; revenue up ${i % 9}% year on year; CFO since 2019.`,
).join('\n');
const MASTER_KEY = 'layout test master key, long enough';
const work = tempDir('iron-cage-layout-');
const gate = join(work.dir, 'gate');
let up: FakeService;
let t: TestRuntime;
let browser: TestBrowser;
let page: WatchedPage;

const api = async (path: string, init: RequestInit & { token?: string } = {}) => {
  const r = await t.api(path, init);
  expect(r.status, `${init.method ?? 'GET'} ${path}: ${await r.clone().text()}`).toBeLessThan(300);
  return r.json();
};
const settled = () => page.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

/** Fills the run with what a busy afternoon holds. */
async function busyRun(): Promise<void> {
  const agentId = t.rt.agentId!;
  writeFileSync(gate, '24');
  await until(async () => (await api(`/api/agents/${agentId}/status`)).progress.done === 24, 20_000);
  const run = await t.rt.tokens.issueRun({ name: agentId, agentId });
  try {
    const base = t.rt.url;
    for (const [i, model] of OPENAI_MODELS.entries()) {
      for (let n = 0; n <= i % 3; n++) {
        const r = await fetch(`${base}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${run.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model, messages: [{ role: 'user', content: `Qualify lead ${i}-${n} from its dossier.\n${DOSSIER}` }] }),
        });
        expect(r.status, `${model}: ${await r.clone().text()}`).toBe(200);
      }
    }
    for (const model of ANTHROPIC_MODELS) {
      const r = await fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': run.token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
        body: JSON.stringify({ model, max_tokens: 300, messages: [{ role: 'user', content: `Draft a two-line intro for its CFO.\n${DOSSIER}` }] }),
      });
      expect(r.status, `${model}: ${await r.clone().text()}`).toBe(200);
    }
    // Two services fail until their circuits open (and stay open: a 10-minute cooldown).
    for (const [service, { failing }] of Object.entries(SERVICES)) {
      if (failing) await api('/api/faults', { method: 'POST', body: JSON.stringify({ service, status: 503 }) });
      for (let n = 0; n < 3; n++) await fetch(`${base}/tools/${service}/company/${n}`, { headers: { authorization: `Bearer ${run.token}` } });
    }
  } finally {
    run.end();
  }
  for (const s of SECRETS) await api('/api/secrets', { method: 'POST', body: JSON.stringify(s) });
  for (let i = 0; i < 12; i++) {
    await api(`/api/agents/${agentId}/events`, {
      method: 'POST',
      body: JSON.stringify({
        message: `lead ${25 + i}/60 L0${25 + i} Nimbuslake Freight & Logistics B.V.: enriched from clearbit-company-enrichment (fallback), linkedin-sales-navigator skipped, 3 model calls`,
      }),
    });
  }
  // The spend fills 92% of a limit set now: the 90% warning, with Approve and Stop.
  const spent = (await api(`/api/agents/${agentId}/costs`)).spentUsd;
  await api(`/api/agents/${agentId}/budget`, { method: 'POST', body: JSON.stringify({ limitUsd: Math.ceil((spent / 0.92) * 1e6) / 1e6 }) });
}

beforeAll(async () => {
  writeFileSync(gate, '0');
  up = await FakeService.start();
  const tools = Object.fromEntries(Object.keys(SERVICES).map((s) => [s, { url: up.url, cost_per_call_usd: 0.05, retry: { attempts: 1 }, breaker: { failure_threshold: 2, cooldown_s: 600 } }]));
  t = await startTestRuntime({
    dir: work.dir,
    config: { ...withTools(tools), budgetMicros: 50_000_000, gateway: { ...GATEWAY_DEFAULTS, baselineModel: 'gpt-4' } },
    agent: { script: join(FIXTURES, 'agents/gated_leads.py') },
    env: { GATE_FILE: gate, TOTAL: '60', TOOL: 'hubspot-crm-contacts-v3', PII_AT: '7', FAIL_EVERY: '5', IRON_CAGE_MASTER_KEY: MASTER_KEY },
  });
  browser = await launchBrowser();
  page = await browser.open(`${t.rt.url}/#token=${t.rt.adminToken}`, { viewport: { width: 1440, height: 900 }, motion: true });
  await page.page.waitForSelector('[data-testid=conn][data-state=live]', { timeout: 20_000 });
  await busyRun();
  const p = page.page;
  await until(async () => (await p.locator('[data-testid=toast]').count()) === 3, 20_000);
  await until(async () => (await p.locator('[data-testid=toast][data-kind=budget]').count()) === 1, 20_000);
  await until(async () => (await p.locator('[data-testid=breaker][data-state=OPEN]').count()) === 2, 20_000);
  await until(async () => (await p.locator('[data-testid=secret-row]').count()) === SECRETS.length, 20_000);
  await until(async () => (await p.getByTestId('cost-by-model').innerText()).includes('more models'), 20_000);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await up?.close();
  work.cleanup();
});

/**
 * Everything measured in the page, as a list of what is wrong (empty when all is well). Plain
 * JavaScript in a string: it runs in Chromium as written.
 */
const MEASURE = `(() => {
  const bad = [];
  const vw = document.documentElement.clientWidth, vh = innerHeight;
  const where = (el) => {
    const panel = el.closest('.panel');
    const cls = typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    return (panel ? (panel.className.match(/panel-(\\w+)/) || [])[1] + ' › ' : '') + el.tagName.toLowerCase() + cls + (el.dataset.testid ? '[' + el.dataset.testid + ']' : '');
  };
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth) bad.push('the page scrolls sideways: ' + doc.scrollWidth + ' > ' + doc.clientWidth);
  const regions = [...document.querySelectorAll('[data-scroll-region]')].map((e) => e.dataset.testid);
  const inRegion = (el) => el.closest('[data-scroll-region]') !== null;

  // Panel bodies and tables show all they hold.
  for (const el of document.querySelectorAll('.panel-body, .panel table')) {
    if (el.scrollWidth > el.clientWidth + 1) bad.push(where(el) + ' is clipped sideways: ' + el.scrollWidth + ' > ' + el.clientWidth);
    if (el.scrollHeight > el.clientHeight + 1) bad.push(where(el) + ' is clipped: ' + el.scrollHeight + ' > ' + el.clientHeight);
  }
  // Nothing inside a panel clips what it holds, but a designed scroll region or a truncation whose full text is in a title.
  for (const el of document.querySelectorAll('.panel *')) {
    if (!(el instanceof HTMLElement) || el.matches('select, option, input, textarea, .sr-only, .sr-only *, thead, thead *') || inRegion(el)) continue;
    const cs = getComputedStyle(el);
    if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
    if (cs.textOverflow === 'ellipsis' && el.closest('[title]')) continue;
    if (el.clientWidth <= 1 && el.clientHeight <= 1) continue;
    if (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1)
      bad.push(where(el) + ' hides part of its content (' + el.scrollWidth + '×' + el.scrollHeight + ' in ' + el.clientWidth + '×' + el.clientHeight + ')');
  }
  // Every panel is on the page, side to side.
  for (const el of document.querySelectorAll('.panel')) {
    const r = el.getBoundingClientRect();
    if (r.left < 0 || r.right > vw + 0.5) bad.push(where(el) + ' lies outside the page: ' + r.left + '..' + r.right);
  }
  // No word is split over two lines (a name wraps after - _ . / or not at all).
  const walker = document.createTreeWalker(document.querySelector('main.grid'), NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const host = n.parentElement;
    if (!host || inRegion(host) || host.closest('.sr-only, thead, option, select, .revealed') || !host.getClientRects().length) continue;
    for (const m of n.data.matchAll(/[A-Za-z0-9]{2,}/g)) {
      range.setStart(n, m.index);
      range.setEnd(n, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      if (tops.size > 1) bad.push(where(host) + ': "' + m[0] + '" is split over ' + tops.size + ' lines');
    }
  }
  // The header's controls are on screen.
  for (const id of ['theme-toggle', 'conn']) {
    const el = document.querySelector('[data-testid=' + id + ']');
    const r = el && el.getBoundingClientRect();
    if (!r || r.width === 0 || r.left < 0 || r.top < 0 || r.right > vw + 0.5 || r.bottom > vh + 0.5) bad.push('the header control ' + id + ' is off screen: ' + JSON.stringify(r) + ' in ' + vw + '×' + vh);
  }
  // The chart has its axes: round dollars up y, clock times along x, inside the plot's panel, none overlapping.
  const chart = document.querySelector('[data-testid=spend-chart]');
  const ys = chart ? [...chart.querySelectorAll('.tick-y')] : [];
  const xs = chart ? [...chart.querySelectorAll('.tick-x')] : [];
  if (ys.length < 2 || !ys.every((e) => /^\\$\\d+(\\.\\d+)?$/.test(e.textContent))) bad.push('y axis ticks: ' + ys.map((e) => e.textContent).join(' '));
  if (xs.length < 2 || !xs.every((e) => /^\\d\\d:\\d\\d(:\\d\\d)?$/.test(e.textContent))) bad.push('x axis ticks: ' + xs.map((e) => e.textContent).join(' '));
  if (chart) {
    const box = chart.closest('.panel-body').getBoundingClientRect();
    for (const group of [ys, xs]) {
      const rects = group.map((e) => e.getBoundingClientRect());
      rects.forEach((r, i) => {
        if (r.left < box.left - 0.5 || r.right > box.right + 0.5) bad.push('tick ' + group[i].textContent + ' hangs outside its panel');
        for (const o of rects.slice(i + 1)) if (r.left < o.right && o.left < r.right && r.top < o.bottom && o.top < r.bottom) bad.push('ticks overlap: ' + group[i].textContent);
      });
    }
    const lum = (c) => {
      const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map((v) => { v = v / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    if (ys[0]) {
      const [a, b] = [lum(getComputedStyle(ys[0]).color), lum(getComputedStyle(chart.closest('.panel')).backgroundColor)];
      const contrast = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (contrast < 4.5) bad.push('tick labels contrast ' + contrast.toFixed(2) + ' with the panel');
    }
  }
  // Pop-ups cover a bounded share of the screen; on a phone or a short screen only the newest shows.
  const toasts = [...document.querySelectorAll('[data-testid=toast]')].filter((e) => e.getClientRects().length > 0);
  const stack = document.querySelector('[data-testid=toasts]').getBoundingClientRect();
  const share = (stack.width * stack.height) / (vw * vh);
  return { bad, regions, share, toastsShown: toasts.length, toastsAll: document.querySelectorAll('[data-testid=toast]').length, fold: document.querySelector('[data-testid=toasts-fold]')?.innerText ?? null };
})()`;

interface Measured {
  bad: string[];
  regions: string[];
  share: number;
  toastsShown: number;
  toastsAll: number;
  fold: string | null;
}

async function useTheme(theme: (typeof THEMES)[number]): Promise<void> {
  const p = page.page;
  if ((await p.evaluate(() => document.documentElement.dataset.theme)) !== theme) await p.getByTestId('theme-toggle').click();
  await until(async () => (await p.evaluate(() => document.documentElement.dataset.theme)) === theme);
}

describe('the dashboard fits every screen, in both themes', () => {
  it('shows INFO and up in the event log at first; DEBUG rows through the filter', async () => {
    const p = page.page;
    expect(await p.getByTestId('filter-severity').inputValue()).toBe('info');
    const severities = () => p.$$eval('[data-testid=event-row]', (rows) => rows.map((r) => (r as HTMLElement).dataset.severity));
    expect(await severities()).not.toContain('debug');
    expect((await severities()).length).toBeGreaterThan(20);
    await p.getByTestId('filter-severity').selectOption('debug');
    await until(async () => (await severities()).includes('debug'));
    await p.getByTestId('filter-severity').selectOption('info');
    await until(async () => !(await severities()).includes('debug'));
  }, 30_000);

  it('at 390×844, 1280×720, 1440×900 and 1920×1080, dark and light: no sideways scroll, nothing clipped, controls on screen, chart axes, pop-ups bounded', async () => {
    const p = page.page;
    for (const size of SIZES) {
      await p.setViewportSize(size);
      for (const theme of THEMES) {
        await useTheme(theme);
        await settled();
        const m = (await p.evaluate(MEASURE)) as Measured;
        const at = `${size.width}×${size.height} ${theme}`;
        await page.screenshot(`layout-${size.width}x${size.height}-${theme}`);
        expect(m.bad, at).toEqual([]);
        expect(m.regions.sort(), at).toEqual(Object.keys(SCROLL_REGIONS).sort());
        expect(m.share, `${at}: pop-ups cover ${Math.round(m.share * 100)}% of the screen`).toBeLessThanOrEqual(TOAST_SHARE);
        expect(m.toastsAll, at).toBe(3);
        if (size.width < PHONE || size.height < PHONE) {
          expect(m.toastsShown, at).toBe(1);
          expect(m.fold, at).toBe('+2 earlier');
        } else expect(m.toastsShown, at).toBe(3);
      }
    }
    // Folded pop-ups open on request and fold again.
    await p.setViewportSize(SIZES[0]);
    await p.getByTestId('toasts-fold').click();
    await until(async () => (await p.locator('[data-testid=toast]:visible').count()) === 3);
    await p.getByTestId('toasts-fold').click();
    await until(async () => (await p.locator('[data-testid=toast]:visible').count()) === 1);
    // The rest of the models open in full, and the panel still holds them.
    await p.setViewportSize({ width: 1440, height: 900 });
    await p.getByTestId('cost-models-more').click();
    await until(async () => (await p.locator('[data-testid=cost-by-model] tbody tr').count()) === OPENAI_MODELS.length + ANTHROPIC_MODELS.length + 1);
    await settled();
    expect(((await p.evaluate(MEASURE)) as Measured).bad).toEqual([]);
    expect(page.problems()).toEqual([]);
  }, 90_000);

  it('a bad link puts the login form right under its explanation, at every size', async () => {
    const bad = await browser.open(`${t.rt.url}/#token=not-a-token`, { viewport: SIZES[0] });
    try {
      await bad.page.waitForSelector('[data-testid=auth-error]', { timeout: 20_000 });
      for (const size of SIZES) {
        await bad.page.setViewportSize(size);
        for (const theme of THEMES) {
          await bad.page.evaluate((th) => (document.documentElement.dataset.theme = th), theme);
          const m = await bad.page.evaluate(() => {
            const why = document.querySelector('[data-testid=auth-error]')!.getBoundingClientRect();
            const form = document.querySelector('[data-testid=login]')!.getBoundingClientRect();
            return { gap: form.top - why.bottom, formTop: form.top, vh: innerHeight, wide: document.documentElement.scrollWidth, w: document.documentElement.clientWidth };
          });
          const at = `${size.width}×${size.height} ${theme}`;
          await bad.screenshot(`bad-link-${size.width}x${size.height}-${theme}`);
          expect(m.gap, at).toBeGreaterThanOrEqual(0);
          expect(m.gap, at).toBeLessThanOrEqual(24);
          expect(m.formTop, `${at}: the form starts on the first screen`).toBeLessThan(m.vh);
          expect(m.wide, at).toBeLessThanOrEqual(m.w);
        }
      }
      // The refused token's 401 and its refused socket are the point of the page.
      expect(bad.problems().filter((x) => !/401|Authentication failed/.test(x))).toEqual([]);
    } finally {
      await bad.close();
    }
  }, 60_000);
});
