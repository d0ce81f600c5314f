import { describe, expect, it } from 'vitest';
import {
  CircuitBreaker,
  FaultInjector,
  TierMetrics,
  formatFallbackRate,
  formatPercent,
  formatSaved,
  serveWithFallback,
  serviceMetrics,
  statusClassifier,
  type BreakerTransition,
  type FallbackResult,
} from '../../src/domain/reliability/index.js';
import { usdToMicros } from '../../src/core/money.js';
import { ManualClock, countingUpstream } from './helpers.js';

interface Response {
  status: number;
  body: string;
}
const byStatus = statusClassifier((r: Response) => r.status);
const live =
  (status: number, body = 'live'): (() => Promise<Response>) =>
  async () => ({ status, body });

function chainFor(breaker: CircuitBreaker, upstream: () => Promise<Response>, cached: Map<string, Response>, key = 'k') {
  return {
    breaker,
    live: upstream,
    classify: byStatus,
    cache: {
      lookup: () => cached.get(key),
      store: (r: Response) => {
        if (r.status < 300) cached.set(key, r);
      },
    },
  };
}

describe('fallback chain', () => {
  it('serves live while healthy and offers the answer to the cache', async () => {
    const cache = new Map<string, Response>();
    const breaker = new CircuitBreaker('linkedin', {}, { clock: new ManualClock() });
    const result = await serveWithFallback(chainFor(breaker, live(200, 'fresh'), cache));
    expect(result).toMatchObject({ tier: 'live', reason: 'ok', value: { body: 'fresh' }, attempts: 1, cacheLookup: null });
    expect(cache.get('k')?.body).toBe('fresh');
  });

  it('falls back to the cache when the upstream fails, and says why', async () => {
    const cache = new Map([['k', { status: 200, body: 'cached' }]]);
    const breaker = new CircuitBreaker('linkedin', {}, { clock: new ManualClock() });
    const result = await serveWithFallback(chainFor(breaker, live(429), cache));
    expect(result).toMatchObject({
      tier: 'cache',
      reason: 'upstream_failure',
      detail: 'http_429',
      value: { body: 'cached' },
      live: { ok: true, value: { status: 429 } },
      cacheLookup: 'hit',
    });
    expect(cache.get('k')?.body).toBe('cached'); // the 429 was not stored
  });

  it('serves from the cache without touching the upstream while open', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('linkedin', { failureThreshold: 1 }, { clock });
    const cache = new Map([['k', { status: 200, body: 'cached' }]]);
    const upstream = countingUpstream(live(503));
    await serveWithFallback(chainFor(breaker, upstream.fn, cache));
    clock.advance(1_000);
    const result = await serveWithFallback(chainFor(breaker, upstream.fn, cache));
    expect(upstream.calls()).toBe(1);
    expect(result).toMatchObject({ tier: 'cache', reason: 'circuit_open', detail: null, retryAfterMs: 59_000, attempts: 0, live: null });
  });

  it('uses the placeholder when the cache has nothing, or fails cleanly without one', async () => {
    const breaker = new CircuitBreaker('linkedin', {}, { clock: new ManualClock() });
    const placeholder = { status: 200, body: '{"name":"unknown"}' };
    const withPlaceholder = await serveWithFallback({ ...chainFor(breaker, live(500), new Map()), placeholder: { value: placeholder } });
    expect(withPlaceholder).toMatchObject({ tier: 'placeholder', reason: 'upstream_failure', detail: 'http_500', cacheLookup: 'miss', value: placeholder });

    const failed = await serveWithFallback(chainFor(breaker, live(500), new Map()));
    expect(failed).toMatchObject({ tier: 'failed', reason: 'upstream_failure', detail: 'http_500', cacheLookup: 'miss' });
    expect('value' in failed).toBe(false);
  });

  it('a thrown upstream error falls through the tiers too', async () => {
    const breaker = new CircuitBreaker('linkedin', {}, { clock: new ManualClock() });
    const timeout = async (): Promise<Response> => {
      throw Object.assign(new Error('headers timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' });
    };
    const result = await serveWithFallback({ breaker, live: timeout, classify: byStatus, placeholder: { value: { status: 200, body: '' } } });
    expect(result).toMatchObject({ tier: 'placeholder', detail: 'timeout', cacheLookup: null, live: { ok: false } });
  });

  it('a 4xx answer is served live and does not count against the service', async () => {
    const cache = new Map([['k', { status: 200, body: 'cached' }]]);
    const breaker = new CircuitBreaker('linkedin', { failureThreshold: 1 }, { clock: new ManualClock() });
    const result = await serveWithFallback(chainFor(breaker, live(404, 'no such person'), cache));
    expect(result).toMatchObject({ tier: 'live', value: { status: 404 } });
    expect(breaker.state).toBe('CLOSED');
  });

  it('a broken cache counts as a miss and is reported', async () => {
    const breaker = new CircuitBreaker('linkedin', {}, { clock: new ManualClock() });
    const boom = new Error('disk I/O error');
    const result = await serveWithFallback({
      breaker,
      live: live(503),
      classify: byStatus,
      cache: {
        lookup: () => {
          throw boom;
        },
      },
      placeholder: { value: { status: 200, body: 'placeholder' } },
    });
    expect(result).toMatchObject({ tier: 'placeholder', cacheLookup: 'error', cacheError: boom });
  });

  it('a failing cache store does not lose the live answer', async () => {
    const breaker = new CircuitBreaker('linkedin', {}, { clock: new ManualClock() });
    const boom = new Error('disk full');
    const result = await serveWithFallback({
      breaker,
      live: live(200, 'fresh'),
      classify: byStatus,
      cache: { lookup: () => undefined, store: () => Promise.reject(boom) },
    });
    expect(result).toMatchObject({ tier: 'live', value: { body: 'fresh' }, cacheStoreError: boom });
  });

  it('while a half-open probe is out, other requests are served from the cache', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('linkedin', { failureThreshold: 1 }, { clock });
    const cache = new Map([['k', { status: 200, body: 'cached' }]]);
    await serveWithFallback(chainFor(breaker, live(503), cache));
    clock.advance(60_000);
    let release!: (r: Response) => void;
    const slow = () => new Promise<Response>((resolve) => (release = resolve));
    const probe = serveWithFallback(chainFor(breaker, slow, cache));
    const other = await serveWithFallback(chainFor(breaker, live(200), cache));
    expect(other).toMatchObject({ tier: 'cache', reason: 'half_open_busy' });
    release({ status: 200, body: 'recovered' });
    expect(await probe).toMatchObject({ tier: 'live', value: { body: 'recovered' } });
    expect(breaker.state).toBe('CLOSED');
  });

  it('retries idempotent failures through the breaker and stops when it opens', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('linkedin', { failureThreshold: 3 }, { clock });
    const upstream = countingUpstream(live(503));
    const sleeps: number[] = [];
    const result = await serveWithFallback({
      ...chainFor(breaker, upstream.fn, new Map([['k', { status: 200, body: 'cached' }]])),
      retry: { attempts: 5, baseMs: 100, maxMs: 1_000, random: () => 0.5, sleep: async (ms) => void sleeps.push(ms) },
    });
    expect(upstream.calls()).toBe(3); // the third failure opened the circuit; attempt 4 was refused
    expect(sleeps).toEqual([50, 100, 200]);
    expect(result).toMatchObject({ tier: 'cache', reason: 'circuit_open', attempts: 3, live: { ok: true, value: { status: 503 } } });
  });

  it('a retry that recovers is served live', async () => {
    const breaker = new CircuitBreaker('linkedin', {}, { clock: new ManualClock() });
    let n = 0;
    const flaky = async (): Promise<Response> => (++n < 3 ? { status: 502, body: '' } : { status: 200, body: 'third time' });
    const result = await serveWithFallback({
      breaker,
      live: flaky,
      classify: byStatus,
      retry: { attempts: 3, baseMs: 10, maxMs: 100, sleep: async () => {} },
    });
    expect(result).toMatchObject({ tier: 'live', attempts: 3, value: { body: 'third time' } });
  });
});

