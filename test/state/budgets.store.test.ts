import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/core/errors.js';
import { CONTENDED_RENEW_MS, type LeaseAsk } from '../../src/domain/budget/index.js';
import {
  BudgetsStore,
  budgetKeys,
  ingestBatch,
  LeasesStore,
  openPostgres,
  MAX_BUDGET_KEYS,
  MAX_BUDGETS,
  pgSchema,
  RuntimesStore,
  telemetryBatch,
  windowStart,
  type BudgetInput,
  type LeaseAnswer,
  type Postgres,
} from '../../src/state/index.js';
import { batchOf } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// Central budgets on a real PostgreSQL: the grant transaction (never past the limit, however many
// runtimes race it), returns, contended sharing, reclaim of a silent runtime's lease, the rows
// adding their cost at ingest (once, however often a batch is sent), period windows, limits.

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const OPTS = { ttlMs: 1_000, reclaimAfterMs: 1_000 };
let server: TestPostgres;
let pg: Postgres;
let store: BudgetsStore;
let leases: LeasesStore;

beforeAll(async () => {
  server = await startPostgres();
  pg = await openPostgres(server.url, { max: 20 });
  store = new BudgetsStore(pg.db);
  leases = new LeasesStore(pg.db, OPTS);
  const runtimes = Array.from({ length: 12 }, (_, i) => ({ id: `rt-${i}`, userId: i < 6 ? 'ann' : 'bob', createdAt: new Date(T0).toISOString() }));
  await pg.db.insert(pgSchema.runtimes).values(runtimes);
}, 60_000);
afterAll(async () => {
  await pg?.close();
  await server?.destroy();
});

let n = 0;
/** A fresh budget of its own for each test. */
async function budget(o: Partial<BudgetInput> = {}): Promise<string> {
  const id = o.id ?? `b-${++n}`;
  await store.create({ id, scope: 'fleet', agents: [], users: [], period: 'none', limitMicros: 1_000_000, ...o }, 'test', new Date(T0));
  return id;
}
const ask = (budget: string, o: Partial<LeaseAsk> = {}): LeaseAsk => ({ budget, window: 0, want: 0, used: 0, held: 0, waiting: 0, need: 0, rate: 0, ...o });
const grantOf = async (rt: string, a: LeaseAsk, now = T0, s = leases) => {
  const { answer } = await s.lease(rt, [a], now);
  const g = answer.budgets.find((b) => b.budget === a.budget)!;
  return { ...g, renewInMs: answer.renewInMs };
};
const leasesOf = async (id: string, now = T0) => (await store.view(now, id))[0]!;

/** A batch of `calls` rows of `cost` each for runtime `rt`, tagged with `tag`. */
const tagged = (rt: string, seq: number, from: number, calls: number, cost: number, tag: string | null) => {
  const b = batchOf(rt, seq, { from, n: calls, costMicros: cost });
  return telemetryBatch.parse({ ...b, llmRequests: b.llmRequests!.map((r) => ({ ...(r as object), budgets: tag })) });
};
const seqs = new Map<string, number>();
const ids = new Map<string, number>();
/** Land `calls` rows of `cost` for `rt` tagged with `tag`; returns the batch (to send again). */
async function land(rt: string, calls: number, cost: number, tag: string | null, now = Date.now()) {
  const seq = (seqs.get(rt) ?? 0) + 1;
  const from = (ids.get(rt) ?? 0) + 1;
  const batch = tagged(rt, seq, from, calls, cost, tag);
  await ingestBatch(pg.db, batch, now);
  seqs.set(rt, seq);
  ids.set(rt, from + calls - 1);
  return batch;
}

describe('windows and tags', () => {
  it('puts each period in its UTC window', () => {
    const t = Date.parse('2026-12-31T23:59:59.999Z');
    expect(windowStart('none', t)).toBe(0);
    expect(windowStart('day', t)).toBe(Date.parse('2026-12-31T00:00:00.000Z'));
    expect(windowStart('month', t)).toBe(Date.parse('2026-12-01T00:00:00.000Z'));
    expect(windowStart('month', t + 1)).toBe(Date.parse('2027-01-01T00:00:00.000Z'));
  });

  it('reads a tag strictly, and a batch with a bad one is refused naming the call', () => {
    expect(budgetKeys(null)).toEqual([]);
    expect(budgetKeys('["sales@0","ops.team@1764547200000"]')).toEqual([
      { budget: 'sales', window: 0 },
      { budget: 'ops.team', window: 1764547200000 },
    ]);
    for (const [tag, why] of [
      ['sales@0', 'must be a JSON array'],
      ['{"a":1}', 'must be a JSON array'],
      ['["Sales@0"]', '"Sales@0" is not a budget key'],
      ['["sales@-1"]', 'is not a budget key'],
      ['["sales@01"]', 'is not a budget key'],
      ['["sales"]', 'is not a budget key'],
      ['[1]', '1 is not a budget key'],
      ['["a@0","a@0"]', 'names "a@0" twice'],
      [JSON.stringify(Array.from({ length: 65 }, (_, i) => `b${i}@0`)), 'names 65 budgets; a call is charged to at most 64'],
    ] as const)
      expect(budgetKeys(tag)).toContain(why);
    const b = batchOf('rt-0', 1, { from: 5, n: 3 });
    const r = telemetryBatch.safeParse({ ...b, llmRequests: b.llmRequests!.map((x, i) => ({ ...(x as object), budgets: i === 1 ? '["x@0", 3]' : null })) });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]).toMatchObject({
      path: ['llmRequests', 1, 'budgets'],
      message: '3 is not a budget key "<budget>@<window start ms>" (a budget id is 1-63 of a-z, 0-9, ".", "_", "-") (call id 6)',
    });
  });
});

