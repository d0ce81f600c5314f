import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/demo/scenario.js';
import { money } from '../../web/format.js';
import { launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { dashboardSession, ROOT, tempDir, until } from '../helpers/runtime.js';

// The conference demo seen in Chromium, as a prospect and a presenter would: one `iron-cage demo`
// at a brisk pace (0.25 s a lead), watched by two pages at once, each a test of its own run side
// by side (one paced demo and one Chromium for both):
// - the presenter's (nothing a presenter would have to explain away; 1440×900): the event log
//   keeps following through resizes and a theme switch, its "Jump to latest" covers no row, the
//   approved budget's button is drawn as decided, and once the run has ended its pop-ups go and no
//   figure says "not monitored". The same page is what the prospect saw: once both tests are done,
//   a third checks, at 1920×1080, its pop-ups came in the scenario's order and its final figures
//   match the demo's own results. (The prospect's had a page of its own: a page's rendering of the
//   live run is most of this file's CPU, ~8 s a page, and it saw the same run.)
// - the figures' (one truth, whichever panel says it): at each of the demo's four moments (leads 38, 50, 67, 85;
//   a few leads before each) the agent is paused, and at 1440 and at 390 px the figures the page
//   shows must agree with each other and with the run's state: the Cost panel's average and
//   projection are spend ÷ leads done and that × 100 (the projection red exactly when it passes
//   the limit), Cost per step says the same average, the Watch card's runway covers the leads
//   left exactly when the projection fits, the header's progress is the leads done. At the end the
//   page and the terminal's results table say the same total, calls, PII count and breaker
//   savings. Each figure is computed here from the status the API gives, not read back from the
//   page. Its pauses hold the run for the other page as well, which waits on what it sees: its
//   waits for the run's end are as long as four pauses may take on a loaded machine (90 s was
//   not: pages at four moments, two widths each, behind a suite on 2 cores).
// The presenter's page opens with the login link the demo printed (and checks what the log says
// of it); the figures' with a session of its own (`#token=`), made once that check is done.

const CLI = join(ROOT, 'dist/cli.js');
const work = tempDir('iron-cage-demo-browser-');
const db = join(work.dir, 'demo.db');
let browser: TestBrowser;
let demo: ChildProcess;
let out = '';
let base = '';
let token = '';
const pages: WatchedPage[] = [];
/** The presenter's page, opened with the demo's own link before any other session was made. */
let presenter: WatchedPage;
/** What its event log said as it opened: rows about this viewer, rows about a login link made; the leads done then. */
let opened: { viewer: number; links: number; leads: number };

/** Records every pop-up as it appears, before the page's own scripts run. */
const RECORD_TOASTS = `
window.__toasts = [];
new MutationObserver((records) => {
  for (const r of records) for (const n of r.addedNodes) {
    if (n.nodeType === 1 && n.dataset && n.dataset.testid === 'toast') window.__toasts.push(n.dataset.kind + ': ' + n.innerText.split('\\n')[0]);
  }
}).observe(document, { childList: true, subtree: true });`;

/** A page of its own (own storage) on the demo's dashboard with the shared session, live. */
async function openPage(viewport: { width: number; height: number }): Promise<WatchedPage> {
  const page = await browser.open('about:blank', { viewport });
  pages.push(page);
  await page.page.goto(`${base}/#token=${token}`);
  await page.page.waitForSelector('[data-testid=conn][data-state=live]');
  return page;
}

/** The demo's results file once the run has written it (the terminal's table, as JSON). */
const demoResults = () =>
  until(() => {
    try {
      return JSON.parse(readFileSync(join(work.dir, 'demo.db.files/results.json'), 'utf8'));
    } catch {
      return null;
    }
  }, 30_000);

const api = async <T>(path: string, method = 'GET'): Promise<T> => {
  const r = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
  expect(r.ok, `${method} ${path}: ${r.status}`).toBe(true);
  return (await r.json()) as T;
};

beforeAll(async () => {
  browser = await launchBrowser();
  demo = spawn(process.execPath, [CLI, 'demo', '--pace', '0.25', '--port', '0', '--db', db, '--stay'], {
    cwd: work.dir,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  demo.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  demo.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const url = await until(() => /dashboard (http:\/\/127\.0\.0\.1:\d+\/#login=\S+)/.exec(out)?.[1], 30_000);
  base = new URL(url).origin;
  presenter = await browser.open('about:blank', { viewport: { width: 1440, height: 900 } });
  pages.push(presenter);
  await presenter.context.addInitScript(RECORD_TOASTS);
  await presenter.page.goto(url);
  await presenter.page.waitForSelector('[data-testid=conn][data-state=live]');
  const leads = Number(/^(\d+) \//.exec(await presenter.page.getByTestId('agent-progress').innerText())?.[1] ?? 0);
  const rows = presenter.page.getByTestId('event-row');
  await rows.filter({ hasText: 'Dashboard opened from' }).first().waitFor();
  opened = { viewer: await rows.filter({ hasText: 'Dashboard opened from' }).count(), links: await rows.filter({ hasText: /login link .* made/ }).count(), leads };
  token = await dashboardSession(db, base);
}, 60_000);

afterAll(async () => {
  for (const p of pages) await p.close().catch(() => undefined);
  if (demo && demo.exitCode === null) demo.kill('SIGKILL');
  await browser?.close();
  work.cleanup();
});

interface Status {
  progress: { done: number; total: number | null };
  budget: { limitUsd: number | null; spentUsd: number; reservedUsd: number } | null;
  paused?: unknown;
}

/** `$12.34` → 12.34 (the first dollar figure of a text). */
const dollars = (text: string) => Number(/\$([\d,]+\.?\d*)/.exec(text)?.[1]?.replaceAll(',', '') ?? Number.NaN);

/** How far the log is from its bottom, and whether it says it follows. */
const logState = (p: WatchedPage) =>
  p.page.evaluate(() => {
    const el = document.querySelector<HTMLElement>('[data-testid=event-log]')!;
    return { distance: el.scrollHeight - el.scrollTop - el.clientHeight, following: el.dataset.following, rows: el.children.length };
  });

const MOMENTS = [38, 50, 67, 85];
/**
 * How many leads before each moment the figures' test pauses the agent. At 0.25 s a lead, the
 * pause must land before the agent finishes lead 85, where spend crosses 90% and the demo approves
 * its increase (the runway then covers again): polled from a loaded machine, "one lead before"
 * lost that race (the run saw the runway cover at every moment). Four leads are a second of
 * slack; the figures must agree wherever the agent is caught.
 */
const PAUSE_AHEAD = 4;
const VIEWPORTS = [
  { width: 1440, height: 900 },
  { width: 390, height: 844 },
];

describe.concurrent('iron-cage demo in Chromium, two pages on one run', () => {
  it('follows the log through resizes and a theme switch, draws a decided button as decided, and clears its pop-ups after the run', async () => {
    const page = presenter;
    // The login link is printed once; no provider the demo does not call is warned about.
    expect(out.match(/#login=/g)).toHaveLength(1);
    expect(out).not.toMatch(/SIMULATED/);
    // One line for this viewer in the log (the session), not the link's too.
    expect(opened).toMatchObject({ viewer: 1, links: 0 });

    // Resizes and a theme switch while rows arrive: still at the bottom, still following.
    const sizes = [
      { width: 1000, height: 800 },
      { width: 1920, height: 1080 },
      { width: 390, height: 844 },
      { width: 1440, height: 900 },
    ];
    for (const size of sizes) {
      await page.page.setViewportSize(size);
      await page.page.waitForTimeout(400);
      const s = await logState(page);
      expect(s.following, `at ${size.width}×${size.height}`).toBe('true');
      expect(s.distance, `at ${size.width}×${size.height}`).toBeLessThan(24);
    }
    await page.page.getByTestId('theme-toggle').click();
    await page.page.waitForTimeout(400);
    expect(await logState(page)).toMatchObject({ following: 'true' });
    expect((await logState(page)).distance).toBeLessThan(24);

    // The reader scrolls up: it stops following, and "Jump to latest" sits under the rows, over none of them.
    const log = page.page.getByTestId('event-log');
    // At 1440×900 the log's middle sits near the viewport's bottom edge; a few pixels more above
    // it (a wider figure, a banner) put the pointer outside the page, where it moves nothing.
    await log.scrollIntoViewIfNeeded();
    const box = (await log.boundingBox())!;
    await page.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.page.mouse.wheel(0, -600);
    const jump = page.page.getByTestId('jump-latest');
    await jump.waitFor();
    // Both boxes in one frame: measured one after the other, a panel above that grew between the two
    // reads (the run goes on: a finding, a pop-up) moved the list and not the button already read.
    const boxes = await page.page.evaluate(() => {
      const j = document.querySelector('[data-testid=jump-latest]')!.getBoundingClientRect();
      const l = document.querySelector('[data-testid=event-log]')!.getBoundingClientRect();
      return { jumpTop: j.top, listBottom: l.bottom };
    });
    expect(boxes.jumpTop, 'Jump to latest is below the list, not over its rows').toBeGreaterThanOrEqual(boxes.listBottom - 1);
    await jump.click();
    await page.page.mouse.move(0, 0);
    await until(async () => (await logState(page)).following === 'true' && (await logState(page)).distance < 24, 5000);

    // The approval: the pop-up's Approve is drawn as decided, not in its accent colour.
    await until(() => /Budget set to/.test(out), 200_000);
    const approve = page.page.locator('[data-testid=toast][data-kind=budget] [data-testid=approve-increase]');
    await page.page.waitForSelector('[data-testid=toast][data-kind=budget] [data-testid=approve-increase][data-available=false]', { timeout: 10_000 });
    expect(await approve.evaluate((b) => getComputedStyle(b).backgroundColor)).toBe('rgba(0, 0, 0, 0)');

    // The end: the pop-ups say the run ended and go; nothing asks to follow a running agent.
    await page.page.waitForSelector('[data-testid=agent-status][data-status=completed]', { timeout: 200_000 });
    const text = (id: string) => page.page.getByTestId(id).first().innerText();
    await until(async () => (await page.page.getByTestId('toast').count()) === 0, 15_000);
    expect(await page.page.getByTestId('agent-picker').locator('option').first().innerText()).toBe('The latest run');
    const body = await page.page.locator('body').innerText();
    expect(body).not.toMatch(/not monitored|vs Baseline|Cache hit rate/);
    await until(async () => (await text('cost-baseline')).includes('vs all on gpt-4-32k'), 10_000);
    expect(page.problems()).toEqual([]);
  }, 300_000);

  it('agrees across panels, widths and the terminal at the four moments and the end', async () => {
    const agentId = await until(async () => (await api<Array<{ id: string }>>('/api/agents'))[0]?.id, 30_000);
    const status = () => api<Status>(`/api/agents/${agentId}/status`);
    const page = await openPage(VIEWPORTS[0]!);
    const text = (id: string) =>
      page.page
        .getByTestId(id)
        .first()
        .innerText()
        .catch(() => '');

    const runwaysSeen = new Set<string>();
    /** What the page shows now, against what the state says it must: null while they differ. */
    const disagreements = async (s: Status): Promise<string[]> => {
      const spent = s.budget!.spentUsd;
      const limit = s.budget!.limitUsd!;
      const done = s.progress.done;
      const total = s.progress.total!;
      const projected = (spent * total) / done;
      const wrong: string[] = [];
      const say = (what: string, shown: string, ok: boolean) => {
        if (!ok) wrong.push(`${what}: ${JSON.stringify(shown)} (spent ${spent}, limit ${limit}, ${done}/${total})`);
      };
      const progress = await text('agent-progress');
      say('header progress', progress, progress.startsWith(`${done} / ${total} leads`));
      const shownSpent = await text('cost-spent');
      say('Cost spent', shownSpent, Math.abs(dollars(shownSpent) - spent) < 0.006);
      const avg = await text('cost-avg');
      say('Cost average', avg, Math.abs(dollars(avg) - spent / done) < 0.006 && avg.endsWith('avg/lead'));
      const stepsAvg = await text('steps-avg');
      say('Cost per step average', stepsAvg, dollars(stepsAvg) === dollars(avg));
      const stepsCount = Number((await text('steps-count')).replaceAll(',', ''));
      // Every lead makes calls: the leads done, and the one under way when the pause caught it.
      say('leads with calls', String(stepsCount), stepsCount === done || stepsCount === done + 1);
      const projection = await text('cost-projection');
      say('projection', projection, Math.abs(dollars(projection) - projected) < 0.006);
      const over = projected >= limit;
      const tone = await page.page
        .getByTestId('cost-projection')
        .locator('span')
        .first()
        .getAttribute('class')
        .catch(() => '');
      say('projection colour', String(tone), over ? /tone-bad/.test(String(tone)) : !/tone-bad/.test(String(tone)));
      // The live agent has a limit: its Watch card says the runway (a page that has not fetched it yet waits for it).
      const runway = await text('runway');
      const left = total - done;
      say('runway', runway, projected <= limit ? runway.includes(`covers the ${left} lead`) : runway.includes(`of the ${left} left`));
      if (runway !== '') runwaysSeen.add(runway.slice(0, 12));
      const costs = await api<{ requests: number }>(`/api/agents/${agentId}/costs`);
      const calls = await text('cost-calls');
      say('calls', calls, Number(calls.replaceAll(',', '')) === costs.requests);
      return wrong;
    };

    for (const moment of MOMENTS) {
      await until(async () => (await status()).progress.done >= moment - PAUSE_AHEAD, 90_000, 20);
      await api(`/api/agents/${agentId}/pause`, 'POST');
      // The calls under way settle (nothing more passes the gate): the state holds still.
      await until(async () => {
        const a = await status();
        return a.budget && a.budget.reservedUsd === 0 ? a : null;
      }, 20_000);
      for (const vp of VIEWPORTS) {
        await page.page.setViewportSize(vp);
        let last: string[] = [];
        await until(
          async () => {
            last = await disagreements(await status());
            return last.length === 0;
          },
          15_000,
          200,
        ).catch(() => {
          throw new Error(`at lead ${moment}, ${vp.width} px:\n${last.join('\n')}`);
        });
      }
      await api(`/api/agents/${agentId}/resume`, 'POST');
    }

    // The runway was on the page at the moments, both ways: covering the leads left, then short of them.
    expect(
      [...runwaysSeen].some((r) => r.includes('cover')),
      [...runwaysSeen].join(' | '),
    ).toBe(true);
    expect(
      [...runwaysSeen].some((r) => r.includes('≈')),
      [...runwaysSeen].join(' | '),
    ).toBe(true);

    // The end: the page and the terminal's results say the same.
    await page.page.setViewportSize(VIEWPORTS[0]!);
    await page.page.waitForSelector('[data-testid=agent-status][data-status=completed]', { timeout: 200_000 });
    const results = await demoResults();
    const table = await until(() => /Total cost\s+(\$[\d.,]+) of (\$[\d.,]+) budget \(([\d,]+) LLM calls\)/.exec(out), 30_000);
    await until(async () => (await text('cost-spent')) === table[1], 15_000);
    expect(await text('cost-limit')).toBe(table[2]);
    await until(async () => (await text('cost-calls')) === table[3], 15_000);
    expect(await text('agent-progress')).toBe('100 / 100 leads (100%)');
    // The steps report is refetched at most every COST_REPORT_GAP_MS: it may still be the one before the last call.
    await until(async () => (await text('steps-count')) === '100', 15_000);
    // One average everywhere: the total over the 100 leads.
    expect(dollars(await text('cost-avg'))).toBe(dollars(await text('steps-avg')));
    expect(Math.abs(dollars(await text('cost-avg')) - results.totalCostUsd / 100)).toBeLessThan(0.006);
    expect(await text('pii-blocked')).toBe(String(results.piiBlocked));
    const pii = /PII blocked\s+(\d+)/.exec(out);
    expect(pii?.[1]).toBe(String(results.piiBlocked));
    const saved = /Breaker savings\s+(\d+) calls blocked, (\$[\d.]+) saved/.exec(out)!;
    await until(async () => {
      const row = await page.page.locator('[data-testid=breaker][data-service=linkedin]').innerText();
      return row.includes(`${saved[2]} saved`) && row.includes(saved[1]!);
    }, 15_000);
    expect(page.problems()).toEqual([]);
  }, 300_000);
});

// What the prospect saw on the projector, on the presenter's page once both tests above are done
// (it recorded every pop-up from its first load).
it('showed the pop-ups in order (breaker, PII, budget) and ends on the final results at 1920×1080', async () => {
  const page = presenter;
  expect(opened.leads, 'the page was open before the first trigger').toBeLessThan(34);
  await page.page.setViewportSize({ width: 1920, height: 1080 });
  await page.page.waitForSelector('[data-testid=agent-status][data-status=completed]', { timeout: 30_000 });
  // The pop-ups came in the scenario's order ...
  const toasts: string[] = await page.page.evaluate(() => (window as any).__toasts);
  const first = (prefix: string) => toasts.findIndex((t) => t.startsWith(prefix));
  const [breaker, pii, budget] = [first('breaker: '), first('pii: '), first('budget: ')];
  expect(toasts[breaker], toasts.join('\n')).toMatch(/Circuit OPEN: linkedin/);
  expect(toasts[pii]).toMatch(/PII redacted: 1 EMAIL/);
  expect(toasts[budget]).toMatch(/Budget 9\d% used/);
  expect(breaker).toBeGreaterThanOrEqual(0);
  expect(pii).toBeGreaterThan(breaker);
  expect(budget).toBeGreaterThan(pii);

  // ... and the page shows what the demo's results say.
  const results = await demoResults();
  const text = (id: string) => page.page.getByTestId(id).first().innerText();
  await until(async () => (await text('cost-spent')) === money(results.totalCostUsd));
  expect(await text('agent-progress')).toBe('100 / 100 leads (100%)');
  expect(await text('agent-success')).toBe(`100% (${results.succeeded}/${results.leadsProcessed})`);
  const byModel = await text('cost-by-model');
  for (const m of results.costByModel) expect(byModel).toContain(m.model);
  await until(async () => (await text('cost-baseline')).includes(`${money(results.baseline.savedUsd)} saved`));
  expect(await text('pii-blocked')).toBe(String(results.piiBlocked));
  // The poisoned lead: the Protection panel counts it with its last finding, and the e-mails the
  // policy refused after it as unauthorized actions.
  expect(await text('injection')).toBe(String(results.injection.detected));
  expect(await text('injection-latest')).toMatch(/Prompt injection detected, .* in a tool answer \(.*hidden-html/);
  expect(await text('unauthorized')).toBe(String(results.injection.outreach.refused));
  await until(async () => (await page.page.locator('[data-testid=breaker][data-service=linkedin]').innerText()).includes(`${money(results.breaker.savedUsd)} saved`));
  // The CEO's address the model wrote at the PII lead is nowhere in the page, only its redaction.
  const scenario = loadScenario(join(ROOT, 'demo/scenario.yaml'));
  const address = /[\w.+-]+@[\w.-]+\.\w+/.exec(scenario.triggers.pii.text)![0];
  expect(await page.page.content()).not.toContain(address);
  expect(await page.page.content()).toContain('[EMAIL_REDACTED]');
  await page.screenshot('demo-final-1920x1080');
  expect(page.problems()).toEqual([]);
}, 60_000);

it('the demo stops on Ctrl-C with exit 0', async () => {
  demo.kill('SIGINT');
  const code = await new Promise<number | null>((r) => (demo.exitCode !== null ? r(demo.exitCode) : demo.once('exit', (c) => r(c))));
  expect(code).toBe(0);
}, 30_000);
