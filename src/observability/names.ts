import { IronCageError } from '../core/errors.js';

// The names metrics and spans are exported under: the OpenTelemetry GenAI semantic conventions'
// where they have one (as the OTel → Prometheus convention spells them: dots become
// underscores, the unit `s` becomes a `_seconds` suffix, `{token}` adds nothing), ours under
// `iron_cage_` where they have none. One list, read by the runtime's and the panel's /metrics
// and by the docs.

/** gen_ai.client.token.usage: the conventions' boundaries, in tokens. */
export const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
/** gen_ai.client.operation.duration, time_to_first_chunk, execute_tool.duration: the conventions' boundaries, in seconds. */
export const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
/** gen_ai.invoke_agent.duration: a run is many calls (minutes to hours), so coarser, in seconds. */
export const RUN_BUCKETS = [1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400];
/** iron_cage_approval_wait_seconds: a person answers in seconds to hours. */
export const WAIT_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400];
/** iron_cage_gateway_overhead_seconds: the cage's own time is sub-millisecond to a few ms. */
export const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export const METRIC = {
  tokenUsage: 'gen_ai_client_token_usage',
  operationDuration: 'gen_ai_client_operation_duration_seconds',
  timeToFirstChunk: 'gen_ai_client_operation_time_to_first_chunk_seconds',
  toolDuration: 'gen_ai_execute_tool_duration_seconds',
  runDuration: 'gen_ai_invoke_agent_duration_seconds',
  spend: 'iron_cage_spend_usd_total',
  calls: 'iron_cage_llm_calls_total',
  budgetLimit: 'iron_cage_budget_limit_usd',
  budgetSpent: 'iron_cage_budget_spent_usd',
  budgetReserved: 'iron_cage_budget_reserved_usd',
  budgetWaiting: 'iron_cage_budget_waiting_calls',
  piiDetections: 'iron_cage_pii_detections_total',
  injectionDetected: 'iron_cage_injection_detected_total',
  breakerState: 'iron_cage_breaker_state',
  breakerBlocked: 'iron_cage_breaker_blocked_calls_total',
  overhead: 'iron_cage_gateway_overhead_seconds',
  refusals: 'iron_cage_refusals_total',
  egress: 'iron_cage_sandbox_egress_total',
  egressBytes: 'iron_cage_sandbox_egress_bytes_total',
  toolCalls: 'iron_cage_tool_calls_total',
  policyDecisions: 'iron_cage_policy_decisions_total',
  approvalWait: 'iron_cage_approval_wait_seconds',
  spansExported: 'iron_cage_otel_spans_exported_total',
  spansDropped: 'iron_cage_otel_spans_dropped_total',
  labelOverflow: 'iron_cage_metrics_label_overflow_total',
  seriesFolded: 'iron_cage_panel_series_folded_total',
  // The control panel's own (src/panel/metrics.ts): its central budgets' leases, its runtimes, its ingest.
  leaseGranted: 'iron_cage_budget_lease_granted_usd',
  leaseSpent: 'iron_cage_budget_lease_spent_usd',
  leaseHeld: 'iron_cage_budget_lease_held_usd',
  leaseWaiting: 'iron_cage_budget_lease_waiting_calls',
  runtimeOnline: 'iron_cage_runtime_online',
  runtimeLastSeen: 'iron_cage_runtime_last_seen_age_seconds',
  runtimeBehind: 'iron_cage_runtime_behind_rows',
  batches: 'iron_cage_panel_batches_total',
  rows: 'iron_cage_panel_rows_total',
  databaseUp: 'iron_cage_panel_database_up',
} as const;

/** Prometheus label names of the conventions' attributes (dots become underscores). */
export const LABEL = {
  operation: 'gen_ai_operation_name',
  provider: 'gen_ai_provider_name',
  requestModel: 'gen_ai_request_model',
  responseModel: 'gen_ai_response_model',
  tokenType: 'gen_ai_token_type',
  errorType: 'error_type',
  toolName: 'gen_ai_tool_name',
  toolType: 'gen_ai_tool_type',
  agentName: 'gen_ai_agent_name',
  /** On the control panel: the runtime (its id on the panel) a series came from. */
  runtime: 'runtime',
} as const;

/** The conventions' operation name of each gateway endpoint. */
export const OPERATION: Record<string, string> = {
  chat: 'chat',
  messages: 'chat',
  responses: 'chat',
  completions: 'text_completion',
  embeddings: 'embeddings',
};

/**
 * The conventions' `gen_ai.provider.name` of a configured provider: its well-known value when
 * the name is one (`openai`, `anthropic`, `mistral` → `mistral_ai`…), else the name as configured
 * (`simulated`, a self-hosted one).
 */
export function providerName(name: string): string {
  const n = name.toLowerCase();
  return PROVIDERS[n] ?? n;
}
const PROVIDERS: Record<string, string> = {
  azure: 'azure.ai.openai',
  'azure-openai': 'azure.ai.openai',
  bedrock: 'aws.bedrock',
  gemini: 'gcp.gemini',
  vertex: 'gcp.vertex_ai',
  mistral: 'mistral_ai',
  xai: 'x_ai',
  grok: 'x_ai',
  watsonx: 'ibm.watsonx.ai',
};

/**
 * `error.type` of a call that ended in an error: a small, documented set (docs/observability.md).
 * Our refusals by their code (`budget_exhausted`, `budget_wait_timeout`, `no_lease`,
 * `pii_blocked`, `circuit_open`, `invalid_request`…), an upstream's answer by its HTTP status
 * (`429`, `500`), a connection that broke or timed out by its kind, anything else `_OTHER`.
 */
export function errorType(err: unknown, httpStatus?: number | null): string | null {
  if (err === null || err === undefined) {
    if (httpStatus !== undefined && httpStatus !== null && httpStatus >= 400) return String(httpStatus);
    return null;
  }
  const reason = (err as { reason?: unknown }).reason;
  if (err instanceof IronCageError) return typeof reason === 'string' ? reason : err.code;
  const name = (err as { name?: unknown }).name;
  if (name === 'TimeoutError') return 'timeout';
  if (name === 'AbortError') return 'client_aborted';
  return '_OTHER';
}

/** Seconds, for a histogram, from milliseconds. */
export const seconds = (ms: number): number => ms / 1000;
