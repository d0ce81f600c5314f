import { describe, expect, it } from 'vitest';
import {
  addLeases,
  committed,
  CONTENDED_RENEW_MS,
  CONTENDED_WITHIN_MS,
  grantLease,
  knownSpent,
  leaseFigures,
  leaseWant,
  NO_OTHER_LEASES,
  placeInOrder,
  renewInMs,
  settleOutside,
  spendRate,
  takenBackTo,
  type LeaseAsk,
  type LeaseHeld,
  type OtherLeases,
} from '../../src/domain/budget/index.js';

// The central budgets' lease policy as a pure function: each rule the panel's lease call applies
// under the budget's lock (src/state/panel/leases.store.ts), on figures given here rather than
// read from PostgreSQL. test/state/budgets.store.test.ts runs the same rules through the store.

const NOW = 1_800_000_000_000;
const TTL = 30_000;
const ask = (o: Partial<LeaseAsk> = {}): LeaseAsk => ({ budget: 'b', window: 0, want: 0, used: 0, held: 0, waiting: 0, need: 0, rate: 0, ...o });
const lease = (o: Partial<LeaseHeld> = {}): LeaseHeld => ({ grantedMicros: 0, spentMicros: 0, usedMicros: 0, heldMicros: 0, expiresAt: NOW - 1_000, ...o });
const grant = (limit: number, o: { others?: Partial<OtherLeases>; mine?: LeaseHeld; ask?: LeaseAsk; fresh?: boolean } = {}) =>
  grantLease({ limit, others: { ...NO_OTHER_LEASES, ...o.others }, mine: o.mine ?? null, ask: o.ask ?? null, fresh: o.fresh ?? false, now: NOW, ttlMs: TTL });

describe('what a runtime is granted', () => {
  it('gets what it asks while the unleased headroom covers it, renewed for a lease’s life, and nothing is contended', () => {
    const d = grant(1_000_000, { others: { committed: 300_000, surplus: 100_000 }, ask: ask({ want: 500_000 }) });
    expect(d).toMatchObject({ granted: 500_000, short: false, contended: false, unleased: 200_000, expiresAt: NOW + TTL });
  });

  it('never more than the limit less what the others and it have committed; its spend above its grant counts as committed', () => {
    expect(grant(1_000_000, { others: { committed: 800_000 }, mine: lease({ grantedMicros: 100_000 }), ask: ask({ want: 500_000 }) })).toMatchObject({ granted: 200_000, short: true, unleased: 0 });
    expect(grant(1_000_000, { others: { committed: 800_000 }, mine: lease({ grantedMicros: 100_000, spentMicros: 150_000 }), ask: ask({ want: 500_000 }) })).toMatchObject({
      granted: 150_000,
      unleased: 50_000,
    });
  });

  it('grants nothing more to anyone once a limit is cut below what is committed, and takes nothing granted away', () => {
    const d = grant(900_000, { others: { committed: 950_000 }, mine: lease({ grantedMicros: 10_000 }), ask: ask({ want: 20_000 }) });
    expect(d).toMatchObject({ granted: 10_000, short: true, unleased: 0 });
  });

  it('takes back what a runtime returns, down to what it used and holds, never below', () => {
    const mine = lease({ grantedMicros: 800_000 });
    expect(grant(1_000_000, { mine, ask: ask({ want: 100_000, used: 250_000, held: 50_000 }) }).granted).toBe(300_000);
    expect(grant(1_000_000, { mine, ask: ask({ want: 0 }) }).granted).toBe(0);
    // A want between its floor and its grant is what it keeps.
    expect(grant(1_000_000, { mine, ask: ask({ want: 500_000, used: 250_000 }) }).granted).toBe(500_000);
    // A floor above its grant (it spent more than it was granted) never raises the grant.
    expect(grant(1_000_000, { mine, ask: ask({ want: 0, used: 900_000 }) }).granted).toBe(800_000);
  });

  it('keeps a lease as it stands when the call asked nothing of it: its expiry too', () => {
    const mine = lease({ grantedMicros: 400_000, heldMicros: 30_000, expiresAt: NOW + 5_000 });
    expect(grant(1_000_000, { mine })).toMatchObject({ granted: 400_000, held: 30_000, expiresAt: NOW + 5_000, short: false });
    expect(grant(1_000_000)).toMatchObject({ granted: 0, held: 0, expiresAt: NOW + TTL });
  });
});

