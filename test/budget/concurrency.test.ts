import { describe, expect, it } from 'vitest';
import { BudgetTracker, type BudgetRefusal } from '../../src/domain/budget/index.js';
import { mulberry32 } from '../../src/core/random.js';
import { expectAtMost, expectIs } from '../helpers/cheap-expect.js';

// 50 concurrent requests against a nearly spent budget: reserve before, settle (or release on
// failure) after, in many interleavings. Settled spend must never pass the limit, the ledger must
// equal the sum of actual costs, and refusals must name the budget.

const LIMIT = 50_000_000;
const SPENT = 49_500_000; // $0.50 of headroom for 50 requests of $0.01-$0.05
const AGENT = 'lg-7a3f9c2d';
const REFUSAL =
  /^budget of \$50\.00 for agent lg-7a3f9c2d would be exceeded: \$(?:49|50)\.\d\d spent(, \$0\.\d\d reserved by \d+ in-flight requests?)?, \$0\.0\d requested$|^budget of \$50\.00 for agent lg-7a3f9c2d is exhausted: \$50\.\d\d spent, \$0\.0\d requested$/;

interface Plan {
  estimate: number;
  actual: number;
  fails: boolean;
}

/** Actual costs up to `overrun` × the estimate; 1 means the estimate is a true upper bound. */
function plans(random: () => number, overrun: number): Plan[] {
  return Array.from({ length: 50 }, () => {
    const estimate = 10_000 + Math.floor(random() * 40_001);
    return { estimate, actual: Math.floor(random() * estimate * overrun), fails: random() < 0.1 };
  });
}

interface Outcome {
  refusals: BudgetRefusal[];
  settledActuals: number[];
  overshoot: number;
}

function fresh(): BudgetTracker {
  const t = new BudgetTracker();
  t.restore(AGENT, { limitMicros: LIMIT, spentMicros: SPENT });
  return t;
}

function checkInvariant(t: BudgetTracker): void {
  const s = t.snapshot(AGENT)!;
  expectAtMost(s.settledMicros, LIMIT);
  expectAtMost(s.settledMicros + s.reservedMicros, LIMIT);
}

/** Steps in a given order: each request's reserve comes before its settle. */
function runSchedule(t: BudgetTracker, ps: Plan[], random: () => number): Outcome {
  const steps = ps.flatMap((_, i) => [i, i]);
  for (let i = steps.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [steps[i], steps[j]] = [steps[j]!, steps[i]!];
  }
  const ids = new Map<number, number | null>();
  const out: Outcome = { refusals: [], settledActuals: [], overshoot: 0 };
  for (const i of steps) {
    const p = ps[i]!;
    if (!ids.has(i)) {
      const r = t.reserve(AGENT, p.estimate);
      if (r.ok) ids.set(i, r.reservationId);
      else {
        ids.set(i, null);
        out.refusals.push(r);
      }
    } else {
      const id = ids.get(i);
      if (id === null || id === undefined) continue;
      if (p.fails) t.release(id);
      else {
        const s = t.settle(id, p.actual);
        out.settledActuals.push(p.actual);
        out.overshoot += s.overshootMicros;
      }
    }
    checkInvariant(t);
  }
  return out;
}

/** True async concurrency: every request awaits a random number of turns between its steps. */
async function runConcurrently(t: BudgetTracker, ps: Plan[], random: () => number): Promise<Outcome> {
  const out: Outcome = { refusals: [], settledActuals: [], overshoot: 0 };
  const turns = async (n: number) => {
    for (let k = 0; k < n; k++) await new Promise<void>((resolve) => setImmediate(resolve));
  };
  const delays = ps.map(() => [Math.floor(random() * 5), Math.floor(random() * 5)] as const);
  await Promise.all(
    ps.map(async (p, i) => {
      await turns(delays[i]![0]);
      const r = t.reserve(AGENT, p.estimate);
      checkInvariant(t);
      if (!r.ok) {
        out.refusals.push(r);
        return;
      }
      await turns(delays[i]![1]);
      if (p.fails) t.release(r.reservationId);
      else {
        const s = t.settle(r.reservationId, p.actual);
        out.settledActuals.push(p.actual);
        out.overshoot += s.overshootMicros;
      }
      checkInvariant(t);
    }),
  );
  return out;
}

function checkOutcome(t: BudgetTracker, out: Outcome, overrun: number): void {
  const s = t.snapshot(AGENT)!;
  const actual = out.settledActuals.reduce((a, b) => a + b, 0);
  expect(s.settledMicros).toBeLessThanOrEqual(LIMIT);
  expect(s.reservedMicros).toBe(0);
  expect(s.openReservations).toBe(0);
  // truthful: everything the provider charged is on the books, split into settled + overshoot
  expect(s.spentMicros).toBe(SPENT + actual);
  expect(s.overshootMicros).toBe(out.overshoot);
  if (overrun <= 1) expect(s.overshootMicros).toBe(0);
  expect(out.refusals.length).toBeGreaterThan(0);
  for (const r of out.refusals) {
    expectIs(r.code, 'budget_exceeded');
    if (!REFUSAL.test(r.message)) expect(r.message).toMatch(REFUSAL);
    const asked = r.spentMicros + r.reservedMicros + r.requestedMicros;
    if (!(asked > LIMIT)) expect(asked).toBeGreaterThan(LIMIT);
  }
}

/** The runs must actually overlap requests (and overrun, when allowed) or they prove nothing. */
function expectRealContention(outcomes: Outcome[], overrun: number): void {
  expect(outcomes.some((o) => o.refusals.some((r) => r.reservedMicros > 0))).toBe(true);
  if (overrun > 1) expect(outcomes.some((o) => o.overshoot > 0)).toBe(true);
}

describe('50 concurrent requests against a nearly spent budget', () => {
  const seeds = Array.from({ length: 20 }, (_, i) => 1_000 + i);

  for (const overrun of [1, 2]) {
    const label = overrun === 1 ? 'actual within the reservation' : 'actual up to twice the reservation';

    it(`shuffled interleavings, ${label}`, () => {
      const outcomes = seeds.map((seed) => {
        const random = mulberry32(seed);
        const t = fresh();
        const out = runSchedule(t, plans(random, overrun), random);
        checkOutcome(t, out, overrun);
        return out;
      });
      expectRealContention(outcomes, overrun);
    });

    it(`async interleavings, ${label}`, async () => {
      const outcomes: Outcome[] = [];
      for (const seed of seeds) {
        const random = mulberry32(seed);
        const t = fresh();
        const out = await runConcurrently(t, plans(random, overrun), random);
        checkOutcome(t, out, overrun);
        outcomes.push(out);
      }
      expectRealContention(outcomes, overrun);
    });
  }

  it('refuses exactly the requests that do not fit, in arrival order', () => {
    const t = fresh();
    // ten $0.05 requests all in flight at once: exactly the $0.50 fits
    const results = Array.from({ length: 50 }, () => t.reserve(AGENT, 50_000));
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    expect(results.slice(0, 10).every((r) => r.ok)).toBe(true);
    const refused = results[10]!;
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.message).toBe('budget of $50.00 for agent lg-7a3f9c2d would be exceeded: $49.50 spent, $0.50 reserved by 10 in-flight requests, $0.05 requested');
    }
  });
});
