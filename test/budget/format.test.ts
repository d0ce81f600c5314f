import { describe, expect, it } from 'vitest';
import { formatBaselineSavings, formatBudgetUsage, formatIncreaseAction, formatPercent, formatProjectionStatus, formatUsdShort, percentOf, singularUnit } from '../../src/domain/budget/index.js';

describe('display strings', () => {
  it('formats usage against the limit: $5.29 / $50.00 (10.6%)', () => {
    expect(formatBudgetUsage(5_290_000, 50_000_000)).toBe('$5.29 / $50.00 (10.6%)');
    expect(formatBudgetUsage(45_000_000, 50_000_000)).toBe('$45.00 / $50.00 (90.0%)');
    expect(formatBudgetUsage(1_250_500_000, 2_000_000_000)).toBe('$1,250.50 / $2,000.00 (62.5%)');
    expect(formatBudgetUsage(5_290_000, null)).toBe('$5.29 (no limit)');
  });

  it('keeps small spends visible', () => {
    expect(formatBudgetUsage(2_300, 50_000_000)).toBe('$0.0023 / $50.00 (0.0%)');
  });

  it('treats a zero limit as fully used', () => {
    expect(percentOf(0, 0)).toBe(100);
    expect(formatPercent(percentOf(0, 0))).toBe('100.0%');
  });

  it('drops cents only from whole-dollar amounts', () => {
    expect(formatUsdShort(25_000_000)).toBe('$25');
    expect(formatUsdShort(2_500_000)).toBe('$2.50');
    expect(formatUsdShort(1_000_000_000)).toBe('$1,000');
    expect(formatIncreaseAction(25_000_000)).toBe('Approve $25 increase');
  });

  it('formats baseline savings both ways', () => {
    expect(formatBaselineSavings(64_860_000, 'gpt-4')).toBe('vs all on gpt-4: $64.86 saved');
    expect(formatBaselineSavings(-3_200_000, 'gpt-4')).toBe('vs all on gpt-4: $3.20 more');
  });

  it('labels projection status', () => {
    expect(formatProjectionStatus('under_budget')).toBe('✅ under budget');
    expect(formatProjectionStatus('approaching_limit')).toBe('⚠️ approaching limit');
    expect(formatProjectionStatus('over_budget')).toBe('🛑 over budget');
  });

  it('singularizes progress units for "avg/unit"', () => {
    const cases: Array<[string, string]> = [
      ['leads', 'lead'],
      ['lead', 'lead'],
      ['queries', 'query'],
      ['boxes', 'box'],
      ['batches', 'batch'],
      ['addresses', 'address'],
      ['status', 'status'],
      ['days', 'day'],
      ['items', 'item'],
    ];
    for (const [plural, singular] of cases) expect(singularUnit(plural), plural).toBe(singular);
  });
});