describe('the grant', () => {
  it('never passes the limit while 12 runtimes race 96 lease calls, and grants all of it', async () => {
    const id = await budget({ limitMicros: 10_000_000 });
    // Leases that outlive the test: none is reclaimed on the way.
    const long = new LeasesStore(pg.db, { ttlMs: 600_000, reclaimAfterMs: 600_000 });
    // Each runtime asks 8 times for a growing total (one call at a time), all 12 at once: 12 transactions race at every moment.
    const granted: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async (_, r) => {
        for (let i = 1, want = 0; i <= 8; i++) {
          want += 150_000 + (((r * 8 + i) * 7919) % 300_000);
          const g = await grantOf(`rt-${r}`, ask(id, { want, rate: 1_000 * (r + 1) }), T0, long);
          granted[r] = g.granted;
          expect(g.granted).toBeLessThanOrEqual(want);
        }
      }),
    );
    const v = await leasesOf(id);
    const total = v.leases.reduce((s, l) => s + l.grantedMicros, 0);
    expect(total).toBe(granted.reduce((s, g) => s + g, 0));
    expect(total).toBeLessThanOrEqual(10_000_000);
    // Once the race is over (the short ones' asks are old), one runtime's call takes whatever is unleased: no dollar was lost.
    const last = await grantOf('rt-0', ask(id, { want: 20_000_000 }), T0 + 60_000, long);
    expect(last.unleased).toBe(0);
    expect(last.granted).toBe(granted[0]! + 10_000_000 - total);
  }, 20_000);

  it('gives back what a runtime returns, and a want below used + held keeps what it holds', async () => {
    const id = await budget({ limitMicros: 1_000_000 });
    expect((await grantOf('rt-0', ask(id, { want: 800_000 }))).granted).toBe(800_000);
    expect((await grantOf('rt-1', ask(id, { want: 500_000 }))).granted).toBe(200_000);
    const back = await grantOf('rt-0', ask(id, { want: 100_000, used: 250_000, held: 50_000 }));
    expect(back.granted).toBe(300_000);
    expect(back.unleased).toBe(500_000);
    expect(back.left).toBe(750_000);
    expect((await grantOf('rt-1', ask(id, { want: 500_000 }))).granted).toBe(500_000);
  });

  it('shares by rate when contended: a busy runtime is not refused while another sits on idle headroom', async () => {
    const id = await budget({ limitMicros: 1_000_000 });
    // The idle one took most of it earlier.
    expect((await grantOf('rt-2', ask(id, { want: 900_000, rate: 1_000 }), T0)).granted).toBe(900_000);
    // The busy one asks for more than is left, with calls waiting: it gets the rest, is told contended, asks again soon.
    const busy = await grantOf('rt-3', ask(id, { want: 400_000, waiting: 3, need: 50_000, rate: 600_000 }), T0 + 100);
    expect(busy).toMatchObject({ granted: 100_000, contended: true, renewInMs: CONTENDED_RENEW_MS });
    // The holder hears it at its next call and returns what it does not need.
    const idle = await grantOf('rt-2', ask(id, { want: 900_000, used: 10_000, rate: 1_000 }), T0 + 200);
    expect(idle.contended).toBe(true);
    const returned = await grantOf('rt-2', ask(id, { want: 10_000, used: 10_000, rate: 1_000 }), T0 + 300);
    expect(returned.granted).toBe(10_000);
    // The busy one's next call takes the headroom back.
    const after = await grantOf('rt-3', ask(id, { want: 400_000, used: 100_000, waiting: 3, need: 50_000, rate: 600_000 }), T0 + 400);
    expect(after.granted).toBe(400_000);
  });

  it('at the end of a budget, tops a waiting runtime’s fragment up to its next call and never leaves it a fragment short', async () => {
    const id = await budget({ limitMicros: 1_000 });
    // Two runtimes each hold a fragment (free 300) below their next call (600); 100 is unleased.
    await grantOf('rt-0', ask(id, { want: 500, used: 200 }), T0);
    await grantOf('rt-1', ask(id, { want: 400, used: 100 }), T0 + 1);
    const waitingAsk = (used: number, want: number) => ask(id, { want, used, waiting: 2, need: 600, rate: 1_000 });
    // rt-1 asks for more: 100 would leave it short of 600 (300 + 100), so it gets nothing, not a bigger fragment.
    expect((await grantOf('rt-1', waitingAsk(100, 1_300), T0 + 2)).granted).toBe(400);
    // It gives its fragment back; rt-0 then lacks exactly 300, and gets exactly that.
    expect((await grantOf('rt-1', waitingAsk(100, 100), T0 + 3)).granted).toBe(100);
    // rt-1 still wants a call's worth: rt-0 gets exactly what its next call lacks, not all that is free.
    await grantOf('rt-1', waitingAsk(100, 700), T0 + 4);
    const topped = await grantOf('rt-0', waitingAsk(200, 1_400), T0 + 5);
    expect(topped.granted).toBe(800);
    expect((await leasesOf(id, T0 + 5)).unleasedMicros).toBe(100);
  });

  it('while the unleased headroom cannot meet every ask, shares it by rate, and a waiting call its need', async () => {
    const id = await budget({ limitMicros: 1_000_000 });
    // rt-6 holds most of it; the fast rt-4 gets the rest and is left wanting 200k more.
    await grantOf('rt-6', ask(id, { want: 800_000 }), T0);
    expect((await grantOf('rt-4', ask(id, { want: 400_000, rate: 300_000 }), T0 + 10)).granted).toBe(200_000);
    // rt-6 gives all back: 800k unleased, but rt-5's 800k and rt-4's unmet 200k are more than that.
    await grantOf('rt-6', ask(id, { want: 0 }), T0 + 20);
    const slow = await grantOf('rt-5', ask(id, { want: 800_000, waiting: 1, need: 40_000, rate: 100_000 }), T0 + 30);
    // Shares by rate: 100k / (100k + 300k) of 800k.
    expect(slow).toMatchObject({ granted: 200_000, contended: true, renewInMs: CONTENDED_RENEW_MS });
    // A new runtime with no rate still gets one waiting call's need.
    const fresh = await grantOf('rt-7', ask(id, { want: 100_000, waiting: 1, need: 60_000, rate: 0 }), T0 + 40);
    expect(fresh.granted).toBe(60_000);
  });

  it('while the unleased headroom meets every ask, gives each what it asks and says nothing is contended', async () => {
    const id = await budget({ limitMicros: 1_000_000_000 });
    await grantOf('rt-8', ask(id, { want: 5_000_000, waiting: 3, need: 1_000, rate: 600_000 }), T0);
    const other = await grantOf('rt-9', ask(id, { want: 9_000_000, waiting: 16, need: 1_000, rate: 6_000_000 }), T0 + 10);
    expect(other).toMatchObject({ granted: 9_000_000, contended: false });
  });
});

