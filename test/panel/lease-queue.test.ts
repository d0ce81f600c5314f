import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForbiddenError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { PanelFeed } from '../../src/panel/feed.js';
import { CentralBudgets, Outage } from '../../src/panel/index.js';
import { LeaseQueue } from '../../src/panel/lease-queue.js';
import { openPostgres, pgSchema, type LeaseCall, type LeaseOutcome, type Postgres } from '../../src/state/index.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// A panel's lease calls decided in batches: the queue's rules on their own (what goes together,
// what waits, what a failure reaches), then the central budgets on a real PostgreSQL, where a
// crowd of calls is decided in a couple of transactions and the grants still add up to the limit.

/** A decide function that records each batch and answers it when told. */
function recorder() {
  const batches: string[][] = [];
  const pending: Array<(out: Array<LeaseOutcome | Error>) => void> = [];
  const failures: Array<(e: Error) => void> = [];
  const decide = (calls: LeaseCall[]) =>
    new Promise<Array<LeaseOutcome | Error>>((resolve, reject) => {
      batches.push(calls.map((c) => c.runtimeId));
      pending.push(resolve);
      failures.push(reject);
    });
  const outcome = (runtime: string): LeaseOutcome => ({ answer: { now: 0, renewInMs: 1, stale: false, budgets: [{ budget: runtime } as never] }, reclaims: [], takeBacks: [], floors: [] });
  /** Answer the oldest open batch: each call its own outcome, or the Error given for its runtime. */
  const answer = (errors: Record<string, Error> = {}) => {
    const calls = batches[batches.length - pending.length]!;
    failures.shift();
    pending.shift()!(calls.map((r) => errors[r] ?? outcome(r)));
  };
  const fail = (e: Error) => {
    pending.shift();
    failures.shift()!(e);
  };
  return { batches, decide, answer, fail };
}
const call = (runtimeId: string): LeaseCall => ({ runtimeId, asks: [], order: null });
const tick = () => new Promise((r) => setImmediate(r));

describe('the lease queue', () => {
  it('runs a lone call at once, and the calls that arrive meanwhile together as the next batch, in order', async () => {
    const r = recorder();
    const q = new LeaseQueue(r.decide);
    const first = q.submit(call('rt-1'));
    expect(r.batches).toEqual([['rt-1']]);
    const later = ['rt-2', 'rt-3', 'rt-4'].map((id) => q.submit(call(id)));
    expect(r.batches).toHaveLength(1);
    r.answer();
    expect((await first).answer.budgets[0]!.budget).toBe('rt-1');
    await tick();
    expect(r.batches).toEqual([['rt-1'], ['rt-2', 'rt-3', 'rt-4']]);
    r.answer();
    expect((await Promise.all(later)).map((o) => o.answer.budgets[0]!.budget)).toEqual(['rt-2', 'rt-3', 'rt-4']);
  });

  it('sends a runtime’s second call with the batch after its first, and no batch past its size', async () => {
    const r = recorder();
    const q = new LeaseQueue(r.decide, 2);
    const all = [q.submit(call('rt-0')), q.submit(call('rt-1')), q.submit(call('rt-1')), q.submit(call('rt-2')), q.submit(call('rt-3'))];
    for (let i = 0; i < 3; i++) {
      r.answer();
      await tick();
    }
    expect(r.batches).toEqual([['rt-0'], ['rt-1', 'rt-2'], ['rt-1', 'rt-3']]);
    expect(await Promise.all(all)).toHaveLength(5);
  });

  it('refuses only the call its outcome refuses; a failed batch reaches its calls alone, and the next one runs', async () => {
    const r = recorder();
    const q = new LeaseQueue(r.decide);
    const a = q.submit(call('rt-a'));
    const [b, c] = [q.submit(call('rt-b')), q.submit(call('rt-c'))];
    r.fail(new Error('connection terminated'));
    await expect(a).rejects.toThrow('connection terminated');
    await tick();
    r.answer({ 'rt-b': new ForbiddenError("no runtime 'rt-b'") });
    await expect(b).rejects.toThrow("no runtime 'rt-b'");
    expect((await c).answer.budgets[0]!.budget).toBe('rt-c');
    expect(r.batches).toEqual([['rt-a'], ['rt-b', 'rt-c']]);
  });
});

describe('central budgets’ lease calls in batches (real PostgreSQL)', () => {
  let server: TestPostgres;
  let pg: Postgres;
  beforeAll(async () => {
    server = await startPostgres();
    pg = await openPostgres(server.url, { max: 4 });
  }, 60_000);
  afterAll(async () => {
    await pg?.close();
    await server?.destroy();
  });

  it('decides sixty runtimes’ calls at once in two transactions, and their grants add up to the limit', async () => {
    const T0 = Date.parse('2026-12-01T10:00:00.000Z');
    await pg.db.insert(pgSchema.runtimes).values(Array.from({ length: 60 }, (_, i) => ({ id: `rt-${i}`, userId: null, createdAt: new Date(T0).toISOString() })));
    const logger = createLogger({ format: 'json', level: 'error', stream: new PassThrough() });
    // A clock that moves a millisecond at each read: each batch writes its rows at a time of its own.
    let now = T0;
    const budgets = new CentralBudgets(pg.db, { logger, outage: new Outage(logger, 'test'), feed: new PanelFeed(), lease: { ttlMs: 30_000, reclaimAfterMs: 600_000 }, now: () => ++now });
    await budgets.store.create({ id: 'fleet', scope: 'fleet', agents: [], users: [], period: 'none', limitMicros: 1_000_000 }, 'test', new Date(T0));
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => budgets.lease(`rt-${i}`, [{ budget: 'fleet', window: 0, want: 20_000 + i * 100, used: 0, held: 0, waiting: 0, need: 0, rate: 60_000 }])),
    );
    const granted = answers.map((a) => a.budgets.find((b) => b.budget === 'fleet')!.granted);
    const rows = (await pg.db.select().from(pgSchema.budgetLeases)).filter((l) => l.budgetId === 'fleet');
    // The first call alone (nothing waited yet), the 59 that arrived meanwhile in one more.
    expect(new Set(rows.map((l) => l.updatedAt)).size).toBe(2);
    expect(rows.map((l) => l.grantedMicros).sort()).toEqual([...granted].sort());
    const total = granted.reduce((s, g) => s + g, 0);
    // Σ asked 1,377,000 (20,000 + i·100 each) against a limit of 1,000,000: the whole limit granted, never more.
    expect(total).toBe(1_000_000);
    expect(granted.filter((g) => g < 20_000).length).toBeGreaterThan(0);
  });
});