describe('the fair share: only while the headroom cannot meet every ask', () => {
  // Another live runtime is short by 200k and spends at 300k a minute.
  const demanding = { committed: 200_000, demanding: 1, unmet: 200_000, weight: 300_000 };

  it('shares the unleased headroom in proportion to the rates of the runtimes asking, this one included', () => {
    const d = grant(1_000_000, { others: demanding, ask: ask({ want: 800_000, waiting: 1, need: 40_000, rate: 100_000 }) });
    // 100k / (100k + 300k) of the 800k unleased.
    expect(d).toMatchObject({ granted: 200_000, short: true, contended: true, unleased: 600_000 });
  });

  it('gives a runtime with no rate yet its next waiting call’s need, when the headroom covers it', () => {
    // Two others short by 800k in all, at 400k a minute; 600k unleased.
    const two = { committed: 400_000, demanding: 2, unmet: 800_000, weight: 400_000 };
    expect(grant(1_000_000, { others: two, ask: ask({ want: 100_000, waiting: 1, need: 60_000, rate: 0 }) }).granted).toBe(60_000);
    // Counting what its lease already has free beyond what it used and holds: only the rest of the need.
    expect(grant(1_000_000, { others: two, mine: lease({ grantedMicros: 20_000 }), ask: ask({ want: 120_000, waiting: 1, need: 60_000, rate: 0 }) }).granted).toBe(60_000);
    // A need the headroom cannot cover is not given: only its share by rate, here nothing.
    expect(grant(1_000_000, { others: { ...two, committed: 950_000 }, ask: ask({ want: 100_000, waiting: 1, need: 60_000, rate: 0 }) }).granted).toBe(0);
  });

  it('gives each what it asks while the headroom meets every ask, however busy the budget', () => {
    const d = grant(1_000_000_000, { others: { committed: 5_000_000, demanding: 3, unmet: 1_000_000, weight: 600_000 }, ask: ask({ want: 9_000_000, waiting: 16, need: 1_000, rate: 6_000_000 }) });
    expect(d).toMatchObject({ granted: 9_000_000, short: false, contended: false });
  });

  it('is not shared when no other runtime is short, however little is left', () => {
    const d = grant(1_000_000, { others: { committed: 900_000, surplus: 0 }, ask: ask({ want: 400_000, rate: 1 }) });
    expect(d).toMatchObject({ granted: 100_000, short: true, contended: false });
  });
});

describe('no fragment: a waiting runtime is served whole or not at all', () => {
  it('gives a runtime nothing rather than a grant that would still leave its next waiting call short', () => {
    // Free 300 of its lease (400 granted, 100 used), 100 unleased, its next call needs 600.
    const d = grant(1_000, { others: { committed: 500 }, mine: lease({ grantedMicros: 400, usedMicros: 100 }), ask: ask({ want: 1_300, used: 100, waiting: 2, need: 600, rate: 1_000 }) });
    expect(d).toMatchObject({ granted: 400, short: true });
  });

  it('tops a waiting runtime’s fragment up to exactly its next call, not to all that is free', () => {
    // Free 300 of its lease; 400 unleased; another runtime is short of 600 at the same rate.
    const d = grant(1_000, {
      others: { committed: 100, demanding: 1, unmet: 600, weight: 1_000 },
      mine: lease({ grantedMicros: 500, usedMicros: 200 }),
      ask: ask({ want: 1_400, used: 200, waiting: 2, need: 600, rate: 1_000 }),
    });
    expect(d).toMatchObject({ granted: 800, short: true, unleased: 100, contended: true });
  });

  it('leaves a fragment to a runtime with nothing waiting, and a whole ask to one with calls waiting', () => {
    expect(grant(1_000, { others: { committed: 900 }, ask: ask({ want: 500 }) }).granted).toBe(100);
    expect(grant(1_000, { others: { committed: 900 }, ask: ask({ want: 100, waiting: 1, need: 600 }) }).granted).toBe(100);
  });
});

