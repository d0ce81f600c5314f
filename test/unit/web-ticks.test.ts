import { describe, expect, it } from 'vitest';
import { moneyTicks, timeTicks } from '../../web/ticks.js';

// The spend chart's axes: round dollars from $0 up past the highest value, round clock times.

describe('moneyTicks', () => {
  it('counts in round steps from $0 to at least the highest value, with the decimals the step needs', () => {
    expect(moneyTicks(56.31, 4)).toEqual({ top: 60, ticks: ['$0', '$20', '$40', '$60'].map((label, i) => ({ value: i * 20, label })) });
    expect(moneyTicks(75, 4).ticks.map((t) => t.label)).toEqual(['$0', '$20', '$40', '$60', '$80']);
    expect(moneyTicks(0.0094, 4).ticks.map((t) => t.label)).toEqual(['$0.0000', '$0.0025', '$0.0050', '$0.0075', '$0.0100']);
    expect(moneyTicks(0.014, 3).ticks.map((t) => t.label)).toEqual(['$0.000', '$0.005', '$0.010', '$0.015']);
    expect(moneyTicks(9, 4).ticks.map((t) => t.label)).toEqual(['$0.0', '$2.5', '$5.0', '$7.5', '$10.0']);
    expect(moneyTicks(1, 4).ticks.map((t) => t.label)).toEqual(['$0.00', '$0.25', '$0.50', '$0.75', '$1.00']);
  });

  it('gives an axis for nothing spent yet, and never more than a handful of ticks', () => {
    expect(moneyTicks(0, 4).ticks.length).toBeGreaterThanOrEqual(2);
    for (const max of [0.00071, 0.3, 3.7, 12, 99.99, 1234.5, 50_000]) {
      const { top, ticks } = moneyTicks(max, 4);
      expect(top, String(max)).toBeGreaterThanOrEqual(max);
      expect(ticks.length, String(max)).toBeGreaterThanOrEqual(2);
      expect(ticks.length, String(max)).toBeLessThanOrEqual(6);
      expect(ticks[0]!.value).toBe(0);
    }
  });
});

describe('timeTicks', () => {
  const at = (hms: string) => new Date(`2025-03-01T${hms}`).getTime();

  it('labels round clock times inside the span, with seconds only when the step is under a minute', () => {
    expect(timeTicks(at('14:03:10'), at('14:21:00'), 4).map((t) => t.label)).toEqual(['14:05', '14:10', '14:15', '14:20']);
    expect(timeTicks(at('14:03:10'), at('14:03:50'), 4).map((t) => t.label)).toEqual(['14:03:10', '14:03:20', '14:03:30', '14:03:40', '14:03:50']);
    for (const t of timeTicks(at('09:00:01'), at('17:59:00'), 5)) expect(t.at).toBeGreaterThanOrEqual(at('09:00:01'));
  });

  it('labels the two ends when fewer than two round times fall inside', () => {
    expect(timeTicks(at('14:03:10.200'), at('14:03:11.100'), 4)).toEqual([
      { at: at('14:03:10.200'), label: '14:03:10' },
      { at: at('14:03:11.100'), label: '14:03:11' },
    ]);
  });

  it('keeps within the count it was given', () => {
    for (const span of [1_500, 40_000, 700_000, 5 * 3_600_000, 3 * 86_400_000])
      for (const n of [2, 3, 6]) expect(timeTicks(at('10:00:00'), at('10:00:00') + span, n).length, `${span} ${n}`).toBeLessThanOrEqual(n + 1);
  });

  it('labels days, not clock times, over the fleet’s 30 days (the 24 hours keep their clock)', () => {
    const day = 86_400_000;
    const end = new Date('2025-03-31T15:00:00').getTime();
    const month = timeTicks(end - 30 * day, end, 5).map((t) => t.label);
    expect(month.length).toBeGreaterThanOrEqual(2);
    for (const label of month) expect(label).toMatch(/^\d{1,2} (Mar|Feb)$/);
    expect(timeTicks(end - day, end, 5).every((t) => /^\d\d:00$/.test(t.label))).toBe(true);
  });
});