describe('reclaim and the rows', () => {
  it('reclaims a silent runtime’s lease down to what it reported, says it once, and counts its tail rows once', async () => {
    const id = await budget({ limitMicros: 1_000_000 });
    const tag = JSON.stringify([`${id}@0`]);
    await grantOf('rt-7', ask(id, { want: 600_000 }), T0);
    await land('rt-7', 2, 50_000, tag);
    await grantOf('rt-7', ask(id, { want: 600_000, used: 150_000, held: 20_000 }), T0 + 100);
    expect((await grantOf('rt-8', ask(id, { want: 900_000 }), T0 + 200)).granted).toBe(400_000);
    const reclaim = async (now: number) => (await leases.reclaim(now)).filter((r) => r.budget === id);
    // Before expiry + grace nothing is taken back.
    expect(await reclaim(T0 + 100 + OPTS.ttlMs + OPTS.reclaimAfterMs - 1)).toEqual([]);
    const late = T0 + 100 + OPTS.ttlMs + OPTS.reclaimAfterMs + 1;
    expect(await reclaim(late)).toEqual([{ budget: id, window: 0, runtime: 'rt-7', fromMicros: 600_000, toMicros: 170_000, expiredAt: T0 + 100 + OPTS.ttlMs }]);
    expect(await reclaim(late + 10)).toEqual([]);
    // The other runtime's next call takes what came back.
    const more2 = await grantOf('rt-8', ask(id, { want: 900_000 }), late + 100);
    expect(more2.granted).toBe(830_000);
    // Its tail rows land later: spent rises past its reclaimed grant, counted once however often sent.
    const tail = await land('rt-7', 3, 10_000, tag);
    await ingestBatch(pg.db, tail);
    const v = await leasesOf(id, late);
    expect(v.spentMicros).toBe(130_000);
    expect(v.leases.find((l) => l.runtime === 'rt-7')).toMatchObject({ grantedMicros: 170_000, spentMicros: 130_000 });
    expect(v.unleasedMicros).toBe(0);
  });

  it('takes back a removed runtime’s unspent lease at once, before it expired: the admin declared it gone', async () => {
    const id = await budget({ limitMicros: 1_000_000 });
    await pg.db.insert(pgSchema.runtimes).values({ id: 'rt-gone', userId: 'ann', createdAt: new Date(T0).toISOString() });
    await grantOf('rt-gone', ask(id, { want: 700_000, used: 100_000, held: 50_000 }), T0);
    expect((await grantOf('rt-11', ask(id, { want: 900_000 }), T0 + 10)).granted).toBe(300_000);
    const removed = await new RuntimesStore(pg.db).remove('rt-gone');
    expect(removed).toMatchObject({ revoked: 0, reclaimedMicros: 550_000 });
    expect((await leasesOf(id, T0 + 20)).leases.find((l) => l.runtime === 'rt-gone')).toMatchObject({ grantedMicros: 150_000 });
    // Well before its lease expired, what came back is unleased again; the removed runtime gets nothing more.
    expect((await leasesOf(id, T0 + 30)).unleasedMicros).toBe(1_000_000 - 150_000 - 300_000);
    await expect(leases.lease('rt-gone', [ask(id, { want: 700_000 })], T0 + 40)).rejects.toThrow(/no runtime 'rt-gone'/);
  });

  it('a lease call reclaims others’ expired leases on its way, and says which', async () => {
    const id = await budget({ limitMicros: 1_000_000 });
    await grantOf('rt-9', ask(id, { want: 1_000_000, used: 5_000 }), T0);
    const { reclaims, answer } = await leases.lease('rt-10', [ask(id, { want: 500_000 })], T0 + 5_000);
    expect(reclaims.filter((r) => r.budget === id)).toEqual([{ budget: id, window: 0, runtime: 'rt-9', fromMicros: 1_000_000, toMicros: 5_000, expiredAt: T0 + OPTS.ttlMs }]);
    expect(answer.budgets.find((g) => g.budget === id)!.granted).toBe(500_000);
  });

  it('adds each landed row to every budget its tag names, once for a batch sent twice, and leaves out a budget deleted since', async () => {
    const a = await budget();
    const b = await budget();
    const gone = await budget();
    // Told of all three by a lease call (asking for nothing), then one is deleted: its key charges nothing.
    await leases.lease('rt-11', [], T0);
    expect(await store.remove(gone)).toBe(true);
    const tag = JSON.stringify([`${a}@0`, `${b}@0`, `${gone}@0`]);
    const batch = await land('rt-11', 4, 1_234, tag);
    const again = await ingestBatch(pg.db, batch);
    expect(again.ack.duplicate).toBe(true);
    // The same rows under a new sequence (a runtime restarted and sent them again): skipped by their keys.
    const resent = { ...batch, seq: batch.seq + 1 };
    seqs.set('rt-11', resent.seq);
    const r = await ingestBatch(pg.db, resent);
    expect(r.ack.stored.llmRequests).toBe(0);
    expect(r.budgets).toEqual([]);
    for (const id of [a, b]) expect(await leasesOf(id)).toMatchObject({ spentMicros: 4 * 1_234, leases: [{ runtime: 'rt-11', spentMicros: 4 * 1_234, grantedMicros: 0 }] });
    // Untagged rows add nothing.
    await land('rt-11', 2, 99, null);
    expect((await leasesOf(a)).spentMicros).toBe(4 * 1_234);
  });
});

