import type { Micros } from '../../core/money.js';
import type { PriceBook } from './price-book.js';
import { costOf } from './rates.js';

// Cost attribution over recorded requests: totals by model, by run, over time, and what
// the same usage would have cost on a baseline model.

export interface CostRecord {
  model: string;
  provider: string;
  promptTokens: number;
  completionTokens: number;
  costMicros: Micros;
  /** ISO 8601 string, epoch milliseconds or Date. */
  ts: string | number | Date;
  status: string;
  runId?: string | null;
}

export interface CostTotals {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  costMicros: Micros;
}

export interface ModelCost extends CostTotals {
  model: string;
  provider: string;
  /** Share of the total cost, 0..1. */
  share: number;
}

export interface RunCost extends CostTotals {
  runId: string;
}

export interface CostBucket extends CostTotals {
  /** Bucket start, ISO 8601. */
  start: string;
}

export interface CostSummary extends CostTotals {
  byModel: ModelCost[];
  byRun: RunCost[];
  byStatus: Record<string, number>;
  /** Ascending; only buckets that have requests. */
  buckets: CostBucket[];
  bucketMs: number;
  baseline: { model: string; costMicros: Micros; savedMicros: Micros } | null;
}

export interface SummaryOptions {
  /** Time bucket width; default one minute. */
  bucketMs?: number;
  /** Price every request's usage on this model as well, for "vs all on gpt-4: $64.86 saved". */
  baseline?: { model: string; book: PriceBook };
}

const zero = (): CostTotals => ({ requests: 0, promptTokens: 0, completionTokens: 0, costMicros: 0 });

/** Add `n` calls whose usage sums to `r`'s (a record is one call; a group, `requests` calls). */
function add(t: CostTotals, r: Pick<CostTotals, 'promptTokens' | 'completionTokens' | 'costMicros'>, n = 1): void {
  t.requests += n;
  t.promptTokens += r.promptTokens;
  t.completionTokens += r.completionTokens;
  t.costMicros += r.costMicros;
}

/** Calls already summed per model, provider and status (a ledger rollup's groups). */
export interface CostGroup extends CostTotals {
  model: string;
  provider: string;
  status: string;
}

export type GroupSummary = CostTotals & Pick<CostSummary, 'byModel' | 'byStatus' | 'baseline'>;

/**
 * Aggregate calls summed in groups: the totals, by model (highest cost first) and by status, and
 * the baseline, which prices each group as that many calls of its mean size (within a
 * micro-dollar a call of pricing each call on a price without tiers; a prompt-size-tiered price
 * at the tier of the group's mean prompt).
 */
export function summarizeGroups(groups: Iterable<CostGroup>, baseline?: { model: string; book: PriceBook }): GroupSummary {
  const total = zero();
  const models = new Map<string, CostTotals & { model: string; provider: string }>();
  const byStatus: Record<string, number> = {};
  const schedule = baseline ? baseline.book.lookup(baseline.model).schedule : null;
  let baselineMicros = 0;
  for (const g of groups) {
    if (g.requests <= 0) continue;
    add(total, g, g.requests);
    const key = `${g.provider}\u0000${g.model}`;
    let m = models.get(key);
    if (!m) models.set(key, (m = { model: g.model, provider: g.provider, ...zero() }));
    add(m, g, g.requests);
    byStatus[g.status] = (byStatus[g.status] ?? 0) + g.requests;
    if (schedule) baselineMicros += g.requests * costOf(schedule, { inputTokens: Math.round(g.promptTokens / g.requests), outputTokens: Math.round(g.completionTokens / g.requests) });
  }
  return {
    ...total,
    byModel: [...models.values()]
      .map((m) => ({ ...m, share: total.costMicros === 0 ? 0 : m.costMicros / total.costMicros }))
      .sort((a, b) => b.costMicros - a.costMicros || a.model.localeCompare(b.model)),
    byStatus,
    baseline: baseline && schedule ? { model: baseline.model, costMicros: baselineMicros, savedMicros: baselineMicros - total.costMicros } : null,
  };
}

function epochMs(ts: CostRecord['ts']): number {
  const ms = ts instanceof Date ? ts.getTime() : typeof ts === 'number' ? ts : Date.parse(ts);
  if (!Number.isFinite(ms)) throw new RangeError(`cost record has an invalid timestamp: ${String(ts)}`);
  return ms;
}