describe('the conference demo: LinkedIn rate-limits, the agent carries on from cache', () => {
  it('66 leads served without calling LinkedIn, $6.60 saved, 98% via fallback', async () => {
    const clock = new ManualClock();
    const transitions: BreakerTransition[] = [];
    const breaker = new CircuitBreaker('linkedin', {}, { clock, onTransition: (t) => transitions.push(t) });
    const metrics = new TierMetrics();
    // LinkedIn answers 429 from its 30th call on; the fifth failure in a row (lead #34) opens the circuit.
    const fault = new FaultInjector({ service: 'linkedin', fromCall: 30, count: null, durationMs: null, status: 429 });
    const upstream = countingUpstream(() => {
      const f = fault.next(clock.now());
      return f.inject ? { status: f.outcome.status!, body: 'rate limited' } : { status: 200, body: 'profile' };
    });
    // A previous run cached every lead except two new ones; those have no placeholder either.
    const cache = new Map<number, Response>();
    for (let lead = 1; lead <= 100; lead++) if (lead !== 50 && lead !== 77) cache.set(lead, { status: 200, body: `cached ${lead}` });

    const results: FallbackResult<Response>[] = [];
    for (let lead = 1; lead <= 100; lead++) {
      results.push(
        await serveWithFallback({
          breaker,
          live: upstream.fn,
          classify: byStatus,
          cache: { lookup: () => cache.get(lead), store: (r) => void cache.set(lead, r) },
          metrics,
        }),
      );
      clock.advance(200); // the demo run is well inside one 60 s cooldown
    }

    expect(transitions.map((t) => `${t.to}:${t.reason}`)).toEqual(['OPEN:consecutive_failures']);
    expect(transitions[0]).toMatchObject({ consecutiveFailures: 5, lastFailure: 'http_429' });
    expect(results.findIndex((r) => r.reason === 'circuit_open') + 1).toBe(35);
    expect(upstream.calls()).toBe(34);
    expect(results.slice(29).every((r) => r.tier !== 'live')).toBe(true);

    const m = serviceMetrics(breaker.snapshot(), metrics.snapshot(), usdToMicros(0.1));
    expect(m).toEqual({
      service: 'linkedin',
      state: 'OPEN',
      calls: 100,
      successes: 29,
      failures: 5,
      blocked: 66,
      served: { live: 29, cache: 69, placeholder: 0, failed: 2 },
      successRate: 0.98,
      cacheHitRate: 69 / 71,
      costPerCallMicros: 100_000,
      costSavedMicros: 6_600_000,
    });
    expect(formatSaved(m.costSavedMicros)).toBe('$6.60 saved');
    expect(formatFallbackRate(m.successRate)).toBe('98% via fallback');
    expect(formatPercent(m.cacheHitRate)).toBe('97%');
  });

  it('metrics before any traffic are empty, not NaN', () => {
    const breaker = new CircuitBreaker('linkedin', {}, { clock: new ManualClock() });
    const m = serviceMetrics(breaker.snapshot(), new TierMetrics().snapshot(), 100_000);
    expect(m).toMatchObject({ calls: 0, successRate: null, cacheHitRate: null, costSavedMicros: 0 });
    expect(formatFallbackRate(m.successRate)).toBe('— via fallback');
  });

  it('tier counters survive a restart through their snapshot, salvaging what reads', () => {
    const metrics = new TierMetrics({ live: 29, cache: 69, placeholder: 'x', failed: 2, cacheLookups: 71 });
    metrics.record('cache', 'hit');
    expect(metrics.snapshot()).toEqual({ live: 29, cache: 70, placeholder: 0, failed: 2, cacheLookups: 72 });
    expect(new TierMetrics('garbage').snapshot()).toEqual({ live: 0, cache: 0, placeholder: 0, failed: 0, cacheLookups: 0 });
  });
});
