import { performance } from 'node:perf_hooks';
import type { PromptParts } from '../core/prompt.js';
import { countTextTokens } from '../domain/budget/index.js';
import type { ObservedCall } from '../observability/index.js';
import type { LlmRequestInput } from '../state/index.js';
import type { Provider } from './providers/types.js';
import type { Endpoint, Usage, Wire } from './wire/types.js';

/** What a Responses request carries for its turn to be kept once answered. */
export interface Turn {
  /** `store` (OpenAI's default: true): keep the answer and the turn's input. */
  readonly store: boolean;
  readonly previousId: string | null;
  /** The conversation the turn is in (`conversation`): its items were the context, the turn is appended to it. */
  readonly conversationId: string | null;
  /** How many items of the upstream `input` are the resolved context (the previous turns), before the agent's own. */
  readonly contextCount: number;
}

/** What the agent asked for, fixed once the request is parsed. */
export interface CallRequest {
  readonly t0: number;
  readonly agentId: string;
  readonly endpoint: Endpoint;
  readonly wire: Wire;
  readonly stream: boolean;
  /** Agent headers a provider may need (anthropic-version, anthropic-beta, openai-beta). */
  readonly headers: Record<string, string>;
  /** A Responses request: whether its answer is kept, and what it continues (responses-state.ts). */
  readonly turn?: Turn;
  /** What metrics and traces are told about it, filled in as it moves (observability/observed.ts). */
  readonly obs?: ObservedCall;
  /** The request's prompt, read once for everyone who needs it (the reservation, the watch); absent: read from the body. */
  readonly prompt?: () => PromptParts;
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
  /** The output the upstream body allows (after a clamp): what an answer whose usage is unknown is charged for. */
  readonly maxOutputTokens: number;
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
  /** Set just before the request goes to the provider: from then on it may be owed, whatever becomes of the agent. */
  dispatched?: boolean;
  /**
   * Requests sent to providers for this call so far, retries and fallbacks included (a call an
   * open circuit refused sent none): its row's `attempts`, and whether we already retried it.
   */
  attempts: number;
  /** Its reservation is gone (a fallback refused) but its row is not written yet. */
  unrecorded?: boolean;
  /** The agent's step and the chain (tool) it belongs to, fixed when it started: its row's `step` and `chain`. */
  step?: number | null;
  chain?: string | null;
}

/**
 * What could be read of a provider's answer, for its charge: the counts it reported (an unknown
 * count is absent, never 0), whether the answer was read to its end, and the output tokens we
 * counted in what we read. The Meter turns it into tokens and money by one rule (`Meter.bill`).
 */
export interface Reading {
  usage: Partial<Usage>;
  /** The whole answer was read (a body to its end, a stream to the provider's end): its usage is final. */
  complete: boolean;
  /**
   * Output tokens counted in the text read: a floor when the provider's own count is missing.
   * Readers make it a getter (`AnswerReading`): counting is BPE over the whole answer, and
   * `Meter.bill` reads it only when the provider's counts are missing or the answer was cut short.
   */
  readonly counted?: number;
}

/**
 * The Reading of an answer read to its end or cut short, its text counted only when `counted` is
 * read. A class, its getter on the prototype: an object literal with its own `get` has V8 keep
 * the getter in an AccessorPair allocated in the old generation, which held the young getter,
 * and through its closure the call's whole context (request, answer, response), past every
 * scavenge until the next full GC: 1.15-1.5 MB promoted per scavenge at c=16 instead of 0.35.
 */
export class AnswerReading implements Reading {
  constructor(
    public usage: Partial<Usage>,
    public complete: boolean,
    private readonly text: () => string,
    private readonly model: string,
  ) {}

  get counted(): number {
    return countTextTokens(this.text(), this.model);
  }
}

/** How a call ended, for its row in llm_requests. */
export interface Outcome {
  status: LlmRequestInput['status'];
  httpStatus: number;
  /** What the provider's answer says it used; null when nothing is owed (an error answer, a call that never reached it). */
  reading: Reading | null;
  redactions: number;
  firstByteMs: number | null;
  error: string | null;
  /** The answer as the agent was sent it (redacted), parsed: what a Responses turn keeps. */
  answer?: unknown;
}

/** What a call is charged: the tokens its row records, where they came from, and the money. */
export interface Bill {
  promptTokens: number;
  completionTokens: number;
  usageSource: 'provider' | 'estimate';
  micros: number;
}

/** The call's row in llm_requests: where it went, how it ended, what it used and cost. */
export function requestRow(call: Call, o: Omit<Outcome, 'reading'>, bill: Bill): LlmRequestInput {
  const t = call.target;
  return {
    agentId: call.agentId,
    endpoint: call.endpoint,
    provider: t.provider.name,
    model: t.model,
    stream: call.stream,
    status: o.status,
    httpStatus: o.httpStatus,
    promptTokens: bill.promptTokens,
    completionTokens: bill.completionTokens,
    costMicros: bill.micros,
    reservedMicros: t.reservedMicros,
    usageSource: bill.usageSource,
    latencyMs: performance.now() - call.t0,
    firstByteMs: o.firstByteMs,
    redactions: o.redactions,
    error: o.error,
    attempts: call.attempts,
    budgets: null,
    step: call.step ?? null,
    chain: call.chain ?? null,
  };
}

/** The answer's body has been read (whole, or a stream to its end): that time was the upstream's, not the cage's. */
export function answerRead(call: Pick<Call, 'obs'>): void {
  const o = call.obs;
  if (!o || o.answerAt === null) return;
  o.upstreamMs += performance.now() - o.answerAt;
  o.answerAt = null;
}

/** The body to send upstream: the agent's own bytes unless we had to change something. */
export function upstreamBody(req: CallRequest, json: Record<string, unknown>, bodyText: string | null): Pick<Target, 'upstream' | 'hideUsageChunk'> {
  // The provider's usage is the truth: a stream that reports it only when asked is asked, and
  // the extra chunk hidden from the agent again.
  const asked = req.stream ? (req.wire.askUsage?.(req.endpoint, json) ?? null) : null;
  const out = asked ?? json;
  const hideUsageChunk = asked !== null;
  return { upstream: { text: out === json && bodyText !== null ? bodyText : JSON.stringify(out), json: out }, hideUsageChunk };
}
