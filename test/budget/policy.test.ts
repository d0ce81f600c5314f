import { describe, expect, it } from 'vitest';
import { BudgetPolicy, BudgetTracker, type BudgetRefusal } from '../../src/domain/budget/index.js';

const USD = 1_000_000;

function refused(t: BudgetTracker, micros: number): BudgetRefusal {
  const r = t.reserve('lg-1', micros);
  if (r.ok) throw new Error('expected a refusal');
  return r;
}

function tracker(limit: number, spent: number): BudgetTracker {
  const t = new BudgetTracker();
  t.restore('lg-1', { limitMicros: limit, spentMicros: spent });
  return t;
}

describe('BudgetPolicy: when a budget counts as exhausted', () => {
  it('a refusal with nothing left exhausts the budget', () => {
    const p = new BudgetPolicy('stop');
    expect(p.refusalExhausts(refused(tracker(USD, USD), 1))).toBe(true);
  });

  it('a refusal at 95% spent or more exhausts it: the crumbs left cannot pay for a call', () => {
    const p = new BudgetPolicy('stop');
    expect(p.refusalExhausts(refused(tracker(USD, 950_000), 60_000))).toBe(true);
    expect(p.refusalExhausts(refused(tracker(USD, 949_999), 60_000))).toBe(false);
  });

  it('one oversized call with plenty left does not', () => {
    const p = new BudgetPolicy('stop');
    expect(p.refusalExhausts(refused(tracker(USD, 100_000), 2 * USD))).toBe(false);
  });

  it('an unknown agent is refused but not exhausted', () => {
    const r = new BudgetTracker().reserve('nobody', 1);
    expect(r.ok).toBe(false);
    expect(new BudgetPolicy('stop').refusalExhausts(r as BudgetRefusal)).toBe(false);
  });
});

describe('BudgetPolicy: what to do on exhaustion, once', () => {
  it.each(['stop', 'refuse'] as const)('answers %s the first time, then nothing until the limit changes', (action) => {
    const p = new BudgetPolicy(action);
    expect(p.exhaust('lg-1')).toBe(action);
    expect(p.exhaust('lg-1')).toBeNull();
    expect(p.exhaust('lg-2')).toBe(action);
    // Raised above the spend: it may be exhausted (and acted on) again.
    p.limitChanged('lg-1', { spentMicros: USD, limitMicros: 2 * USD, state: 'ok' });
    expect(p.exhaust('lg-1')).toBe(action);
  });

  it('a new limit that leaves the budget still exhausted does not act a second time', () => {
    const p = new BudgetPolicy('stop');
    expect(p.exhaust('lg-1')).toBe('stop');
    p.limitChanged('lg-1', { spentMicros: USD, limitMicros: USD, state: 'exhausted' });
    expect(p.exhaust('lg-1')).toBeNull();
    p.limitChanged('lg-1', { spentMicros: USD, limitMicros: null, state: 'unlimited' });
    expect(p.exhaust('lg-1')).toBe('stop');
  });
});

describe('BudgetPolicy: every 10% of a budget, once', () => {
  it('announces each tenth reached once, skipping straight to the highest one crossed', () => {
    const p = new BudgetPolicy('stop');
    const steps = [50_000, 100_000, 150_000, 199_999, 350_000, 360_000, 1_000_000, 1_200_000].map((spent) => p.progressStep('lg-1', spent, USD));
    expect(steps).toEqual([null, 1, null, null, 3, null, 10, null]);
  });

  it('counts from where the spend is when the limit is set or restored', () => {
    const p = new BudgetPolicy('stop');
    p.limitChanged('lg-1', { spentMicros: 450_000, limitMicros: USD, state: 'ok' });
    expect(p.progressStep('lg-1', 480_000, USD)).toBeNull();
    expect(p.progressStep('lg-1', 500_000, USD)).toBe(5);
    // A raised limit: 50% of $1 is 25% of $2, and the next step is 30%.
    p.limitChanged('lg-1', { spentMicros: 500_000, limitMicros: 2 * USD, state: 'ok' });
    expect(p.progressStep('lg-1', 550_000, 2 * USD)).toBeNull();
    expect(p.progressStep('lg-1', 600_000, 2 * USD)).toBe(3);
  });

  it('has nothing to announce without a limit', () => {
    const p = new BudgetPolicy('stop');
    expect(p.progressStep('lg-1', 5 * USD, null)).toBeNull();
    expect(p.progressStep('lg-1', 5 * USD, 0)).toBeNull();
  });
});
