import { afterEach, describe, expect, it } from 'vitest';
import type { BudgetService } from '../../src/budget/index.js';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import type { BudgetTracker } from '../../src/domain/budget/index.js';
import { Leases, PanelClient } from '../../src/report/index.js';
import { RequestsStore } from '../../src/state/index.js';
import { storeDb } from '../../src/state/runtime/manager.js';
import { events, llmRequests } from '../../src/state/schema.js';
import { agentToken, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';
import { LeasePanel } from './lease-panel.js';

// Central budgets on a real runtime (gateway calls on the simulated provider) against a small
// fake of the panel's POST /api/leases (lease-panel.ts, real HTTP): calls never spend beyond
// what was granted, wait for a lease and go through when one comes, stop at the lease when the
// panel is away (402 after budget_policy.wait_ms), and go on when it is back; leases are given
// back when contended, idle and at shutdown; rows carry their central keys; a restart rebuilds
// each budget's spend from them.

const WAIT_MS = 1_500;
const config = (panel: LeasePanel | null, waitMs = WAIT_MS): Partial<Config> => ({
  gateway: {
    ...DEFAULTS.gateway,
    budgetPolicy: { ...DEFAULTS.gateway.budgetPolicy, waitMs },
    providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 20, chunkDelayMs: 0, failures: [] } },
  },
  ...(panel ? { panel: { url: panel.url, token: panel.token, ca: null } } : {}),
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function leasePanel(): Promise<LeasePanel> {
  const p = new LeasePanel();
  await p.start();
  cleanups.push(() => p.stop());
  return p;
}

async function runtime(c: Partial<Config>, dir?: string): Promise<TestRuntime> {
  const t = await startTestRuntime({ config: c, ...(dir ? { dir } : {}) });
  let stopped = false;
  cleanups.push(async () => {
    if (!stopped) await t.stop();
  });
  return {
    ...t,
    stop: async () => {
      stopped = true;
      await t.stop();
    },
  };
}

/** One chat completion as the agent's SDK sends it: its status and body. */
async function chat(t: TestRuntime, token: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${t.rt.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hi' }], max_tokens: 40 }),
  });
  return { status: r.status, body: await r.text() };
}

const trackerOf = (t: TestRuntime): BudgetTracker => (t.rt.services.find((s) => s.name === 'budget') as BudgetService).budgets.tracker;
const rows = (t: TestRuntime) => storeDb(t.rt.state).orm.select().from(llmRequests).all();
const said = (t: TestRuntime, type: string) =>
  storeDb(t.rt.state)
    .orm.select()
    .from(events)
    .all()
    .filter((e) => e.type === type);
const tagged = (t: TestRuntime, key: string) => rows(t).filter((r) => r.budgets !== null && (JSON.parse(r.budgets) as string[]).includes(key));
const spentOn = (t: TestRuntime, key: string) => tagged(t, key).reduce((s, r) => s + r.costMicros, 0);