describe('contended: what the runtimes lack is more than is unleased, while some hold surplus or are short', () => {
  it('tells a short runtime, while another holds surplus, to ask again soon', () => {
    const d = grant(1_000_000, { others: { committed: 900_000, surplus: 890_000 }, ask: ask({ want: 400_000, waiting: 3, need: 50_000, rate: 600_000 }) });
    expect(d).toMatchObject({ granted: 100_000, contended: true });
    expect(renewInMs(d.contended, TTL)).toBe(CONTENDED_RENEW_MS);
  });

  it('tells a holder that another runtime is short, so that it gives back', () => {
    const d = grant(1_000_000, {
      others: { committed: 100_000, demanding: 1, unmet: 300_000, weight: 1 },
      mine: lease({ grantedMicros: 900_000, usedMicros: 10_000 }),
      ask: ask({ want: 900_000, used: 10_000 }),
    });
    expect(d).toMatchObject({ granted: 900_000, short: false, unleased: 0, contended: true });
  });

  it('is not contended when what is lacking fits in what is unleased, or when nobody holds surplus or is short', () => {
    expect(grant(1_000_000, { others: { committed: 100_000, demanding: 1, unmet: 300_000, weight: 1 }, ask: ask({ want: 100_000 }) }).contended).toBe(false);
    expect(grant(1_000_000, { others: { committed: 1_000_000 }, ask: ask({ want: 100_000 }) })).toMatchObject({ short: true, contended: false });
  });
});

describe('what a runtime is counted as having spent', () => {
  it('never below what the panel knows (its rows, its last report), whatever it says; a lower report is said (lower)', () => {
    const mine = lease({ grantedMicros: 500_000, usedMicros: 180_000 });
    const d = grant(1_000_000, { mine, ask: ask({ want: 0, used: 50_000 }) });
    expect(d).toMatchObject({ granted: 180_000, floor: 180_000, recount: 'lower' });
    // A report at or above it says nothing; its rows count too.
    expect(grant(1_000_000, { mine, ask: ask({ want: 500_000, used: 180_000 }) }).recount).toBeNull();
    expect(grant(1_000_000, { mine: lease({ grantedMicros: 500_000, spentMicros: 200_000, usedMicros: 100_000 }), ask: ask({ want: 0, used: 150_000 }) })).toMatchObject({
      granted: 200_000,
      floor: 200_000,
      recount: 'lower',
    });
  });

  it('tells a new process asking nothing yet what the old one spent and held (restart); the same process hears nothing', () => {
    const mine = lease({ grantedMicros: 500_000, usedMicros: 100_000, heldMicros: 80_000 });
    expect(grant(1_000_000, { mine, fresh: true })).toMatchObject({ granted: 500_000, floor: 100_000, held: 80_000, recount: 'restart', left: 900_000 });
    expect(grant(1_000_000, { mine }).recount).toBeNull();
    // Nothing known spent or held: nothing to say.
    expect(grant(1_000_000, { mine: lease({ grantedMicros: 500_000 }), fresh: true }).recount).toBeNull();
    expect(grant(1_000_000, { fresh: true }).recount).toBeNull();
  });

  it('sums the window’s figures with the others’: spent, leased, unleased and what is left', () => {
    const d = grant(1_000_000, {
      others: { committed: 300_000, spent: 100_000, used: 150_000, unspent: 200_000 },
      mine: lease({ grantedMicros: 300_000, spentMicros: 50_000, usedMicros: 100_000 }),
      ask: ask({ want: 300_000, used: 120_000, held: 10_000 }),
    });
    expect(d).toEqual({
      granted: 300_000,
      short: false,
      contended: false,
      expiresAt: NOW + TTL,
      spent: 150_000,
      leased: 200_000 + 250_000,
      unleased: 400_000,
      left: 1_000_000 - 150_000 - 120_000,
      floor: 120_000,
      held: 10_000,
      recount: null,
    });
  });
});

