import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, launchCli, type LaunchedCli } from '../helpers/cli.js';
import { startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/runtime.js';

// Leases under replicas (issue 45, item 3), on a real panel (PostgreSQL, HTTP) and a second panel
// process on the same database: a lease call replayed out of order changes nothing on the ledger
// of leases; two calls of one runtime reaching two panel processes at once take turns.

let server: TestPostgres;
let t: TestPanel;
const rt: Record<string, string> = {};
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  server = await startPostgres();
  // Leases renewed every second (a third of the TTL), so a runtime's report follows its calls closely.
  t = await startTestPanel(server.url, { leaseTtlMs: 3_000 });
  for (const [id, user] of [
    ['rt-replay', 'u-replay'],
    ['rt-race', 'u-race'],
  ] as const)
    rt[id] = ((await (await t.api('/api/runtimes', { token: t.admin, body: { id, user } })).json()) as { token: string }).token;
}, 60_000);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await t?.close();
  await server?.destroy();
});

const call = async (path: string, o: { method?: string; token?: string | null; body?: unknown } = {}) => {
  const res = await t.api(path, { token: t.admin, ...o });
  return { status: res.status, body: (await res.json()) as any };
};
const budget = async (body: Record<string, unknown>) => expect((await call('/api/budgets', { body })).status).toBe(201);
/** POST /api/leases on a panel (this one unless told), as a runtime sends it. */
const lease = async (token: string, body: unknown, url = t.url) => {
  const res = await fetch(`${url}/api/leases`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
};
const num = (rows: Array<Record<string, unknown>>) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v])));
/** A runtime's lease row of a budget's one window, as PostgreSQL holds it. */
const row = async (runtime: string, budgetId: string) =>
  num(
    await server.rows(
      'SELECT granted_micros AS granted, spent_micros AS spent, used_micros AS used, held_micros AS held, wanted_micros AS wanted FROM budget_leases WHERE budget_id = $1 AND runtime_id = $2 AND window_start = 0',
      [budgetId, runtime],
    ),
  )[0] as { granted: number; spent: number; used: number; held: number; wanted: number } | undefined;
const order = async (runtime: string) => num(await server.rows('SELECT lease_incarnation AS incarnation, lease_seq AS seq FROM runtimes WHERE id = $1', [runtime]))[0];

