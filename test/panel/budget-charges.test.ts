import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { windowStart } from '../../src/state/index.js';
import { agentRow, batchOf, startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// Which central budgets a runtime's rows may charge (a forged tag must charge no one else's budget), on a running panel (real
// PostgreSQL, real HTTP, runtime tokens): a row may name only budget windows the panel leased to
// its runtime, for its agent. Ann's runtime naming bob's budgets, a window that has not begun, a
// budget that does not exist, one covering another agent only, or a window before the budget
// existed is refused whole with a 400 naming the call and the budget: nothing lands, nothing is
// charged, bob's runtime is leased as before, and ann's own rows still charge her budgets.

const DAY = 86_400_000;
let server: TestPostgres;
let t: TestPanel;
const rt: Record<string, string> = {};

beforeAll(async () => {
  server = await startPostgres();
  t = await startTestPanel(server.url);
  for (const [id, user] of [
    ['rt-ann', 'ann'],
    ['rt-bob', 'bob'],
  ] as const)
    rt[id] = ((await (await t.api('/api/runtimes', { token: t.admin, body: { id, user } })).json()) as { token: string }).token;
  for (const body of [
    { id: 'bob-daily', scope: 'user', users: ['bob'], period: 'day', limitUsd: 2 },
    { id: 'bob-total', scope: 'user', users: ['bob'], limitUsd: 2 },
    { id: 'ann-total', scope: 'user', users: ['ann'], limitUsd: 5 },
    { id: 'writer-only', scope: 'agent', agents: ['writer'], limitUsd: 5 },
    { id: 'fleet-day', scope: 'fleet', period: 'day', limitUsd: 10 },
  ])
    expect((await t.api('/api/budgets', { token: t.admin, body })).status).toBe(201);
}, 60_000);
afterAll(async () => {
  await t?.close();
  await server?.destroy();
});

const call = async (path: string, o: { method?: string; token?: string | null; body?: unknown } = {}) => {
  const res = await t.api(path, { token: t.admin, ...o });
  return { status: res.status, body: (await res.json()) as any };
};
const lease = (runtime: string, budgets: unknown[]) => call('/api/leases', { token: rt[runtime], body: { budgets } });
const spent = async () => Object.fromEntries(((await call('/api/budgets')).body.budgets as Array<{ id: string; spentMicros: number }>).map((b) => [b.id, b.spentMicros]));

/** Batch `seq` of runtime `runtime`: one $1 call per tag, by agent `agent` (its id `<agent>-1`). */
function charging(runtime: string, seq: number, tags: string[][], agent = 'lead-gen', from = 1) {
  const b = batchOf(runtime, seq, { from, n: tags.length, agentId: `${agent}-1`, costMicros: 1_000_000, ts: new Date().toISOString() });
  return {
    ...b,
    agents: [agentRow(`${agent}-1`, agent, new Date().toISOString())],
    llmRequests: b.llmRequests!.map((r, i) => ({ ...(r as object), budgets: JSON.stringify(tags[i]) })),
  };
}
const send = async (runtime: string, batch: unknown) => call('/api/telemetry', { token: rt[runtime], body: batch });

describe('a runtime charges only the budget windows leased to it, for its agents', () => {
  it("refuses ann's rows naming bob's budgets, a window not begun or before the budget, no budget, another agent's: 400, nothing charged", async () => {
    const bob = await lease('rt-bob', [
      { budget: 'bob-daily', window: windowStart('day', Date.now()), want: 1_000_000 },
      { budget: 'bob-total', window: 0, want: 1_000_000 },
    ]);
    expect(bob.status).toBe(200);
    const today = bob.body.budgets.find((b: { budget: string }) => b.budget === 'bob-daily').window as number;
    // Ann's runtime is leased what covers it (its user, the fleet, the agent names), never bob's.
    const ann = await lease('rt-ann', [{ budget: 'ann-total', window: 0, want: 2_000_000 }]);
    expect(ann.body.budgets.map((b: { budget: string }) => b.budget).sort()).toEqual(['ann-total', 'fleet-day', 'writer-only']);

    const cases: Array<[tags: string[][], agent: string, why: string]> = [
      [[['bob-total@0']], 'lead-gen', "budget 'bob-total' window 0: no budget of that name covers runtime 'rt-ann'"],
      [[['ann-total@0', 'bob-total@0', `bob-daily@${today}`]], 'lead-gen', "budget 'bob-total' window 0: no budget of that name covers runtime 'rt-ann'"],
      [[[`bob-daily@${today + DAY}`]], 'lead-gen', `budget 'bob-daily' window ${today + DAY}`],
      [[[`fleet-day@${today + DAY}`]], 'lead-gen', `budget 'fleet-day' window ${today + DAY} (${new Date(today + DAY).toISOString()}): it has not begun`],
      [[['no-such-budget@0']], 'lead-gen', "budget 'no-such-budget' window 0: no budget of that name covers runtime 'rt-ann'"],
      [[['writer-only@0']], 'lead-gen', "budget 'writer-only' window 0: it covers only agent 'writer' on this runtime, not agent 'lead-gen'"],
      [[[`fleet-day@${today - DAY}`]], 'lead-gen', `budget 'fleet-day' window ${today - DAY} (${new Date(today - DAY).toISOString()}): it began before the budget was made`],
      [[[`fleet-day@${today + 1}`]], 'lead-gen', `budget 'fleet-day' window ${today + 1} (${new Date(today + 1).toISOString()}): it is not the start of a day`],
      // A good row first: the bad one in the same batch refuses it all.
      [[['ann-total@0'], ['bob-total@0']], 'lead-gen', 'call id 2'],
    ];
    for (const [tags, agent, why] of cases) {
      const r = await send('rt-ann', charging('rt-ann', 1, tags, agent));
      expect(r.status, JSON.stringify(tags)).toBe(400);
      expect(r.body.error.code).toBe('budget_not_covered');
      expect(r.body.error.message).toContain(why);
      expect(r.body.error.message).toMatch(/^call id \d+ \(agent '[^']+'\) names budget '/);
    }
    // Nothing of any of them landed: no spend anywhere, the sequence where it was, no row.
    expect(await spent()).toEqual({ 'ann-total': 0, 'bob-daily': 0, 'bob-total': 0, 'fleet-day': 0, 'writer-only': 0 });
    expect((await call('/api/telemetry', { token: rt['rt-ann'] })).body.lastSeq).toBe(0);
    expect(await server.rows('select count(*)::int as n from llm_requests')).toEqual([{ n: 0 }]);
    expect(await server.rows('select budget_id, runtime_id, spent_micros::int as s from budget_leases where spent_micros > 0')).toEqual([]);
    // Bob's runtime is leased as before: all of what it asks.
    const again = await lease('rt-bob', [
      { budget: 'bob-daily', window: today, want: 2_000_000 },
      { budget: 'bob-total', window: 0, want: 2_000_000 },
    ]);
    expect(again.body.budgets.filter((b: { budget: string }) => b.budget.startsWith('bob-')).map((b: { budget: string; granted: number }) => [b.budget, b.granted])).toEqual([
      ['bob-daily', 2_000_000],
      ['bob-total', 2_000_000],
    ]);
  });

  it("charges ann's own rows to her budgets, the fleet's and an agent budget for that agent; bob's rows to his", async () => {
    const today = windowStart('day', Date.now());
    const ann = await lease('rt-ann', [{ budget: 'ann-total', window: 0, want: 3_000_000 }]);
    const fleet = ann.body.budgets.find((b: { budget: string }) => b.budget === 'fleet-day').window as number;
    expect([today, today + DAY]).toContain(fleet);
    const mine = await send('rt-ann', charging('rt-ann', 1, [['ann-total@0', `fleet-day@${fleet}`], ['ann-total@0']]));
    expect(mine.status).toBe(200);
    const writer = await send('rt-ann', charging('rt-ann', 2, [['writer-only@0', 'ann-total@0']], 'writer', 3));
    expect(writer.status).toBe(200);
    // Bob's rows for the windows leased to him before.
    const bob = await send('rt-bob', charging('rt-bob', 1, [['bob-total@0'], [`bob-daily@${windowStart('day', Date.now())}`]]));
    expect(bob.status).toBe(200);
    const s = await spent();
    expect(s).toMatchObject({ 'ann-total': 3_000_000, 'writer-only': 1_000_000, 'bob-total': 1_000_000 });
    expect(await server.rows("select sum(spent_micros)::int as s from budget_leases where budget_id = 'fleet-day'")).toEqual([{ s: 1_000_000 }]);
    expect(await server.rows("select sum(spent_micros)::int as s from budget_leases where budget_id = 'bob-daily'")).toEqual([{ s: 1_000_000 }]);
  });

  it("keeps a deleted budget's late rows from blocking the runtime: they land, charging nothing; a new budget of that name is not charged by them", async () => {
    expect((await t.api('/api/budgets', { token: t.admin, body: { id: 'short-lived', scope: 'fleet', limitUsd: 5 } })).status).toBe(201);
    expect((await lease('rt-ann', [{ budget: 'short-lived', window: 0, want: 1_000_000 }])).status).toBe(200);
    expect((await call('/api/budgets/short-lived', { method: 'DELETE' })).status).toBe(200);
    // Made again for bob alone: ann's leases of the old one are no proof for it.
    expect((await t.api('/api/budgets', { token: t.admin, body: { id: 'short-lived', scope: 'user', users: ['bob'], limitUsd: 5 } })).status).toBe(201);
    const late = await send('rt-ann', charging('rt-ann', 3, [['short-lived@0', 'ann-total@0']], 'lead-gen', 4));
    expect(late.status).toBe(200);
    expect((await spent())['short-lived']).toBe(0);
    expect((await spent())['ann-total']).toBe(4_000_000);
  });
});
