import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policiesSchema, policySet } from '../../src/config/policies.js';
import { toolsSchema } from '../../src/config/tools.js';
import { inEveryThemeAndSize, launchBrowser, openHeldTab, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { FakeService } from '../helpers/http.js';
import { agentToken, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';

// Approvals in the runtime's dashboard, in real Chromium: a call a policy rule holds for a person
// pops up and waits in the queue; a click approves or denies it (with a reason the agent is
// told), and the tool service, a real HTTP server that counts, sees exactly what was let through.
// A decision made elsewhere (the API, another tab) takes the pop-up away; a tab that had not
// heard is refused by the server and says who decided. A viewer sees the queue, read-only.

let svc: FakeService;
let t: TestRuntime;
let writer: AgentToken;
let browser: TestBrowser;
let admin: WatchedPage;

const live = (p: WatchedPage) => p.page.waitForSelector('[data-testid=conn][data-state=live]', { timeout: 20_000 });
/** A tool call as the agent makes it: its promise settles when a person (or the clock) has decided. */
const call = (method: string, path: string, body?: unknown) =>
  fetch(`${t.rt.url}/tools/crm/${path}`, {
    method,
    headers: { authorization: `Bearer ${writer.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const pendingFor = (tool: string) =>
  until(async () => ((await (await t.api('/api/approvals?status=pending')).json()) as { approvals: Array<{ id: string; tool: string }> }).approvals.find((a) => a.tool === tool) ?? null);
const decide = async (id: string, decision: 'approve' | 'deny', reason?: string) => {
  const r = await t.api(`/api/approvals/${id}/${decision}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(reason ? { reason } : {}) });
  expect(r.status, await r.clone().text()).toBe(200);
};
const popUp = (p: WatchedPage, id: string) => p.page.locator(`[data-testid=toast][data-kind=approval][data-approval="${id}"]`);
const queued = (p: WatchedPage, id: string) => p.page.locator(`[data-testid=approval][data-id="${id}"]`);
const decided = (p: WatchedPage, id: string) => p.page.locator(`[data-testid=approval-decided][data-id="${id}"]`);

beforeAll(async () => {
  svc = await FakeService.start();
  t = await startTestRuntime({
    config: {
      tools: toolsSchema.parse({ crm: { url: svc.url } }),
      policies: policySet(
        policiesSchema.parse([
          { name: 'quick', match: { tool: 'crm.expiring' }, action: 'approve', timeout: '2s' },
          { name: 'crm-writes', match: { tool: 'crm.*', method: ['POST', 'PUT', 'DELETE'] }, action: 'approve', timeout: '2m' },
        ]),
      ),
    },
  });
  writer = await agentToken(t, { name: 'writer' });
  browser = await launchBrowser();
  admin = await browser.open(`${t.rt.url}/#token=${t.rt.adminToken}`, { viewport: { width: 1440, height: 900 } });
  await live(admin);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await svc?.close();
});

describe('approvals in the dashboard', () => {
  it('a held call pops up and waits in the queue with what it would send; Approve in the pop-up lets it through, once', async () => {
    const before = svc.seen.length;
    const answer = call('POST', 'contacts', { name: 'Ada', email: 'ada@example.org' });
    const { id } = await pendingFor('contacts');
    const toast = popUp(admin, id);
    await toast.waitFor({ timeout: 20_000 });
    expect(await toast.locator('.toast-head strong').innerText()).toContain('Approval needed: crm POST /contacts');
    expect(await toast.locator('.toast-body').innerText()).toBe('writer · rule crm-writes · admins may decide');
    const row = queued(admin, id);
    await row.waitFor({ timeout: 20_000 });
    expect(await row.getByTestId('approval-call').innerText()).toBe('crm POST /contacts');
    expect(await row.getByTestId('approval-agent').innerText()).toBe('writer');
    expect(await row.getByTestId('approval-approvers').innerText()).toBe('admins may decide');
    expect(await row.getByTestId('approval-left').innerText()).toMatch(/^\d+m\d\ds left$/);
    // The arguments as the approver sees them: redacted, in a monospace box.
    const args = await row.getByTestId('approval-args').innerText();
    expect(args).toContain('"name": "Ada"');
    expect(args).not.toContain('ada@example.org');
    expect(await row.getByTestId('approval-args').evaluate((e) => getComputedStyle(e).fontFamily)).toMatch(/mono/i);
    expect(await admin.page.getByTestId('approvals-waiting').innerText()).toBe('1 waiting');
    // Nothing has reached the service while it waits.
    expect(svc.seen.length).toBe(before);
    await admin.screenshot('approvals-1440x900-admin');

    await toast.getByTestId('toast-approval-approve').click();
    const r = await answer;
    expect(r.status).toBe(200);
    expect(svc.seen.length).toBe(before + 1);
    expect(svc.seen.at(-1)).toMatchObject({ method: 'POST', url: '/contacts' });
    // Decided: the pop-up goes, the approval moves to the decisions.
    await toast.waitFor({ state: 'detached', timeout: 20_000 });
    await decided(admin, id).waitFor({ timeout: 20_000 });
    expect(await decided(admin, id).innerText()).toContain('Approved by admin runtime');
    expect(await row.count()).toBe(0);
    expect(await admin.page.getByTestId('approvals-none').innerText()).toBe('No call is waiting for a person.');
    expect(admin.problems()).toEqual([]);
  }, 60_000);

  it('Deny with a typed reason: the agent gets 403 approval_denied saying it, nothing is sent, and the timeline shows both decisions', async () => {
    const before = svc.seen.length;
    const answer = call('DELETE', 'contacts/7');
    const { id } = await pendingFor('contacts/7');
    const row = queued(admin, id);
    await row.waitFor({ timeout: 20_000 });
    await row.getByTestId('approval-why').fill('not this one');
    await row.getByTestId('approval-deny').click();
    const r = await answer;
    expect(r.status).toBe(403);
    const body = (await r.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('approval_denied');
    expect(body.error.message).toContain('not this one');
    expect(svc.seen.length).toBe(before);
    await decided(admin, id).waitFor({ timeout: 20_000 });
    expect(await decided(admin, id).innerText()).toMatch(/Denied by admin runtime[\s\S]*“not this one”/);
    await popUp(admin, id).waitFor({ state: 'detached', timeout: 20_000 });

    // The approvals lane of the agent's timeline: a span per approval, coloured by outcome.
    await admin.page.getByTestId('agent-picker').selectOption(writer.agentId);
    const lane = admin.page.locator('[data-testid=tl-row][data-lane=approval]');
    const read = () =>
      lane.evaluateAll((els) => els.map((e) => ({ key: (e as HTMLElement).dataset.key, cls: e.className, title: (e as HTMLElement).title, bar: e.querySelector('.tl-bar') !== null })));
    // Its row was drawn while it waited, and changes in place once decided.
    const rows = await until(async () => {
      const r = await read();
      return r.length === 2 && !r.some((x) => x.cls.includes('st-warn')) ? r : null;
    }, 20_000);
    expect(rows.map((x) => x.key)).toEqual([expect.stringMatching(/^approval:apr_/), `approval:${id}`]);
    expect(rows[0]!.cls).toContain('st-ok');
    expect(rows[1]!.cls).toContain('st-blocked');
    expect(rows.every((x) => x.bar)).toBe(true);
    expect(rows[1]!.title).toMatch(/Approval: crm DELETE \/contacts\/7: denied by admin runtime after \d+s \(rule crm-writes\): not this one/);
    expect(admin.problems()).toEqual([]);
  }, 60_000);

  it('decided elsewhere: the pop-up goes, the queue moves it; a tab that had not heard is refused and says who decided', async () => {
    // A second tab whose feed the test holds back: it will not hear of the decision.
    const { tab: deaf, hold } = await openHeldTab(browser, t.rt, `${t.rt.url}/#token=${t.rt.adminToken}`);
    try {
      await live(admin);

      const before = svc.seen.length;
      const answer = call('PUT', 'contacts/9', { stage: 'won' });
      const { id } = await pendingFor('contacts/9');
      for (const p of [admin, deaf]) await popUp(p, id).waitFor({ timeout: 20_000 });
      hold();
      await decide(id, 'approve', 'from the API');
      expect((await answer).status).toBe(200);
      expect(svc.seen.length).toBe(before + 1);

      // The tab that heard: no pop-up, and the decision in the queue, with its reason.
      await popUp(admin, id).waitFor({ state: 'detached', timeout: 20_000 });
      await decided(admin, id).waitFor({ timeout: 20_000 });
      expect(await decided(admin, id).innerText()).toMatch(/Approved by admin runtime[\s\S]*“from the API”/);
      expect(await queued(admin, id).count()).toBe(0);

      // The tab that did not: it still offers Approve; the server refuses (409), and the page
      // says who decided instead of an error, and takes the pop-up away.
      const stale = popUp(deaf, id);
      expect(await stale.getByTestId('toast-approval-approve').isEnabled()).toBe(true);
      await stale.getByTestId('toast-approval-approve').click();
      await stale.waitFor({ state: 'detached', timeout: 20_000 });
      const note = deaf.page.locator('[data-testid=toast]').filter({ hasText: 'Already approved by admin runtime' });
      await note.waitFor({ timeout: 20_000 });
      expect(await note.innerText()).toContain('crm PUT /contacts/9 · writer: nothing changed');
      expect(await deaf.page.locator('[data-testid$=-error]').count()).toBe(0);
      await decided(deaf, id).waitFor({ timeout: 20_000 });
      // Nothing was sent twice; the refused request (and Chromium's line for it) is the tab's one problem.
      expect(svc.seen.length).toBe(before + 1);
      expect(deaf.problems().filter((m) => !m.includes('409'))).toEqual([]);
      expect(deaf.problems().some((m) => m.startsWith('[request] POST') && m.endsWith(`/api/approvals/${id}/approve → 409`))).toBe(true);
      expect(admin.problems()).toEqual([]);
    } finally {
      await deaf.close();
    }
  }, 60_000);

  it('nobody decides in time: the pop-up goes, the queue says it expired, the agent is told, nothing is sent', async () => {
    const before = svc.seen.length;
    const answer = call('POST', 'expiring', { n: 1 });
    const { id } = await pendingFor('expiring');
    const toast = popUp(admin, id);
    await toast.waitFor({ timeout: 20_000 });
    expect(await queued(admin, id).getByTestId('approval-approvers').innerText()).toBe('admins may decide');
    const r = await answer;
    expect(r.status).toBe(403);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('approval_expired');
    await toast.waitFor({ state: 'detached', timeout: 20_000 });
    await decided(admin, id).waitFor({ timeout: 20_000 });
    expect(await decided(admin, id).getAttribute('data-status')).toBe('expired');
    expect(await decided(admin, id).innerText()).toMatch(/^⌛ Expired crm POST \/expiring/);
    expect(svc.seen.length).toBe(before);
    expect(admin.problems()).toEqual([]);
  }, 60_000);

  it('a viewer sees the queue and the pop-up with Approve and Deny off, saying why; at 390 px nothing scrolls sideways', async () => {
    const viewerToken = await t.rt.tokens.issue({ role: 'viewer', name: 'projector' });
    const viewer = await browser.open(`${t.rt.url}/#token=${viewerToken}`, { viewport: { width: 390, height: 844 } });
    try {
      await live(viewer);
      // A long token in the arguments: it wraps inside its box, never widens the page.
      const answer = call('POST', 'notes', { text: `${'x'.repeat(400)} and a long line of words ${'y'.repeat(60)}`, tags: Array.from({ length: 30 }, (_, i) => `tag-${i}`) });
      const { id } = await pendingFor('notes');
      const row = queued(viewer, id);
      await row.waitFor({ timeout: 20_000 });
      for (const button of ['approval-approve', 'approval-deny']) {
        expect(await row.getByTestId(button).isDisabled(), button).toBe(true);
        expect(await row.getByTestId(button).getAttribute('data-available'), button).toBe('false');
      }
      expect(await row.getByTestId('approval-off').innerText()).toBe('Read-only: only admins may decide');
      expect(await row.getByTestId('approval-why').count()).toBe(0);
      const toast = popUp(viewer, id);
      await toast.waitFor({ timeout: 20_000 });
      expect(await toast.getByTestId('toast-approval-approve').isDisabled()).toBe(true);
      expect(await toast.getByTestId('toast-approval-off').innerText()).toBe('Read-only: only admins may decide');

      await inEveryThemeAndSize(viewer, [{ width: 390, height: 844 }], async ({ theme, overflow }) => {
        expect(overflow, theme).toBeLessThanOrEqual(0);
        const boxes = await viewer.page.$$eval('[data-testid=approval-args], [data-testid=approvals-panel], [data-testid=toast]', (els) =>
          els.map((e) => ({ wide: e.scrollWidth - e.clientWidth, left: e.getBoundingClientRect().left, right: e.getBoundingClientRect().right })),
        );
        for (const b of boxes) {
          expect(b.wide, theme).toBeLessThanOrEqual(0);
          expect(b.left, theme).toBeGreaterThanOrEqual(0);
          expect(b.right, theme).toBeLessThanOrEqual(390);
        }
      });
      await viewer.screenshot('approvals-390x844-viewer');

      // An admin decides over the API: the viewer's pop-up goes, and its queue moves it.
      await decide(id, 'deny', 'notes are read-only today');
      expect((await answer).status).toBe(403);
      await toast.waitFor({ state: 'detached', timeout: 20_000 });
      await decided(viewer, id).waitFor({ timeout: 20_000 });
      expect(viewer.problems()).toEqual([]);
    } finally {
      await viewer.close();
    }
  }, 60_000);

  it("the alert's link (<dashboard>/#approvals) opens the queue, after a login", async () => {
    const r = await t.api('/api/users', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ops', role: 'admin', password: 'a long enough password' }) });
    expect(r.status).toBe(201);
    const p = await browser.open(`${t.rt.url}/#approvals`, { viewport: { width: 1280, height: 720 } });
    try {
      const form = p.page.getByTestId('login');
      await form.waitFor({ timeout: 20_000 });
      await form.locator('input[name=name]').fill('ops');
      await form.locator('input[name=password]').fill('a long enough password');
      await form.locator('button[type=submit]').click();
      await live(p);
      const panel = p.page.locator('#approvals');
      await panel.waitFor({ timeout: 20_000 });
      expect(await p.page.evaluate(() => location.hash)).toBe('#approvals');
      await until(async () => (await p.page.locator('[data-testid=approval-decided]').count()) >= 4 || null, 20_000);
      const top = await panel.evaluate((e) => e.getBoundingClientRect().top);
      expect(top).toBeGreaterThanOrEqual(-1);
      expect(top).toBeLessThan(720 / 2);
      expect(p.problems()).toEqual([]);
    } finally {
      await p.close();
    }
  }, 60_000);
});