describe('a batch of lease calls (one transaction for many runtimes)', () => {
  const rowsOf = async (id: string) =>
    (await pg.db.select().from(pgSchema.budgetLeases))
      .filter((l) => l.budgetId === id)
      .map(({ budgetId: _, ...l }) => l)
      .sort((a, b) => a.runtimeId.localeCompare(b.runtimeId));

  it('decides as the same calls one after another would, each counting those before it, to the micro-dollar', async () => {
    // Twin budgets brought to the same state a minute apart: one gets the calls one at a time, the other in one batch.
    const calls: Array<{ runtimeId: string; asks: Array<Partial<LeaseAsk>> }> = [
      { runtimeId: 'rt-2', asks: [{ want: 300_000, waiting: 1, need: 50_000, rate: 100_000 }] },
      { runtimeId: 'rt-0', asks: [{ want: 150_000, used: 120_000 }] },
      { runtimeId: 'rt-3', asks: [{ want: 250_000, rate: 200_000 }] },
      { runtimeId: 'rt-1', asks: [{ want: 500_000, used: 10_000, waiting: 1, need: 30_000, rate: 300_000 }] },
      { runtimeId: 'rt-4', asks: [] },
    ];
    const run = async (t: number, batch: boolean) => {
      const id = await budget({ limitMicros: 1_000_000 });
      // A silent runtime's lease, expired past its grace at t (reclaimed on the way); one holding much;
      // one short, waiting and asking for more (demanding): the budget is all committed.
      await leases.lease('rt-5', [ask(id, { want: 200_000, used: 20_000 })], t - 2_500);
      await leases.lease('rt-0', [ask(id, { want: 500_000, used: 100_000, held: 10_000 })], t - 2_000);
      await leases.lease('rt-1', [ask(id, { want: 500_000, waiting: 2, need: 30_000, rate: 300_000 })], t - 1_000);
      const asks = (c: (typeof calls)[number]) => c.asks.map((a) => ask(id, a));
      const out: Array<Awaited<ReturnType<LeasesStore['lease']>> | Error> = [];
      if (batch)
        out.push(
          ...(await leases.leaseMany(
            calls.map((c) => ({ runtimeId: c.runtimeId, asks: asks(c), order: null })),
            t,
          )),
        );
      else for (const c of calls) out.push(await leases.lease(c.runtimeId, asks(c), t));
      const grants = out.map((o) => {
        if (o instanceof Error) throw o;
        const { budget: _, expiresAt, ...g } = o.answer.budgets.find((b) => b.budget === id)!;
        return { ...g, lifeMs: expiresAt - t, reclaims: o.reclaims.filter((r) => r.budget === id).map(({ budget: __, expiredAt, ...r }) => ({ ...r, ago: t - expiredAt })) };
      });
      return { grants, rows: (await rowsOf(id)).map((l) => ({ ...l, expiresAt: l.expiresAt - t, updatedAt: l.updatedAt - t })) };
    };
    const t = T0 + 100_000;
    const one = await run(t, false);
    const many = await run(t + 60_000, true);
    expect(many).toEqual(one);
    // Every rule was at work: the silent lease reclaimed, a waiting call's need, a return, shares by rate.
    expect(one.grants).toEqual([
      expect.objectContaining({ granted: 50_000, contended: true, reclaims: [{ window: 0, runtime: 'rt-5', fromMicros: 200_000, toMicros: 20_000, ago: 1_500 }] }),
      expect.objectContaining({ granted: 150_000, reclaims: [] }),
      expect.objectContaining({ granted: 160_000, contended: true }),
      expect.objectContaining({ granted: 460_000, contended: true }),
      expect.objectContaining({ granted: 0 }),
    ]);
  });

  it('answers a removed runtime’s call with its refusal and a stale call read-only, and writes the others’', async () => {
    const id = await budget({ limitMicros: 1_000_000 });
    await pg.db.insert(pgSchema.runtimes).values({ id: 'rt-gone-b', userId: 'ann', createdAt: new Date(T0).toISOString() });
    await new RuntimesStore(pg.db).remove('rt-gone-b');
    const I = T0 - 3_000;
    await leases.lease('rt-8', [ask(id, { want: 100_000 })], T0, undefined, { incarnation: I, seq: 5 });
    const [gone, stale, fresh] = await leases.leaseMany(
      [
        { runtimeId: 'rt-gone-b', asks: [ask(id, { want: 500_000 })], order: null },
        { runtimeId: 'rt-8', asks: [ask(id, { want: 900_000 })], order: { incarnation: I, seq: 4 } },
        { runtimeId: 'rt-9', asks: [ask(id, { want: 300_000 })], order: { incarnation: I, seq: 1 } },
      ],
      T0 + 10,
    );
    expect(gone).toBeInstanceOf(Error);
    expect((gone as Error).message).toMatch(/no runtime 'rt-gone-b'/);
    expect(stale).toMatchObject({ answer: { stale: true, applied: { incarnation: I, seq: 5 } } });
    expect(fresh).toMatchObject({ answer: { stale: false } });
    expect((fresh as { answer: LeaseAnswer }).answer.budgets.find((g) => g.budget === id)!.granted).toBe(300_000);
    expect((await rowsOf(id)).map((l) => [l.runtimeId, l.grantedMicros])).toEqual([
      ['rt-8', 100_000],
      ['rt-9', 300_000],
    ]);
    await expect(
      leases.leaseMany([
        { runtimeId: 'rt-8', asks: [], order: null },
        { runtimeId: 'rt-8', asks: [], order: null },
      ]),
    ).rejects.toThrow('names a runtime twice');
  });

  it('never passes the limit while three replicas’ batches race, and grants all of it', async () => {
    const id = await budget({ limitMicros: 5_000_000 });
    const long = new LeasesStore(pg.db, { ttlMs: 600_000, reclaimAfterMs: 600_000 });
    const granted = new Map<string, number>();
    const wants = new Map<string, number>();
    // Three replicas, each sending 10 batches of 4 runtimes at once (a runtime in one replica's batch at a time).
    await Promise.all(
      [0, 1, 2].map(async (r) => {
        for (let i = 0; i < 10; i++) {
          const batch = [0, 1, 2, 3].map((k) => `rt-${(r * 4 + k + i) % 12}`);
          const calls = batch.map((rt) => {
            const want = (wants.get(rt) ?? 0) + 100_000 + ((r * 31 + i * 7 + rt.length) % 5) * 50_000;
            wants.set(rt, want);
            return { runtimeId: rt, asks: [ask(id, { want, rate: 1_000 })], order: null };
          });
          const out = await long.leaseMany(calls, T0);
          for (const [k, o] of out.entries()) {
            if (o instanceof Error) throw o;
            granted.set(calls[k]!.runtimeId, o.answer.budgets.find((g) => g.budget === id)!.granted);
          }
        }
      }),
    );
    const v = await leasesOf(id);
    const total = v.leases.reduce((sum, l) => sum + l.grantedMicros, 0);
    expect(total).toBeLessThanOrEqual(5_000_000);
    expect(total).toBe([...granted.values()].reduce((sum, g) => sum + g, 0));
    expect(v.unleasedMicros).toBe(5_000_000 - total);
  }, 20_000);
});