describe('outside the current window', () => {
  const row = lease({ grantedMicros: 300_000, spentMicros: 40_000, usedMicros: 60_000 });

  it('a window that is over only gives back: a larger want keeps the grant, a smaller one lowers it to what is used and held', () => {
    expect(settleOutside(row, ask({ want: 900_000, used: 100_000 }), true)).toEqual({ granted: 300_000, used: 100_000, takenBack: false });
    expect(settleOutside(row, ask({ want: 0, used: 100_000, held: 20_000 }), true)).toEqual({ granted: 120_000, used: 100_000, takenBack: false });
    // A report below what the panel knows is counted as what it knows.
    expect(settleOutside(row, ask({ want: 0, used: 10_000 }), true)).toEqual({ granted: 60_000, used: 60_000, takenBack: false });
  });

  it('a budget that no longer covers the runtime comes down to what it spent and holds at once, whatever it wants: a take-back', () => {
    expect(settleOutside(row, ask({ want: 500_000, used: 20_000, held: 10_000 }), false)).toEqual({ granted: 70_000, used: 60_000, takenBack: true });
    // Its rows above what it says and holds: the rows.
    expect(settleOutside(lease({ grantedMicros: 300_000, spentMicros: 250_000 }), ask({ want: 0 }), false)).toEqual({ granted: 250_000, used: 250_000, takenBack: true });
    // Nothing to take back from a grant already at or below that.
    expect(settleOutside(lease({ grantedMicros: 50_000 }), ask({ want: 0, used: 50_000 }), false)).toMatchObject({ granted: 50_000, takenBack: false });
  });

  it('takes a lease it asks nothing of down to its rows, or what it said it used and held', () => {
    expect(takenBackTo(lease({ spentMicros: 100_000, usedMicros: 150_000, heldMicros: 20_000 }))).toBe(170_000);
    expect(takenBackTo(lease({ spentMicros: 200_000, usedMicros: 150_000, heldMicros: 20_000 }))).toBe(200_000);
    expect(knownSpent(lease({ spentMicros: 100_000, usedMicros: 150_000, heldMicros: 20_000 }))).toBe(150_000);
    expect(committed(lease({ grantedMicros: 100_000, spentMicros: 130_000 }))).toBe(130_000);
  });
});

describe('one lease’s share of its window’s figures (what the store sums in SQL for the others)', () => {
  const row = (o: Partial<LeaseHeld & { wantedMicros: number; ratePerMinMicros: number; updatedAt: number }> = {}) => ({
    ...lease({ expiresAt: NOW + 10_000 }),
    wantedMicros: 0,
    ratePerMinMicros: 0,
    updatedAt: NOW - 1_000,
    ...o,
  });
  const RECLAIM = 600_000;

  it('counts what it committed, spent, used, leased unspent and holds beyond its spend and holds', () => {
    expect(leaseFigures(row({ grantedMicros: 500_000, spentMicros: 100_000, usedMicros: 150_000, heldMicros: 20_000 }), NOW, RECLAIM)).toEqual({
      committed: 500_000,
      demanding: 0,
      unmet: 0,
      weight: 0,
      surplus: 330_000,
      spent: 100_000,
      used: 150_000,
      unspent: 400_000,
      reclaimable: false,
    });
    // Spent past its grant: committed is the spend, nothing unspent or surplus.
    expect(leaseFigures(row({ grantedMicros: 100_000, spentMicros: 130_000 }), NOW, RECLAIM)).toMatchObject({ committed: 130_000, surplus: 0, unspent: 0, used: 130_000 });
  });

  it('is demanding while live, short and heard from within CONTENDED_WITHIN_MS: its shortfall, and its rate (at least 1) as weight', () => {
    const short = { grantedMicros: 100_000, wantedMicros: 400_000, ratePerMinMicros: 0 };
    expect(leaseFigures(row(short), NOW, RECLAIM)).toMatchObject({ demanding: 1, unmet: 300_000, weight: 1 });
    expect(leaseFigures(row({ ...short, ratePerMinMicros: 90_000, updatedAt: NOW - CONTENDED_WITHIN_MS }), NOW, RECLAIM)).toMatchObject({ demanding: 1, weight: 90_000 });
    // Heard from too long ago, expired, or not short: not demanding.
    expect(leaseFigures(row({ ...short, updatedAt: NOW - CONTENDED_WITHIN_MS - 1 }), NOW, RECLAIM)).toMatchObject({ demanding: 0, unmet: 0, weight: 0 });
    expect(leaseFigures(row({ ...short, expiresAt: NOW - 1 }), NOW, RECLAIM).demanding).toBe(0);
    expect(leaseFigures(row({ grantedMicros: 400_000, wantedMicros: 400_000 }), NOW, RECLAIM).demanding).toBe(0);
  });

  it('is reclaimable once expired past its grace while holding more than its runtime reported', () => {
    const silent = { grantedMicros: 200_000, usedMicros: 20_000, expiresAt: NOW - RECLAIM - 1 };
    expect(leaseFigures(row(silent), NOW, RECLAIM).reclaimable).toBe(true);
    expect(leaseFigures(row({ ...silent, expiresAt: NOW - RECLAIM }), NOW, RECLAIM).reclaimable).toBe(false);
    expect(leaseFigures(row({ ...silent, usedMicros: 200_000 }), NOW, RECLAIM).reclaimable).toBe(false);
    // Never leased (its rows landed first): expiry 0, never reclaimed.
    expect(leaseFigures(row({ ...silent, expiresAt: 0 }), NOW, RECLAIM).reclaimable).toBe(false);
  });

  it('adds up and takes away figure by figure', () => {
    const a = leaseFigures(row({ grantedMicros: 100_000, wantedMicros: 300_000, ratePerMinMicros: 5 }), NOW, RECLAIM);
    const b = leaseFigures(row({ grantedMicros: 50_000, spentMicros: 10_000, expiresAt: NOW - RECLAIM - 1 }), NOW, RECLAIM);
    const sum = addLeases(addLeases(NO_OTHER_LEASES, a), b);
    expect(sum).toEqual({ committed: 150_000, demanding: 1, unmet: 200_000, weight: 5, surplus: 140_000, spent: 10_000, used: 10_000, unspent: 140_000, reclaimable: true });
    expect(addLeases(addLeases(sum, b, -1), a, -1)).toEqual({ ...NO_OTHER_LEASES, reclaimable: true });
  });
});