describe('central budgets: leases on a runtime', () => {
  it('calls wait for a lease, go through when one is granted, never spend beyond it, and their rows name the budget', async () => {
    const panel = await leasePanel();
    panel.set('team', { limit: 1_000_000 });
    // Another runtime holds the whole budget: nothing to lease, but it may come back (`left` > 0).
    panel.other('team', 1_000_000);
    const t = await runtime(config(panel, 20_000));
    const a = await agentToken(t, { budgetUsd: null });
    const settled: number[] = [];
    const calls = Array.from({ length: 6 }, () => chat(t, a.token).then((r) => (settled.push(r.status), r)));
    await until(() => (trackerOf(t).central('central:team@0')?.waitingCalls ?? 0) >= 6, 10_000);
    await until(() => panel.calls.some((c) => c.asks.some((x) => x.waiting >= 6 && x.need > 0)), 10_000);
    expect(settled).toEqual([]);
    // The other runtime gives its lease back: the next lease call is granted, and the calls go.
    panel.other('team', 0);
    const done = await Promise.all(calls);
    expect(done.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const mine = rows(t);
    expect(mine).toHaveLength(6);
    for (const r of mine) expect(r.budgets).toBe('["team@0"]');
    expect(spentOn(t, 'team@0')).toBeLessThanOrEqual(panel.mine('team')!.granted);
    expect(panel.problems).toEqual([]);
    // A call of an agent no budget covers carries no tag.
    panel.set('team', { limit: 1_000_000, covers: ['someone-else'] });
    await until(() => trackerOf(t).linksOf(a.agentId).length === 0, 5_000);
    expect((await chat(t, a.token)).status).toBe(200);
    expect(rows(t).at(-1)!.budgets).toBeNull();
  });

  it('once its waiting calls are through, it tells the panel at once, not at its next renewal (the panel shows what it last heard)', async () => {
    const panel = await leasePanel();
    panel.set('team', { limit: 1_000_000 });
    // Another runtime holds the whole budget: the call waits, and the lease calls (every 300 ms) say so.
    panel.other('team', 1_000_000);
    const t = await runtime(config(panel, 20_000));
    const a = await agentToken(t, { budgetUsd: null });
    const call = chat(t, a.token);
    await until(() => panel.mine('team')?.waiting === 1, 10_000);
    // It gives its lease back, and from now on the panel asks for a renewal a minute later only.
    panel.renewInMs = 60_000;
    panel.other('team', 0);
    expect((await call).status).toBe(200);
    // The answer that let the call through heard "1 waiting"; the panel hears "0 waiting" within a
    // poll and the minimum gap, not at the renewal a minute away.
    await until(() => panel.mine('team')?.waiting === 0, 5_000);
  });

  it('a call above what the budget could ever cover is refused 402 at once, naming the central budget', async () => {
    const panel = await leasePanel();
    panel.set('team', { limit: 100, scope: 'team', period: 'month', window: 1_764_547_200_000 });
    const t = await runtime(config(panel));
    const a = await agentToken(t, { budgetUsd: null });
    const r = await chat(t, a.token);
    expect(r.status).toBe(402);
    expect(JSON.parse(r.body).error.message).toMatch(
      /the team budget team \(\$0\.00010\/month\) would be exceeded: \$0\.00 spent by this runtime, \$0\.00010 of it left to this runtime, .* This budget is set on the control panel/,
    );
    expect(said(t, 'budget.refused').at(-1)).toMatchObject({ agentId: a.agentId });
    expect(JSON.parse(said(t, 'budget.refused').at(-1)!.data as string)).toMatchObject({ central: 'team@1764547200000' });
    // The agent's own budget is not declared exhausted by it.
    expect(said(t, 'budget.exhausted')).toEqual([]);
  });

  it('cut off from the panel, it spends only its lease, then calls wait and get 402 after the bound; they go on once the panel is back', async () => {
    const panel = await leasePanel();
    panel.ttlMs = 1_500; // expiry seen locally a fifth early: 1.2 s after the last answer, within one call's 1.5 s wait
    panel.set('team', { limit: 10_000_000 });
    const t = await runtime(config(panel));
    const a = await agentToken(t, { budgetUsd: null });
    for (let i = 0; i < 3; i++) expect((await chat(t, a.token)).status).toBe(200);
    await until(() => panel.calls.filter((c) => c.status === 200).length >= 3);
    panel.mode = { status: 503, retryAfter: '1' };
    const granted = panel.mine('team')!.granted;
    // Calls go on within the lease until it expires, then one waits the whole bound and is refused.
    let refused: { status: number; body: string } | null = null;
    for (let i = 0; i < 200 && refused === null; i++) {
      const r = await chat(t, a.token);
      if (r.status !== 200) refused = r;
    }
    expect(refused!.status).toBe(402);
    expect(JSON.parse(refused!.body).error.message).toMatch(/team budget team \(\$10\.00\): the control panel has not answered for \d+ s, so no lease covers this call \(waited 1500 ms\)/);
    expect(spentOn(t, 'team@0')).toBeLessThanOrEqual(granted);
    const off = said(t, 'budget.lease');
    expect(off).toHaveLength(1);
    expect(off[0]).toMatchObject({ severity: 'warn' });
    expect(JSON.parse(off[0]!.data as string)).toMatchObject({ budget: 'team', state: 'unavailable' });
    // The panel is back: the next answer restores the grant and calls go on.
    panel.mode = 'ok';
    expect((await chat(t, a.token)).status).toBe(200);
    const events = said(t, 'budget.lease').map((e) => JSON.parse(e.data as string).state);
    expect(events).toEqual(['unavailable', 'available']);
    expect(panel.problems).toEqual([]);
  });

  it('gives back what it does not need when the panel says contended, and everything at shutdown', async () => {
    const panel = await leasePanel();
    panel.set('team', { limit: 10_000_000 });
    const t = await runtime(config(panel));
    const a = await agentToken(t, { budgetUsd: null });
    for (let i = 0; i < 3; i++) expect((await chat(t, a.token)).status).toBe(200);
    // Holding more than it used (at least one more of its largest call) as of its next lease call:
    // the panel's record may still be the one a lease call made before the last call settled.
    const used = spentOn(t, 'team@0');
    await until(() => panel.mine('team')!.granted > used, 5_000);
    panel.contended = true;
    // With nothing waiting and nothing in flight, it wants what it used: the rest goes back.
    await until(() => panel.mine('team')!.granted === used, 5_000);
    panel.contended = false;
    expect((await chat(t, a.token)).status).toBe(200);
    await until(() => panel.mine('team')!.granted > spentOn(t, 'team@0'), 5_000);
    const n = panel.calls.length;
    await t.stop();
    const last = panel.calls.at(-1)!;
    expect(panel.calls.length).toBeGreaterThan(n);
    expect(last.asks).toEqual([expect.objectContaining({ budget: 'team', window: 0, held: 0, waiting: 0 })]);
    expect(last.asks[0]!.want).toBe(last.asks[0]!.used);
    expect(panel.mine('team')!.granted).toBe(last.asks[0]!.used);
    expect(panel.problems).toEqual([]);
  });

  it("after a restart, each budget's spend is rebuilt from the rows' tags and reported at the first lease call", async () => {
    const panel = await leasePanel();
    panel.set('team', { limit: 10_000_000 });
    const { dir, cleanup } = tempDir();
    cleanups.push(async () => cleanup());
    const first = await runtime(config(panel), dir);
    const a = await agentToken(first, { budgetUsd: null, name: 'worker' });
    for (let i = 0; i < 4; i++) expect((await chat(first, a.token)).status).toBe(200);
    const spent = spentOn(first, 'team@0');
    expect(spent).toBeGreaterThan(0);
    await first.stop();
    const n = panel.calls.length;
    const second = await runtime(config(panel), dir);
    await until(() => panel.calls.length > n && panel.calls.at(-1)!.status === 200);
    // Its first call knows no budget yet; the next reports the rebuilt spend.
    await until(() => panel.calls.slice(n).some((c) => c.asks.some((x) => x.budget === 'team')), 5_000);
    const reported = panel.calls.slice(n).find((c) => c.asks.some((x) => x.budget === 'team'))!.asks[0]!;
    expect(reported.used).toBe(spent);
    expect(trackerOf(second).central('central:team@0')).toMatchObject({ spentMicros: spent });
    expect((await chat(second, a.token)).status).toBe(200);
    expect(panel.problems).toEqual([]);
  });
});

describe('central budgets: the order of lease calls', () => {
  it('numbers its lease calls in this process (a retry is a new number), applies no stale answer, and numbers its calls past the panel’s', async () => {
    const panel = await leasePanel();
    panel.set('team', { limit: 10_000_000 });
    const startedAt = Date.now();
    const t = await runtime(config(panel));
    const a = await agentToken(t, { budgetUsd: null });
    expect((await chat(t, a.token)).status).toBe(200);
    // The panel away for a few calls: each try again is a new number.
    panel.mode = { status: 503 };
    const n = panel.calls.length;
    await until(() => panel.calls.length >= n + 3, 10_000);
    panel.mode = 'ok';
    await until(() => panel.calls.length > n + 3 && panel.calls.at(-1)!.status === 200, 10_000);
    const orders = panel.calls.map((c) => c.order!);
    const incarnation = orders[0]!.incarnation;
    expect(incarnation).toBeGreaterThanOrEqual(startedAt);
    expect(incarnation).toBeLessThanOrEqual(Date.now());
    expect(orders).toEqual(orders.map((_, i) => ({ incarnation, seq: i + 1 })));

    // The panel had applied a call of a process that started later (this machine's clock set back,
    // say): it answers stale, with grants this runtime must not take (they read 1).
    const grant = trackerOf(t).central('central:team@0')!.leaseMicros;
    expect(grant).toBeGreaterThan(1);
    panel.staleNext = { incarnation: incarnation + 60_000, seq: 7 };
    await until(() => panel.calls.some((c) => c.stale), 5_000);
    // Its next call is numbered past the panel's (and applied); the stale grant never was.
    const next = await until(() => panel.calls.find((c) => !c.stale && c.order!.incarnation > incarnation), 5_000);
    expect(next.order).toEqual({ incarnation: incarnation + 60_001, seq: panel.calls.indexOf(next) + 1 });
    expect(trackerOf(t).central('central:team@0')!.leaseMicros).toBeGreaterThan(1);
    expect((await chat(t, a.token)).status).toBe(200);
    const stale = said(t, 'budget.lease').filter((e) => e.message.includes('as stale'));
    expect(stale).toHaveLength(1);
    expect(stale[0]!.message).toContain(`from a process started at ${new Date(incarnation + 60_000).toISOString()}`);
    expect(panel.problems).toEqual([]);
  });
});

describe('central budgets: windows', () => {
  it('a new window (period rollover) takes the calls from then on; the old one is reported once more with its final spend, then closed', async () => {
    const panel = await leasePanel();
    panel.set('team', { limit: 10_000_000, period: 'day', window: 0 });
    const t = await runtime(config(panel));
    const a = await agentToken(t, { budgetUsd: null });
    for (let i = 0; i < 2; i++) expect((await chat(t, a.token)).status).toBe(200);
    const old = spentOn(t, 'team@0');
    panel.set('team', { limit: 10_000_000, period: 'day', window: 86_400_000 });
    await until(() => trackerOf(t).linksOf(a.agentId)[0] === 'central:team@86400000', 5_000);
    expect((await chat(t, a.token)).status).toBe(200);
    expect(rows(t).at(-1)!.budgets).toBe('["team@86400000"]');
    expect(spentOn(t, 'team@0')).toBe(old);
    await until(() => trackerOf(t).central('central:team@0') === null, 5_000);
    const lastOld = panel.calls
      .filter((c) => c.asks.some((x) => x.window === 0))
      .at(-1)!
      .asks.find((x) => x.window === 0)!;
    expect(lastOld).toMatchObject({ want: old, used: old, held: 0 });
    expect(panel.problems).toEqual([]);
  });
});

describe('the lease loop, tuned short', () => {
  it('an idle runtime gives back everything above what it used', async () => {
    const panel = await leasePanel();
    panel.set('team', { limit: 10_000_000 });
    const t = await runtime(config(null));
    const a = await agentToken(t, { budgetUsd: null });
    const client = new PanelClient({ url: panel.url, token: () => panel.token, timeoutMs: 5_000 });
    const leases = new Leases({ tracker: trackerOf(t), requests: new RequestsStore(t.rt.state), state: t.rt.state, client, url: panel.url, idleMs: 400, pollMs: 50 });
    cleanups.push(async () => {
      await leases.close();
      await client.close();
    });
    leases.start();
    // Spread over more than a second: its spend samples (one a second) see a rate.
    for (let i = 0; i < 5; i++) {
      expect((await chat(t, a.token)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
    }
    const used = spentOn(t, 'team@0');
    expect(used).toBeGreaterThan(0);
    // Idle: it asks for what it used, and the rest of its grant goes back; and it spends nothing
    // now, so it says a rate of 0 (no runway while nothing runs), not the last minute's.
    await until(() => panel.calls.some((c) => c.asks[0]?.used === used && c.asks[0].want === used && c.asks[0].held === 0), 5_000);
    const idle = panel.calls.filter((c) => c.asks[0]?.want === used && c.asks[0].held === 0);
    expect(idle.map((c) => c.asks[0]!.rate)).toEqual(idle.map(() => 0));
    expect(Math.max(...panel.grants)).toBeGreaterThan(used);
    expect(panel.mine('team')!.granted).toBe(used);
  });

  it('a hanging panel does not keep a lease alive: it expires on the runtime clock', async () => {
    const panel = await leasePanel();
    panel.ttlMs = 2_600;
    panel.set('team', { limit: 10_000_000 });
    const t = await runtime(config(null, 300));
    const a = await agentToken(t, { budgetUsd: null });
    const client = new PanelClient({ url: panel.url, token: () => panel.token, timeoutMs: 30_000 });
    const leases = new Leases({ tracker: trackerOf(t), requests: new RequestsStore(t.rt.state), state: t.rt.state, client, url: panel.url, pollMs: 50, askTimeoutMs: 60_000 });
    cleanups.push(async () => {
      await leases.close();
      await client.close();
    });
    leases.start();
    expect((await chat(t, a.token)).status).toBe(200);
    panel.mode = 'hang';
    await until(() => trackerOf(t).central('central:team@0')?.unavailableSince !== null, 5_000);
    const r = await chat(t, a.token);
    expect(r.status).toBe(402);
    expect(JSON.parse(r.body).error.message).toMatch(/the control panel has not answered/);
  });

  it('tags a stream’s row from its first byte, so spend a crash cut off counts against the budget after the restart', async () => {
    const panel = await leasePanel();
    panel.set('team', { limit: 10_000_000 });
    const slow: Partial<Config> = {
      ...config(panel),
      gateway: { ...config(panel).gateway!, providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 0, chunkDelayMs: 2_000, failures: [] } } },
    };
    const t = await runtime(slow);
    const a = await agentToken(t, { budgetUsd: null });
    const ac = new AbortController();
    const res = await fetch(`${t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'stream slowly' }] }),
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    const pending = await until(() =>
      storeDb(t.rt.state)
        .orm.select()
        .from(llmRequests)
        .all()
        .find((r) => r.status === 'pending'),
    );
    expect(JSON.parse(pending.budgets!)).toEqual(['team@0']);
    ac.abort();
  });
});
