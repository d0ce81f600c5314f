import { formatUsd, type Micros } from '../../core/money.js';
import { isRecord } from './check.js';
import type { BreakerSnapshot, BreakerState } from './snapshot.js';

export const TIERS = ['live', 'cache', 'placeholder', 'failed'] as const;
export type Tier = (typeof TIERS)[number];

export interface TierCounters {
  live: number;
  cache: number;
  placeholder: number;
  failed: number;
  cacheLookups: number;
}

export type CacheLookup = 'hit' | 'miss' | 'error';

/** Which tier answered each request; plain counters so the caller can persist them. */
export class TierMetrics {
  private counters: TierCounters;

  constructor(initial?: unknown) {
    this.counters = readTierCounters(initial);
  }

  record(tier: Tier, cacheLookup: CacheLookup | null): void {
    this.counters[tier]++;
    if (cacheLookup !== null) this.counters.cacheLookups++;
  }

  snapshot(): TierCounters {
    return { ...this.counters };
  }

  /** Start from what was saved; what does not read as a count starts at zero. */
  restore(saved: unknown): void {
    this.counters = readTierCounters(saved);
  }
}

/** Salvage what reads as a count; anything else starts at zero. */
function readTierCounters(raw: unknown): TierCounters {
  const c: TierCounters = { live: 0, cache: 0, placeholder: 0, failed: 0, cacheLookups: 0 };
  if (!isRecord(raw)) return c;
  for (const key of Object.keys(c) as (keyof TierCounters)[]) {
    const v = raw[key];
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) c[key] = v;
  }
  return c;
}

export interface ServiceMetrics {
  service: string;
  state: BreakerState;
  /** Every call that asked the breaker, let through or not. */
  calls: number;
  successes: number;
  failures: number;
  /** Calls that never reached the service because the circuit refused them. */
  blocked: number;
  served: Record<Tier, number>;
  /** Requests answered by any tier (live, cache or placeholder) over all requests; null before any. */
  successRate: number | null;
  /** Cache answers over cache lookups; null before any lookup. */
  cacheHitRate: number | null;
  costPerCallMicros: Micros;
  /** Blocked calls × cost per call. */
  costSavedMicros: Micros;
}

export function serviceMetrics(breaker: BreakerSnapshot, tiers: TierCounters, costPerCallMicros: Micros = 0): ServiceMetrics {
  const { allowed, rejected, successes, failures } = breaker.counters;
  const requests = tiers.live + tiers.cache + tiers.placeholder + tiers.failed;
  return {
    service: breaker.service,
    state: breaker.state,
    calls: allowed + rejected,
    successes,
    failures,
    blocked: rejected,
    served: { live: tiers.live, cache: tiers.cache, placeholder: tiers.placeholder, failed: tiers.failed },
    successRate: requests === 0 ? null : (requests - tiers.failed) / requests,
    cacheHitRate: tiers.cacheLookups === 0 ? null : tiers.cache / tiers.cacheLookups,
    costPerCallMicros,
    costSavedMicros: rejected * costPerCallMicros,
  };
}

// The demo's strings. Rates round down so a run with any failure never reads as 100%.

/** `$6.60 saved` */
export function formatSaved(micros: Micros): string {
  return `${formatUsd(micros)} saved`;
}

export function formatPercent(ratio: number | null): string {
  return ratio === null ? '—' : `${Math.floor(ratio * 100 + 1e-9)}%`;
}

/** `98% via fallback` */
export function formatFallbackRate(ratio: number | null): string {
  return `${formatPercent(ratio)} via fallback`;
}
