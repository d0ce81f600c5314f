import { eq, gte, inArray, sql, type SQL } from 'drizzle-orm';
import { DAY_MS, HOUR_MS } from '../../core/duration.js';
import { REFUSED_LEDGER_STATUS } from '../../domain/outcomes/index.js';
import type { TelemetryBatch } from '../telemetry.js';
import type { PanelDb } from './pg.js';
import { cmp, int, total } from './pg-values.js';
import { runtimes, spendDaily, spendHourly } from './schema-panel.js';
import { users } from './schema-pg.js';

// The fleet's spend rollups (spend_hourly, spend_daily: calls, errors, refusals, tokens and cost
// per bucket, runtime, agent name, provider and model): what a batch's new rows add to them, summed
// here and written in the batch's transaction by the ingest (ingest.store.ts), and the fleet view's
// spend by runtime, user, agent or model over the last 24 hours or 30 days, read from them alone
// (`SpendStore`), never from the ledger.

export const SPEND_BY = ['runtime', 'user', 'agent', 'model'] as const;
export const SPEND_WINDOWS = ['24h', '30d'] as const;
export type SpendBy = (typeof SPEND_BY)[number];
export type SpendWindow = (typeof SPEND_WINDOWS)[number];

/** Spend the batch added, per rollup key (an hour bucket; the day is derived). */
export interface SpendDelta {
  hour: number;
  day: number;
  runtimeId: string;
  agentName: string;
  provider: string;
  model: string;
  calls: number;
  errors: number;
  /** LLM calls refused (an outcome of their own, not errors): the budget's (an event each, no row) and the rows PII blocked (in `calls` too). */
  refused: number;
  promptTokens: number;
  completionTokens: number;
  costMicros: number;
}

export interface FleetSpendRow {
  /** The runtime id, user id, agent name or model; null: runtimes that belong to no user. */
  key: string | null;
  label: string;
  costMicros: number;
  calls: number;
  errors: number;
  /** LLM calls refused (the budget's, and those PII blocked, which `calls` counts too). */
  refused: number;
  promptTokens: number;
  completionTokens: number;
  /** Cost per bucket, aligned with `buckets`. */
  series: number[];
}

export interface FleetSpend {
  by: SpendBy;
  window: SpendWindow;
  /** Epoch ms of each bucket's start (hours for 24h, UTC days for 30d), oldest first. */
  buckets: number[];
  bucketMs: number;
  total: { costMicros: number; calls: number; errors: number; refused: number; series: number[] };
  /** Costliest first. */
  rows: FleetSpendRow[];
}

const hourOf = (t: number) => Math.floor(t / HOUR_MS) * HOUR_MS;
const dayOf = (t: number) => Math.floor(t / DAY_MS) * DAY_MS;

/** The buckets of a window ending at `now`: 24 hours or 30 UTC days, the current one last. */
export function windowBuckets(window: SpendWindow, now: number): { buckets: number[]; bucketMs: number } {
  const bucketMs = window === '24h' ? HOUR_MS : DAY_MS;
  const n = window === '24h' ? 24 : 30;
  const last = window === '24h' ? hourOf(now) : dayOf(now);
  return { buckets: Array.from({ length: n }, (_, i) => last - (n - 1 - i) * bucketMs), bucketMs };
}

/**
 * The fleet's spend over a window, from the rollups.
 *
 * @example
 *   const { rows } = await new SpendStore(db).spend('model', '30d');
 */
export class SpendStore {
  constructor(private readonly db: PanelDb) {}

  /**
   * Spend over a window, by runtime, user (the runtime's owner), agent name or model: totals
   * and a series per bucket, from spend_hourly (24h) or spend_daily (30d), in one grouped query.
   */
  async spend(by: SpendBy, window: SpendWindow, now = Date.now()): Promise<FleetSpend> {
    const db = this.db;
    const { buckets, bucketMs } = windowBuckets(window, now);
    const t = window === '24h' ? spendHourly : spendDaily;
    const bucket = window === '24h' ? spendHourly.hour : spendDaily.day;
    const key: SQL.Aliased<string | null> =
      by === 'runtime'
        ? sql<string>`${t.runtimeId}`.as('key')
        : by === 'agent'
          ? sql<string>`${t.agentName}`.as('key')
          : by === 'model'
            ? sql<string>`${t.model}`.as('key')
            : sql<string | null>`${runtimes.userId}`.as('key');
    const base = db
      .select({
        bucket: int(sql`${bucket}`).as('bucket'),
        key,
        cost: total(t.costMicros).as('cost'),
        calls: total(t.calls).as('calls'),
        errors: total(t.errors).as('errors'),
        refused: total(t.refused).as('refused'),
        prompt: total(t.promptTokens).as('prompt'),
        completion: total(t.completionTokens).as('completion'),
      })
      .from(t);
    const joined = by === 'user' ? base.leftJoin(runtimes, eq(runtimes.id, t.runtimeId)) : base;
    const rows = await joined.where(gte(bucket, buckets[0]!)).groupBy(sql`1`, sql`2`);
    const names = by === 'user' ? await this.userNames(rows.map((r) => r.key).filter((k): k is string => k !== null)) : new Map<string, string>();
    const index = new Map(buckets.map((b, i) => [b, i]));
    const byKey = new Map<string | null, FleetSpendRow>();
    const sum = { costMicros: 0, calls: 0, errors: 0, refused: 0, series: buckets.map(() => 0) };
    for (const r of rows) {
      const i = index.get(r.bucket);
      if (i === undefined) continue; // a bucket ahead of this clock: not in the window
      let row = byKey.get(r.key);
      if (!row) {
        const label = r.key === null ? 'no user' : by === 'user' ? (names.get(r.key) ?? r.key) : r.key;
        row = { key: r.key, label, costMicros: 0, calls: 0, errors: 0, refused: 0, promptTokens: 0, completionTokens: 0, series: buckets.map(() => 0) };
        byKey.set(r.key, row);
      }
      row.costMicros += r.cost;
      row.calls += r.calls;
      row.errors += r.errors;
      row.refused += r.refused;
      row.promptTokens += r.prompt;
      row.completionTokens += r.completion;
      row.series[i]! += r.cost;
      sum.costMicros += r.cost;
      sum.calls += r.calls;
      sum.errors += r.errors;
      sum.refused += r.refused;
      sum.series[i]! += r.cost;
    }
    const out = [...byKey.values()].sort((a, b) => b.costMicros - a.costMicros || cmp(a.label, b.label));
    return { by, window, buckets, bucketMs, total: sum, rows: out };
  }

