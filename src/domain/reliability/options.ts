import { ValidationError } from '../../core/errors.js';
import { durationMs, integerAtLeast, integerInRange, rejectUnknownKeys, requireRecord, show } from './check.js';
import { DEFAULT_CLASSIFY, ERROR_KINDS, type ClassifyConfig, type ErrorKind } from './outcome.js';

export interface FailureRateOptions {
  /** Open when failures / calls in the window reach this percentage (0 < p <= 100). */
  thresholdPercent: number;
  /** Below this many calls in the window the rate is not trusted. */
  minCalls: number;
  /** Look at the last M calls… */
  windowCalls: number | null;
  /** …and/or at the calls of the last T ms. */
  windowMs: number | null;
}

export interface BreakerOptions {
  failureThreshold: number;
  cooldownMs: number;
  halfOpenMaxProbes: number;
  halfOpenSuccessThreshold: number;
  /**
   * A probe whose outcome never comes back (a caller that crashed or forgot to record) would
   * hold its half-open slot forever; after this long the slot is given to the next caller.
   */
  probeTimeoutMs: number;
  failureRate: FailureRateOptions | null;
  classify: ClassifyConfig;
}

export type BreakerOptionsInput = Partial<Omit<BreakerOptions, 'failureRate' | 'classify'>> & {
  failureRate?: Partial<FailureRateOptions> | null;
  classify?: Partial<ClassifyConfig>;
};

export const DEFAULT_BREAKER_OPTIONS: Readonly<BreakerOptions> = Object.freeze({
  failureThreshold: 5,
  cooldownMs: 60_000,
  halfOpenMaxProbes: 1,
  halfOpenSuccessThreshold: 1,
  probeTimeoutMs: 30_000,
  failureRate: null,
  classify: DEFAULT_CLASSIFY,
});

const DEFAULT_FAILURE_RATE: Readonly<Omit<FailureRateOptions, 'windowCalls' | 'windowMs'>> = Object.freeze({
  thresholdPercent: 50,
  minCalls: 10,
});

/** Keeps the ring buffer of a failure-rate window to a size that cannot hurt memory. */
const MAX_WINDOW_CALLS = 100_000;

const KEYS = ['failureThreshold', 'cooldownMs', 'halfOpenMaxProbes', 'halfOpenSuccessThreshold', 'probeTimeoutMs', 'failureRate', 'classify'] as const;

/** Fill defaults and check every field; `input` is whatever the config file or API held. */
export function validateBreakerOptions(input: unknown = {}, path = 'breaker'): BreakerOptions {
  const o = requireRecord(input ?? {}, path);
  rejectUnknownKeys(o, KEYS, path);
  const d = DEFAULT_BREAKER_OPTIONS;
  const pick = (key: (typeof KEYS)[number]): unknown => (o[key] === undefined ? d[key] : o[key]);
  const halfOpenMaxProbes = integerAtLeast(pick('halfOpenMaxProbes'), 1, `${path}.halfOpenMaxProbes`);
  const halfOpenSuccessThreshold = integerAtLeast(pick('halfOpenSuccessThreshold'), 1, `${path}.halfOpenSuccessThreshold`);
  return {
    failureThreshold: integerAtLeast(pick('failureThreshold'), 1, `${path}.failureThreshold`),
    cooldownMs: durationMs(pick('cooldownMs'), 0, `${path}.cooldownMs`),
    halfOpenMaxProbes,
    halfOpenSuccessThreshold,
    probeTimeoutMs: durationMs(pick('probeTimeoutMs'), 1, `${path}.probeTimeoutMs`),
    failureRate: o.failureRate == null ? null : validateFailureRate(o.failureRate, `${path}.failureRate`),
    classify: validateClassify(o.classify ?? {}, `${path}.classify`),
  };
}

function validateFailureRate(input: unknown, path: string): FailureRateOptions {
  const o = requireRecord(input, path);
  rejectUnknownKeys(o, ['thresholdPercent', 'minCalls', 'windowCalls', 'windowMs'], path);
  const thresholdPercent = o.thresholdPercent ?? DEFAULT_FAILURE_RATE.thresholdPercent;
  if (typeof thresholdPercent !== 'number' || !(thresholdPercent > 0 && thresholdPercent <= 100)) {
    throw new ValidationError(`${path}.thresholdPercent must be a number above 0 and at most 100 (got ${show(thresholdPercent)})`);
  }
  const minCalls = integerAtLeast(o.minCalls ?? DEFAULT_FAILURE_RATE.minCalls, 1, `${path}.minCalls`);
  const windowCalls = o.windowCalls == null ? null : integerInRange(o.windowCalls, 1, MAX_WINDOW_CALLS, `${path}.windowCalls`);
  const windowMs = o.windowMs == null ? null : durationMs(o.windowMs, 1, `${path}.windowMs`);
  if (windowCalls === null && windowMs === null) {
    throw new ValidationError(`${path} needs windowCalls (last M calls) or windowMs (last T ms), or both`);
  }
  if (windowCalls !== null && minCalls > windowCalls) {
    throw new ValidationError(`${path}.minCalls (${minCalls}) must not exceed ${path}.windowCalls (${windowCalls}), or the rate is never evaluated`);
  }
  return { thresholdPercent, minCalls, windowCalls, windowMs };
}

function statusList(value: unknown, path: string): number[] {
  if (!Array.isArray(value)) throw new ValidationError(`${path} must be a list of HTTP statuses (got ${show(value)})`);
  return value.map((s, i) => integerInRange(s, 100, 599, `${path}[${i}]`));
}

function validateClassify(input: unknown, path: string): ClassifyConfig {
  const o = requireRecord(input, path);
  rejectUnknownKeys(o, ['failureStatuses', 'serverErrorsFail', 'ignoredStatuses', 'failureErrors'], path);
  const d = DEFAULT_CLASSIFY;
  const serverErrorsFail = o.serverErrorsFail ?? d.serverErrorsFail;
  if (typeof serverErrorsFail !== 'boolean') {
    throw new ValidationError(`${path}.serverErrorsFail must be true or false (got ${show(serverErrorsFail)})`);
  }
  const errors = o.failureErrors ?? d.failureErrors;
  if (!Array.isArray(errors)) {
    throw new ValidationError(`${path}.failureErrors must be a list of error kinds (got ${show(errors)})`);
  }
  errors.forEach((kind, i) => {
    if (!(ERROR_KINDS as readonly unknown[]).includes(kind)) {
      throw new ValidationError(`${path}.failureErrors[${i}] must be one of ${ERROR_KINDS.join(', ')} (got ${show(kind)})`);
    }
  });
  return {
    failureStatuses: statusList(o.failureStatuses ?? d.failureStatuses, `${path}.failureStatuses`),
    serverErrorsFail,
    ignoredStatuses: statusList(o.ignoredStatuses ?? d.ignoredStatuses, `${path}.ignoredStatuses`),
    failureErrors: errors as ErrorKind[],
  };
}
