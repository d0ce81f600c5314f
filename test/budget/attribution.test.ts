import { describe, expect, it } from 'vitest';
import {
  formatBaselineSavings,
  parsePriceOverrides,
  PriceBook,
  REPORT_MAX_BUCKETS,
  reportBucketMs,
  SPEC_PRICE_OVERRIDES,
  SPEND_SERIES_MAX_POINTS,
  spendSeries,
  summarizeCosts,
  type CostRecord,
} from '../../src/domain/budget/index.js';
import { expectAtMost, expectEqual, expectIs } from '../helpers/cheap-expect.js';

const book = new PriceBook({ overrides: parsePriceOverrides(SPEC_PRICE_OVERRIDES) });

function rec(model: string, promptTokens: number, completionTokens: number, ts: string, status = 'ok', runId?: string): CostRecord {
  const costMicros = status === 'ok' ? book.price(model, { inputTokens: promptTokens, outputTokens: completionTokens }).costMicros : 0;
  return { model, provider: 'openai', promptTokens, completionTokens, costMicros, ts, status, ...(runId ? { runId } : {}) };
}

const records: CostRecord[] = [
  rec('gpt-4', 800, 200, '2025-03-14T14:00:05Z', 'ok', 'r1'), // $0.03
  rec('gpt-3.5-turbo', 1_500, 500, '2025-03-14T14:00:40Z', 'ok', 'r1'), // $0.004
  rec('gpt-3.5-turbo', 700, 300, '2025-03-14T14:01:10Z', 'ok', 'r2'), // $0.002
  rec('gpt-4', 0, 0, '2025-03-14T14:03:00Z', 'upstream_error', 'r2'),
  rec('gpt-4', 1_600, 400, '2025-03-14T14:03:59.999Z', 'ok'), // $0.06
];

describe('summarizeCosts', () => {
  const s = summarizeCosts(records, { baseline: { model: 'gpt-4', book } });

  it('totals every request', () => {
    expect(s).toMatchObject({ requests: 5, promptTokens: 4_600, completionTokens: 1_400, costMicros: 96_000 });
    expect(s.byStatus).toEqual({ ok: 4, upstream_error: 1 });
  });

  it('splits cost by model, most expensive first', () => {
    expect(s.byModel).toEqual([
      { model: 'gpt-4', provider: 'openai', requests: 3, promptTokens: 2_400, completionTokens: 600, costMicros: 90_000, share: 90_000 / 96_000 },
      { model: 'gpt-3.5-turbo', provider: 'openai', requests: 2, promptTokens: 2_200, completionTokens: 800, costMicros: 6_000, share: 6_000 / 96_000 },
    ]);
  });

  it('buckets by minute, skipping empty minutes', () => {
    expect(s.bucketMs).toBe(60_000);
    expect(s.buckets.map((b) => [b.start, b.requests, b.costMicros])).toEqual([
      ['2025-03-14T14:00:00.000Z', 2, 34_000],
      ['2025-03-14T14:01:00.000Z', 1, 2_000],
      ['2025-03-14T14:03:00.000Z', 2, 60_000],
    ]);
  });

  it('groups by run when records carry one', () => {
    expect(s.byRun.map((r) => [r.runId, r.requests, r.costMicros])).toEqual([
      ['r1', 2, 34_000],
      ['r2', 2, 2_000],
    ]);
  });

  it('compares against the baseline model: vs all on gpt-4: $0.08 saved', () => {
    // all 6,000 tokens at GPT-4's $0.03/1K = $0.18
    expect(s.baseline).toEqual({ model: 'gpt-4', costMicros: 180_000, savedMicros: 84_000 });
    expect(formatBaselineSavings(s.baseline!.savedMicros, s.baseline!.model)).toBe('vs all on gpt-4: $0.08 saved');
  });

  it('accepts other bucket widths and timestamp forms', () => {
    const hourly = summarizeCosts(
      records.map((r, i) => ({ ...r, ts: i % 2 === 0 ? new Date(r.ts as string) : Date.parse(r.ts as string) })),
      { bucketMs: 3_600_000 },
    );
    expect(hourly.buckets).toHaveLength(1);
    expect(hourly.buckets[0]).toMatchObject({ start: '2025-03-14T14:00:00.000Z', requests: 5, costMicros: 96_000 });
    expect(hourly.baseline).toBeNull();
  });

  it('is empty for no records and rejects bad input', () => {
    expect(summarizeCosts([])).toMatchObject({ requests: 0, costMicros: 0, byModel: [], buckets: [], baseline: null });
    expect(() => summarizeCosts([{ ...records[0]!, ts: 'yesterday' }])).toThrow(/invalid timestamp/);
    expect(() => summarizeCosts(records, { bucketMs: 0 })).toThrow(/bucketMs/);
  });
});

