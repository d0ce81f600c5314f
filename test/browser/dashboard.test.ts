import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { FIXTURES, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';
import { FakeService } from '../helpers/http.js';
import type { Request } from 'playwright-core';
import { count, money, pct } from '../../web/format.js';
import { COST_REPORT_GAP_MS } from '../../web/refresh.js';
import { mintLoginLink } from '../../src/auth/index.js';
import { selfCommand } from '../../src/core/invocation.js';
import { onSqlite, TokensStore } from '../../src/state/index.js';
import { withTools } from '../tools/helpers.js';

// One real run seen through the dashboard in real Chromium: a python3 agent on the simulated
// provider works through leads only as far as the test lets it (GATE_FILE), so every step the
// page must show happens when the test says, without sleeps.

const TOTAL = 40;
const MASTER_KEY = 'browser test master key, long enough';
const work = tempDir('iron-cage-dash-');
const gate = join(work.dir, 'gate');
const dbDir = tempDir('iron-cage-dash-db-');

let up: FakeService;
let t: TestRuntime;
let browser: TestBrowser;
let admin: WatchedPage;

const allow = (n: number) => writeFileSync(gate, String(n));
const byId = (p: WatchedPage, id: string) => p.page.getByTestId(id);
const textOf = (p: WatchedPage, id: string) => byId(p, id).first().innerText();
const waitText = (p: WatchedPage, id: string, want: string | RegExp) =>
  until(async () => {
    const s = await textOf(p, id).catch(() => '');
    return typeof want === 'string' ? s === want : want.test(s);
  }, 20_000);
const waitState = (p: WatchedPage, selector: string) => p.page.waitForSelector(selector, { timeout: 20_000 });
const agentId = () => t.rt.agentId!;
const api = async (path: string, init: RequestInit & { token?: string } = {}) => {
  const r = await t.api(path, init);
  expect(r.status, `${init.method ?? 'GET'} ${path}`).toBeLessThan(300);
  return r.json();
};
const eventSeqs = async () => (await api('/api/events?limit=1000')).events.map((e: { seq: number }) => e.seq) as number[];
const rowSeqs = (p: WatchedPage) => p.page.$$eval('[data-testid=event-row]', (rows) => rows.map((r) => Number((r as HTMLElement).dataset.seq)));

/** 100 plain WebSocket clients, each keeping the seqs it received. */
function wsClients(n: number) {
  const seen: number[][] = [];
  const sockets = Array.from({ length: n }, (_, i) => {
    seen[i] = [];
    const ws = new WebSocket(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}&after=0`);
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw));
      const events = m.type === 'snapshot' ? m.events : m.type === 'event' ? [m.event] : m.items.map((x: any) => x.event);
      for (const e of events) seen[i]!.push(e.seq);
    });
    return ws;
  });
  return { seen, sockets, opened: Promise.all(sockets.map((ws) => new Promise((r) => ws.once('open', r)))) };
}

beforeAll(async () => {
  allow(0);
  up = await FakeService.start();
  t = await startTestRuntime({
    dir: dbDir.dir,
    config: withTools({ crm: { url: up.url, cost_per_call_usd: 0.05, retry: { attempts: 1 }, breaker: { failure_threshold: 2, cooldown_s: 1 } } }),
    agent: { script: join(FIXTURES, 'agents/gated_leads.py') },
    env: { GATE_FILE: gate, TOTAL: String(TOTAL), TOOL: 'crm', PII_AT: '5', FAIL_EVERY: '4', IRON_CAGE_MASTER_KEY: MASTER_KEY },
  });
  browser = await launchBrowser();
  admin = await browser.open(`${t.rt.url}/#token=${t.rt.adminToken}`, { viewport: { width: 1920, height: 1080 } });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await up?.close();
  work.cleanup();
  dbDir.cleanup();
});

describe('the dashboard in Chromium, on a live run', () => {
  it('takes the token out of the address bar and shows the run live, every panel fed by /ws', async () => {
    expect(await admin.page.evaluate(() => location.href)).toBe(`${t.rt.url}/`);
    expect(await admin.page.evaluate(() => sessionStorage.getItem('iron-cage-token'))).toBe(t.rt.adminToken);
    await waitState(admin, '[data-testid=conn][data-state=live]');
    await waitState(admin, '[data-testid=agent-status][data-status=running]');
    expect(await textOf(admin, 'agent-status')).toContain('Running');
    // The log shows INFO and up at first; this test follows every event, DEBUG rows included.
    await byId(admin, 'filter-severity').selectOption('debug');

    const clients = wsClients(100);
    await clients.opened;

    allow(3);
    await waitText(admin, 'agent-progress', '3 / 40 leads (8%)');
    await waitText(admin, 'agent-success', '100% (3/3)');
    await until(
      async () =>
        Number(
          await byId(admin, 'cost-chart')
            .getAttribute('data-points')
            .catch(() => 0),
        ) === 3,
    );
    await waitText(admin, 'cost-spent', money((await api(`/api/agents/${agentId()}/costs`)).spentUsd));

    allow(4);
    await waitText(admin, 'agent-progress', '4 / 40 leads (10%)');
    await waitText(admin, 'agent-success', '75% (3/4)');
    await until(async () => Number(await byId(admin, 'cost-chart').getAttribute('data-points')) === 4);
    await waitText(admin, 'cost-spent', money((await api(`/api/agents/${agentId()}/costs`)).spentUsd));
    await waitText(admin, 'throughput', /^\d[\d,]* leads\/hour$/);
    // Each figure in ms, or in s for a slow one (the first call of a model family loads its tokenizer table).
    await waitText(admin, 'latency', /^[\d.,]+ m?s \/ [\d.,]+ m?s \/ [\d.,]+ m?s$/);
    expect(await textOf(admin, 'cost-by-model')).toContain('gpt-4o-mini');
    expect(await textOf(admin, 'cost-avg')).toMatch(/^\$[\d.]+ avg\/lead$/);

    // The log holds every event so far, once each, in order, and all 100 other clients got them too.
    const all = await until(async () => {
      const [api, rows] = [await eventSeqs(), await rowSeqs(admin)];
      return rows.at(-1) === api.at(-1) ? api : null;
    });
    expect(await rowSeqs(admin)).toEqual(all);
    await until(() => clients.seen.every((s) => s.at(-1) === all.at(-1)));
    for (const s of clients.seen) expect(s).toEqual(all);
    for (const ws of clients.sockets) ws.close();

    // A row opens to its event in full, one at a time, and stays open while the log renders again
    // (each row renders again only when its own props change: web/panels/events.tsx).
    const [first, second] = all.slice(-2);
    const row = (seq: number) => admin.page.locator(`[data-testid=event-row][data-seq="${seq}"]`);
    const detail = (seq: number) => row(seq).locator('.row-detail');
    await row(first!).locator('.row-line').click();
    await detail(first!).waitFor();
    expect(JSON.parse(await detail(first!).innerText()).seq).toBe(first);
    await row(second!).locator('.row-line').click();
    await detail(second!).waitFor();
    expect(await detail(first!).count()).toBe(0);
    expect(await row(second!).locator('.row-line').getAttribute('aria-expanded')).toBe('true');
    await byId(admin, 'filter-severity').selectOption('info');
    await byId(admin, 'filter-severity').selectOption('debug');
    await detail(second!).waitFor();
    await row(second!).locator('.row-line').click();
    await until(async () => (await detail(second!).count()) === 0);
    expect(admin.problems()).toEqual([]);
  }, 90_000);

  it('counts a PII detection at once and pops up its redacted preview; the raw value is nowhere in the page', async () => {
    allow(5);
    await waitText(admin, 'pii-blocked', '1');
    const toast = admin.page.locator('[data-testid=toast][data-kind=pii]');
    await toast.waitFor({ timeout: 10_000 });
    expect(await toast.innerText()).toContain('Reach lead 5 at [EMAIL_REDACTED]');
    expect(await textOf(admin, 'pii-preview')).toContain('[EMAIL_REDACTED]');
    expect(await textOf(admin, 'pii-by-type')).toMatch(/EMAIL\s*1/);
    expect(await admin.page.content()).not.toContain('lead5.owner@example.com');
    await toast.getByTestId('toast-close').click();
    await toast.waitFor({ state: 'detached' });
  }, 60_000);

  it('shows a circuit opening with its pop-up, and closing again once the service recovers', async () => {
    await api('/api/faults', { method: 'POST', body: JSON.stringify({ service: 'crm', status: 503 }) });
    allow(7);
    // OPEN with its countdown, seen in one look: the 1 s cooldown may turn it HALF_OPEN before a second one.
    await admin.page.waitForFunction(
      () => {
        const row = document.querySelector('[data-testid=breaker][data-service=crm][data-state=OPEN]') as HTMLElement | null;
        return row !== null && /retry in|a moment/.test(row.innerText);
      },
      undefined,
      { timeout: 20_000, polling: 'raf' },
    );
    const toast = admin.page.locator('[data-testid=toast][data-kind=breaker]');
    await toast.waitFor();
    expect(await toast.innerText()).toMatch(/Circuit OPEN: crm[\s\S]*2 consecutive failures/);

    await api('/api/faults', { method: 'DELETE' });
    // Once the 1 s cooldown has ended the circuit is half open; the next call is the probe: it
    // succeeds and the circuit closes.
    await until(async () => (await api('/api/breakers')).services.some((b: { service: string; state: string }) => b.service === 'crm' && b.state === 'HALF_OPEN'));
    allow(9);
    await waitState(admin, '[data-testid=breaker][data-service=crm][data-state=CLOSED]');
    await waitText(admin, 'agent-progress', '9 / 40 leads (23%)');
    expect(admin.problems()).toEqual([]);
  }, 60_000);

  it('warns at 90% with action buttons; "Approve" raises the limit on the server', async () => {
    const costs = await api(`/api/agents/${agentId()}/costs`);
    // A limit the spend already fills to 92%: the 90% warning fires now, without another call.
    const limit = Math.ceil((costs.spentUsd / 0.92) * 1e6) / 1e6;
    await api(`/api/agents/${agentId()}/budget`, { method: 'POST', body: JSON.stringify({ limitUsd: limit }) });
    const toast = admin.page.locator('[data-testid=toast][data-kind=budget]');
    await toast.waitFor();
    expect(await toast.innerText()).toMatch(/Budget 9\d% used/);
    await waitText(admin, 'cost-percent', /^9\d(\.\d)?% used$/);
    expect(await toast.getByTestId('stop-agent').count()).toBe(1);
    const limitShown = await textOf(admin, 'cost-limit');
    const approve = toast.getByTestId('approve-increase');
    expect(await approve.innerText()).toMatch(/^Approve \$[\d.]+ increase$/);
    await approve.click();
    const raised = await until(async () => {
      const s = await api(`/api/agents/${agentId()}/status`);
      return s.budget.limitUsd > limit ? s.budget.limitUsd : null;
    });
    expect(raised).toBeGreaterThan(limit);
    await until(async () => (await textOf(admin, 'cost-limit')) !== limitShown);
    expect(admin.problems()).toEqual([]);
  }, 60_000);

  it('says "reconnecting" when the server drops the socket, comes back, and shows every event exactly once, in order', async () => {
    // What the badge says at each change, noted in the page as it happens: it may be back on its
    // socket (Live) before a look from here, which once read "Live" right after seeing reconnecting.
    await admin.page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { connSeen: string[] }).connSeen = seen;
      const note = () => {
        const el = document.querySelector<HTMLElement>('[data-testid=conn]');
        const now = el ? `${el.dataset.state}: ${el.innerText}` : 'none';
        if (seen.at(-1) !== now) seen.push(now);
      };
      note();
      new MutationObserver(note).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    });
    const hub = (t.rt as any).server.hub;
    for (const c of [...hub.clients]) c.ws.terminate();
    await waitState(admin, '[data-testid=conn][data-state=reconnecting]');
    const seen = await admin.page.evaluate(() => (window as unknown as { connSeen: string[] }).connSeen);
    expect(seen.filter((x) => x.startsWith('reconnecting'))[0], seen.join(' | ')).toBe('reconnecting: Reconnecting…');
    allow(12); // events while the page is away
    await waitState(admin, '[data-testid=conn][data-state=live]');
    await waitText(admin, 'agent-progress', '12 / 40 leads (30%)');
    const all = await until(async () => {
      const [api, rows] = [await eventSeqs(), await rowSeqs(admin)];
      return rows.at(-1) === api.at(-1) ? api : null;
    });
    const rows = await rowSeqs(admin);
    expect(new Set(rows).size).toBe(rows.length);
    expect(rows).toEqual(all.slice(all.indexOf(rows[0]!)));
    expect(admin.problems()).toEqual([]);
  }, 60_000);

  it('manages secrets as an admin: add, reveal, edit, rotate and delete, each through the vault', async () => {
    const p = admin.page;
    await p.getByTestId('secret-add').click();
    const modal = p.getByTestId('secret-modal');
    await modal.getByTestId('secret-name').fill('CRM_TOKEN');
    await modal.getByTestId('secret-env').fill('development');
    await modal.getByTestId('secret-value').fill('crm-token-0123456789abcdef');
    await modal.getByTestId('secret-save').click();
    const row = p.locator('[data-testid=secret-row][data-name=CRM_TOKEN]');
    await row.waitFor();
    expect(await row.innerText()).not.toContain('crm-token-0123456789abcdef');

    await row.getByTestId('secret-reveal').click();
    await until(async () => (await row.innerText()).includes('crm-token-0123456789abcdef'));
    await row.getByTestId('secret-reveal').click();
    await until(async () => !(await row.innerText()).includes('crm-token-0123456789abcdef'));

    await row.getByTestId('secret-edit').click();
    const value = p.getByTestId('secret-modal').getByTestId('secret-value');
    await until(async () => (await value.inputValue()) === 'crm-token-0123456789abcdef');
    await value.fill('crm-token-edited-000000000');
    // The page re-renders on every event while the modal is open: what was typed stays.
    const last = (await eventSeqs()).at(-1)!;
    for (let i = 0; i < 5; i++) await api(`/api/agents/${agentId()}/events`, { method: 'POST', body: JSON.stringify({ message: `busy ${i}` }) });
    await until(async () => (await rowSeqs(admin)).at(-1)! >= last + 5);
    expect(await value.inputValue()).toBe('crm-token-edited-000000000');
    await p.getByTestId('secret-modal').getByTestId('secret-save').click();
    await p.getByTestId('secret-modal').waitFor({ state: 'detached' });
    const edited = (await api('/api/secrets')).secrets.find((s: any) => s.name === 'CRM_TOKEN');
    expect((await api(`/api/secrets/${edited.id}?reveal=true`)).value).toBe('crm-token-edited-000000000');

    await row.getByTestId('secret-rotate').click();
    await p.getByTestId('secret-modal').getByTestId('secret-value').fill('crm-token-rotated-11111111');
    await p.getByTestId('secret-modal').getByTestId('secret-save').click();
    await p.getByTestId('secret-modal').waitFor({ state: 'detached' });
    const listed = (await api('/api/secrets')).secrets.find((s: any) => s.name === 'CRM_TOKEN');
    expect((await api(`/api/secrets/${listed.id}?reveal=true`)).value).toBe('crm-token-rotated-11111111');
    const ops = (await api('/api/secrets/audit?secret_name=CRM_TOKEN')).records.map((r: any) => r.operation);
    expect(ops).toEqual(expect.arrayContaining(['CREATE', 'REVEAL', 'UPDATE']));

    await row.getByTestId('secret-delete').click();
    await row.getByTestId('confirm-delete').click();
    await row.waitFor({ state: 'detached' });
    expect((await api('/api/secrets')).secrets.some((s: any) => s.name === 'CRM_TOKEN')).toBe(false);
    expect(admin.problems()).toEqual([]);
  }, 60_000);

  it('gives a viewer token a read-only page, and a bad token an explanation', async () => {
    await api('/api/secrets', { method: 'POST', body: JSON.stringify({ name: 'SHOWN_MASKED', value: 'viewer-must-not-see-this-1' }) });
    const viewerToken = await t.rt.tokens.issue({ role: 'viewer', name: 'projector' });
    const viewer = await browser.open(`${t.rt.url}/#token=${viewerToken}`, { viewport: { width: 1280, height: 720 } });
    try {
      await waitState(viewer, '[data-testid=conn][data-state=live]');
      await waitState(viewer, '[data-testid=secret-row][data-name=SHOWN_MASKED]');
      for (const id of ['agent-stop', 'secret-add', 'secret-reveal', 'secret-edit', 'secret-rotate', 'secret-delete', 'approve-increase']) {
        expect(await viewer.page.getByTestId(id).count(), id).toBe(0);
      }
      expect(await viewer.page.content()).not.toContain('viewer-must-not-see-this-1');
      expect(viewer.problems()).toEqual([]);
    } finally {
      await viewer.close();
    }

    const bad = await browser.open(`${t.rt.url}/#token=not-a-token`);
    try {
      await waitState(bad, '[data-testid=auth-error]');
      expect(await textOf(bad, 'auth-error')).toMatch(/opens nothing: token is not valid for this iron-cage[\s\S]*iron-cage dashboard/);
      // The command it names is this iron-cage's, as it was started: its file and port.
      expect(await bad.page.getByTestId('renew').innerText()).toBe(`${selfCommand()} dashboard --db ${t.rt.config.db} --port ${new URL(t.rt.url).port}`);
      expect(await bad.page.evaluate(() => sessionStorage.getItem('iron-cage-token'))).toBeNull();
      // Pasting a one-time login link into the same tab (only the fragment changes: no reload)
      // brings the page up with a session, and takes the link out of the address bar.
      const { link } = mintLoginLink(new TokensStore(onSqlite(t.rt.state)), { ttlMinutes: 15, by: 'cli' });
      await bad.page.evaluate((l) => (location.hash = `#login=${encodeURIComponent(l)}`), link);
      await waitState(bad, '[data-testid=conn][data-state=live]');
      expect(await bad.page.evaluate(() => location.hash)).toBe('');
      expect(await bad.page.evaluate(() => sessionStorage.getItem('iron-cage-token'))).toMatch(/^ic_/);
      // A reload keeps the session (it lives in the tab's storage, not in the link).
      await bad.page.reload();
      await waitState(bad, '[data-testid=conn][data-state=live]');
      // The same link in another browser opens nothing, and says why.
      const second = await browser.open(`${t.rt.url}/#login=${encodeURIComponent(link)}`);
      try {
        await waitState(second, '[data-testid=auth-error]');
        expect(await textOf(second, 'auth-error')).toMatch(/this login link has been used already[\s\S]*iron-cage dashboard/);
        expect(await second.page.evaluate(() => location.hash)).toBe('');
      } finally {
        await second.close();
      }
    } finally {
      await bad.close();
    }
  }, 60_000);

  it('fits a 1920×1080 projector without scrolling; screenshots at 1920×1080 and 1280×720', async () => {
    // What fits is the three columns: every panel of the run (the Watch card too, once earlier
    // tests made it speak). The full-width timeline row is added under them, a scroll away
    // (a virtualised list of its own, at least 16rem tall: it cannot share 1080 px with the
    // columns without cutting them), its head on the first screen to say it is there.
    // Run alone, the test comes before the page has laid out anything (an empty page fits anything).
    await admin.page.waitForSelector('[data-testid=conn][data-state=live]', { timeout: 20_000 });
    await admin.page.waitForSelector('main.grid > .col > .panel-agent', { timeout: 20_000 });
    const size = await admin.page.evaluate(() => {
      scrollTo(0, 0);
      const bottoms = Array.from(document.querySelectorAll('main.grid > .col > .panel'), (p) => p.getBoundingClientRect().bottom);
      return {
        panels: bottoms.length,
        columns: Math.max(...bottoms),
        timeline: document.querySelector('.panel-timeline')?.getBoundingClientRect().top ?? Number.POSITIVE_INFINITY,
        inner: innerHeight,
        wide: document.documentElement.scrollWidth,
        w: innerWidth,
      };
    });
    expect(size.panels).toBeGreaterThanOrEqual(6);
    expect(size.columns).toBeLessThanOrEqual(size.inner);
    expect(size.timeline).toBeLessThan(size.inner);
    expect(size.wide).toBeLessThanOrEqual(size.w);
    await admin.screenshot('dashboard-1920x1080');
    await admin.page.setViewportSize({ width: 1280, height: 720 });
    await admin.screenshot('dashboard-1280x720');
    await admin.page.setViewportSize({ width: 1920, height: 1080 });
  }, 30_000);

  it("moves spend and % used with each call's own event, and asks for the rest of the cost report at most once per COST_REPORT_GAP_MS, not per call", async () => {
    const costsPath = `/api/agents/${agentId()}/costs`;
    const asked: string[] = [];
    const onRequest = (r: Request) => void asked.push(new URL(r.url()).pathname);
    admin.page.on('request', onRequest);
    const from = Date.now();
    // One lead (one LLM call) at a time, each on screen before the next: a run at a steady pace.
    for (let i = 13; i <= 30; i++) {
      allow(i);
      await waitText(admin, 'agent-progress', `${i} / 40 leads (${Math.round((i / 40) * 100)}%)`);
    }
    const report = await api(costsPath);
    await waitText(admin, 'cost-spent', money(report.spentUsd));
    await waitText(admin, 'cost-calls', count(report.requests));
    await until(async () => Number(await byId(admin, 'cost-chart').getAttribute('data-points')) === report.series.length);
    const elapsed = Date.now() - from;
    admin.page.off('request', onRequest);
    const reports = asked.filter((p) => p === costsPath).length;
    expect(reports, `${reports} cost reports for 18 calls in ${elapsed} ms`).toBeLessThanOrEqual(2 + Math.floor(elapsed / COST_REPORT_GAP_MS));

    // The report held back: a call still moves spend and % used, from its llm.request event alone
    // (a call of the agent's own, not followed by progress, whose status object would carry them).
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    await admin.page.route('**/costs', async (route) => {
      await held;
      await route.continue();
    });
    const run = await t.rt.tokens.issueRun({ name: agentId(), agentId: agentId() });
    try {
      const r = await fetch(`${t.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${run.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'One more intro, please.' }] }),
      });
      expect(r.status, await r.clone().text()).toBe(200);
      const now = await api(costsPath);
      expect(now.spentUsd).toBeGreaterThan(report.spentUsd);
      await waitText(admin, 'cost-spent', money(now.spentUsd));
      await waitText(admin, 'cost-percent', `${pct((now.spentUsd / now.limitUsd) * 100)} used`);
    } finally {
      run.end();
      release();
    }
    await admin.page.unroute('**/costs');
    expect(admin.problems()).toEqual([]);
  }, 90_000);

  it('shows the finished run, and afterwards, from the database, read-only as an earlier run', async () => {
    allow(TOTAL);
    await waitState(admin, '[data-testid=agent-status][data-status=completed]');
    await waitText(admin, 'agent-progress', '40 / 40 leads (100%)');
    const spent = await textOf(admin, 'cost-spent');
    await t.rt.agentDone;
    await admin.close();
    await t.stop();

    // `iron-cage serve` on the same database: no agent, the earlier run browsable.
    t = await startTestRuntime({ dir: dbDir.dir, env: { IRON_CAGE_MASTER_KEY: MASTER_KEY } });
    const later = await browser.open(`${t.rt.url}/#token=${t.rt.adminToken}`, { viewport: { width: 1920, height: 1080 } });
    try {
      await waitState(later, '[data-testid=agent-status][data-status=completed]');
      expect(await later.page.getByTestId('agent-picker').innerText()).toMatch(/earlier run/);
      await waitText(later, 'cost-spent', spent);
      await waitText(later, 'agent-progress', '40 / 40 leads (100%)');
      expect(await later.page.getByTestId('agent-stop').count()).toBe(0);
      expect(later.problems()).toEqual([]);
    } finally {
      await later.close();
    }
  }, 90_000);

  it('with no agent at all, says so and shows the command to start one', async () => {
    const empty = await startTestRuntime();
    const p = await browser.open(`${empty.rt.url}/#token=${empty.rt.adminToken}`);
    try {
      await waitState(p, '[data-testid=no-agent]');
      expect(await textOf(p, 'no-agent')).toContain('iron-cage start agent.py --budget 50');
      // A locked vault (no master key here) is explained, not a failed request.
      await waitState(p, '[data-testid=vault-locked]');
      expect(await textOf(p, 'vault-locked')).toContain('IRON_CAGE_MASTER_KEY');
      expect(p.problems()).toEqual([]);
    } finally {
      await p.close();
      await empty.stop();
    }
  }, 30_000);

  it('without a token, logs a named user in and shows the page for their role', async () => {
    const r = await t.api('/api/users', { method: 'POST', body: JSON.stringify({ name: 'presenter', role: 'viewer', password: 'a long enough password' }) });
    expect(r.status).toBe(201);
    const p = await browser.open(`${t.rt.url}/`);
    try {
      const form = p.page.getByTestId('login');
      await form.waitFor();
      await form.locator('input[name=name]').fill('presenter');
      await form.locator('input[name=password]').fill('a wrong password!!');
      await form.locator('button[type=submit]').click();
      await until(async () => (await form.innerText()).includes('wrong name or password') || null);
      await form.locator('input[name=password]').fill('a long enough password');
      await form.locator('button[type=submit]').click();
      await waitState(p, '[data-testid=conn][data-state=live]');
      expect(await p.page.locator('.role').innerText()).toContain('viewer (read-only)');
      expect(await p.page.getByTestId('secret-add').count()).toBe(0);
      // The refused password was a 401 the page expected; nothing else went wrong.
      expect(p.problems().filter((m) => !m.includes('/api/login'))).toEqual([]);

      // The user is removed while the page is away: the reconnect is refused (a bare 1006 to the
      // page), and the page finds out why instead of reconnecting forever.
      const hub = (t.rt as any).server.hub;
      for (const c of [...hub.clients]) c.ws.terminate();
      expect((await t.api('/api/users/presenter', { method: 'DELETE' })).status).toBe(200);
      await waitState(p, '[data-testid=auth-error]');
      expect(await p.page.evaluate(() => sessionStorage.getItem('iron-cage-token'))).toBeNull();
    } finally {
      await p.close();
    }
  }, 30_000);
});
