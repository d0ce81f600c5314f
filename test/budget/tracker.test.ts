import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../src/core/errors.js';
import { BudgetTracker, type ReserveResult } from '../../src/domain/budget/index.js';

const USD = 1_000_000;

function granted(r: ReserveResult): number {
  if (!r.ok) throw new Error(`expected a reservation, got: ${r.message}`);
  return r.reservationId;
}

function withBudget(limit = 50 * USD, spent = 0, thresholds?: number[]): BudgetTracker {
  const t = new BudgetTracker(thresholds ? { thresholds } : {});
  t.restore('lg-1', { limitMicros: limit, spentMicros: spent });
  return t;
}

describe('reserve, settle, release', () => {
  it('holds a reservation until it is settled on the actual cost', () => {
    const t = withBudget();
    const id = granted(t.reserve('lg-1', 50_000));
    expect(t.snapshot('lg-1')).toMatchObject({ reservedMicros: 50_000, openReservations: 1, spentMicros: 0, availableMicros: 50 * USD - 50_000 });
    const s = t.settle(id, 31_000);
    expect(s).toMatchObject({ actualMicros: 31_000, chargedMicros: 31_000, overshootMicros: 0, notices: [] });
    expect(s.snapshot).toMatchObject({ reservedMicros: 0, openReservations: 0, spentMicros: 31_000, settledMicros: 31_000, state: 'ok' });
  });

  it('returns a released reservation to the budget', () => {
    const t = withBudget(1 * USD);
    const id = granted(t.reserve('lg-1', USD));
    expect(t.reserve('lg-1', 1).ok).toBe(false);
    expect(t.release(id)).toBe(true);
    expect(t.release(id)).toBe(false);
    expect(t.reserve('lg-1', USD).ok).toBe(true);
  });

  it('refuses settling twice or after a release', () => {
    const t = withBudget();
    const id = granted(t.reserve('lg-1', 10));
    t.settle(id, 5);
    expect(() => t.settle(id, 5)).toThrow(ConflictError);
    const id2 = granted(t.reserve('lg-1', 10));
    t.release(id2);
    expect(() => t.settle(id2, 5)).toThrow(/reservation \d+ is not open/);
  });

  it('rejects amounts that are not integer micro-dollars', () => {
    const t = withBudget();
    expect(() => t.reserve('lg-1', 0.5)).toThrow(ValidationError);
    expect(() => t.reserve('lg-1', -1)).toThrow(ValidationError);
    const id = granted(t.reserve('lg-1', 10));
    expect(() => t.settle(id, Number.NaN)).toThrow(ValidationError);
  });

  it('charges late usage that has no reservation', () => {
    const t = withBudget();
    expect(t.charge('lg-1', 1_500).snapshot.spentMicros).toBe(1_500);
    expect(() => t.charge('nobody', 1)).toThrow(NotFoundError);
  });
});

describe('refusals', () => {
  it('names the budget, the spend and the request', () => {
    const t = withBudget(50 * USD, 49_980_000);
    const r = t.reserve('lg-1', 50_000);
    expect(r).toEqual({
      ok: false,
      code: 'budget_exceeded',
      message: 'budget of $50.00 for agent lg-1 would be exceeded: $49.98 spent, $0.05 requested',
      agentId: 'lg-1',
      limitMicros: 50 * USD,
      spentMicros: 49_980_000,
      reservedMicros: 0,
      requestedMicros: 50_000,
      exhausted: false,
    });
  });

  it('mentions what in-flight requests hold', () => {
    const t = withBudget(50 * USD, 49_950_000);
    granted(t.reserve('lg-1', 20_000));
    granted(t.reserve('lg-1', 10_000));
    const r = t.reserve('lg-1', 30_000);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toBe('budget of $50.00 for agent lg-1 would be exceeded: $49.95 spent, $0.03 reserved by 2 in-flight requests, $0.03 requested');
    }
    expect(t.reserve('lg-1', 20_000).ok).toBe(true); // exactly fills the budget
  });

  it('says when the budget is exhausted', () => {
    const t = withBudget(50 * USD, 50 * USD);
    const r = t.reserve('lg-1', 1_000);
    expect(r).toMatchObject({ ok: false, exhausted: true, message: 'budget of $50.00 for agent lg-1 is exhausted: $50.00 spent, $0.0010 requested' });
  });

  it('refuses agents without a registered budget', () => {
    expect(new BudgetTracker().reserve('ghost', 1)).toMatchObject({ ok: false, code: 'unknown_agent', message: 'no budget is registered for agent ghost' });
  });

  it('never refuses an unlimited agent, but still meters it', () => {
    const t = new BudgetTracker();
    t.setLimit('nb-1', null);
    const id = granted(t.reserve('nb-1', 10 ** 12));
    const s = t.settle(id, 7 * USD);
    expect(s.snapshot).toMatchObject({ spentMicros: 7 * USD, limitMicros: null, availableMicros: null, percentUsed: null, state: 'unlimited' });
    expect(s.notices).toEqual([]);
  });
});

