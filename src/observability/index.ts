export { observedCall, observers, NO_OBSERVER, type ObservedAnswer, type ObservedAttempt, type ObservedCall, type ObservedInjection, type ObservedToolCall, type Observer } from './observed.js';
export { DURATION_BUCKETS, errorType, LABEL, METRIC, OPERATION, providerName, RUN_BUCKETS, TOKEN_BUCKETS } from './names.js';
export { LabelCap, OTHER, SeriesBudget, type Admitted } from './labels.js';
export { ExportGuard, MAX_VALUE_CHARS, PII_MARKER } from './exported.js';
export { RuntimeMetrics, BREAKER_STATE, type MetricSources } from './metrics.js';
export { metricsRoute, isLoopbackPeer, type Scrapable } from './metrics.routes.js';
export { Tracing, type TracingOptions } from './tracing.js';
export { observabilityService, type ObservabilityDeps } from './observability.service.js';
