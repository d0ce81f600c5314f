// Reliability domain: circuit breakers, fallback chains, retry and fault plans over plain data.
// The tool egress proxy and the gateway use them through src/reliability (BreakerRegistry), which persists snapshots.

export { CircuitBreaker } from './breaker.js';
export { SERVICE_NAME, SERVICE_RULE } from './check.js';
export type {
  Permit,
  Acquisition,
  BreakerDeps,
  BreakerTransition,
  Clock,
  RestoreResult,
  TransitionListener,
  TransitionReason,
} from './breaker-types.js';
export { CircuitOpenError, RequestError, type RejectReason } from './errors.js';
export {
  DEFAULT_BREAKER_OPTIONS,
  validateBreakerOptions,
  type BreakerOptions,
  type BreakerOptionsInput,
  type FailureRateOptions,
} from './options.js';
export {
  DEFAULT_CLASSIFY,
  ERROR_KINDS,
  SUCCESS,
  classifyOutcome,
  defaultClassifier,
  errorKindOf,
  statusClassifier,
  type CallOutcome,
  type Classifier,
  type ClassifyConfig,
  type ErrorKind,
  type Settled,
  type Verdict,
  type VerdictKind,
} from './outcome.js';
export type {
  BreakerCounters,
  BreakerSnapshot,
  BreakerState,
} from './snapshot.js';
export {
  TIERS,
  TierMetrics,
  formatFallbackRate,
  formatPercent,
  formatSaved,
  serviceMetrics,
  type CacheLookup,
  type ServiceMetrics,
  type Tier,
  type TierCounters,
} from './metrics.js';
export {
  serveWithFallback,
  type ChainRetry,
  type FallbackCache,
  type FallbackChain,
  type FallbackReason,
  type FallbackResult,
} from './fallback.js';
export { canonicalHeaders, canonicalJson, canonicalQuery, responseCacheKey, type CacheKeyInput, type QueryInput } from './cache-key.js';
export {
  backoffDelayMs,
  isRetryableOutcome,
  retry,
  validateRetryPolicy,
  type RetryEnd,
  type RetryOptions,
  type RetryPolicy,
  type RetryResult,
} from './retry.js';
export { parseHttpDate, parseRetryAfter, retryAfterFromHeaders } from './retry-after.js';
export {
  FaultInjector,
  decideFault,
  faultOutcome,
  type FaultConfig,
  type FaultDecision,
  type FaultKind,
} from './faults.js';