describe('the settle rule', () => {
  it('charges in full whenever the actual cost is within the reservation', () => {
    const t = withBudget(1 * USD);
    const a = granted(t.reserve('lg-1', 600_000));
    const b = granted(t.reserve('lg-1', 400_000));
    expect(t.settle(a, 600_000)).toMatchObject({ chargedMicros: 600_000, overshootMicros: 0 });
    expect(t.settle(b, 400_000)).toMatchObject({ chargedMicros: 400_000, overshootMicros: 0 });
    expect(t.snapshot('lg-1')).toMatchObject({ settledMicros: USD, spentMicros: USD, state: 'exhausted' });
  });

  it('charges a cost above the reservation only up to unpromised headroom and reports the rest', () => {
    const t = withBudget(1 * USD, 900_000);
    const a = granted(t.reserve('lg-1', 50_000));
    const b = granted(t.reserve('lg-1', 30_000));
    // a overran its estimate: it may use the free 20_000 but not b's 30_000
    expect(t.settle(a, 120_000)).toMatchObject({ actualMicros: 120_000, chargedMicros: 70_000, overshootMicros: 50_000 });
    // b, within its estimate, is charged in full: a's overrun did not eat b's reservation
    expect(t.settle(b, 30_000)).toMatchObject({ chargedMicros: 30_000, overshootMicros: 0 });
    expect(t.snapshot('lg-1')).toMatchObject({
      settledMicros: USD,
      overshootMicros: 50_000,
      spentMicros: 900_000 + 120_000 + 30_000,
      availableMicros: 0,
      state: 'exhausted',
    });
    expect(t.reserve('lg-1', 0)).toMatchObject({ ok: false, exhausted: true });
  });

  it('keeps open reservations valid when the limit is lowered, and caps their settles', () => {
    const t = withBudget(10 * USD, 2 * USD);
    const id = granted(t.reserve('lg-1', 5 * USD));
    expect(t.setLimit('lg-1', 4 * USD).ok).toBe(true);
    expect(t.settle(id, 3 * USD)).toMatchObject({ chargedMicros: 2 * USD, overshootMicros: USD });
    expect(t.snapshot('lg-1')).toMatchObject({ settledMicros: 4 * USD, spentMicros: 5 * USD });
  });
});

describe('thresholds', () => {
  it('fires the 90% warning once, then exhaustion once at 100%', () => {
    const t = withBudget(50 * USD, 44 * USD);
    const first = t.settle(granted(t.reserve('lg-1', 2 * USD)), USD + 10);
    expect(first.notices).toEqual([{ agentId: 'lg-1', threshold: 0.9, kind: 'warning', spentMicros: 45 * USD + 10, limitMicros: 50 * USD, percentUsed: ((45 * USD + 10) * 100) / (50 * USD) }]);
    expect(first.snapshot.state).toBe('warning');
    for (let i = 0; i < 4; i++) expect(t.settle(granted(t.reserve('lg-1', USD)), USD).notices).toEqual([]);
    const last = t.settle(granted(t.reserve('lg-1', USD - 10)), USD - 10);
    expect(last.notices.map((n) => [n.threshold, n.kind])).toEqual([[1, 'exhausted']]);
    expect(last.snapshot).toMatchObject({ spentMicros: 50 * USD, state: 'exhausted', firedThresholds: [0.9, 1] });
    expect(t.charge('lg-1', 0).notices).toEqual([]);
  });

  it('fires at exactly 90% of the limit', () => {
    const t = withBudget(50 * USD, 44_999_999);
    expect(t.charge('lg-1', 1).notices).toHaveLength(1);
  });

  it('reports every threshold one settle jumps over, lowest first', () => {
    const t = withBudget(10 * USD, 0, [0.5, 0.8]);
    expect(t.thresholds).toEqual([0.5, 0.8, 1]);
    expect(t.charge('lg-1', 10 * USD).notices.map((n) => n.threshold)).toEqual([0.5, 0.8, 1]);
  });

  it('rejects thresholds outside (0, 1]', () => {
    expect(() => new BudgetTracker({ thresholds: [0] })).toThrow(ValidationError);
    expect(() => new BudgetTracker({ thresholds: [1.5] })).toThrow(/fractions in \(0, 1\]/);
  });
});

