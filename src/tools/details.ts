import { microsToUsd } from '../core/money.js';
import { formatFallbackRate, formatPercent, formatSaved, serviceMetrics } from '../domain/reliability/index.js';
import type { BreakerDetails, BreakersResponse } from '../reliability/index.js';
import type { ToolsStore } from '../state/index.js';
import type { ToolEntry } from './entry.js';
import { factsOf, type RecordedService, type ServiceFacts } from './recorded.js';
import type { CircuitBreaker, TierMetrics } from '../domain/reliability/index.js';

/** A service's row, whether this config runs it or the state file only recorded it. */
interface Shown {
  breaker: CircuitBreaker;
  tiers: TierMetrics;
  facts: ServiceFacts;
  fallbackActive: boolean;
  latency: ReturnType<ToolEntry['latency']>;
  /** Recorded by an earlier run, not in this config: shown, not called. */
  recorded: boolean;
}

const live = (e: ToolEntry): Shown => ({ breaker: e.breaker, tiers: e.tiers, facts: factsOf(e.config), fallbackActive: e.fallback.active, latency: e.latency(), recorded: false });
const kept = (r: RecordedService): Shown => ({ breaker: r.breaker, tiers: r.tiers, facts: r.facts, fallbackActive: false, latency: null, recorded: true });

const ratio = (r: number | null): number | null => (r === null ? null : Math.round(r * 10_000) / 10_000);

/**
 * What a tool service's row of GET /api/breakers adds to the registry's view of its breaker:
 * where it goes, which tier answered its calls (fallback answers count as successes: `98% via
 * fallback`), what the blocked calls saved, its cache and latency, its options. And `totals`.
 */
/** GET /api/breakers as the dashboard reads it: each service's row with what this file adds, and the totals. */
export type ToolBreakersResponse = BreakersResponse<ReturnType<typeof detailsOf>, ReturnType<typeof summaryOf>>;

export function serviceDetails(entries: ReadonlyMap<string, ToolEntry>, recorded: ReadonlyMap<string, RecordedService>, store: Pick<ToolsStore, 'cacheCounts'>): BreakerDetails {
  const shown = (name: string): Shown | null => {
    const e = entries.get(name);
    if (e) return live(e);
    const r = recorded.get(name);
    return r ? kept(r) : null;
  };
  return {
    rows(names) {
      const counts = store.cacheCounts(Date.now());
      const out = new Map<string, object>();
      for (const name of names) {
        const s = shown(name);
        if (s) out.set(name, detailsOf(s, counts.get(name) ?? 0));
      }
      return out;
    },
    summary: () => summaryOf([...[...entries.values()].map(live), ...[...recorded.values()].map(kept)]),
  };
}

/** Across every service: calls, the calls the open circuits blocked, and what those saved. */
function summaryOf(services: Shown[]) {
  let calls = 0;
  let blocked = 0;
  let savedMicros = 0;
  for (const e of services) {
    const { counters } = e.breaker.snapshot();
    calls += counters.allowed + counters.rejected;
    blocked += counters.rejected;
    savedMicros += counters.rejected * e.facts.costPerCallMicros;
  }
  return { calls, blocked, costSavedUsd: microsToUsd(savedMicros), display: { saved: formatSaved(savedMicros) } };
}

function detailsOf(entry: Shown, cacheEntries: number) {
  const m = serviceMetrics(entry.breaker.snapshot(), entry.tiers.snapshot(), entry.facts.costPerCallMicros);
  return {
    url: entry.facts.url,
    recorded: entry.recorded,
    served: m.served,
    successRate: ratio(m.successRate),
    cacheHitRate: ratio(m.cacheHitRate),
    costPerCallUsd: microsToUsd(m.costPerCallMicros),
    costSavedUsd: microsToUsd(m.costSavedMicros),
    fallbackActive: entry.fallbackActive,
    cacheEntries,
    latencyMs: entry.latency,
    options: entry.facts.options,
    display: { saved: formatSaved(m.costSavedMicros), fallback: formatFallbackRate(m.successRate), cacheHitRate: formatPercent(m.cacheHitRate) },
  };
}
