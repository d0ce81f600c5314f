import { describe, expect, it } from 'vitest';
import {
  formatBaselineSavings,
  parsePriceOverrides,
  PriceBook,
  SPEC_PRICE_OVERRIDES,
  summarizeCosts,
  type CostRecord,
} from '../../src/budget/index.js';

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

  it('compares against the baseline model: vs baseline: $0.09 saved', () => {
    // all 6,000 tokens at GPT-4's $0.03/1K = $0.18
    expect(s.baseline).toEqual({ model: 'gpt-4', costMicros: 180_000, savedMicros: 84_000 });
    expect(formatBaselineSavings(s.baseline!.savedMicros)).toBe('vs baseline: $0.08 saved');
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