describe('the order of a runtime’s lease calls', () => {
  it('answers a replayed older call stale and writes nothing: no grant, lease row, coverage row or pair', async () => {
    await budget({ id: 'replay', scope: 'user', users: ['u-replay'], limitUsd: 1 });
    const tok = rt['rt-replay']!;
    const I = Date.now();
    const first = await lease(tok, { incarnation: I, seq: 1, budgets: [{ budget: 'replay', window: 0, want: 300_000 }] });
    expect(first.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ budget: 'replay', granted: 300_000 })] });
    expect(first.body.applied).toBeUndefined();
    const second = await lease(tok, { incarnation: I, seq: 2, budgets: [{ budget: 'replay', window: 0, want: 500_000, used: 100_000, held: 20_000 }] });
    expect(second.body.budgets).toEqual([expect.objectContaining({ budget: 'replay', granted: 500_000 })]);
    // A budget made since: a replay must not record it as told to this runtime.
    await budget({ id: 'replay-new', scope: 'user', users: ['u-replay'], limitUsd: 1 });
    const ledger = async () => ({
      leases: await server.rows("SELECT * FROM budget_leases WHERE budget_id LIKE 'replay%' ORDER BY budget_id, window_start, runtime_id"),
      coverage: await server.rows("SELECT * FROM budget_coverage WHERE runtime_id = 'rt-replay' ORDER BY budget_id"),
      order: await order('rt-replay'),
    });
    const before = await ledger();
    expect(before.coverage.map((c) => c.budget_id)).toEqual(['replay']);

    // Call 1 again, as a retry that lost its race or a replica that answered late sends it: it would give everything back.
    const replay = await lease(tok, { incarnation: I, seq: 1, budgets: [{ budget: 'replay', window: 0, want: 0 }] });
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ stale: true, applied: { incarnation: I, seq: 2 } });
    // The answer is the state as it stands, computed read-only.
    expect(replay.body.budgets).toEqual([expect.objectContaining({ budget: 'replay', granted: 500_000, unleased: 500_000 }), expect.objectContaining({ budget: 'replay-new', granted: 0 })]);
    // The same number again, and a call of an earlier process: stale too.
    for (const o of [
      { incarnation: I, seq: 2 },
      { incarnation: I - 1, seq: 99 },
    ])
      expect((await lease(tok, { ...o, budgets: [{ budget: 'replay', window: 0, want: 900_000 }] })).body).toMatchObject({ stale: true, applied: { incarnation: I, seq: 2 } });
    expect(await ledger()).toEqual(before);

    // The next number is applied: it gives back, and is told of the new budget.
    const third = await lease(tok, { incarnation: I, seq: 3, budgets: [{ budget: 'replay', window: 0, want: 0, used: 100_000 }] });
    expect(third.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ budget: 'replay', granted: 100_000 }), expect.objectContaining({ budget: 'replay-new' })] });
    expect((await ledger()).coverage.map((c) => c.budget_id)).toEqual(['replay', 'replay-new']);
    expect(await order('rt-replay')).toEqual({ incarnation: I, seq: 3 });
    // An older runtime's call, with no order, is taken as it comes, and leaves the pair as it is.
    const unordered = await lease(tok, { budgets: [{ budget: 'replay', window: 0, want: 150_000, used: 100_000 }] });
    expect(unordered.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ granted: 150_000 }), expect.anything()] });
    expect(await order('rt-replay')).toEqual({ incarnation: I, seq: 3 });
  });

  it('refuses an order given by halves or out of range with a 400 naming the field', async () => {
    const I = Date.now();
    const both = "a lease call is ordered by both (the runtime process's start, epoch ms, and the call's number in it)";
    const cases: Array<[unknown, string]> = [
      [{ incarnation: I, budgets: [] }, `seq: required with incarnation: ${both}`],
      [{ seq: 4, budgets: [] }, `incarnation: required with seq: ${both}`],
      [{ incarnation: I, seq: 0, budgets: [] }, 'seq: must be 1 or more'],
      [{ incarnation: 0, seq: 1, budgets: [] }, 'incarnation: must be 1 or more'],
      [{ incarnation: 1.5, seq: 1, budgets: [] }, 'incarnation: must be a whole number'],
      [{ incarnation: String(I), seq: 1, budgets: [] }, 'incarnation: expected number'],
      [{ incarnation: I, seq: 2 ** 53, budgets: [] }, `seq: must be at most ${Number.MAX_SAFE_INTEGER}`],
    ];
    for (const [body, message] of cases) {
      const r = await lease(rt['rt-replay']!, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.message).toBe(message);
    }
  });

  it('two calls of one runtime reaching two panel processes at once take turns: the higher number wins, a lower one served second is stale', async () => {
    await budget({ id: 'race', scope: 'user', users: ['u-race'], limitUsd: 10 });
    // A second panel process on the same database (the built command line, as a replica runs).
    const port = await freePort();
    const other: LaunchedCli = launchCli(['panel', '--database', server.url, '--port', String(port), '--host', '127.0.0.1', '--lease-ttl', '3s']);
    cleanups.push(async () => {
      other.child.kill('SIGKILL');
      await other.exited;
    });
    await until(() => /#login=/.test(other.out()), 40_000);
    const B = `http://127.0.0.1:${port}`;
    const tok = rt['rt-race']!;
    const I = Date.now();
    expect((await lease(tok, { incarnation: I, seq: 1, budgets: [{ budget: 'race', window: 0, want: 50_000 }] }, B)).body.budgets[0].granted).toBe(50_000);

    // The test holds the runtime's row, so both calls are in their transactions, waiting, before
    // either goes on; then lets go. Each waits at the runtime's row (the query naming its pair).
    const holder = new pg.Client(server.url);
    await holder.connect();
    cleanups.push(() => holder.end());
    const waiting = async () => (await server.rows<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%lease_incarnation%'"))[0]!.n;
    type Sent = [url: string, o: { incarnation: number; seq: number }, want: number];
    const race = async (...calls: [Sent, Sent]) => {
      await holder.query('BEGIN');
      await holder.query("SELECT 1 FROM runtimes WHERE id = 'rt-race' FOR UPDATE");
      const answers: Array<Promise<{ status: number; body: any }>> = [];
      for (const [url, o, want] of calls) {
        answers.push(lease(tok, { ...o, budgets: [{ budget: 'race', window: 0, want }] }, url));
        const n = answers.length;
        await until(async () => (await waiting()) === n, 15_000);
      }
      await holder.query('COMMIT');
      const [first, second] = await Promise.all(answers);
      return [first!, second!] as const;
    };

    // Call 11 (panel A) is first in line, call 10 (panel B) second: 11 is applied, 10 is stale and
    // reads what 11 wrote.
    const [a11, b10] = await race([t.url, { incarnation: I, seq: 11 }, 111_000], [B, { incarnation: I, seq: 10 }, 222_000]);
    expect(a11.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ granted: 111_000 })] });
    expect(b10.body).toMatchObject({ stale: true, applied: { incarnation: I, seq: 11 }, budgets: [expect.objectContaining({ granted: 111_000 })] });
    expect(await row('rt-race', 'race')).toMatchObject({ granted: 111_000, wanted: 111_000 });
    expect(await order('rt-race')).toEqual({ incarnation: I, seq: 11 });

    // The lower number first (panel B), the higher second (panel A): both are applied, in order.
    const [b12, a13] = await race([B, { incarnation: I, seq: 12 }, 333_000], [t.url, { incarnation: I, seq: 13 }, 40_000]);
    expect(b12.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ granted: 333_000 })] });
    expect(a13.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ granted: 40_000 })] });
    expect(await row('rt-race', 'race')).toMatchObject({ granted: 40_000, wanted: 40_000 });
    expect(await order('rt-race')).toEqual({ incarnation: I, seq: 13 });

    // A new process of the runtime (a later start) first: the old process's late call is stale.
    const [a1, b14] = await race([t.url, { incarnation: I + 1_000, seq: 1 }, 70_000], [B, { incarnation: I, seq: 14 }, 999_000]);
    expect(a1.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ granted: 70_000 })] });
    expect(b14.body).toMatchObject({ stale: true, applied: { incarnation: I + 1_000, seq: 1 }, budgets: [expect.objectContaining({ granted: 70_000 })] });
    expect(await row('rt-race', 'race')).toMatchObject({ granted: 70_000, wanted: 70_000 });
    expect(await order('rt-race')).toEqual({ incarnation: I + 1_000, seq: 1 });

    // And as they come, nobody holding anything: 20 pairs, each two numbers fired at once at the
    // two panels (which panel gets the higher one alternates). Whatever the order they run in, the
    // higher one is applied last: the pair and the lease row are its, and the lower one is either
    // applied before it or answered stale with what the higher one wrote.
    const J = I + 2_000;
    for (let n = 1; n <= 40; n += 2) {
      const want = (seq: number) => 10_000 + seq * 1_000;
      const [lo, hi] = n % 4 === 1 ? [t.url, B] : [B, t.url];
      const [low, high] = await Promise.all([
        lease(tok, { incarnation: J, seq: n, budgets: [{ budget: 'race', window: 0, want: want(n) }] }, lo),
        lease(tok, { incarnation: J, seq: n + 1, budgets: [{ budget: 'race', window: 0, want: want(n + 1) }] }, hi),
      ]);
      expect(high.body).toMatchObject({ stale: false, budgets: [expect.objectContaining({ granted: want(n + 1) })] });
      if (low.body.stale) expect(low.body.budgets[0].granted).toBe(want(n + 1));
      else expect(low.body.budgets[0].granted).toBe(want(n));
      expect(await order('rt-race')).toEqual({ incarnation: J, seq: n + 1 });
      expect(await row('rt-race', 'race')).toMatchObject({ granted: want(n + 1), wanted: want(n + 1) });
    }
  }, 90_000);
});
