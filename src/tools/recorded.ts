import type { ToolServiceConfig } from '../config/index.js';
import type { Micros } from '../core/money.js';
import { TierMetrics, type CircuitBreaker } from '../domain/reliability/index.js';
import type { BreakerExtra, BreakerRegistry } from '../reliability/index.js';

// A tool service as the state file remembers it. Its breaker's row keeps, beside the tier
// counters, what the API shows of the service (where it went, what a call cost, its breaker's
// options), so an iron-cage serving that file without the config that ran it (`serve` on a
// demo's database) still shows the breaker as it was recorded and what its fallbacks saved.

/** What a service's row of GET /api/breakers needs from its config. */
export interface ServiceFacts {
  url: string;
  costPerCallMicros: Micros;
  options: { failureThreshold: number; cooldownMs: number; halfOpenProbes: number; cacheTtlMs: number };
}

export function factsOf(config: ToolServiceConfig): ServiceFacts {
  const o = config.breaker;
  return {
    url: config.url,
    costPerCallMicros: config.costPerCallMicros,
    options: { failureThreshold: o.failureThreshold, cooldownMs: o.cooldownMs, halfOpenProbes: o.halfOpenMaxProbes, cacheTtlMs: config.cacheTtlMs },
  };
}

const count = (v: unknown, min = 0): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v >= min ? v : null);

/** The facts saved in a breaker's row, or null when they do not read as such (an older row). */
export function readFacts(extra: unknown): ServiceFacts | null {
  const f = (extra as { service?: Record<string, unknown> } | null)?.service;
  if (!f || typeof f !== 'object' || typeof f.url !== 'string') return null;
  const o = (f.options ?? {}) as Record<string, unknown>;
  const cost = count(f.costPerCallMicros);
  const failureThreshold = count(o.failureThreshold, 1);
  const cooldownMs = count(o.cooldownMs);
  const halfOpenProbes = count(o.halfOpenProbes, 1);
  const cacheTtlMs = count(o.cacheTtlMs);
  if (cost === null || failureThreshold === null || cooldownMs === null || halfOpenProbes === null || cacheTtlMs === null) return null;
  return { url: f.url, costPerCallMicros: cost as Micros, options: { failureThreshold, cooldownMs, halfOpenProbes, cacheTtlMs } };
}

/** The tier counters and the service's facts, saved and restored with its breaker. */
export function savedExtra(tiers: TierMetrics, facts: ServiceFacts): BreakerExtra {
  return { snapshot: () => ({ ...tiers.snapshot(), service: facts }), restore: (saved) => tiers.restore(saved) };
}

/**
 * A service the state file recorded that this config does not have: its breaker restored, shown,
 * resettable, but no route reaches it (GET /tools/<name>/… stays 404).
 */
export class RecordedService {
  readonly breaker: CircuitBreaker;
  readonly tiers = new TierMetrics();

  constructor(
    readonly name: string,
    readonly facts: ServiceFacts,
    breakers: Pick<BreakerRegistry, 'breaker'>,
  ) {
    const o = facts.options;
    this.breaker = breakers.breaker('tool', name, {
      options: { failureThreshold: o.failureThreshold, cooldownMs: o.cooldownMs, halfOpenMaxProbes: o.halfOpenProbes },
      extra: savedExtra(this.tiers, facts),
    });
  }
}
