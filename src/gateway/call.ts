import { performance } from 'node:perf_hooks';
import type { LlmRequestInput } from '../state/index.js';
import type { Provider } from './providers/types.js';
import type { Endpoint, Usage, Wire } from './wire/types.js';

/** What the agent asked for, fixed once the request is parsed. */
export interface CallRequest {
  readonly t0: number;
  readonly agentId: string;
  readonly endpoint: Endpoint;
  readonly wire: Wire;
  readonly stream: boolean;
  /** Agent headers a provider may need (anthropic-version, anthropic-beta, openai-beta). */
  readonly headers: Record<string, string>;
}

/** One model tried for the request: where it goes, the bytes sent, and what was reserved for it. */
export interface Target {
  readonly model: string;
  readonly provider: Provider;
  /** The agent's body for this model (a fallback rewrites only `model`). */
  readonly json: Record<string, unknown>;
  /** What goes upstream: the agent's own bytes unless something had to change. */
  readonly upstream: { readonly text: string; readonly json: Record<string, unknown> };
  /** We asked the upstream for a usage chunk the agent did not ask for: hide it again. */
  readonly hideUsageChunk: boolean;
  readonly reservedMicros: number;
  readonly promptTokensEstimate: number;
}

/**
 * The per-call object every stage gets. Only the Meter changes it: `target` when a
 * fallback takes over, `reservationId` when the money is settled or released.
 */
export interface Call extends CallRequest {
  target: Target;
  reservationId: number | null;
  /** The agent's connection: aborted once it hangs up. */
  readonly signal?: AbortSignal;
  /** Set just before the request goes to the provider: from then on its prompt is owed. */
  dispatched?: boolean;
  /** Its reservation is gone (a fallback refused) but its row is not written yet. */
  unrecorded?: boolean;
}

/** How a call ended, for its row in llm_requests. */
export interface Outcome {
  status: LlmRequestInput['status'];
  httpStatus: number;
  promptTokens: number;
  completionTokens: number;
  usageSource: 'provider' | 'estimate';
  redactions: number;
  firstByteMs: number | null;
  error: string | null;
}

/** Prompt-cache parts of the usage, priced at their own rates. */
export type Cache = Pick<Usage, 'cacheReadTokens' | 'cacheWriteTokens'>;

/** The call's row in llm_requests: where it went, how it ended, and what it cost. */
export function requestRow(call: Call, o: Outcome, costMicros: number): LlmRequestInput {
  const t = call.target;
  return {
    agentId: call.agentId,
    endpoint: call.endpoint,
    provider: t.provider.name,
    model: t.model,
    stream: call.stream,
    status: o.status,
    httpStatus: o.httpStatus,
    promptTokens: o.promptTokens,
    completionTokens: o.completionTokens,
    costMicros,
    reservedMicros: t.reservedMicros,
    usageSource: o.usageSource,
    latencyMs: performance.now() - call.t0,
    firstByteMs: o.firstByteMs,
    redactions: o.redactions,
    error: o.error,
  };
}

/** The body to send upstream: the agent's own bytes unless we had to change something. */
export function upstreamBody(req: CallRequest, json: Record<string, unknown>, bodyText: string | null): Pick<Target, 'upstream' | 'hideUsageChunk'> {
  let out = json;
  let hideUsageChunk = false;
  // Chat and completions streams report usage only when asked; a Responses stream always does.
  if (req.stream && (req.endpoint === 'chat' || req.endpoint === 'completions')) {
    const opts = (json.stream_options ?? {}) as Record<string, unknown>;
    if (opts.include_usage !== true) {
      // The provider's usage is the truth; ask for it, and hide the extra chunk from the agent.
      out = { ...json, stream_options: { ...opts, include_usage: true } };
      hideUsageChunk = true;
    }
  }
  return { upstream: { text: out === json && bodyText !== null ? bodyText : JSON.stringify(out), json: out }, hideUsageChunk };
}