/**
 * Aggregate request records. Models are ordered by cost (highest first), runs and buckets by
 * time. The baseline prices each request on its own, as its actual cost was, so both sides
 * round the same way.
 */
export function summarizeCosts(records: Iterable<CostRecord>, options: SummaryOptions = {}): CostSummary {
  const bucketMs = options.bucketMs ?? 60_000;
  if (!Number.isSafeInteger(bucketMs) || bucketMs <= 0) throw new RangeError(`bucketMs must be a positive integer, got ${bucketMs}`);
  const runs = new Map<string, CostTotals>();
  const buckets = new Map<number, CostTotals>();
  // Each record is a group of one call: priced on the baseline at its own size, as its cost was.
  const ones: CostGroup[] = [];
  for (const r of records) {
    ones.push({ model: r.model, provider: r.provider, status: r.status, requests: 1, promptTokens: r.promptTokens, completionTokens: r.completionTokens, costMicros: r.costMicros });
    if (r.runId) {
      let run = runs.get(r.runId);
      if (!run) runs.set(r.runId, (run = zero()));
      add(run, r);
    }
    const start = Math.floor(epochMs(r.ts) / bucketMs) * bucketMs;
    let b = buckets.get(start);
    if (!b) buckets.set(start, (b = zero()));
    add(b, r);
  }
  return {
    ...summarizeGroups(ones, options.baseline),
    byRun: [...runs].map(([runId, t]) => ({ runId, ...t })),
    buckets: [...buckets].sort((a, b) => a[0] - b[0]).map(([start, t]) => ({ start: new Date(start).toISOString(), ...t })),
    bucketMs,
  };
}

/** At most about this many buckets in an agent's cost report (its overTime and its spend series). */
export const REPORT_MAX_BUCKETS = 240;

const MINUTE_MS = 60_000;
/** Bucket widths a report picks from, in minutes: round figures on a clock, then whole days. */
const REPORT_BUCKET_MINUTES = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];

/**
 * The narrowest round bucket (a whole number of minutes, in ms) that spans `firstMs`..`lastMs`
 * (epoch-aligned) in at most `maxBuckets` buckets: one minute for a run of up to four hours, ten
 * for a day, whole days past ten days.
 *
 * @example
 *   reportBucketMs(0, 86_340_000) // 600_000: a day in 144 buckets of ten minutes
 */
export function reportBucketMs(firstMs: number, lastMs: number, maxBuckets = REPORT_MAX_BUCKETS): number {
  const count = (w: number) => Math.floor(lastMs / w) - Math.floor(firstMs / w) + 1;
  for (const minutes of REPORT_BUCKET_MINUTES) if (count(minutes * MINUTE_MS) <= maxBuckets) return minutes * MINUTE_MS;
  const day = 1440 * MINUTE_MS;
  return Math.ceil(Math.max(0, lastMs - firstMs) / day / (maxBuckets - 1)) * day;
}

/** At most this many points in a spend series: plenty for a chart, bounded for the wire. */
export const SPEND_SERIES_MAX_POINTS = 2_000;

/**
 * Cumulative spend over time: one `[epochMs, cumulativeMicros]` point per charged request
 * (cost above zero), in time order. Past `maxPoints` the points are thinned evenly, always
 * keeping the first and the last; every point kept still carries the true running total.
 *
 * @example
 *   spendSeries([{ ts: '2026-01-01T00:00:00Z', costMicros: 5 }, { ts: '2026-01-01T00:00:01Z', costMicros: 7 }])
 *   // [[1767225600000, 5], [1767225601000, 12]]
 */
export function spendSeries(records: Iterable<Pick<CostRecord, 'ts' | 'costMicros'>>, maxPoints = SPEND_SERIES_MAX_POINTS): Array<[number, Micros]> {
  if (!Number.isSafeInteger(maxPoints) || maxPoints < 2) throw new RangeError(`maxPoints must be an integer of at least 2, got ${maxPoints}`);
  const charged = [...records].filter((r) => r.costMicros > 0).map((r) => ({ ms: epochMs(r.ts), cost: r.costMicros }));
  // Stable: requests settled in the same millisecond keep the order they were recorded in.
  charged.sort((a, b) => a.ms - b.ms);
  let total = 0;
  const all = charged.map((r): [number, Micros] => [r.ms, (total += r.cost)]);
  if (all.length <= maxPoints) return all;
  const step = (all.length - 1) / (maxPoints - 1);
  return Array.from({ length: maxPoints }, (_, i) => all[Math.round(i * step)]!);
}
