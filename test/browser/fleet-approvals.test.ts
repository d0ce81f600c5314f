import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeApprovalsResponse } from '../../src/panel/index.js';
import { launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { batchOf, startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/runtime.js';

// The fleet page's approvals in real Chromium, on a real control panel over a real
// PostgreSQL, seen by a panel admin: a runtime's batch carries an approval.requested event, the
// page pops it up and lists it in the queue; the Approve button takes the one panel decision,
// which the runtime reads back with its token; the runtime's approval.decided event closes it.
// (A real runtime applying the decision: test/panel/approvals.test.ts.)

let pg: TestPostgres;
let t: TestPanel;
let browser: TestBrowser;
let page: WatchedPage;
let runtimeToken: string;
let seq = 0;
let eventSeq = 0;

beforeAll(async () => {
  pg = await startPostgres();
  t = await startTestPanel(pg.url);
  runtimeToken = ((await (await t.api('/api/runtimes', { token: t.admin, body: { id: 'rt-a' } })).json()) as { token: string }).token;
  await t.api('/api/users', { token: t.admin, body: { name: 'bob', role: 'admin', password: 'a long admin password' } });
  const bob = ((await (await t.api('/api/login', { body: { name: 'bob', password: 'a long admin password' } })).json()) as { token: string }).token;
  browser = await launchBrowser();
  page = await browser.open(`${t.url}/#token=${bob}`, { viewport: { width: 1440, height: 900 } });
}, 90_000);

afterAll(async () => {
  await page?.close();
  await browser?.close();
  await t?.close();
  await pg?.destroy();
});

/** A batch of rt-a with one event of its agent lg-1 (lead-gen). */
async function land(type: string, data: Record<string, unknown>): Promise<void> {
  const b = batchOf('rt-a', ++seq, { n: 0, ts: new Date().toISOString() });
  const event = { seq: ++eventSeq, ts: new Date().toISOString(), agentId: 'lg-1', type, severity: 'warn', message: `${type} ${String(data.id)}`, data: JSON.stringify(data) };
  const r = await t.api('/api/telemetry', { token: runtimeToken, body: { ...b, events: [event] } });
  expect(r.status).toBe(200);
}
const requested = (id: string, approvers: { roles: string[]; users: string[] }) =>
  land('approval.requested', {
    id,
    kind: 'http',
    service: 'crm',
    tool: 'contacts',
    method: 'POST',
    args: '{"name":"Ada","email":"[EMAIL_REDACTED]"}',
    rule: 'crm-writes',
    approvers,
    expiresAt: new Date(Date.now() + 10 * 60_000).toISOString(),
    ahead: false,
    note: null,
  });

const row = (id: string) => page.page.locator(`[data-testid="fleet-approval"][data-id="${id}"]`);
const pop = (id: string) => page.page.locator(`[data-testid="approval-pop"][data-id="${id}"]`);

describe('the fleet page’s approvals', () => {
  it('says when nothing waits', async () => {
    await page.page.getByTestId('no-approvals').waitFor({ timeout: 25_000 });
    expect(page.problems()).toEqual([]);
  }, 60_000);

  it('pops up a runtime’s approval as it lands, lists it, and its Approve button takes the decision the runtime reads back', async () => {
    await requested('apr_browser1', { roles: ['admin'], users: [] });
    await pop('apr_browser1').waitFor({ timeout: 25_000 });
    expect(await pop('apr_browser1').innerText()).toMatch(/Approval needed: POST crm\.contacts[\s\S]*lead-gen on rt-a · rule crm-writes/);
    const r = row('apr_browser1');
    await r.waitFor();
    expect(await r.innerText()).toMatch(/POST crm\.contacts[\s\S]*lead-gen on rt-a · rule crm-writes/);
    expect(await r.getByTestId('approval-args').innerText()).toBe('{"name":"Ada","email":"[EMAIL_REDACTED]"}');
    expect(await r.getByTestId('approval-left').innerText()).toMatch(/^(9m\d\ds|10m00s) left$/);
    await page.screenshot('fleet-approvals-pending');

    await r.getByTestId('approval-reason').fill('ok from the browser');
    await r.getByTestId('approval-approve').click();
    const read = await until(async () => {
      const a = (await (await fetch(`${t.url}/api/runtime/approvals`, { headers: { authorization: `Bearer ${runtimeToken}` } })).json()) as RuntimeApprovalsResponse;
      return a.decisions.find((d) => d.id === 'apr_browser1') ?? null;
    });
    expect(read).toMatchObject({ decision: 'approve', by: 'panel admin bob', user: 'bob', reason: 'ok from the browser' });
    // Taken: the buttons are off with the reason, here and in the pop-up, until the runtime says.
    await until(async () => (await r.getByTestId('approval-approve').getAttribute('data-available')) === 'false');
    expect(await r.getByTestId('approval-approve-reason').innerText()).toBe('Approved on the panel by panel admin bob: the runtime applies it at its next poll');
    expect(await pop('apr_browser1').getByTestId('approval-pop-approve').getAttribute('data-available')).toBe('false');

    // The runtime applied it: its event closes the approval, the pop-up goes, the history has it.
    await land('approval.decided', {
      id: 'apr_browser1',
      status: 'approved',
      by: 'panel admin bob',
      reason: 'ok from the browser',
      waitedMs: 2_400,
      service: 'crm',
      tool: 'contacts',
      rule: 'crm-writes',
    });
    await page.page.getByTestId('no-approvals').waitFor({ timeout: 25_000 });
    expect(await pop('apr_browser1').count()).toBe(0);
    expect(await page.page.locator('[data-testid="fleet-approval-decided"][data-id="apr_browser1"]').getAttribute('data-status')).toBe('approved');
    expect(page.problems()).toEqual([]);
  }, 60_000);

  it('offers the buttons only to whom the rule names, and a closed pop-up stays closed', async () => {
    await requested('apr_browser2', { roles: [], users: ['carol'] });
    await pop('apr_browser2').waitFor({ timeout: 25_000 });
    const r = row('apr_browser2');
    expect(await r.getByTestId('approval-approve').getAttribute('data-available')).toBe('false');
    expect(await r.getByTestId('approval-approve-reason').innerText()).toBe('Only user carol may decide');
    expect(await r.getByTestId('approval-deny').count()).toBe(0);
    await pop('apr_browser2').getByTestId('approval-pop-close').click();
    // The page renders the click's change at its next render (web/store.ts: at most every 50 ms),
    // not within the click: wait for the pop-up to go. It stays gone when the list changes again
    // (another request lands and pops up), and its row stays.
    await pop('apr_browser2').waitFor({ state: 'detached', timeout: 10_000 });
    await requested('apr_browser3', { roles: [], users: ['carol'] });
    await pop('apr_browser3').waitFor({ timeout: 25_000 });
    expect(await pop('apr_browser2').count()).toBe(0);
    expect(await r.count()).toBe(1);
    expect(page.problems()).toEqual([]);
  }, 60_000);
});