describe('under replicas: the order of calls, what is known spent, what comes back', () => {
  const DAY = 86_400_000;
  const rowOf = async (id: string, rt: string, window = 0) => (await pg.db.select().from(pgSchema.budgetLeases)).find((l) => l.budgetId === id && l.runtimeId === rt && l.windowStart === window)!;

  it('a stale call reclaims nothing and writes nothing; the next call in order does both', async () => {
    const id = await budget({ limitMicros: 1_000_000 });
    const I = T0 - 5_000;
    await grantOf('rt-5', ask(id, { want: 600_000 }), T0);
    expect((await leases.lease('rt-4', [ask(id, { want: 100_000 })], T0 + 10, undefined, { incarnation: I, seq: 2 })).answer.stale).toBe(false);
    const late = T0 + OPTS.ttlMs + OPTS.reclaimAfterMs + 10;
    const stale = await leases.lease('rt-4', [ask(id, { want: 900_000 })], late, undefined, { incarnation: I, seq: 1 });
    expect(stale).toMatchObject({ answer: { stale: true, applied: { incarnation: I, seq: 2 } }, reclaims: [], takeBacks: [], floors: [] });
    expect(stale.answer.budgets.find((g) => g.budget === id)).toMatchObject({ granted: 100_000, unleased: 300_000 });
    expect((await rowOf(id, 'rt-5')).grantedMicros).toBe(600_000);
    expect((await rowOf(id, 'rt-4')).grantedMicros).toBe(100_000);
    const next = await leases.lease('rt-4', [ask(id, { want: 900_000 })], late, undefined, { incarnation: I, seq: 3 });
    expect(next.reclaims.filter((r) => r.budget === id)).toEqual([{ budget: id, window: 0, runtime: 'rt-5', fromMicros: 600_000, toMicros: 0, expiredAt: T0 + OPTS.ttlMs }]);
    expect(next.answer.budgets.find((g) => g.budget === id)!.granted).toBe(900_000);
  });

  it('tells a new process what it is known to have spent and what its calls held, said once; a smaller report never lowers it', async () => {
    const id = await budget({ limitMicros: 1_000_000 });
    const I = T0 - 9_000;
    await leases.lease('rt-3', [ask(id, { want: 500_000, used: 100_000, held: 80_000 })], T0, undefined, { incarnation: I, seq: 1 });
    // The same process again, asking nothing of it: nothing to say.
    const same = await leases.lease('rt-3', [], T0 + 10, undefined, { incarnation: I, seq: 2 });
    expect(same.answer.budgets.find((g) => g.budget === id)).toMatchObject({ granted: 500_000, floor: 100_000, held: 80_000 });
    expect(same.floors).toEqual([]);
    // A new process: what the old one spent, and held (counted by it too should its rows be gone).
    const fresh = await leases.lease('rt-3', [], T0 + 20, undefined, { incarnation: I + 1, seq: 1 });
    expect(fresh.answer.budgets.find((g) => g.budget === id)).toMatchObject({ granted: 500_000, floor: 100_000, held: 80_000, left: 900_000 });
    expect(fresh.floors.filter((f) => f.budget === id)).toEqual([
      { kind: 'restart', budget: id, window: 0, runtime: 'rt-3', floorMicros: 100_000, reportedMicros: null, spentMicros: 0, usedMicros: 100_000, heldMicros: 80_000, grantedMicros: 500_000 },
    ]);
    // Its rows were gone: it counts 180k, and says so; nothing more is said.
    const counted = await leases.lease('rt-3', [ask(id, { want: 500_000, used: 180_000 })], T0 + 30, undefined, { incarnation: I + 1, seq: 2 });
    expect(counted.floors).toEqual([]);
    expect(await rowOf(id, 'rt-3')).toMatchObject({ usedMicros: 180_000, heldMicros: 0 });
    // A report below that (an older runtime that lost its file again) is counted as what the panel knew; a return stops there.
    const lower = await leases.lease('rt-3', [ask(id, { want: 0, used: 50_000 })], T0 + 40);
    expect(lower.floors.filter((f) => f.budget === id)).toEqual([expect.objectContaining({ kind: 'lower', floorMicros: 180_000, reportedMicros: 50_000 })]);
    expect(lower.answer.budgets.find((g) => g.budget === id)).toMatchObject({ granted: 180_000, floor: 180_000 });
    expect(await rowOf(id, 'rt-3')).toMatchObject({ grantedMicros: 180_000, usedMicros: 180_000 });
  });

  it('brings down at once what a runtime holds in a window that is over, or of a budget that no longer covers it; an edit does it for every runtime', async () => {
    const id = await budget({ scope: 'team', users: ['ann'], period: 'day', limitMicros: 1_000_000 });
    const day1 = windowStart('day', T0);
    const day2 = day1 + DAY;
    const I = T0 - 7_000;
    await leases.lease('rt-1', [ask(id, { window: day1, want: 400_000 })], T0, undefined, { incarnation: I, seq: 1 });
    await leases.lease('rt-1', [ask(id, { window: day1, want: 400_000, used: 100_000, held: 50_000 })], T0 + 10, undefined, { incarnation: I, seq: 2 });
    // The next day it asks nothing of day 1 (it keeps no account there): what it did not spend or hold comes back.
    const rolled = await leases.lease('rt-1', [], day2 + 5, undefined, { incarnation: I, seq: 3 });
    expect(rolled.takeBacks.filter((b) => b.budget === id)).toEqual([{ budget: id, window: day1, runtime: 'rt-1', fromMicros: 400_000, toMicros: 150_000, why: 'over' }]);
    expect((await rowOf(id, 'rt-1', day1)).grantedMicros).toBe(150_000);
    expect(rolled.answer.budgets.find((g) => g.budget === id)).toMatchObject({ window: day2, granted: 0 });
    await leases.lease('rt-1', [ask(id, { window: day2, want: 300_000 })], day2 + 6, undefined, { incarnation: I, seq: 4 });
    await grantOf('rt-2', ask(id, { window: day2, want: 200_000, used: 50_000 }), day2 + 7);
    // The budget moves to bob: both of ann's runtimes' unused grants come back at once.
    await store.update(id, { users: ['bob'] }, new Date(day2 + 10));
    const edited = await leases.takeBackUncovered(id);
    expect(edited.sort((a, b) => a.runtime.localeCompare(b.runtime))).toEqual([
      { budget: id, window: day2, runtime: 'rt-1', fromMicros: 300_000, toMicros: 0, why: 'uncovered' },
      { budget: id, window: day2, runtime: 'rt-2', fromMicros: 200_000, toMicros: 50_000, why: 'uncovered' },
    ]);
    expect(await leases.takeBackUncovered(id)).toEqual([]);
    // Bob's runtime leases it at once.
    expect((await grantOf('rt-6', ask(id, { window: day2, want: 1_000_000 }), day2 + 20)).granted).toBe(950_000);
    // rt-1 spent 20k of its lease before it heard: its next call says so, and that much is counted
    // (its grant is what it spent and holds there), however much it wants; the answer no longer names the budget.
    const heard = await leases.lease('rt-1', [ask(id, { window: day2, want: 500_000, used: 20_000 })], day2 + 30, undefined, { incarnation: I, seq: 5 });
    expect(heard.answer.budgets.map((g) => g.budget)).not.toContain(id);
    expect(await rowOf(id, 'rt-1', day2)).toMatchObject({ grantedMicros: 20_000, usedMicros: 20_000, wantedMicros: 20_000 });
    // An edit no panel saw (the command line): taken back at the runtime's next call, whatever it wants.
    const other = await budget({ scope: 'team', users: ['ann'], limitMicros: 1_000_000 });
    await leases.lease('rt-1', [ask(other, { want: 300_000 })], day2 + 40, undefined, { incarnation: I, seq: 6 });
    await store.update(other, { users: ['bob'] }, new Date(day2 + 50));
    const called = await leases.lease('rt-1', [ask(other, { want: 500_000, used: 40_000, held: 10_000 })], day2 + 60, undefined, { incarnation: I, seq: 7 });
    expect(called.takeBacks.filter((b) => b.budget === other)).toEqual([{ budget: other, window: 0, runtime: 'rt-1', fromMicros: 300_000, toMicros: 50_000, why: 'uncovered' }]);
    expect(called.answer.budgets.map((g) => g.budget)).not.toContain(other);
    expect(await rowOf(other, 'rt-1')).toMatchObject({ grantedMicros: 50_000, usedMicros: 40_000, heldMicros: 10_000 });
  });
});

