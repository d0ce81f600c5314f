import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { FIXTURES, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';
import { FakeService } from '../helpers/http.js';
import { money } from '../../web/format.js';
import type { RunwayView, StepsReport, TimelineOverview, TimelinePage, WatchView } from '../../web/types.js';
import { withTools } from '../tools/helpers.js';

// The watch, the timeline, the runway and cost per step seen through the dashboard in real
// Chromium: one python3 agent on the simulated provider, working through leads only as far as the test lets it (GATE_FILE). The timeline's
// rows, the Watch card, the pause gate, the runway and cost per step are compared with what the
// API says (the routes of watch-contract.md), and every "Show in timeline" must land on the calls
// its pop-up or row is about.

const TOTAL = 40;
const work = tempDir('iron-cage-timeline-');
const gate = join(work.dir, 'gate');

let up: FakeService;
let t: TestRuntime;
let browser: TestBrowser;
let admin: WatchedPage;

const allow = (n: number) => writeFileSync(gate, String(n));
const agentId = () => t.rt.agentId!;
const api = async <T = any>(path: string, init: RequestInit & { token?: string } = {}): Promise<T> => {
  const r = await t.api(path, init);
  expect(r.status, `${init.method ?? 'GET'} ${path}: ${await r.clone().text()}`).toBeLessThan(300);
  return r.json() as Promise<T>;
};
const timeline = (q = '') => api<TimelinePage>(`/api/agents/${agentId()}/timeline?limit=1000${q}`);
const rowKeys = (p: WatchedPage) => p.page.$$eval('[data-testid=tl-row]', (rows) => rows.map((r) => (r as HTMLElement).dataset.key!));
const litKeys = (p: WatchedPage) => p.page.$$eval('[data-testid=tl-row][data-lit=true]', (rows) => rows.map((r) => (r as HTMLElement).dataset.key!));
const progress = async () => (await api(`/api/agents/${agentId()}/status`)).progress.done as number;

/** Calls made with the agent's own run token, as its SDK would. */
async function asAgent<T>(f: (token: string) => Promise<T>): Promise<T> {
  const run = await t.rt.tokens.issueRun({ name: agentId(), agentId: agentId() });
  try {
    return await f(run.token);
  } finally {
    run.end();
  }
}

beforeAll(async () => {
  allow(0);
  up = await FakeService.start();
  t = await startTestRuntime({
    dir: work.dir,
    config: { ...withTools({ crm: { url: up.url, cost_per_call_usd: 0.05, retry: { attempts: 1 }, breaker: { failure_threshold: 2, cooldown_s: 60 } } }), budgetMicros: 50_000_000 },
    agent: { script: join(FIXTURES, 'agents/gated_leads.py') },
    env: { GATE_FILE: gate, TOTAL: String(TOTAL), TOOL: 'crm', PII_AT: '5' },
  });
  browser = await launchBrowser();
  admin = await browser.open(`${t.rt.url}/#token=${t.rt.adminToken}`, { viewport: { width: 1440, height: 900 } });
  await admin.page.waitForSelector('[data-testid=conn][data-state=live]', { timeout: 20_000 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await up?.close();
  work.cleanup();
});

describe('the timeline, the Watch card and cost per step, in Chromium on a live run', () => {
  it('draws the run as it happens: one row per call and event the API lists, following the live end', async () => {
    const p = admin.page;
    allow(3);
    await until(async () => (await progress()) === 3, 20_000);
    // Once the page has it all: the rows are the API's items (every one fits on screen yet).
    const keys = async () => (await timeline()).items.map((i) => i.key);
    await until(async () => JSON.stringify(await rowKeys(admin)) === JSON.stringify(await keys()), 20_000);
    const items = (await timeline()).items;
    expect(items.filter((i) => i.lane === 'llm')).toHaveLength(3);
    expect(items.filter((i) => i.lane === 'tool')).toHaveLength(3);
    expect(await p.evaluate(() => performance.getEntriesByName('iron-cage:timeline-ready').length)).toBe(1);
    expect(await p.getByTestId('timeline').getAttribute('data-following')).toBe('true');

    // A row opens its detail: the model and the tokens the ledger holds.
    const call = items.find((i) => i.lane === 'llm')!;
    await p.locator(`[data-testid=tl-row][data-key="${call.key}"]`).click();
    const detail = p.getByTestId('timeline-detail');
    await until(async () => (await detail.getAttribute('data-key').catch(() => null)) === call.key);
    expect(await detail.innerText()).toContain(String(call.detail.model));
    expect(await detail.innerText()).toContain(money(call.costUsd));

    // Live: the next lead's calls come in without a reload, each refresh asking only for what
    // came after the newest row (no stream is open), not for the newest page again.
    const asked: string[] = [];
    const onRequest = (r: { url(): string }) => {
      const u = new URL(r.url());
      if (u.pathname.endsWith('/timeline')) asked.push(u.search);
    };
    p.on('request', onRequest);
    allow(4);
    await until(async () => (await progress()) === 4, 20_000);
    await until(async () => JSON.stringify(await rowKeys(admin)) === JSON.stringify(await keys()), 20_000);
    p.off('request', onRequest);
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.filter((q) => !q.includes('after='))).toEqual([]);
    expect(admin.problems()).toEqual([]);
  }, 60_000);

  it('a PII pop-up\'s "Show in timeline" lands on the detection and lights the LLM call it came from', async () => {
    const p = admin.page;
    allow(5);
    const toast = p.locator('[data-testid=toast][data-kind=pii]');
    await toast.waitFor({ timeout: 20_000 });
    const pii = (await api(`/api/events?limit=1000`)).events.filter((e: { type: string }) => e.type === 'pii.detected').at(-1);
    await toast.getByTestId('toast-timeline').click();
    await until(
      async () =>
        (await p
          .getByTestId('timeline-detail')
          .getAttribute('data-key')
          .catch(() => null)) === `ev:${pii.seq}`,
      20_000,
    );
    const item = (await timeline()).items.find((i) => i.key === `ev:${pii.seq}`)!;
    expect(item.lane).toBe('pii');
    expect(item.links.length).toBeGreaterThan(0);
    expect(item.links.every((k) => k.startsWith('llm:'))).toBe(true);
    await until(async () => {
      const lit = await litKeys(admin);
      return item.links.every((k) => lit.includes(k));
    }, 10_000);
    await toast.getByTestId('toast-close').click();
    expect(admin.problems()).toEqual([]);
  }, 60_000);

  it('a breaker row\'s "Show calls" lights that service\'s tool calls, the failed ones among them', async () => {
    const p = admin.page;
    await api('/api/faults', { method: 'POST', body: JSON.stringify({ service: 'crm', status: 503 }) });
    try {
      allow(7);
      // OPEN for its whole minute of cooldown: with a short one, a loaded machine's page could get the
      // transition and the breakers' refetch (already HALF_OPEN) in one frame and never draw OPEN.
      await p.waitForSelector('[data-testid=breaker][data-service=crm][data-state=OPEN]', { timeout: 20_000 });
      await until(async () => (await progress()) === 7, 20_000);
      await p.locator('[data-testid=breaker][data-service=crm]').getByTestId('breaker-calls').click();
      const tools = (await timeline()).items.filter((i) => i.lane === 'tool' && i.detail.service === 'crm');
      expect(tools.some((i) => i.status === 'error' || i.status === 'blocked')).toBe(true);
      await until(async () => (await litKeys(admin)).filter((k) => k.startsWith('tool:')).length > 0, 20_000);
      const lit = await litKeys(admin);
      const shown = new Set(await rowKeys(admin));
      // Every crm call drawn now is lit; nothing but tool rows and the transition's own links.
      for (const i of tools) if (shown.has(i.key)) expect(lit, i.key).toContain(i.key);
      await p.locator('[data-testid=toast][data-kind=breaker]').first().getByTestId('toast-close').click();
      expect(admin.problems().filter((x) => !/\/api\/faults/.test(x))).toEqual([]);
    } finally {
      // crm as the next tests need it, whatever became of this one: no fault, its circuit closed.
      await api('/api/faults', { method: 'DELETE' });
      await api('/api/breakers/crm/reset', { method: 'POST' });
    }
  }, 60_000);

  it('flags a tool loop in the Watch card with the wasted money the API counts, and "Show calls" lights its calls', async () => {
    const p = admin.page;
    // The same tool call, with the same arguments, three times: the default loop count.
    await asAgent(async (token) => {
      // (The breaker test above closed crm's circuit again and cleared its fault.)
      for (let n = 0; n < 3; n++) {
        const r = await fetch(`${t.rt.url}/tools/crm/leads/42?fields=email`, { headers: { authorization: `Bearer ${token}` } });
        expect(r.status).toBeLessThan(500);
      }
    });
    const loop = await until(async () => (await api<WatchView>(`/api/agents/${agentId()}/watch`)).loops.find((l) => l.kind === 'tool') ?? null, 20_000);
    const row = p.locator('[data-testid=watch-loop][data-kind=tool]');
    await row.waitFor({ timeout: 20_000 });
    expect(await row.innerText()).toContain(`${money(loop.wastedUsd)} wasted`);
    expect(await row.innerText()).toMatch(new RegExp(`${loop.count}×`));
    expect(await p.locator('[data-testid=toast][data-kind=watch]').count()).toBeGreaterThan(0);
    await row.getByTestId('watch-show').click();
    const want = loop.toolCallIds.map((id) => `tool:${id}`);
    await until(async () => {
      const lit = await litKeys(admin);
      return want.every((k) => lit.includes(k));
    }, 20_000);
    expect(admin.problems()).toEqual([]);
  }, 60_000);

  it('Pause holds the next call at the gate until Resume; a viewer sees Resume off, with why', async () => {
    const p = admin.page;
    const before = await progress();
    await p.getByTestId('agent-pause').click();
    const banner = p.getByTestId('paused-banner');
    await banner.waitFor({ timeout: 20_000 });
    expect(await banner.innerText()).toMatch(/Paused/);
    const rows = (await timeline()).total.llm;

    const viewerToken = await t.rt.tokens.issue({ role: 'viewer', name: 'projector' });
    const viewer = await browser.open(`${t.rt.url}/#token=${viewerToken}`, { viewport: { width: 1280, height: 720 } });
    try {
      const resume = viewer.page.getByTestId('agent-resume');
      await resume.waitFor({ timeout: 20_000 });
      expect(await resume.isDisabled()).toBe(true);
      expect(await viewer.page.getByTestId('agent-resume-reason').innerText()).toMatch(/only an admin/);
      expect(await viewer.page.getByTestId('agent-pause').count()).toBe(0);
    } finally {
      await viewer.close();
    }

    // The agent's next call waits at the gate: held, no new ledger row, no progress.
    allow(before + 1);
    await until(async () => ((await api<WatchView>(`/api/agents/${agentId()}/watch`)).paused?.held ?? 0) >= 1, 20_000);
    expect(await progress()).toBe(before);
    expect((await timeline()).total.llm).toBe(rows);

    await banner.getByTestId('agent-resume').click();
    await banner.waitFor({ state: 'detached', timeout: 20_000 });
    await until(async () => (await progress()) === before + 1, 20_000);
    expect(admin.problems()).toEqual([]);
  }, 60_000);

  it('says the runway in words, as the API computes it, and lists the costliest steps', async () => {
    const p = admin.page;
    const runway = await until(async () => (await api<{ runway: RunwayView | null }>(`/api/agents/${agentId()}/budget`)).runway, 20_000);
    await until(async () => {
      const now = (await api<{ runway: RunwayView | null }>(`/api/agents/${agentId()}/budget`)).runway!;
      return (
        await p
          .getByTestId('runway')
          .innerText()
          .catch(() => '')
      ).endsWith(now.text);
    }, 20_000);
    expect(runway.remainingUsd).toBeGreaterThan(0);

    const steps = await api<StepsReport>(`/api/agents/${agentId()}/steps?limit=10`);
    expect(steps.top.length).toBeGreaterThan(0);
    await until(async () => {
      const shown = await p.$$eval('[data-testid=step-row]', (rs) => rs.map((r) => (r as HTMLElement).innerText.replace(/\s+/g, ' ')));
      const now = await api<StepsReport>(`/api/agents/${agentId()}/steps?limit=10`);
      return shown.length === now.top.length && now.top.every((s, i) => shown[i]!.includes(s.label) && shown[i]!.includes(money(s.costUsd)));
    }, 20_000);
    expect(admin.problems()).toEqual([]);
  }, 60_000);

  it('pages a long run by cursor as it scrolls, keeps few rows in the DOM, and jumps from the overview strip', async () => {
    const p = admin.page;
    // 700 more LLM calls: more than two pages.
    await asAgent(async (token) => {
      const one = (n: number) =>
        fetch(`${t.rt.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Score lead batch item ${n}.` }] }),
        }).then((r) => expect(r.status).toBe(200));
      for (let n = 0; n < 700; n += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => one(n + k)));
    });
    // The earliest item of the run, by the API's own cursors.
    let page = await api<TimelinePage>(`/api/agents/${agentId()}/timeline?limit=300`);
    while (page.before) page = await api<TimelinePage>(`/api/agents/${agentId()}/timeline?limit=300&before=${encodeURIComponent(page.before)}`);
    const earliest = page.items[0]!.key;

    await p.getByTestId('timeline').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await until(async () => (await p.getByTestId('timeline').getAttribute('data-following')) === 'true', 20_000);
    // Up to the start: each scroll to the top brings an earlier page.
    await until(async () => {
      await p.getByTestId('timeline').evaluate((el) => (el.scrollTop = 0));
      return (await rowKeys(admin)).includes(earliest);
    }, 30_000);
    expect((await rowKeys(admin)).length).toBeLessThan(120);
    expect(await p.getByTestId('timeline').getAttribute('data-following')).toBe('false');

    // The strip: a click at its right end lands near the end of the run.
    const o = await api<TimelineOverview>(`/api/agents/${agentId()}/timeline/overview`);
    expect(o.buckets.length).toBeGreaterThan(0);
    // A locator's click (scrolled into view first): the strip may lie below the 900-px viewport, where a click by page coordinates lands on nothing.
    const strip = p.getByTestId('timeline-overview');
    const box = (await strip.boundingBox())!;
    await strip.click({ position: { x: box.width - 2, y: box.height / 2 } });
    const latest = (await api<TimelinePage>(`/api/agents/${agentId()}/timeline?limit=300`)).items.at(-1)!;
    await until(async () => (await rowKeys(admin)).includes(latest.key), 20_000);
    expect(await rowKeys(admin)).not.toContain(earliest);
    expect(admin.problems()).toEqual([]);
  }, 90_000);
});
