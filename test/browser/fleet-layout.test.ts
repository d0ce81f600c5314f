import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inEveryThemeAndSize, launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { agentRow, batchOf, startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/runtime.js';

// The fleet page as a presenter shows it, on a real control panel over a real
// PostgreSQL: three runtimes (two added for users), three central budgets, agents that reported
// their calls. The agent list is in the first screen beside the runtimes, not under the budgets;
// the columns are balanced at 1280, 1440 and 1920 and one at 390; no name or figure breaks inside
// itself; a budget says whom it covers once; only runtimes it covers hold leases; no runway while
// nothing spends; an agent's chart is scaled to its spend; LIVE starts from what was recorded.

let pg: TestPostgres;
let t: TestPanel;
let browser: TestBrowser;
let page: WatchedPage;
const rt: Record<string, string> = {};
const WINDOW = 0;
const REFUSED = 4;

const RUNTIMES: Array<[string, string | null]> = [
  ['laptop-anna', 'anna'],
  ['ci-runner', null],
  ['workstation-bob', 'bob'],
];

beforeAll(async () => {
  pg = await startPostgres();
  t = await startTestPanel(pg.url);
  for (const [id, user] of RUNTIMES) {
    const r = await t.api('/api/runtimes', { token: t.admin, body: { id, user } });
    rt[id] = ((await r.json()) as { token: string }).token;
  }
  for (const body of [
    { id: 'researcher-cap', scope: 'agent', agents: ['researcher'], limitUsd: 40 },
    { id: 'anna-daily', scope: 'user', users: ['anna'], limitUsd: 25 },
    { id: 'sales-team', scope: 'team', users: ['anna', 'bob'], agents: ['lead-gen'], limitUsd: 500 },
  ])
    expect((await t.api('/api/budgets', { token: t.admin, body: { ...body, period: 'none' } })).status).toBe(201);
  // Each runtime takes its leases as a runtime does: the panel names every budget that could cover it.
  const now = Date.now();
  let id = 0;
  const agentsOf: Record<string, Array<[string, string]>> = {
    'laptop-anna': [
      ['rs-1a2b3c4d', 'researcher'],
      ['lg-5e6f7a8b', 'lead-gen'],
    ],
    'ci-runner': [['sm-0badc0de', 'summarizer']],
    'workstation-bob': [
      ['lg-99887766', 'lead-gen'],
      ['lg-11223344', 'lead-gen'],
      ['ex-55667788', 'enricher'],
    ],
  };
  for (const [runtime, agents] of Object.entries(agentsOf)) {
    const asks = (await (await t.api('/api/leases', { token: rt[runtime], body: { budgets: [] } })).json()) as { budgets: Array<{ budget: string; window: number }> };
    // Only a runtime whose agents a budget covers asks it for headroom.
    const covers: Record<string, string[]> = { 'researcher-cap': ['laptop-anna'], 'anna-daily': ['laptop-anna'], 'sales-team': ['laptop-anna', 'workstation-bob'] };
    const covered = asks.budgets.filter((b) => covers[b.budget]!.includes(runtime));
    await t.api('/api/leases', { token: rt[runtime], body: { budgets: asks.budgets.map((b) => ({ budget: b.budget, window: b.window, want: covered.includes(b) ? 2_000_000 : 0 })) } });
    // Their calls, over the last half hour: 14 of them for the researcher, a few for the others.
    let seq = 0;
    const rows = agents.flatMap(([agentId], i) =>
      Array.from({ length: agentId === 'rs-1a2b3c4d' ? 14 : 3 + i }, (_, k) => ({ agentId, ts: new Date(now - 30 * 60_000 + (k + 1) * 120_000 + i * 1_000).toISOString(), cost: 180_000 + k * 7_000 })),
    );
    const b = batchOf(runtime, 1, { from: id + 1, n: rows.length });
    const tags = (agentId: string) => {
      const name = agents.find(([a]) => a === agentId)![1];
      const keys = [`sales-team@${WINDOW}`];
      if (name === 'researcher') keys.push(`researcher-cap@${WINDOW}`);
      if (runtime === 'laptop-anna') keys.push(`anna-daily@${WINDOW}`);
      return JSON.stringify(keys.filter((k) => name === 'lead-gen' || !k.startsWith('sales-team')));
    };
    const body = {
      ...b,
      agents: agents.map(([agentId, name]) => ({
        ...agentRow(agentId, name, new Date(now - 40 * 60_000).toISOString()),
        status: agentId === 'ex-55667788' ? 'completed' : 'running',
        progressDone: 7,
        progressTotal: 40,
        progressUnit: 'leads',
        limitMicros: 50_000_000,
      })),
      events: [
        ...rows.map((r, k) => ({ seq: ++seq, ts: r.ts, agentId: r.agentId, type: 'llm.request', severity: 'info', message: `gpt-4o-mini 900+120 tokens $0.${18 + k}`, data: '{}' })),
        // The team budget refused four of bob's lead-gen calls (no rows: events only).
        ...(runtime === 'workstation-bob'
          ? Array.from({ length: REFUSED }, (_, k) => ({
              seq: ++seq,
              ts: new Date(now - 60_000 + k).toISOString(),
              agentId: 'lg-99887766',
              type: 'budget.refused',
              severity: 'error',
              message: 'LLM call refused: sales-team would pass its limit',
              data: JSON.stringify({ requestedUsd: 0.3, spentUsd: 1.9, limitUsd: 2, model: 'gpt-4o-mini', central: `sales-team@${WINDOW}` }),
            }))
          : []),
      ],
      llmRequests: b.llmRequests!.map((x, k) => ({ ...(x as object), agentId: rows[k]!.agentId, ts: rows[k]!.ts, costMicros: rows[k]!.cost, budgets: tags(rows[k]!.agentId) })),
    };
    id += rows.length;
    const r = await t.api('/api/telemetry', { token: rt[runtime], body });
    expect(r.status, await r.clone().text()).toBe(200);
  }
  await t.api('/api/users', { token: t.admin, body: { name: 'vic', role: 'viewer', password: 'a long viewer password' } });
  const viewer = ((await (await t.api('/api/login', { body: { name: 'vic', password: 'a long viewer password' } })).json()) as { token: string }).token;
  browser = await launchBrowser();
  page = await browser.open(`${t.url}/#token=${viewer}`, { viewport: { width: 1440, height: 900 } });
  await page.page.getByTestId('fleet').waitFor();
  await until(async () => (await page.page.getByTestId('fleet-agent').count()) === 6 && (await page.page.getByTestId('budget').count()) === 3, 15_000);
}, 90_000);

afterAll(async () => {
  await page?.close();
  await browser?.close();
  await t?.close();
  await pg?.destroy();
});

/** Where a panel of the page is (`Panel`'s class `panel-<id>`). */
const box = async (id: string) => (await page.page.locator(`.panel-${id}`).boundingBox())!;

describe('the fleet page for a presenter', () => {
  it('counts the calls a budget refused on the agent, its drill-down and the budget, never as errors', async () => {
    const p = page.page;
    const row = p.locator('[data-testid="fleet-agent"][data-id="lg-99887766"]');
    const calls = row.getByTestId('fleet-agent-calls');
    expect(await calls.innerText()).toMatch(new RegExp(`^\\d+ calls · ${REFUSED} refused · 0 errors$`));
    expect(await calls.getAttribute('class')).toContain('tone-refused');
    expect(await p.locator('[data-testid="fleet-agent"][data-id="lg-11223344"]').getByTestId('fleet-agent-calls').innerText()).toMatch(/^\d+ calls · 0 errors$/);
    const budget = p.locator('[data-testid="budget"][data-budget="sales-team"]');
    expect(await budget.getByTestId('budget-state').innerText()).toContain(`${REFUSED} calls refused`);
    expect(await budget.getByTestId('budget-refused').innerText()).toBe(`${REFUSED} refused`);
    expect(await p.locator('[data-testid="budget"][data-budget="anna-daily"]').getByTestId('budget-refused').count()).toBe(0);
    await row.getByRole('button').first().click();
    await until(async () => (await p.getByTestId('drill-calls').count()) === 1, 10_000);
    expect(await p.locator('.figure', { has: p.getByTestId('drill-calls') }).innerText()).toContain(`${REFUSED} refused · 0 errors`);
    await row.getByRole('button').first().click();
    expect(page.problems()).toEqual([]);
  });

  it('says whose runtime it is, and starts LIVE from the events recorded before the page opened', async () => {
    const p = page.page;
    const anna = p.locator('[data-testid="fleet-runtime"][data-runtime="laptop-anna"]');
    expect(await anna.innerText()).toContain('anna');
    expect(await anna.innerText()).not.toContain('no user');
    expect(await p.locator('[data-testid="fleet-runtime"][data-runtime="ci-runner"]').innerText()).not.toContain('no user');
    await until(async () => (await p.getByTestId('fleet-live').count()) === 1, 10_000);
    expect(await p.getByTestId('fleet-live-empty').count()).toBe(0);
    expect(await p.getByTestId('fleet-live').innerText()).toContain('gpt-4o-mini 900+120 tokens');
    expect(page.problems()).toEqual([]);
  });

  it('says whom a budget covers once, lists only the runtimes it covers, and no runway while nothing spends', async () => {
    const p = page.page;
    const budget = (id: string) => p.locator(`[data-testid="budget"][data-budget="${id}"]`);
    expect(await budget('researcher-cap').getByTestId('budget-covers').innerText()).toMatch(/^agent researcher · no period/);
    expect(await budget('anna-daily').getByTestId('budget-covers').innerText()).toMatch(/^user anna · no period/);
    expect(await budget('sales-team').getByTestId('budget-covers').innerText()).toMatch(/^team: agent lead-gen · users anna, bob · no period/);
    const leases = async (id: string) =>
      budget(id)
        .getByTestId('budget-lease')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-runtime')));
    expect(await leases('researcher-cap')).toEqual(['laptop-anna']);
    expect(await leases('anna-daily')).toEqual(['laptop-anna']);
    expect(await leases('sales-team')).toEqual(['laptop-anna', 'workstation-bob']);
    for (const id of ['researcher-cap', 'anna-daily', 'sales-team']) expect(await budget(id).getByTestId('budget-runway').first().innerText()).toBe('—');
  });

  it('scales an agent’s chart to its spend, and marks its budget only when the spend is near it', async () => {
    const p = page.page;
    await p.setViewportSize({ width: 1440, height: 900 });
    await p.locator('[data-testid="fleet-agent"][data-id="rs-1a2b3c4d"] button').click({ timeout: 5_000 });
    await p.getByTestId('drill').waitFor({ timeout: 5_000 });
    const chart = p.locator('.panel-fleet-drill [data-testid="spend-chart"]');
    await chart.waitFor();
    // $2.9 of $50: the line climbs the chart's height, and no $50 line squashes it flat.
    // The plot is 180 units high (chart.tsx); the line rises most of it, not a sliver at the bottom.
    const rise = await chart.locator('.line-spend').evaluate((el) => (el as SVGGraphicsElement).getBBox().height);
    expect(rise / 180).toBeGreaterThan(0.3);
    expect(await chart.locator('.line-budget').count()).toBe(0);
    expect(await chart.getByTestId('chart-budget-far').innerText()).toBe('budget $50.00, above this scale');
    await chart.scrollIntoViewIfNeeded();
    await page.screenshot('fleet-layout-drill-1440');
    await p.evaluate(() => window.scrollTo(0, 0));
  });

  it('puts the agent list in the first screen beside the runtimes, with balanced columns at 1280, 1440 and 1920', async () => {
    const p = page.page;
    for (const width of [1280, 1440, 1920]) {
      await p.setViewportSize({ width, height: 900 });
      await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const [runtimes, agents, budgets] = [await box('fleet-runtimes'), await box('fleet-agents'), await box('fleet-budgets')];
      expect(agents.x, `${width}: agents under the runtimes`).toBe(runtimes.x);
      expect(agents.y, `${width}: the agent list starts in the first screen`).toBeLessThan(900);
      expect(budgets.x, `${width}: budgets in another column`).toBeGreaterThan(agents.x);
      // Balanced: no column ends more than a screen below the others' longest.
      const bottoms = await p.evaluate(() =>
        Array.from(document.querySelectorAll('[data-testid="fleet"] > .col')).map((c) => (c.lastElementChild as HTMLElement).getBoundingClientRect().bottom - c.getBoundingClientRect().top),
      );
      expect(bottoms).toHaveLength(3);
      expect(Math.max(...bottoms) - Math.min(...bottoms), `${width}: column heights ${bottoms.map(Math.round).join(', ')}`).toBeLessThan(1_000);
      await page.screenshot(`fleet-layout-${width}`);
    }
  });

  it('at 390 is one column, the agents right after the runtimes, and breaks no name or figure inside itself', async () => {
    const p = page.page;
    await inEveryThemeAndSize(
      page,
      [
        { width: 390, height: 844 },
        { width: 1440, height: 900 },
      ],
      async ({ theme, size, overflow }) => {
        expect(overflow, `${size.width}px ${theme}`).toBeLessThanOrEqual(0);
        if (size.width === 390) {
          const [runtimes, agents, budgets] = [await box('fleet-runtimes'), await box('fleet-agents'), await box('fleet-budgets')];
          expect(agents.x).toBe(runtimes.x);
          expect(budgets.x).toBe(runtimes.x);
          expect(agents.y).toBeGreaterThan(runtimes.y);
          expect(agents.y).toBeLessThan(budgets.y);
          // Nothing waits for a person: that panel does not push the runtimes down.
          expect((await box('fleet-approvals')).y).toBeGreaterThan(budgets.y);
        }
        // Every name and figure on one line: its text's rectangles all share one top.
        const broken = await p.evaluate(() => {
          const out: string[] = [];
          const whole = (el: Element) => el.matches('.name, .num') || !/\s/.test((el.textContent ?? '').trim());
          for (const el of Array.from(document.querySelectorAll('[data-testid="fleet"] .name, [data-testid="fleet"] .num, [data-testid="fleet"] .figure-value')).filter(whole)) {
            const r = document.createRange();
            r.selectNodeContents(el);
            // On one line: every piece of it overlaps the first vertically (a smaller font, a swatch, sits lower on the same line).
            const rects = Array.from(r.getClientRects()).filter((x) => x.width > 0 && x.height > 0);
            const first = rects[0];
            if (first && rects.some((x) => x.top >= first.bottom - 2 || x.bottom <= first.top + 2)) out.push(el.textContent ?? '');
          }
          return out;
        });
        expect(broken, `${size.width}px ${theme}: split across lines`).toEqual([]);
        // Kept whole, and still inside their boxes: no figure or cell spills over its edge.
        const spilled = await p.evaluate(() =>
          Array.from(document.querySelectorAll('[data-testid="fleet"] .figure, [data-testid="fleet"] td'))
            .filter((el) => el.scrollWidth > el.clientWidth + 1)
            .map((el) => el.textContent ?? ''),
        );
        expect(spilled, `${size.width}px ${theme}: spilling over`).toEqual([]);
        await page.screenshot(`fleet-layout-${size.width}-${theme}`);
      },
    );
    expect(page.problems()).toEqual([]);
  });
});