describe('changing the limit live', () => {
  it('re-arms thresholds the spend is below again, so the next crossing warns again', () => {
    const t = withBudget(50 * USD, 0);
    expect(t.charge('lg-1', 50 * USD).notices.map((n) => n.threshold)).toEqual([0.9, 1]);
    expect(t.reserve('lg-1', 1).ok).toBe(false);

    const raised = t.setLimit('lg-1', 75 * USD);
    expect(raised).toMatchObject({ ok: true, notices: [] });
    if (raised.ok) expect(raised.snapshot).toMatchObject({ state: 'ok', firedThresholds: [], availableMicros: 25 * USD });
    expect(t.reserve('lg-1', USD).ok).toBe(true);

    expect(t.charge('lg-1', 17 * USD).notices).toEqual([]);
    expect(t.charge('lg-1', USD).notices.map((n) => [n.threshold, n.limitMicros])).toEqual([[0.9, 75 * USD]]);
  });

  it('keeps a threshold suppressed if the raise leaves the spend above it', () => {
    const t = withBudget(50 * USD, 0);
    t.charge('lg-1', 46 * USD);
    const r = t.setLimit('lg-1', 51 * USD); // 46/51 = 90.2%: still past 90%
    expect(r).toMatchObject({ ok: true, notices: [] });
    if (r.ok) expect(r.snapshot.firedThresholds).toEqual([0.9]);
  });

  it('fires thresholds a lowered limit crosses', () => {
    const t = withBudget(100 * USD, 40 * USD);
    const r = t.setLimit('lg-1', 44 * USD);
    expect(r.ok && r.notices.map((n) => n.threshold)).toEqual([0.9]);
  });

  it('refuses a limit below what is already spent', () => {
    const t = withBudget(50 * USD, 12 * USD);
    expect(t.setLimit('lg-1', 10 * USD)).toMatchObject({
      ok: false,
      code: 'below_spent',
      message: 'cannot lower the budget for agent lg-1 to $10.00: $12.00 is already spent',
    });
    expect(t.snapshot('lg-1')?.limitMicros).toBe(50 * USD);
    expect(t.setLimit('lg-1', 12 * USD)).toMatchObject({ ok: true, snapshot: { state: 'exhausted' } });
  });

  it('registers new agents', () => {
    const t = new BudgetTracker();
    expect(t.has('lg-2')).toBe(false);
    expect(t.setLimit('lg-2', 5 * USD)).toMatchObject({ ok: true, snapshot: { limitMicros: 5 * USD, spentMicros: 0, state: 'ok' } });
    expect(t.agents()).toEqual(['lg-2']);
  });
});

describe('restore after a restart', () => {
  it('rebuilds totals from recorded spend without re-sending delivered alerts', () => {
    const t = new BudgetTracker();
    const r = t.restore('lg-1', { limitMicros: 50 * USD, spentMicros: 46 * USD });
    expect(r.notices).toEqual([]);
    expect(r.snapshot).toMatchObject({ spentMicros: 46 * USD, state: 'warning', firedThresholds: [0.9] });
    expect(t.charge('lg-1', USD).notices).toEqual([]);
  });

  it('fires crossed thresholds whose alerts were not delivered', () => {
    const r = new BudgetTracker().restore('lg-1', { limitMicros: 50 * USD, spentMicros: 46 * USD, firedThresholds: [] });
    expect(r.notices.map((n) => n.threshold)).toEqual([0.9]);
  });

  it('restores spend above the limit as overshoot', () => {
    const r = new BudgetTracker().restore('lg-1', { limitMicros: 50 * USD, spentMicros: 50_020_000 });
    expect(r.snapshot).toMatchObject({ settledMicros: 50 * USD, overshootMicros: 20_000, spentMicros: 50_020_000, state: 'exhausted' });
  });

  it('is refused while requests are in flight', () => {
    const t = withBudget();
    granted(t.reserve('lg-1', 1));
    expect(() => t.restore('lg-1', { limitMicros: USD, spentMicros: 0 })).toThrow(ConflictError);
  });
});

describe('cleanup', () => {
  it('releases all of an agent’s reservations and forgets it', () => {
    const t = withBudget();
    t.restore('lg-2', { limitMicros: USD, spentMicros: 0 });
    granted(t.reserve('lg-1', 1));
    granted(t.reserve('lg-1', 2));
    const other = granted(t.reserve('lg-2', 3));
    expect(t.releaseAll('lg-1')).toBe(2);
    expect(t.snapshot('lg-1')).toMatchObject({ reservedMicros: 0, openReservations: 0 });
    t.forget('lg-2');
    expect(t.snapshot('lg-2')).toBeNull();
    expect(t.release(other)).toBe(false);
  });
});

describe('a budget declared exhausted by the policy', () => {
  it('reads exhausted with a little left, until the limit changes; an unlimited or unknown budget ignores it', () => {
    const t = new BudgetTracker();
    t.setLimit('lg-1', 1_000);
    const r = t.reserve('lg-1', 960);
    if (!r.ok) throw new Error(r.message);
    t.settle(r.reservationId, 960);
    expect(t.snapshot('lg-1')!.state).toBe('warning');
    t.declareExhausted('lg-1');
    expect(t.snapshot('lg-1')!.state).toBe('exhausted');
    t.setLimit('lg-1', 2_000);
    expect(t.snapshot('lg-1')!.state).toBe('ok');
    t.setLimit('lg-2', null);
    t.declareExhausted('lg-2');
    t.declareExhausted('nobody');
    expect(t.snapshot('lg-2')!.state).toBe('unlimited');
    expect(t.snapshot('nobody')).toBeNull();
  });
});
