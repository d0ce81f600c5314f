import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inEveryThemeAndSize, launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { batchOf, startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/runtime.js';

// The fleet page's Budgets panel in real Chromium, on a real control panel over a real
// PostgreSQL, seen by a viewer: an admin creates a central budget through the API, runtimes take
// and return leases through POST /api/leases with their own tokens and land tagged rows through
// POST /api/telemetry, and the page follows without a reload (budget frames, batch frames, and
// its asks around lease expiries, since a lease call sends no frame).

let pg: TestPostgres;
let t: TestPanel;
let browser: TestBrowser;
let page: WatchedPage;
const rt: Record<string, string> = {};
const d = new Date();
/** The month's window: the key its rows are tagged with. */
const window = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
const seq: Record<string, number> = { 'rt-a': 0, 'rt-b': 0 };
let rowId = 0;

beforeAll(async () => {
  pg = await startPostgres();
  // Short leases so expiry and the reclaim of a silent runtime happen within a test.
  t = await startTestPanel(pg.url, { leaseTtlMs: 6_000, leaseReclaimAfterMs: 1_000 });
  for (const id of ['rt-a', 'rt-b']) {
    const r = await t.api('/api/runtimes', { token: t.admin, body: { id, user: 'ann' } });
    rt[id] = ((await r.json()) as { token: string }).token;
  }
  await t.api('/api/users', { token: t.admin, body: { name: 'vic', role: 'viewer', password: 'a long viewer password' } });
  const viewer = ((await (await t.api('/api/login', { body: { name: 'vic', password: 'a long viewer password' } })).json()) as { token: string }).token;
  browser = await launchBrowser();
  page = await browser.open(`${t.url}/#token=${viewer}`, { viewport: { width: 1440, height: 900 } });
}, 90_000);

afterAll(async () => {
  renewing = false;
  await renewal;
  await page?.close();
  await browser?.close();
  await t?.close();
  await pg?.destroy();
});

interface Ask {
  want: number;
  used?: number;
  held?: number;
  waiting?: number;
  need?: number;
  rate?: number;
}
async function lease(runtime: string, a: Ask): Promise<void> {
  const r = await t.api('/api/leases', { token: rt[runtime], body: { budgets: [{ budget: 'sales', window, ...a }] } });
  expect(r.status).toBe(200);
}

/** rt-a renews its lease as a runtime does (every ~0.7 s here, a tenth of the ttl), with what it says now. */
let renewing = false;
let renewal: Promise<void> = Promise.resolve();
let ask: Ask = { want: 0 };
function renewA(): void {
  renewing = true;
  renewal = (async () => {
    while (renewing) {
      await lease('rt-a', ask);
      await new Promise((r) => setTimeout(r, 700));
    }
  })();
}

/** Rows of `runtime` landing through /api/telemetry, each tagged with the sales budget's window. */
async function land(runtime: string, n: number, costMicros: number): Promise<void> {
  const b = batchOf(runtime, ++seq[runtime]!, { from: rowId + 1, n, costMicros, ts: new Date().toISOString() });
  rowId += n;
  const rows = b.llmRequests!.map((r) => ({ ...(r as object), budgets: JSON.stringify([`sales@${window}`]) }));
  const r = await t.api('/api/telemetry', { token: rt[runtime], body: { ...b, llmRequests: rows } });
  expect(r.status).toBe(200);
}

const sales = () => page.page.locator('[data-testid="budget"][data-budget="sales"]');
const text = (testid: string) => sales().getByTestId(testid).first().innerText();
const leaseRow = (runtime: string) => sales().locator(`[data-testid="budget-lease"][data-runtime="${runtime}"]`);
const becomes = (testid: string, want: string | RegExp, ms = 10_000) =>
  until(async () => {
    const v = await text(testid).catch(() => '');
    return typeof want === 'string' ? v === want : want.test(v);
  }, ms).catch(async (e) => {
    throw new Error(`${testid}: wanted ${want}, shows "${await text(testid).catch(() => '(nothing)')}" (${(e as Error).message})`);
  });

describe('the Budgets panel', () => {
  it('tells an admin how to set one while there is none', async () => {
    const p = page.page;
    await p.getByTestId('fleet').waitFor();
    await p.getByTestId('no-budgets').waitFor({ timeout: 10_000 });
    expect(await p.getByTestId('no-budgets').innerText()).toContain('iron-cage panel budget set sales --limit 500 --period month --team --users ann,bob');
    expect(page.problems()).toEqual([]);
  });

  it('shows a budget the moment an admin creates it: who it covers, its window, nothing spent', async () => {
    const made = await t.api('/api/budgets', { token: t.admin, body: { id: 'sales', scope: 'team', users: ['ann'], agents: ['lead-gen'], period: 'month', limitUsd: 10 } });
    expect(made.status).toBe(201);
    await sales().waitFor({ timeout: 10_000 });
    expect(await text('budget-covers')).toMatch(/^team: agent lead-gen · user ann · this month \(UTC\), resets in /);
    expect(await text('budget-state')).toBe('● OK · 0% used');
    expect([await text('budget-spent'), await text('budget-leased'), await text('budget-unleased'), await text('budget-waiting'), await text('budget-runway')]).toEqual([
      '$0.00',
      '$0.00',
      '$10.00',
      '0',
      '—',
    ]);
    expect(await sales().innerText()).toContain('No runtime holds a lease in this window.');
    // The bar is named for a screen reader, the lease table captioned.
    expect(await page.page.getByRole('img', { name: '$0.00 spent, $0.00 leased out, $10.00 unleased, of $10.00; warning at 90%' }).count()).toBe(1);
    expect(page.problems()).toEqual([]);
  });

  it('shows a runtime’s lease, its waiting calls and the runway, then the spend as its rows land', async () => {
    ask = { want: 3_000_000, used: 0, held: 100_000, waiting: 2, need: 100_000, rate: 600_000 };
    renewA();
    // A lease call sends no frame: the page learns of it by asking again within its poll.
    await until(async () => (await leaseRow('rt-a').count()) === 1, 10_000);
    await becomes('budget-leased', '$3.00');
    expect(await text('budget-waiting')).toBe('2');
    expect(await text('budget-runway')).toMatch(/^≈ 1[67] min at \$0\.60\/min$/);
    expect(await leaseRow('rt-a').getByTestId('lease-state').innerText()).toMatch(/^● Online lease ends in \ds unless renewed$/);
    expect(await leaseRow('rt-a').getByTestId('lease-granted').innerText()).toBe('$3.00');
    expect(await leaseRow('rt-a').getByTestId('lease-waiting').innerText()).toBe('2');
    // Three calls of $0.40 land: spent is the rows, leased what the grant has left.
    await land('rt-a', 3, 400_000);
    await becomes('budget-spent', '$1.20');
    expect(await text('budget-leased')).toBe('$1.80');
    expect(await text('budget-unleased')).toBe('$7.00');
    expect(await leaseRow('rt-a').getByTestId('lease-spent').innerText()).toBe('$1.20');
    expect(await text('budget-runway')).toMatch(/^≈ 1[45] min at \$0\.60\/min$/);
    expect(await text('budget-state')).toBe('● OK · 12% used');
    await sales().scrollIntoViewIfNeeded();
    await page.screenshot('fleet-budgets-live');
    expect(page.problems()).toEqual([]);
  });

  it('follows a lease handed back and its calls no longer waiting (no frame says so)', async () => {
    // rt-a's calls went through: it hands back what it does not need and nothing waits.
    ask = { want: 1_300_000, used: 1_200_000, held: 100_000, waiting: 0, need: 0, rate: 600_000 };
    await becomes('budget-leased', '$0.10');
    await becomes('budget-waiting', '0');
    expect(await leaseRow('rt-a').getByTestId('lease-granted').innerText()).toBe('$1.30');
    expect(await leaseRow('rt-a').getByTestId('lease-waiting').innerText()).toBe('0');
    expect(page.problems()).toEqual([]);
  });

  it('follows a lease taken and left to expire, then reclaimed from its silent runtime', async () => {
    // rt-b takes $1 once and goes silent: its lease expires, then the sweep reclaims it (a frame).
    await lease('rt-b', { want: 1_000_000, rate: 60_000 });
    await until(async () => (await leaseRow('rt-b').count()) === 1, 10_000);
    await until(async () => (await leaseRow('rt-b').getByTestId('lease-state').innerText()).startsWith('○ Expired'), 12_000);
    await becomes('budget-said', /budget sales: runtime rt-b went silent .*\$1\.00 of its grant returned to the budget/);
    // The frame's message shows at once; the lease rows follow with the budget's next read: a
    // runtime that holds, spent and waits for nothing here is no longer listed (no $0.00 rows).
    await until(async () => (await leaseRow('rt-b').count()) === 0, 5_000);
    expect(await leaseRow('rt-a').getByTestId('lease-state').innerText()).toContain('Online');
    await becomes('budget-leased', '$0.10');
    expect(await text('budget-unleased')).toBe('$8.70');
    expect(page.problems()).toEqual([]);
  });

  it('says the warning in words at 90%, and "—" for the runway once nothing spends', async () => {
    await land('rt-a', 4, 2_000_000);
    await becomes('budget-state', '▲ Warning · 92% used');
    expect(await sales().getAttribute('data-state')).toBe('warning');
    await becomes('budget-said', /budget sales has used 9\d% of its limit/);
    // rt-a stops renewing: once its lease expires nothing spends.
    renewing = false;
    await renewal;
    await becomes('budget-runway', '—', 12_000);
    expect(await leaseRow('rt-a').getByTestId('lease-state').innerText()).toMatch(/^○ Expired/);
    expect(page.problems()).toEqual([]);
  });

  it('fits a phone and a laptop, in both themes: nothing scrolls sideways', async () => {
    const p = page.page;
    await t.api('/api/budgets', { token: t.admin, body: { id: 'fleet-cap', scope: 'fleet', period: 'day', limitUsd: 50 } });
    await p.locator('[data-testid="budget"][data-budget="fleet-cap"]').waitFor({ timeout: 10_000 });
    const sizes = [
      { width: 390, height: 844 },
      { width: 1440, height: 900 },
    ];
    await inEveryThemeAndSize(page, sizes, async ({ theme, size, overflow }) => {
      expect(overflow, `${size.width}px ${theme}`).toBeLessThanOrEqual(0);
      await sales().scrollIntoViewIfNeeded();
      await page.screenshot(`fleet-budgets-${size.width}-${theme}`);
    });
    // On a phone each lease is a card whose figures say what they are.
    await p.setViewportSize({ width: 390, height: 844 });
    const card = await leaseRow('rt-a').evaluate((tr) => ({
      display: getComputedStyle(tr).display,
      granted: getComputedStyle(tr.querySelector('[data-testid="lease-granted"]')!, '::before').content,
    }));
    expect(card).toEqual({ display: 'grid', granted: '"granted "' });
    expect(page.problems()).toEqual([]);
  });

  it("a link the panel refuses names the panel's own command for a new one", async () => {
    const bad = await browser.open(`${t.url}/#login=ic_not-one-of-ours`, { viewport: { width: 1440, height: 900 } });
    try {
      const why = bad.page.getByTestId('auth-error');
      await why.waitFor({ timeout: 20_000 });
      const text = await why.innerText();
      // As this panel was started (here: in this process), on its database and its port.
      const renew = await bad.page.getByTestId('renew').innerText();
      expect(renew).toMatch(new RegExp(`^(npx )?iron-cage panel link --database postgres://\\S+ --port ${new URL(t.url).port}$`));
      expect(text).toContain(`this login link is not one this iron-cage made: run \`${renew}\` for a new one`);
      expect(text).not.toContain('iron-cage dashboard');
    } finally {
      await bad.close();
    }
  });
});
