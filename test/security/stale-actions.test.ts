import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeService } from '../helpers/http.js';
import { agentToken, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { breakers, eventsOf, raw, withTools } from '../tools/helpers.js';

// An action decided on a view that has moved on since (a second click, a pop-up left open while
// someone else approved, a dialog opened before a rotation) is refused with 409 `stale` and
// writes nothing: the budget (expectedLimitUsd), a breaker's reset, a secret's new value
// (expectedUpdatedAt). Real runtime, real HTTP.

let t: TestRuntime;
let crm: FakeService;

beforeAll(async () => {
  crm = await FakeService.start();
  t = await startTestRuntime({
    config: withTools({ crm: { url: crm.url, retry: { attempts: 1 }, breaker: { failure_threshold: 1, cooldown_s: 600 } } }),
    env: { IRON_CAGE_MASTER_KEY: 'stale actions test master key, long enough' },
  });
});
afterAll(async () => {
  await t?.stop();
  await crm?.close();
});

const post = (path: string, body?: unknown) => t.api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
const put = (path: string, body: unknown) => t.api(path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const limitOf = async (id: string) => ((await (await t.api(`/api/agents/${id}/status`)).json()) as { budget: { limitUsd: number | null } | null }).budget?.limitUsd ?? null;

describe('POST /api/agents/:id/budget with expectedLimitUsd', () => {
  it('applies an approval once; the same approval again (a stale pop-up) is a 409 that says the limit and writes nothing', async () => {
    const a = await agentToken(t, { budgetUsd: 50 });
    const path = `/api/agents/${a.agentId}/budget`;
    const first = await post(path, { limitUsd: 75, expectedLimitUsd: 50 });
    expect(first.status, await first.clone().text()).toBe(200);
    expect(await limitOf(a.agentId)).toBe(75);
    const changes = eventsOf(t, 'budget.changed').filter((e) => e.agentId === a.agentId).length;

    const again = await post(path, { limitUsd: 75, expectedLimitUsd: 50 });
    expect(again.status).toBe(409);
    expect((await again.json()).error).toEqual({
      code: 'stale',
      message: 'budget not changed: the limit is already $75.00, not the expected $50.00 (it changed since this change was decided); decide again from the current limit',
    });
    // A raise decided from $50 while someone set $60: refused too, with both figures.
    const other = await post(path, { limitUsd: 100, expectedLimitUsd: 60 });
    expect(other.status).toBe(409);
    expect((await other.json()).error.message).toBe('budget not changed: the limit is $75.00, not the expected $60.00 (it changed since this change was decided); decide again from the current limit');
    expect(await limitOf(a.agentId)).toBe(75);
    expect(eventsOf(t, 'budget.changed').filter((e) => e.agentId === a.agentId)).toHaveLength(changes);

    // Decided from what it is now: applied. null expects "no limit".
    expect((await post(path, { limitUsd: 100, expectedLimitUsd: 75 })).status).toBe(200);
    const none = await post(path, { limitUsd: 120, expectedLimitUsd: null });
    expect(none.status).toBe(409);
    expect((await none.json()).error.message).toContain('the limit is $100.00, not the expected no limit');
    expect(await limitOf(a.agentId)).toBe(100);
  });

  it('without expectedLimitUsd (older clients) it applies as before', async () => {
    const a = await agentToken(t, { budgetUsd: 5 });
    expect((await post(`/api/agents/${a.agentId}/budget`, { limitUsd: 7.5 })).status).toBe(200);
    expect((await post(`/api/agents/${a.agentId}/budget`, { limitUsd: 7.5 })).status).toBe(200);
    expect(await limitOf(a.agentId)).toBe(7.5);
  });

  it('validates expectedLimitUsd like every other amount (400, precise), before comparing it', async () => {
    const a = await agentToken(t, { budgetUsd: 5 });
    const cases: Array<[unknown, string]> = [
      [-1, 'expectedLimitUsd: must be more than $0'],
      [0, 'expectedLimitUsd: must be more than $0'],
      ['5', 'expectedLimitUsd: expected number'],
      [1e-7, 'expectedLimitUsd: must have at most 6 decimal places (micro-dollars)'],
      [2_000_000, 'expectedLimitUsd: must be at most $1,000,000.00'],
    ];
    for (const [expectedLimitUsd, message] of cases) {
      const r = await post(`/api/agents/${a.agentId}/budget`, { limitUsd: 10, expectedLimitUsd });
      expect(r.status, String(expectedLimitUsd)).toBe(400);
      expect((await r.json()).error.message).toContain(message);
    }
    expect(await limitOf(a.agentId)).toBe(5);
  });
});

describe('POST /api/breakers/:service/reset', () => {
  it('closes an OPEN circuit once; a second reset of the CLOSED circuit is a 409 and writes no event', async () => {
    crm.failWith(503);
    t.rt.state.registerAgent({ id: 'lg-stale', name: 'lg-stale', kind: 'external', script: null, args: [], limitMicros: null });
    const run = await t.rt.tokens.issueRun({ name: 'lg-stale', agentId: 'lg-stale' });
    try {
      expect((await raw(t.rt.url, 'GET', '/tools/crm/people/1', { token: run.token })).status).toBe(503);
    } finally {
      run.end();
    }
    expect((await breakers(t)).crm.state).toBe('OPEN');
    expect((await post('/api/breakers/crm/reset')).status).toBe(200);
    const resets = eventsOf(t, 'breaker.reset').length;
    const again = await post('/api/breakers/crm/reset');
    expect(again.status).toBe(409);
    expect((await again.json()).error).toEqual({ code: 'stale', message: 'circuit crm is already CLOSED: nothing was reset' });
    expect(eventsOf(t, 'breaker.reset')).toHaveLength(resets);
    crm.heal();
  });
});

describe('PUT /api/secrets/:id with expectedUpdatedAt', () => {
  it('replaces the version it was decided from once; a second rotation from the same stale dialog is a 409 and the value stays', async () => {
    const created = await post('/api/secrets', { name: 'STALE_KEY', value: 'stale-key-original-000000' });
    expect(created.status, await created.clone().text()).toBe(201);
    const s = (await created.json()) as { id: string; updatedAt: string };
    const first = await put(`/api/secrets/${s.id}`, { value: 'stale-key-rotated-by-ann-1', expectedUpdatedAt: s.updatedAt });
    expect(first.status, await first.clone().text()).toBe(200);
    const after = (await first.json()) as { updatedAt: string };
    expect(after.updatedAt > s.updatedAt).toBe(true);

    const stale = await put(`/api/secrets/${s.id}`, { value: 'stale-key-rotated-by-bob-2', expectedUpdatedAt: s.updatedAt });
    expect(stale.status).toBe(409);
    expect((await stale.json()).error).toEqual({
      code: 'stale',
      message: `secret STALE_KEY not changed: it was updated at ${after.updatedAt}, after the version this change was decided from (${s.updatedAt}); open it again to see the current one`,
    });
    expect(((await (await t.api(`/api/secrets/${s.id}?reveal=true`)).json()) as { value: string }).value).toBe('stale-key-rotated-by-ann-1');
    const audit = ((await (await t.api('/api/secrets/audit?secret_name=STALE_KEY&operation=UPDATE')).json()) as { records: Array<{ success: boolean; errorMessage: string | null }> }).records;
    expect(audit.map((r) => r.success)).toEqual([true, false]);
    expect(audit[1]!.errorMessage).toMatch(/^stale: secret STALE_KEY not changed/);

    // Two changes within one millisecond still differ: updatedAt always moves forward.
    const r1 = (await (await put(`/api/secrets/${s.id}`, { value: 'stale-key-quick-1-000000' })).json()) as { updatedAt: string };
    const r2 = (await (await put(`/api/secrets/${s.id}`, { value: 'stale-key-quick-2-000000' })).json()) as { updatedAt: string };
    expect(r2.updatedAt > r1.updatedAt).toBe(true);
    expect((await put(`/api/secrets/${s.id}`, { value: 'stale-key-quick-3-000000', expectedUpdatedAt: r1.updatedAt })).status).toBe(409);

    const bad = await put(`/api/secrets/${s.id}`, { value: 'stale-key-quick-4-000000', expectedUpdatedAt: 'yesterday' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toContain('expectedUpdatedAt: must be an ISO 8601 UTC time');
  });
});
