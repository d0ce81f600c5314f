import { describe, expect, it } from 'vitest';
import { formatAvgPerUnit, formatProjection, formatProjectionStatus, projectSpend, recommendIncrease, roundUpToStep } from '../../src/domain/budget/index.js';

const USD = 1_000_000;

describe('projectSpend', () => {
  it('averages per unit and projects the total: $0.23 avg/lead, Projection: $23.00 total', () => {
    const p = projectSpend(5_290_000, 50 * USD, { done: 23, total: 100, unit: 'leads' });
    expect(p).toEqual({
      spentMicros: 5_290_000,
      limitMicros: 50 * USD,
      unit: 'leads',
      done: 23,
      total: 100,
      avgPerUnitMicros: 230_000,
      projectedMicros: 23 * USD,
      status: 'under_budget',
    });
    expect(formatAvgPerUnit(p.avgPerUnitMicros!, p.unit!)).toBe('$0.23 avg/lead');
    expect(formatProjection(p.projectedMicros!)).toBe('Projection: $23.00 total');
    expect(formatProjectionStatus(p.status)).toBe('✅ under budget');
  });

  it('rounds the average and projection to the nearest micro-dollar', () => {
    const p = projectSpend(45 * USD, 50 * USD, { done: 85, total: 100, unit: 'leads' });
    expect(p.avgPerUnitMicros).toBe(529_412); // 529,411.76
    expect(p.projectedMicros).toBe(52_941_176); // 52,941,176.47
    expect(p.status).toBe('over_budget');
  });

  it('reads approaching from 90% of the limit, judging the larger of spend and projection', () => {
    expect(projectSpend(41 * USD, 50 * USD, { done: 90, total: 100, unit: 'leads' }).status).toBe('approaching_limit'); // 45.56
    expect(projectSpend(40 * USD, 50 * USD, { done: 90, total: 100, unit: 'leads' }).status).toBe('under_budget'); // 44.44
    expect(projectSpend(45 * USD, 50 * USD).status).toBe('approaching_limit');
    expect(projectSpend(50 * USD, 50 * USD).status).toBe('over_budget');
    expect(projectSpend(20 * USD, 50 * USD, { done: 10, total: 100, unit: 'leads' }, { approachingRatio: 0.5 }).status).toBe('over_budget');
    expect(projectSpend(30 * USD, 50 * USD, { done: 65, total: 100, unit: 'leads' }, { approachingRatio: 0.8 }).status).toBe('approaching_limit');
  });

  it('has no average before the first unit, and no projection without a total', () => {
    expect(projectSpend(USD, 50 * USD, { done: 0, total: 100, unit: 'leads' })).toMatchObject({ avgPerUnitMicros: null, projectedMicros: null });
    expect(projectSpend(USD, 50 * USD, { done: 4, total: null, unit: 'leads' })).toMatchObject({ avgPerUnitMicros: 250_000, projectedMicros: null });
    expect(projectSpend(USD, 50 * USD, null)).toMatchObject({ avgPerUnitMicros: null, projectedMicros: null, unit: null, status: 'under_budget' });
  });

  it('projects the spend itself once the work is done', () => {
    expect(projectSpend(7 * USD, 50 * USD, { done: 120, total: 100, unit: 'leads' }).projectedMicros).toBe(7 * USD);
  });

  it('is never over an unlimited budget', () => {
    expect(projectSpend(10_000 * USD, null, { done: 1, total: 100, unit: 'leads' }).status).toBe('under_budget');
  });
});

describe('roundUpToStep', () => {
  it('rounds up to $1, $2.50 or $5 times a power of ten', () => {
    const cases: Array<[number, number]> = [
      [1, 1 * USD],
      [USD, USD],
      [USD + 1, 2.5 * USD],
      [2.5 * USD, 2.5 * USD],
      [3 * USD, 5 * USD],
      [7 * USD, 10 * USD],
      [8_235_294, 10 * USD],
      [12 * USD, 25 * USD],
      [26 * USD, 50 * USD],
      [240 * USD, 250 * USD],
      [4_000 * USD, 5_000 * USD],
    ];
    for (const [needed, step] of cases) expect(roundUpToStep(needed), String(needed)).toBe(step);
  });
});

describe('recommendIncrease', () => {
  it('covers the projection plus 10%, rounded up to a sensible amount', () => {
    // $45 of $50 at lead 85/100: projection $52.94, +10% = $58.24, need $8.24 -> $10
    const r = recommendIncrease({ limitMicros: 50 * USD, spentMicros: 45 * USD, projectedMicros: 52_941_176 });
    expect(r).toEqual({ increaseMicros: 10 * USD, newLimitMicros: 60 * USD, basis: 'projection', text: 'Approve $10 increase' });
  });

  it('never offers less than the configured step (budget_policy.min_increase_usd)', () => {
    const r = recommendIncrease({ limitMicros: 50 * USD, spentMicros: 45 * USD, projectedMicros: 52_941_176 }, { minIncreaseMicros: 25 * USD });
    expect(r).toEqual({ increaseMicros: 25 * USD, newLimitMicros: 75 * USD, basis: 'projection', text: 'Approve $25 increase' });
    // A step smaller than the need changes nothing.
    expect(recommendIncrease({ limitMicros: 50 * USD, spentMicros: 45 * USD, projectedMicros: 52_941_176 }, { minIncreaseMicros: 5 * USD }).increaseMicros).toBe(10 * USD);
  });

  it('asks for half the limit when there is no projection: Approve $25 increase', () => {
    const r = recommendIncrease({ limitMicros: 50 * USD, spentMicros: 45 * USD, projectedMicros: null });
    expect(r).toEqual({ increaseMicros: 25 * USD, newLimitMicros: 75 * USD, basis: 'fallback', text: 'Approve $25 increase' });
  });

  it('says no increase is needed when the projection fits with margin', () => {
    const r = recommendIncrease({ limitMicros: 50 * USD, spentMicros: 45 * USD, projectedMicros: 45_400_000 });
    expect(r).toEqual({
      increaseMicros: 0,
      newLimitMicros: 50 * USD,
      basis: 'projection',
      text: 'No increase needed: projection $45.40 fits the $50.00 budget',
    });
  });

  it('honours a configured margin and fallback share', () => {
    expect(recommendIncrease({ limitMicros: 50 * USD, spentMicros: 45 * USD, projectedMicros: 60 * USD }, { margin: 0.5 }).increaseMicros).toBe(50 * USD);
    expect(recommendIncrease({ limitMicros: 50 * USD, spentMicros: 45 * USD, projectedMicros: null }, { fallbackShare: 0.2 }).increaseMicros).toBe(10 * USD);
  });

  it('still recommends something for a zero budget', () => {
    expect(recommendIncrease({ limitMicros: 0, spentMicros: 0, projectedMicros: null }).text).toBe('Approve $1 increase');
  });
});
