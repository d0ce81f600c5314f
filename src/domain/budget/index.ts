// Public surface of the budget domain: token counting, pricing, the reserve/settle budget
// tracker, projections, alert payloads, cost attribution and display strings. Pure logic over
// plain data; callers own I/O, persistence and events.

export {
  countTextTokens,
  encodingForModel,
  estimateTokens,
  loadedEncodings,
  type EncodingName,
} from './tokens.js';
export { countPromptTokens, estimateMaxOutputTokens, type OutputTokens, type PromptCountOptions, type PromptTokens } from './prompt-tokens.js';
export { toCount } from './int.js';
export {
  costOf,
  flatSchedule,
  usdPerMillion,
  type MicrosPerMTok,
  type ModelRates,
  type PriceSchedule,
  type PriceTier,
  type TokenUsage,
} from './rates.js';
export { parseModelRates, parsePriceOverrides, PriceOverrides, SPEC_PRICE_OVERRIDES } from './overrides.js';
export {
  DEFAULT_UNKNOWN_MODEL_RATES,
  PriceBook,
  type PriceBookOptions,
  type PriceLookup,
  type PriceQuote,
  type PriceSource,
} from './price-book.js';
export { estimateRequestCost, type RequestEstimate, type RequestEstimateInput } from './request-estimate.js';
export { BudgetTracker, type CentralInput, type WaitReason } from './tracker.js';
export { BudgetPolicy, type ExhaustedAction } from './policy.js';
export type {
  BudgetRefusal,
  BudgetSnapshot,
  BudgetState,
  CentralCharge,
  CentralRef,
  CentralSnapshot,
  ReservationId,
  ReserveGranted,
  ReserveResult,
  RestoreInput,
  SetLimitResult,
  SettleResult,
  ThresholdNotice,
  TrackerOptions,
} from './account.js';
export {
  projectSpend,
  recommendIncrease,
  roundUpToStep,
  type IncreaseRecommendation,
  type ProgressLike,
  type Projection,
  type ProjectionOptions,
  type RecommendOptions,
} from './projection.js';
export {
  budgetAlert,
  emailBudgetAlert,
  emailRunwayAlert,
  slackBudgetAlert,
  slackRunwayAlert,
  type RunwayAlert,
  type AlertContext,
  type BudgetAlert,
  type EmailMessage,
  type SlackBlock,
  type SlackMessage,
  type SlackText,
} from './alerts.js';
export {
  SPEND_SERIES_MAX_POINTS,
  reportBucketMs,
  REPORT_MAX_BUCKETS,
  spendSeries,
  summarizeCosts,
  summarizeGroups,
  type CostBucket,
  type CostRecord,
  type CostGroup,
  type GroupSummary,
  type CostSummary,
  type CostTotals,
  type ModelCost,
  type RunCost,
  type SummaryOptions,
} from './attribution.js';
export {
  formatAvgPerUnit,
  formatBaselineSavings,
  formatBudgetUsage,
  formatIncreaseAction,
  formatPercent,
  formatProjection,
  formatProjectionStatus,
  formatUsdShort,
  percentOf,
  singularUnit,
  type ProjectionStatus,
} from './format.js';
export { decide, decideChain, WaitQueues, type AcquireRequest, type ChainDecision, type WaitBound } from './waits.js';
export { CLAMP_MIN_OUTPUT_TOKENS, CLAMP_MIN_REASONING_TOKENS, clampFloor, clampMinimum, clampOutput, clampPrompt } from './clamp.js';
export { BurnWindow, formatRunway, RUNWAY_MIN_SPAN_MS, RUNWAY_WINDOW_MS, runway, RunwayAlarm, type Runway, type RunwayInput } from './runway.js';
export { CHAIN_MAX_CHARS, lastResultName, stepLabel, stepOf } from './steps.js';
export {
  addLeases,
  committed,
  CONTENDED_RENEW_MS,
  CONTENDED_WITHIN_MS,
  grantLease,
  knownSpent,
  LEASE_DEFAULTS,
  leaseFigures,
  leaseWant,
  NO_OTHER_LEASES,
  placeInOrder,
  renewInMs,
  settleOutside,
  spendRate,
  takenBackTo,
  type LeaseAsk,
  type LeaseDecision,
  type LeaseHeld,
  type LeaseOrder,
  type LeaseRowFigures,
  type OtherLeases,
} from './lease.js';