describe('what a runtime may charge', () => {
  const DAY = 86_400_000;
  const stored = async (rt: string) => {
    const [r] = await pg.db.select().from(pgSchema.runtimes).where(eq(pgSchema.runtimes.id, rt));
    const { n } = (await pg.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM llm_requests WHERE runtime_id = $1', [rt])).rows[0]!;
    return { lastSeq: r!.lastSeq, rows: n };
  };

  it('charges a window leased to a runtime for the agents it covered then, whatever the budget names since; refuses the rest, storing nothing', async () => {
    const id = await budget({ scope: 'team', users: ['ann'], period: 'day' });
    const day1 = windowStart('day', T0);
    const day2 = day1 + DAY;
    // rt-2 is ann's: covered whole. Then the budget moves to bob and agent writer.
    await leases.lease('rt-2', [], T0);
    await store.update(id, { users: ['bob'], agents: ['writer'] }, new Date(T0 + 10));
    // Rows of calls made while it covered the runtime, reported late: charged.
    await land('rt-2', 2, 1_000, JSON.stringify([`${id}@${day1}`]));
    expect((await leasesOf(id, T0)).spentMicros).toBe(2_000);
    // The next day the panel tells it the budget covers agent writer only: a lead-gen row is refused.
    const { answer } = await leases.lease('rt-2', [], day2 + 5);
    expect(answer.budgets.find((g) => g.budget === id)!.covers).toEqual(['writer']);
    const before = await stored('rt-2');
    await expect(land('rt-2', 1, 1_000, JSON.stringify([`${id}@${day2}`]), day2 + 10)).rejects.toMatchObject({
      status: 400,
      code: 'budget_not_covered',
      message: expect.stringContaining(`names budget '${id}' window ${day2} (${new Date(day2).toISOString()}): it covers only agent 'writer' on this runtime, not agent 'lead-gen'`),
    });
    // A window it never was leased (the day before), and one that has not begun.
    await expect(land('rt-2', 1, 1_000, JSON.stringify([`${id}@${day1 - DAY}`]), day2 + 10)).rejects.toThrow(`it began before the budget was made (${new Date(T0).toISOString()})`);
    await expect(land('rt-2', 1, 1_000, JSON.stringify([`${id}@${day2 + DAY}`]), day2 + 10)).rejects.toThrow(`it has not begun (the panel's clock reads ${new Date(day2 + 10).toISOString()})`);
    expect(await stored('rt-2')).toEqual(before);
    expect((await leasesOf(id, day2 + 10)).spentMicros).toBe(0);
  });

  it("refuses, without saying whether it exists, a budget that does not cover the runtime; an unnamed agent's row charges only a budget covering all", async () => {
    const bobs = await budget({ scope: 'user', users: ['bob'] });
    const team = await budget({ scope: 'team', agents: ['lead-gen'] });
    await leases.lease('rt-3', [], T0);
    const why = (b: string) => `names budget '${b}' window 0: no budget of that name covers runtime 'rt-3'`;
    await expect(land('rt-3', 1, 1_000, JSON.stringify([`${bobs}@0`]))).rejects.toThrow(why(bobs));
    await expect(land('rt-3', 1, 1_000, JSON.stringify(['never-made@0']))).rejects.toThrow(why('never-made'));
    // The agent named lead-gen may charge the team budget; a call whose agent the panel has no row for may not.
    await land('rt-3', 1, 1_000, JSON.stringify([`${team}@0`]));
    const b = tagged('rt-3', (seqs.get('rt-3') ?? 0) + 1, (ids.get('rt-3') ?? 0) + 1, 1, 1_000, JSON.stringify([`${team}@0`]));
    const orphan = { ...b, agents: [], llmRequests: b.llmRequests.map((r) => ({ ...r, agentId: 'no-such-agent' })), events: [] };
    await expect(ingestBatch(pg.db, orphan)).rejects.toThrow("(agent 'no-such-agent') names budget");
    expect((await leasesOf(team)).spentMicros).toBe(1_000);
  });
});

describe('periods and limits', () => {
  it('starts a fresh window at rollover; the old one stays, and an ask for it only returns', async () => {
    const id = await budget({ period: 'day', limitMicros: 300_000 });
    const day1 = windowStart('day', T0);
    const day2 = day1 + 86_400_000;
    expect((await grantOf('rt-0', ask(id, { window: day1, want: 300_000 }), T0)).window).toBe(day1);
    const next = await leases.lease('rt-0', [ask(id, { window: day1, want: 900_000, used: 100_000 }), ask(id, { window: day2, want: 200_000 })], day2 + 5);
    expect(next.answer.budgets.filter((g) => g.budget === id).map((g) => [g.window, g.granted, g.unleased])).toEqual([[day2, 200_000, 100_000]]);
    const old = await pg.db.select().from(pgSchema.budgetLeases);
    expect(old.filter((l) => l.budgetId === id).map((l) => [l.windowStart, l.grantedMicros])).toEqual(
      expect.arrayContaining([
        [day1, 300_000],
        [day2, 200_000],
      ]),
    );
    // A return for the old window lowers its grant; a larger want there never raises it.
    await leases.lease('rt-0', [ask(id, { window: day1, want: 0, used: 100_000 })], day2 + 10);
    const back = await pg.db.select().from(pgSchema.budgetLeases);
    expect(back.find((l) => l.budgetId === id && l.windowStart === day1)!.grantedMicros).toBe(100_000);
  });

  it('refuses a limit below what was spent, allows one below spent + leased, and says thresholds once per window', async () => {
    const id = await budget({ limitMicros: 1_000_000 });
    await grantOf('rt-1', ask(id, { want: 950_000 }), T0);
    await land('rt-1', 1, 850_000, JSON.stringify([`${id}@0`]));
    await expect(store.update(id, { limitMicros: 849_999 }, new Date(T0))).rejects.toThrow(ConflictError);
    await expect(store.update(id, { limitMicros: 849_999 }, new Date(T0))).rejects.toThrow(`budget '${id}' has already spent $0.85 in this window: its limit cannot go below that`);
    await store.update(id, { limitMicros: 900_000 }, new Date(T0));
    // Over-committed after the cut: nothing more is granted, to anyone.
    expect((await grantOf('rt-2', ask(id, { want: 10_000 }), T0 + 10)).granted).toBe(0);
    const mine = (await store.crossings(T0 + 20)).filter((c) => c.budget === id);
    expect(mine).toEqual([{ budget: id, window: 0, state: 'warning', spentMicros: 850_000, limitMicros: 900_000 }]);
    expect((await store.crossings(T0 + 30)).filter((c) => c.budget === id)).toEqual([]);
    await land('rt-1', 1, 50_000, JSON.stringify([`${id}@0`]));
    expect((await store.crossings(T0 + 40)).filter((c) => c.budget === id).map((c) => c.state)).toEqual(['exhausted']);
    expect((await store.crossings(T0 + 50)).filter((c) => c.budget === id)).toEqual([]);
    const v = await leasesOf(id, T0 + 50);
    expect(v).toMatchObject({ state: 'exhausted', percentUsed: 100, spentMicros: 900_000 });
    // Deleting drops its leases; the rows keep their tags.
    expect(await store.remove(id)).toBe(true);
    expect((await pg.db.select().from(pgSchema.budgetLeases)).filter((l) => l.budgetId === id)).toEqual([]);
    expect(await store.remove(id)).toBe(false);
  });

  it('holds at most MAX_BUDGETS budgets, so no call is charged to more than its row can name', async () => {
    const { n } = (await pg.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM budgets')).rows[0]!;
    const ids = Array.from({ length: MAX_BUDGETS - n }, (_, i) => `cap-${i}`);
    for (const id of ids) await budget({ id });
    await expect(budget({ id: 'one-too-many' })).rejects.toThrow(`a panel holds at most ${MAX_BUDGETS} central budgets`);
    expect(MAX_BUDGET_KEYS).toBeGreaterThan(MAX_BUDGETS);
    for (const id of ids) await store.remove(id);
  });

  it('answers only the budgets that cover the runtime: its user, the fleet, agent names (for every runtime)', async () => {
    await budget({ id: 'cov-ann', scope: 'user', users: ['ann'] });
    await budget({ id: 'cov-team', scope: 'team', users: ['bob'], agents: ['lead-gen'] });
    await budget({ id: 'cov-agent', scope: 'agent', agents: ['writer'] });
    const { answer } = await leases.lease('rt-0', [], T0);
    const covers = Object.fromEntries(answer.budgets.filter((b) => b.budget.startsWith('cov-')).map((b) => [b.budget, b.covers]));
    expect(covers).toEqual({ 'cov-ann': 'all', 'cov-team': ['lead-gen'], 'cov-agent': ['writer'] });
    const bob = await leases.lease('rt-6', [], T0);
    expect(Object.fromEntries(bob.answer.budgets.filter((b) => b.budget.startsWith('cov-')).map((b) => [b.budget, b.covers]))).toEqual({ 'cov-team': 'all', 'cov-agent': ['writer'] });
  });
});
