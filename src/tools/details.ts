import { microsToUsd } from '../core/money.js';
import { formatFallbackRate, formatPercent, formatSaved, serviceMetrics } from '../domain/reliability/index.js';
import type { BreakerDetails, BreakersResponse } from '../reliability/index.js';
import type { ToolsStore } from '../state/index.js';
import type { ToolEntry } from './entry.js';

const ratio = (r: number | null): number | null => (r === null ? null : Math.round(r * 10_000) / 10_000);

/**
 * What a tool service's row of GET /api/breakers adds to the registry's view of its breaker:
 * where it goes, which tier answered its calls (fallback answers count as successes: `98% via
 * fallback`), what the blocked calls saved, its cache and latency, its options. And `totals`.
 */
/** GET /api/breakers as the dashboard reads it: each service's row with what this file adds, and the totals. */
export type ToolBreakersResponse = BreakersResponse<ReturnType<typeof detailsOf>, ReturnType<typeof summaryOf>>;

export function serviceDetails(entries: ReadonlyMap<string, ToolEntry>, store: Pick<ToolsStore, 'cacheCounts'>): BreakerDetails {
  return {
    rows(names) {
      const counts = store.cacheCounts(Date.now());
      const out = new Map<string, object>();
      for (const name of names) {
        const e = entries.get(name);
        if (e) out.set(name, detailsOf(e, counts.get(name) ?? 0));
      }
      return out;
    },
    summary: () => summaryOf(entries),
  };
}

/** Across every service: calls, the calls the open circuits blocked, and what those saved. */
function summaryOf(entries: ReadonlyMap<string, ToolEntry>) {
  let calls = 0;
  let blocked = 0;
  let savedMicros = 0;
  for (const e of entries.values()) {
    const { counters } = e.breaker.snapshot();
    calls += counters.allowed + counters.rejected;
    blocked += counters.rejected;
    savedMicros += counters.rejected * e.config.costPerCallMicros;
  }
  return { calls, blocked, costSavedUsd: microsToUsd(savedMicros), display: { saved: formatSaved(savedMicros) } };
}

function detailsOf(entry: ToolEntry, cacheEntries: number) {
  const m = serviceMetrics(entry.breaker.snapshot(), entry.tiers.snapshot(), entry.config.costPerCallMicros);
  const o = entry.config.breaker;
  return {
    url: entry.config.url,
    served: m.served,
    successRate: ratio(m.successRate),
    cacheHitRate: ratio(m.cacheHitRate),
    costPerCallUsd: microsToUsd(m.costPerCallMicros),
    costSavedUsd: microsToUsd(m.costSavedMicros),
    fallbackActive: entry.fallback.active,
    cacheEntries,
    latencyMs: entry.latency(),
    options: { failureThreshold: o.failureThreshold, cooldownMs: o.cooldownMs, halfOpenProbes: o.halfOpenMaxProbes, cacheTtlMs: entry.config.cacheTtlMs },
    display: { saved: formatSaved(m.costSavedMicros), fallback: formatFallbackRate(m.successRate), cacheHitRate: formatPercent(m.cacheHitRate) },
  };
}
