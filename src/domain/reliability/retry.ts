import { ValidationError } from '../../core/errors.js';
import { durationMs, integerInRange, rejectUnknownKeys, requireRecord } from './check.js';
import type { CallOutcome, Settled } from './outcome.js';

export interface RetryPolicy {
  /** Total attempts, the first one included. */
  attempts: number;
  baseMs: number;
  /** Cap on any single wait, Retry-After included. */
  maxMs: number;
  /** Give up rather than start a wait that would end past this much time since the first attempt. */
  maxElapsedMs: number | null;
}

const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  attempts: 3,
  baseMs: 250,
  maxMs: 8_000,
  maxElapsedMs: null,
});

/** Attempts are capped because an unbounded retry loop is an outage amplifier. */
const MAX_ATTEMPTS = 20;

export function validateRetryPolicy(input: unknown = {}, path = 'retry'): RetryPolicy {
  const o = requireRecord(input ?? {}, path);
  rejectUnknownKeys(o, ['attempts', 'baseMs', 'maxMs', 'maxElapsedMs'], path);
  const d = DEFAULT_RETRY_POLICY;
  const attempts = integerInRange(o.attempts ?? d.attempts, 1, MAX_ATTEMPTS, `${path}.attempts`);
  const baseMs = durationMs(o.baseMs ?? d.baseMs, 0, `${path}.baseMs`);
  const maxMs = durationMs(o.maxMs ?? Math.max(d.maxMs, baseMs), 0, `${path}.maxMs`);
  if (maxMs < baseMs) throw new ValidationError(`${path}.maxMs (${maxMs}) must be at least ${path}.baseMs (${baseMs})`);
  const maxElapsedMs = o.maxElapsedMs == null ? null : durationMs(o.maxElapsedMs, 1, `${path}.maxElapsedMs`);
  return { attempts, baseMs, maxMs, maxElapsedMs };
}

/**
 * "Full jitter": uniform in [0, min(maxMs, baseMs·2^(retry-1))). Spreading retries over the
 * whole interval is what keeps many clients from hammering a recovering upstream in lockstep.
 */
export function backoffDelayMs(retry: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** (retry - 1));
  return Math.floor(random() * ceiling);
}

/** Failures worth repeating for an idempotent request: the upstream may well answer next time. */
export function isRetryableOutcome(outcome: CallOutcome): boolean {
  if (outcome.error !== undefined) return outcome.error === 'timeout' || outcome.error === 'connection';
  const s = outcome.status;
  if (s === undefined) return false;
  // 501 and 505 are permanent by definition; 529 (Anthropic overloaded) and friends are not.
  return s === 408 || s === 429 || (s >= 500 && s !== 501 && s !== 505);
}

export interface RetryOptions<T> {
  attempts: number;
  baseMs: number;
  maxMs: number;
  maxElapsedMs?: number | null;
  retryable: (settled: Settled<T>, attempt: number) => boolean;
  /** The wait the upstream asked for (parsed Retry-After), used instead of the backoff. */
  retryAfterMs?: (settled: Settled<T>) => number | null | undefined;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
  onRetry?: (info: { attempt: number; delayMs: number; settled: Settled<T> }) => void;
}

export type RetryEnd = 'done' | 'attempts_exhausted' | 'deadline';

export type RetryResult<T> = Settled<T> & {
  attempts: number;
  delaysMs: number[];
  /** `done`: the last outcome was not retryable (a success, or a failure not worth repeating). */
  endedBy: RetryEnd;
};

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Run `fn` until it gives a non-retryable outcome or the budget runs out; never throws `fn`'s errors. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions<T>): Promise<RetryResult<T>> {
  const policy = validateRetryPolicy({
    attempts: options.attempts,
    baseMs: options.baseMs,
    maxMs: options.maxMs,
    maxElapsedMs: options.maxElapsedMs ?? null,
  });
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const startedAt = now();
  const delaysMs: number[] = [];
  for (let attempt = 1; ; attempt++) {
    let settled: Settled<T>;
    try {
      settled = { ok: true, value: await fn(attempt) };
    } catch (error) {
      settled = { ok: false, error };
    }
    const end = (endedBy: RetryEnd): RetryResult<T> => ({ ...settled, attempts: attempt, delaysMs, endedBy });
    if (!options.retryable(settled, attempt)) return end('done');
    if (attempt >= policy.attempts) return end('attempts_exhausted');
    const asked = options.retryAfterMs?.(settled);
    const delayMs = asked != null && asked >= 0 ? Math.min(policy.maxMs, Math.round(asked)) : backoffDelayMs(attempt, policy.baseMs, policy.maxMs, random);
    if (policy.maxElapsedMs !== null && now() + delayMs - startedAt > policy.maxElapsedMs) return end('deadline');
    delaysMs.push(delayMs);
    options.onRetry?.({ attempt, delayMs, settled });
    await sleep(delayMs);
  }
}