describe('the order of a runtime’s lease calls', () => {
  const applied = { incarnation: 1_000, seq: 5 };
  it('answers a call at or below the newest applied stale, and says a newer process is fresh', () => {
    expect(placeInOrder({ incarnation: 1_000, seq: 5 }, applied)).toEqual({ stale: true, fresh: false });
    expect(placeInOrder({ incarnation: 1_000, seq: 4 }, applied)).toEqual({ stale: true, fresh: false });
    expect(placeInOrder({ incarnation: 999, seq: 50 }, applied)).toEqual({ stale: true, fresh: false });
    expect(placeInOrder({ incarnation: 1_000, seq: 6 }, applied)).toEqual({ stale: false, fresh: false });
    expect(placeInOrder({ incarnation: 1_001, seq: 1 }, applied)).toEqual({ stale: false, fresh: true });
    // An older runtime's call, without an order: taken as it comes.
    expect(placeInOrder(null, applied)).toEqual({ stale: false, fresh: false });
  });

  it('asks again halfway through a lease’s life, soon while contended, and never sooner than 100 ms', () => {
    expect(renewInMs(false, 30_000)).toBe(15_000);
    expect(renewInMs(true, 30_000)).toBe(CONTENDED_RENEW_MS);
    expect(renewInMs(false, 50)).toBe(100);
  });
});

