import type { CircuitBreaker } from './breaker.js';
import { CircuitOpenError, type RejectReason } from './errors.js';
import type { CacheLookup, TierMetrics } from './metrics.js';
import { defaultClassifier, judgeSafely, type Classifier, type Settled, type Verdict } from './outcome.js';
import { retry, type RetryOptions } from './retry.js';

export interface FallbackCache<T> {
  lookup: () => T | null | undefined | Promise<T | null | undefined>;
  /**
   * Offered every live answer judged a success. 4xx answers are successes for the breaker
   * (the service is healthy), so a store that should keep only 2xx checks that itself.
   */
  store?: (value: T) => void | Promise<void>;
}

export type ChainRetry<T> = Omit<RetryOptions<T>, 'retryable' | 'onRetry'> & {
  /** Narrow which failures are repeated; only failure verdicts ever are. Default: all of them. */
  retryable?: (settled: Settled<T>, verdict: Verdict) => boolean;
};

export interface FallbackChain<T> {
  breaker: CircuitBreaker;
  live: (attempt: number) => Promise<T>;
  classify?: Classifier<T>;
  /** Only for idempotent requests: every attempt goes through the breaker on its own. */
  retry?: ChainRetry<T> | null;
  cache?: FallbackCache<T> | null;
  placeholder?: { value: T } | null;
  metrics?: TierMetrics | null;
}

export type FallbackReason = 'circuit_open' | 'half_open_busy' | 'upstream_failure';

interface Trace<T> {
  /** Live attempts that reached the upstream. */
  attempts: number;
  /** What the last of them gave, so a caller can pass an upstream error through. */
  live: Settled<T> | null;
  verdict: Verdict | null;
  cacheLookup: CacheLookup | null;
}

export type FallbackResult<T> =
  | (Trace<T> & { tier: 'live'; value: T; reason: 'ok'; cacheStoreError?: unknown })
  | (Trace<T> & {
      tier: 'cache' | 'placeholder';
      value: T;
      reason: FallbackReason;
      /** The failing verdict's reason (`http_429`, `timeout`) when the upstream was tried. */
      detail: string | null;
      retryAfterMs: number | null;
      cacheError?: unknown;
    })
  | (Trace<T> & {
      tier: 'failed';
      reason: FallbackReason;
      detail: string | null;
      retryAfterMs: number | null;
      cacheError?: unknown;
    });

type Attempt<T> = { kind: 'rejected'; reason: RejectReason; retryAfterMs: number } | { kind: 'attempted'; settled: Settled<T>; verdict: Verdict };

/** Tier 1 live through the breaker, tier 2 the cache, tier 3 the placeholder, else a clean failure. */
export async function serveWithFallback<T>(chain: FallbackChain<T>): Promise<FallbackResult<T>> {
  const result = await runChain(chain);
  chain.metrics?.record(result.tier, result.cacheLookup);
  return result;
}

async function runChain<T>(chain: FallbackChain<T>): Promise<FallbackResult<T>> {
  const { breaker } = chain;
  const judge = (chain.classify ?? defaultClassifier(breaker.options.classify)) as Classifier<T>;
  let attempts = 0;
  let last: Extract<Attempt<T>, { kind: 'attempted' }> | null = null;

  const attemptOnce = async (n: number): Promise<Attempt<T>> => {
    // breaker.call judges the outcome; keep what it judged so the chain can fall back on it.
    let judged: { settled: Settled<T>; verdict: Verdict } | null = null;
    const classify: Classifier<T> = (settled) => {
      judged = { settled, verdict: judgeSafely(judge, settled) };
      return judged.verdict;
    };
    try {
      await breaker.call(() => {
        attempts++;
        return chain.live(n);
      }, classify);
    } catch (error) {
      // Refused before `live` ran: nothing reached the upstream.
      if (judged === null && error instanceof CircuitOpenError) return { kind: 'rejected', reason: error.reason, retryAfterMs: error.retryAfterMs };
    }
    last = { kind: 'attempted', ...judged! };
    return last;
  };

  const policy = chain.retry;
  const final = policy ? await repeat(attemptOnce, policy) : await attemptOnce(1);

  const trace = (cacheLookup: CacheLookup | null): Trace<T> => ({
    attempts,
    live: last?.settled ?? null,
    verdict: last?.verdict ?? null,
    cacheLookup,
  });

  if (final.kind === 'attempted' && final.settled.ok && final.verdict.kind !== 'failure') {
    const value = final.settled.value;
    const served = { ...trace(null), tier: 'live' as const, value, reason: 'ok' as const };
    if (final.verdict.kind === 'success' && chain.cache?.store) {
      try {
        await chain.cache.store(value);
      } catch (cacheStoreError) {
        return { ...served, cacheStoreError };
      }
    }
    return served;
  }

  const why =
    final.kind === 'rejected'
      ? { reason: rejectionReason(final.reason), detail: null, retryAfterMs: final.retryAfterMs }
      : { reason: 'upstream_failure' as const, detail: final.verdict.reason, retryAfterMs: null };

  let cacheLookup: CacheLookup | null = null;
  let cacheError: unknown;
  if (chain.cache) {
    try {
      const hit = await chain.cache.lookup();
      cacheLookup = hit == null ? 'miss' : 'hit';
      if (hit != null) return { ...trace(cacheLookup), tier: 'cache', value: hit, ...why };
    } catch (error) {
      // A broken cache is one more tier that did not answer, not a reason to fail differently.
      cacheLookup = 'error';
      cacheError = error;
    }
  }
  const extra = cacheLookup === 'error' ? { cacheError } : {};
  if (chain.placeholder) {
    return { ...trace(cacheLookup), tier: 'placeholder', value: chain.placeholder.value, ...why, ...extra };
  }
  return { ...trace(cacheLookup), tier: 'failed', ...why, ...extra };
}

function rejectionReason(reason: RejectReason): FallbackReason {
  return reason === 'open' ? 'circuit_open' : 'half_open_busy';
}

async function repeat<T>(attemptOnce: (n: number) => Promise<Attempt<T>>, policy: ChainRetry<T>): Promise<Attempt<T>> {
  const { retryable, retryAfterMs, ...rest } = policy;
  const result = await retry<Attempt<T>>(attemptOnce, {
    ...rest,
    // A refusal is final: the breaker has just said the upstream needs rest.
    retryable: (s) => s.ok && s.value.kind === 'attempted' && s.value.verdict.kind === 'failure' && (retryable?.(s.value.settled, s.value.verdict) ?? true),
    retryAfterMs: (s) => (s.ok && s.value.kind === 'attempted' ? retryAfterMs?.(s.value.settled) : null),
  });
  if (!result.ok) throw result.error; // attemptOnce catches everything the caller supplies
  return result.value;
}