describe('spendSeries', () => {
  it('is the running total at each charged request, in time order', () => {
    const shuffled = [records[4]!, records[0]!, records[3]!, records[2]!, records[1]!];
    expect(spendSeries(shuffled)).toEqual([
      [Date.parse('2025-03-14T14:00:05Z'), 30_000],
      [Date.parse('2025-03-14T14:00:40Z'), 34_000],
      [Date.parse('2025-03-14T14:01:10Z'), 36_000],
      // The failed request cost nothing: no point.
      [Date.parse('2025-03-14T14:03:59.999Z'), 96_000],
    ]);
    expect(spendSeries([])).toEqual([]);
  });

  it('thins a long run evenly to the limit, keeping the first and the last and the true totals', () => {
    const start = Date.parse('2026-01-01T00:00:00Z');
    const many = Array.from({ length: 10_001 }, (_, i) => ({ ts: start + i * 1000, costMicros: 1 + (i % 7) }));
    const full = spendSeries(many, many.length);
    expect(full).toHaveLength(many.length);
    const thin = spendSeries(many);
    expect(thin).toHaveLength(SPEND_SERIES_MAX_POINTS);
    expect(thin[0]).toEqual(full[0]);
    expect(thin.at(-1)).toEqual(full.at(-1));
    expect(thin.at(-1)![1]).toBe(many.reduce((a, r) => a + r.costMicros, 0));
    // Every point kept is a point of the full series, in order, and the gaps are even.
    const index = new Map(full.map((p, i) => [p[0], i]));
    const at = thin.map((p) => index.get(p[0])!);
    for (const [i, p] of thin.entries()) expectEqual(p, full[at[i]!]);
    const gaps = at.slice(1).map((x, i) => x - at[i]!);
    expect(Math.max(...gaps) - Math.min(...gaps)).toBeLessThanOrEqual(1);
    expect(() => spendSeries(many, 1)).toThrow(/maxPoints/);
  });
});

describe('reportBucketMs', () => {
  const MIN = 60_000;
  const buckets = (first: number, last: number, w: number) => Math.floor(last / w) - Math.floor(first / w) + 1;
  it('keeps minutes for a run of up to four hours, then takes the narrowest round width that fits', () => {
    const t0 = Date.parse('2026-11-24T00:00:00Z');
    expect(reportBucketMs(t0, t0)).toBe(MIN);
    expect(reportBucketMs(t0, t0 + 239 * MIN)).toBe(MIN);
    expect(reportBucketMs(t0, t0 + 240 * MIN)).toBe(2 * MIN);
    expect(reportBucketMs(t0, t0 + 1439 * MIN)).toBe(10 * MIN);
    expect(reportBucketMs(t0, t0 + 29 * 1440 * MIN)).toBe(180 * MIN);
    expect(reportBucketMs(t0, t0 + 30 * 1440 * MIN)).toBe(360 * MIN);
    expect(reportBucketMs(t0, t0 + 365 * 1440 * MIN)).toBe(2 * 1440 * MIN);
  });
  it('never gives more than REPORT_MAX_BUCKETS buckets, nor a narrower width than needed', () => {
    const t0 = Date.parse('2026-11-24T00:07:00Z');
    for (let span = 0; span < 3 * 365 * 1440 * MIN; span = span * 1.37 + 7 * MIN) {
      const w = reportBucketMs(t0, t0 + span);
      expectIs(w % MIN, 0);
      expectAtMost(buckets(t0, t0 + span, w), REPORT_MAX_BUCKETS, `span ${span}`);
      if (w > MIN && w <= 1440 * MIN) {
        const halves = buckets(t0, t0 + span, w / 2);
        if (!(halves > REPORT_MAX_BUCKETS / 2)) expect(halves, `span ${span}`).toBeGreaterThan(REPORT_MAX_BUCKETS / 2);
      }
    }
  });
});
