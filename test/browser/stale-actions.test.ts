import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Route } from 'playwright-core';
import { launchBrowser, openHeldTab, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { FakeService } from '../helpers/http.js';
import { FIXTURES, startTestRuntime, tempDir, type TestRuntime } from '../helpers/runtime.js';
import { raw, withTools } from '../tools/helpers.js';
import { money } from '../../web/format.js';

// Every action the dashboard offers reflects the state it acts on, whoever changed it: here the
// changes come over the API (as the demo's stage hand makes them) while the page shows the
// action, in real Chromium on a real run. A page that missed the change (its feed held back)
// still cannot act twice: the server refuses (409) and the page then says why.

const work = tempDir('iron-cage-stale-');
const gate = join(work.dir, 'gate');
let crm: FakeService;
let t: TestRuntime;
let browser: TestBrowser;
let page: WatchedPage;

const allow = (n: number) => writeFileSync(gate, String(n));
const agentId = () => t.rt.agentId!;
const api = async (path: string, init: { method?: string; body?: unknown } = {}) => {
  const r = await t.api(path, {
    method: init.method ?? 'GET',
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  expect(r.status, `${init.method ?? 'GET'} ${path}: ${await r.clone().text()}`).toBeLessThan(300);
  return r.json();
};
const limitNow = async () => (await api(`/api/agents/${agentId()}/status`)).budget.limitUsd as number;
const budgetChanges = () => t.rt.state.lastEvents(5000).filter((e) => e.type === 'budget.changed' && e.agentId === agentId()).length;
const live = (p: WatchedPage) => p.page.waitForSelector('[data-testid=conn][data-state=live]', { timeout: 20_000 });
/** Counts the page's own fetches to `part` from now on: a click that sends nothing leaves it at 0. */
/** Counts the page's requests that would change something (not GET) to a URL holding `part`: the page also reads `/budget` (the runway). */
const countFetches = (p: WatchedPage, part: string) =>
  p.page.evaluate((part) => {
    const w = window as unknown as { fetch: typeof fetch; __sent: number };
    const real = w.fetch.bind(window);
    w.__sent = 0;
    w.fetch = (input, init) => {
      if (String(input).includes(part) && (init?.method ?? 'GET').toUpperCase() !== 'GET') w.__sent++;
      return real(input, init);
    };
  }, part);
const fetchesSent = (p: WatchedPage) => p.page.evaluate(() => (window as unknown as { __sent: number }).__sent);

beforeAll(async () => {
  allow(0);
  crm = await FakeService.start();
  t = await startTestRuntime({
    config: withTools({ crm: { url: crm.url, retry: { attempts: 1 }, breaker: { failure_threshold: 1, cooldown_s: 600 } } }),
    agent: { script: join(FIXTURES, 'agents/gated_leads.py') },
    env: { GATE_FILE: gate, TOTAL: '20', TOOL: 'crm', IRON_CAGE_MASTER_KEY: 'stale actions browser test master key' },
  });
  browser = await launchBrowser();
  page = await browser.open(`${t.rt.url}/#token=${t.rt.adminToken}`, { viewport: { width: 1440, height: 900 } });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await crm?.close();
  work.cleanup();
});

describe('actions in the dashboard follow the state they act on', () => {
  it('a budget pop-up open while the increase is approved over the API: Approve turns off and says so; a click sends nothing; a page that missed it is refused by the server', async () => {
    await live(page);
    allow(2);
    await page.page.getByTestId('agent-progress').filter({ hasText: '2 / 20 leads' }).waitFor({ timeout: 20_000 });

    // A second tab whose feed the test can hold back: it will not hear of the approval.
    const { tab: deaf, hold } = await openHeldTab(browser, t.rt, `${t.rt.url}/#token=${t.rt.adminToken}`);
    await live(page);

    // A limit the spend already fills to 92%: the 90% warning fires now, on both tabs.
    const spent = (await api(`/api/agents/${agentId()}/costs`)).spentUsd as number;
    const limit = Math.ceil((spent / 0.92) * 1e6) / 1e6;
    await api(`/api/agents/${agentId()}/budget`, { method: 'POST', body: { limitUsd: limit, expectedLimitUsd: await limitNow() } });
    const approveOn = (p: WatchedPage) => p.page.locator('[data-testid=toast][data-kind=budget] [data-testid=approve-increase]');
    for (const p of [page, deaf]) await p.page.waitForSelector('[data-testid=toast][data-kind=budget] [data-testid=approve-increase][data-available=true]', { timeout: 20_000 });
    expect(await approveOn(page).isEnabled()).toBe(true);

    // The stage hand approves over the API, with exactly the request the warning event offers.
    hold();
    const warning = t.rt.state.lastEvents(5000).findLast((e) => e.type === 'budget.threshold' && e.agentId === agentId())!;
    const offered = (warning.data as { action: { body: { limitUsd: number; expectedLimitUsd: number } } }).action.body;
    expect(offered.expectedLimitUsd).toBe(limit);
    await api(`/api/agents/${agentId()}/budget`, { method: 'POST', body: offered });
    const approved = offered.limitUsd;
    expect(await limitNow()).toBe(approved);
    const changes = budgetChanges();

    // The tab that heard it: the button is off and says who approved and what the budget is now.
    await page.page.waitForSelector('[data-testid=toast][data-kind=budget] [data-testid=approve-increase][data-available=false]', { timeout: 20_000 });
    expect(await approveOn(page).isDisabled()).toBe(true);
    expect(await page.page.locator('[data-testid=toast][data-kind=budget] [data-testid=approve-increase-reason]').innerText()).toBe(`Approved by admin runtime: budget is now ${money(approved)}`);
    await countFetches(page, '/budget');
    await approveOn(page).click({ force: true });
    expect(await fetchesSent(page)).toBe(0);

    // The tab that did not: it still offers Approve, the click goes out, the server refuses it
    // with the limit it has now, and the pop-up says so and turns the button off.
    expect(await approveOn(deaf).isEnabled()).toBe(true);
    await approveOn(deaf).click();
    const refusal = deaf.page.locator('[data-testid=toast][data-kind=budget] [data-testid=approve-increase-error]');
    await refusal.waitFor({ timeout: 20_000 });
    expect(await refusal.innerText()).toBe(
      `budget not changed: the limit is already ${money(approved)}, not the expected ${money(limit)} (it changed since this change was decided); decide again from the current limit`,
    );
    await deaf.page.waitForSelector('[data-testid=toast][data-kind=budget] [data-testid=approve-increase][data-available=false]', { timeout: 20_000 });
    expect(await deaf.page.locator('[data-testid=toast][data-kind=budget] [data-testid=approve-increase-reason]').innerText()).toBe(`Approved: budget is now ${money(approved)}`);

    // Nothing was raised twice.
    expect(await limitNow()).toBe(approved);
    expect(budgetChanges()).toBe(changes);
    expect(page.problems()).toEqual([]);
    // The refused request is the one problem the held-back tab has (the request and Chromium's console line for it).
    expect(deaf.problems().filter((m) => !m.includes('409'))).toEqual([]);
    expect(deaf.problems().some((m) => m.startsWith('[request] POST') && m.endsWith('/budget → 409'))).toBe(true);
    await deaf.close();
  }, 90_000);

  it('a Reset button goes the moment the circuit is closed elsewhere, before the breakers list is fetched again', async () => {
    crm.failWith(503);
    const run = await t.rt.tokens.issueRun({ name: agentId(), agentId: agentId() });
    try {
      expect((await raw(t.rt.url, 'GET', '/tools/crm/people/1', { token: run.token })).status).toBe(503);
    } finally {
      run.end();
    }
    const row = page.page.locator('[data-testid=breaker][data-service=crm]');
    await page.page.waitForSelector('[data-testid=breaker][data-service=crm][data-state=OPEN] [data-testid=breaker-reset][data-available=true]', { timeout: 20_000 });
    // The refetch the reset causes is held: only the event itself can take the button away.
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    const hold = async (route: Route) => {
      await held;
      await route.continue().catch(() => {}); // the page may have moved on (unrouted) meanwhile
    };
    await page.page.route('**/api/breakers', hold);
    try {
      await api('/api/breakers/crm/reset', { method: 'POST' });
      await page.page.waitForSelector('[data-testid=breaker][data-service=crm][data-state=CLOSED]', { timeout: 20_000 });
      expect(await row.getByTestId('breaker-reset').count()).toBe(0);
    } finally {
      release();
      await page.page.unroute('**/api/breakers', hold);
    }
    crm.heal();
    expect(page.problems()).toEqual([]);
  }, 60_000);

  it('a rotate dialog opened before someone else rotated the secret will not save over it, and says why', async () => {
    const created = await api('/api/secrets', { method: 'POST', body: { name: 'CRM_TOKEN', value: 'crm-token-original-0000000' } });
    const row = page.page.locator('[data-testid=secret-row][data-name=CRM_TOKEN]');
    await row.waitFor({ timeout: 20_000 });
    await row.getByTestId('secret-rotate').click();
    const modal = page.page.getByTestId('secret-modal');
    await modal.getByTestId('secret-value').fill('crm-token-from-stale-dialog');
    expect(await modal.getByTestId('secret-save').isEnabled()).toBe(true);

    await api(`/api/secrets/${created.id}`, { method: 'PUT', body: { value: 'crm-token-rotated-by-api-1', expectedUpdatedAt: created.updatedAt } });
    await page.page.waitForSelector('[data-testid=secret-modal] [data-testid=secret-save][data-available=false]', { timeout: 20_000 });
    expect(await modal.getByTestId('secret-save').isDisabled()).toBe(true);
    expect(await modal.getByTestId('secret-save-reason').innerText()).toMatch(/^CRM_TOKEN was changed at [\d:]+.* by admin:runtime since this was opened: close and open it again$/);
    await countFetches(page, '/api/secrets/secret-');
    await modal.getByTestId('secret-value').press('Enter');
    await modal.getByTestId('secret-save').click({ force: true });
    expect(await fetchesSent(page)).toBe(0);
    expect((await api(`/api/secrets/${created.id}?reveal=true`)).value).toBe('crm-token-rotated-by-api-1');

    // Opened again, it rotates from the current version.
    await page.page.keyboard.press('Escape');
    await modal.waitFor({ state: 'detached' });
    await row.getByTestId('secret-rotate').click();
    await modal.getByTestId('secret-value').fill('crm-token-rotated-in-page-2');
    await modal.getByTestId('secret-save').click();
    await modal.waitFor({ state: 'detached' });
    expect((await api(`/api/secrets/${created.id}?reveal=true`)).value).toBe('crm-token-rotated-in-page-2');
    expect(page.problems()).toEqual([]);
  }, 60_000);

  it('Stop in the budget pop-up goes once the agent was stopped over the API, with the reason', async () => {
    const toast = page.page.locator('[data-testid=toast][data-kind=budget]');
    expect(await toast.getByTestId('stop-agent').isEnabled()).toBe(true);
    await api(`/api/agents/${agentId()}/stop`, { method: 'POST' });
    await page.page.waitForSelector('[data-testid=agent-status][data-status=stopped]', { timeout: 20_000 });
    await toast.getByTestId('toast-stale').waitFor({ timeout: 20_000 });
    expect(await toast.getByTestId('toast-stale').innerText()).toBe('Agent stopped: nothing to act on');
    expect(await toast.getByTestId('stop-agent').count()).toBe(0);
    expect(await toast.getByTestId('approve-increase').count()).toBe(0);
    expect(await page.page.getByTestId('agent-stop').count()).toBe(0);
    expect(page.problems()).toEqual([]);
  }, 60_000);
});