describe('the invariants, over many figures', () => {
  it('never grants past the limit, never past the want, never a fragment to a waiting runtime, never below what is known spent', () => {
    // A fixed-seed generator: the same 5,000 cases each run.
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return Math.floor((seed / 2_147_483_648) * n);
    };
    for (let i = 0; i < 5_000; i++) {
      const limit = rnd(10_000);
      const others: OtherLeases = {
        ...NO_OTHER_LEASES,
        committed: rnd(12_000),
        demanding: rnd(3),
        unmet: rnd(5_000),
        weight: rnd(3_000),
        surplus: rnd(3_000),
        spent: rnd(5_000),
        used: rnd(6_000),
        unspent: rnd(3_000),
      };
      const mine = rnd(4) === 0 ? null : lease({ grantedMicros: rnd(5_000), spentMicros: rnd(3_000), usedMicros: rnd(3_000), heldMicros: rnd(1_000) });
      const a = rnd(5) === 0 ? null : ask({ want: rnd(8_000), used: rnd(3_000), held: rnd(1_000), waiting: rnd(3), need: rnd(2_000), rate: rnd(2_000) });
      const d = grantLease({ limit, others, mine, ask: a, fresh: rnd(2) === 0, now: NOW, ttlMs: TTL });
      const cur = mine?.grantedMicros ?? 0;
      const spent = mine?.spentMicros ?? 0;
      // The message is built, and expect called, only for a case that fails (5,000 cases a run).
      const what = () => JSON.stringify({ limit, others, mine, a, d });
      if (!(d.granted >= 0)) expect(d.granted, what()).toBeGreaterThanOrEqual(0);
      if (d.granted > cur) {
        const total = others.committed + Math.max(d.granted, spent);
        if (!(total <= limit)) expect(total, what()).toBeLessThanOrEqual(limit);
        if (!(d.granted <= a!.want)) expect(d.granted, what()).toBeLessThanOrEqual(a!.want);
        if (a!.waiting > 0 && a!.need > 0 && d.short) {
          const whole = d.granted - d.floor - a!.held;
          if (!(whole >= a!.need)) expect(whole, what()).toBeGreaterThanOrEqual(a!.need);
        }
      }
      if (a === null) {
        if (!Object.is(d.granted, cur)) expect(d.granted, what()).toBe(cur);
      } else if (a.want <= cur) {
        const kept = Math.min(cur, Math.max(a.want, d.floor + a.held));
        if (!Object.is(d.granted, kept)) expect(d.granted, what()).toBe(kept);
      }
      const known = mine ? knownSpent(mine) : 0;
      if (!(d.floor >= known)) expect(d.floor, what()).toBeGreaterThanOrEqual(known);
      if (!(d.unleased >= 0)) expect(d.unleased, what()).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('what a runtime asks for (its half of the policy)', () => {
  const snap = (o: Partial<{ spentMicros: number; reservedMicros: number; waitingCalls: number; needMicros: number; needSumMicros: number }> = {}) => ({
    spentMicros: 0,
    reservedMicros: 0,
    waitingCalls: 0,
    needMicros: 0,
    needSumMicros: 0,
    ...o,
  });
  const lease = (o: Partial<{ granted: number; unleased: number; contended: boolean; largest: number }> = {}) => ({ granted: 0, unleased: 1_000_000, contended: false, largest: 0, ...o });
  const busy = { settling: false, ratePerMin: 60_000, horizonMs: 20_000 };

  it('asks for its rate over the horizon and every waiting call beyond what it spent and holds, never less than its grant', () => {
    // 60k a minute over 20 s: 20k ahead.
    expect(leaseWant(lease(), snap({ spentMicros: 100_000, reservedMicros: 5_000, waitingCalls: 2, needMicros: 3_000, needSumMicros: 5_000 }), busy)).toBe(130_000);
    // At least one more of its largest call, however slow it spends.
    expect(leaseWant(lease({ largest: 50_000 }), snap({ spentMicros: 100_000 }), { ...busy, ratePerMin: 0 })).toBe(150_000);
    expect(leaseWant(lease({ granted: 500_000 }), snap({ spentMicros: 100_000 }), busy)).toBe(500_000);
  });

  it('while contended asks only for what it spent, holds and its waiting calls need: its surplus goes back', () => {
    expect(leaseWant(lease({ granted: 500_000, contended: true }), snap({ spentMicros: 100_000, reservedMicros: 5_000, waitingCalls: 1, needMicros: 8_000, needSumMicros: 8_000 }), busy)).toBe(
      113_000,
    );
  });

  it('shutting down, idle or gone, asks for what it spent and holds: everything else goes back', () => {
    expect(leaseWant(lease({ granted: 500_000, largest: 50_000 }), snap({ spentMicros: 100_000, reservedMicros: 5_000, waitingCalls: 1, needSumMicros: 8_000 }), { ...busy, settling: true })).toBe(
      105_000,
    );
  });

  it('at the end of a budget gives back its fragment when neither it nor the unleased headroom can pay for its waiting call', () => {
    // Free 300 here, the call needs 600, the panel has 100 unleased: 300 + 100 < 600.
    const end = snap({ spentMicros: 200, waitingCalls: 1, needMicros: 600, needSumMicros: 600 });
    expect(leaseWant(lease({ granted: 500, unleased: 100 }), end, busy)).toBe(200);
    // With enough unleased to top it up, it asks for the call.
    expect(leaseWant(lease({ granted: 500, unleased: 300 }), end, { ...busy, ratePerMin: 0 })).toBe(200 + 600);
    // Free enough here for the call: no give-back.
    expect(leaseWant(lease({ granted: 900, unleased: 0 }), end, { ...busy, ratePerMin: 0 })).toBe(900);
  });

  it('reads the rate from the first and last spend samples, per minute; none without two apart', () => {
    expect(spendRate([])).toBe(0);
    expect(spendRate([[1_000, 50]])).toBe(0);
    expect(
      spendRate([
        [0, 100],
        [30_000, 400],
        [60_000, 1_100],
      ]),
    ).toBe(1_000);
    expect(
      spendRate([
        [0, 500],
        [10_000, 400],
      ]),
    ).toBe(0);
  });
});