  private async userNames(ids: string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db
      .select({ id: users.id, name: users.name })
      .from(users)
      .where(inArray(users.id, [...new Set(ids)]));
    return new Map(rows.map((r) => [r.id, r.name]));
  }
}

/**
 * The new ledger rows summed per hour bucket, agent name, provider and model, with the LLM calls
 * the budget refused (the new `budget.refused` events: no row, so no provider; their model as the
 * runtime priced it) counted beside them as refused.
 */
export function rollUp(
  rows: TelemetryBatch['llmRequests'],
  events: ReadonlyArray<Pick<TelemetryBatch['events'][number], 'type' | 'agentId' | 'ts' | 'data'>>,
  runtimeId: string,
  names: ReadonlyMap<string, string>,
): SpendDelta[] {
  const byHour = new Map<string, SpendDelta>();
  const bucket = (ts: string, agentId: string, provider: string, model: string): SpendDelta => {
    const t = Date.parse(ts);
    const at = Number.isFinite(t) ? t : Date.now();
    const hour = at - (at % HOUR_MS);
    const agentName = names.get(agentId) ?? agentId;
    const key = `${hour}\u0000${agentName}\u0000${provider}\u0000${model}`;
    let d = byHour.get(key);
    if (!d) byHour.set(key, (d = { hour, day: at - (at % DAY_MS), runtimeId, agentName, provider, model, calls: 0, errors: 0, refused: 0, promptTokens: 0, completionTokens: 0, costMicros: 0 }));
    return d;
  };
  for (const r of rows) {
    const d = bucket(r.ts, r.agentId, r.provider, r.model);
    d.calls += 1;
    // A call PII blocked is a refusal (src/domain/outcomes), not an error: as agent_spend counts it.
    if (r.status === REFUSED_LEDGER_STATUS) d.refused += 1;
    else if (r.status !== 'ok') d.errors += 1;
    d.promptTokens += r.promptTokens;
    d.completionTokens += r.completionTokens;
    d.costMicros += r.costMicros;
  }
  for (const e of events) {
    if (e.type !== 'budget.refused' || e.agentId === null) continue;
    bucket(e.ts, e.agentId, '', refusedModel(e.data)).refused += 1;
  }
  return [...byHour.values()];
}

/** The model a `budget.refused` event names (its data as the runtime sent it, read defensively), else ''. */
function refusedModel(data: string): string {
  try {
    const m = (JSON.parse(data) as { model?: unknown } | null)?.model;
    return typeof m === 'string' ? m.slice(0, 256) : '';
  } catch {
    return '';
  }
}

/** What the new rows spent, as the two rollups' JSON parameters (spend_hourly's buckets, and spend_daily's summed from them). */
export function rollupRows(hourly: readonly SpendDelta[]): [string, string] {
  const byDay = new Map<string, SpendDelta>();
  for (const h of hourly) {
    const key = `${h.day}\u0000${h.agentName}\u0000${h.provider}\u0000${h.model}`;
    const d = byDay.get(key);
    if (!d) byDay.set(key, { ...h });
    else for (const k of ['calls', 'errors', 'refused', 'promptTokens', 'completionTokens', 'costMicros'] as const) d[k] += h[k];
  }
  const row = (b: number, d: SpendDelta) => ({
    b,
    agent: d.agentName,
    provider: d.provider,
    model: d.model,
    calls: d.calls,
    errors: d.errors,
    refused: d.refused,
    pt: d.promptTokens,
    ct: d.completionTokens,
    cost: d.costMicros,
  });
  return [JSON.stringify(hourly.map((d) => row(d.hour, d))), JSON.stringify([...byDay.values()].map((d) => row(d.day, d)))];
}
