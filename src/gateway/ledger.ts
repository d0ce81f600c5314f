import { choicesOf, clampBody, clampMinimum, clampOutput, costOf, type BudgetRefusal, type RequestEstimate, type ReserveResult } from '../budget/index.js';
import type { Logger } from '../core/logger.js';
import type { LlmStore } from '../state/index.js';
import { ledgerRow, upstreamBody, type Cache, type Call, type CallRequest, type Outcome, type Target } from './call.js';
import { GatewayError } from './errors.js';
import type { Meter } from './meter.js';
import type { Provider } from './providers/types.js';

interface Reserved {
  target: Target;
  reservationId: number;
}

/**
 * The money side of one call: reserve before it leaves, move the reservation when a fallback
 * takes over, settle on the usage and record the row, or release. The only code that changes
 * a Call after it is made.
 */
export class CallLedger {
  constructor(private readonly d: { meter: Meter; store: LlmStore; logger: Logger }) {}

  /**
   * Reserve the worst case for the requested model, waiting for in-flight calls to free the
   * budget they hold if need be (synchronous when there is no wait); a refusal is the agent's
   * answer. With `near_limit: clamp` the call may come back with a lower output limit. `signal`
   * is the agent's connection: hanging up leaves the wait queue, and later leaves a row.
   */
  begin(req: CallRequest, model: string, provider: Provider, json: Record<string, unknown>, bodyText: string | null, signal?: AbortSignal): Call | Promise<Call> {
    const make = ({ target, reservationId }: Reserved): Call => ({
      t0: req.t0,
      agentId: req.agentId,
      endpoint: req.endpoint,
      wire: req.wire,
      stream: req.stream,
      headers: req.headers,
      target,
      reservationId,
      ...(signal ? { signal } : {}),
    });
    const est = this.d.meter.estimate(model, provider.name, json, req.agentId, req.endpoint);
    const schedule = this.d.meter.book.lookup(model, provider.name).schedule;
    const choices = choicesOf(json);
    const clamp = this.d.meter.clamps && est.maxOutputTokens > 0;
    const minMicros = clamp ? clampMinimum(schedule, est.promptTokens, est.maxOutputTokens, choices) : est.costMicros;
    const r = this.d.meter.acquire(req.agentId, { amountMicros: est.costMicros, minMicros }, model, signal);
    const granted = (g: ReserveResult): Call => {
      if (!g.ok) throw this.refusal(g, model);
      if (g.amountMicros >= est.costMicros) return make(this.target(req, model, provider, json, bodyText, est, g.reservationId));
      // Clamped: the largest output limit whose worst case fits the grant, and only that reserved.
      const c = clampOutput(schedule, est.promptTokens, choices, Math.floor(est.maxOutputTokens / choices), g.amountMicros);
      this.d.meter.tracker.shrink(g.reservationId, c.costMicros);
      const clamped = clampBody(json, req.endpoint, c.perChoice);
      return make(this.target(req, model, provider, clamped, null, { costMicros: c.costMicros, promptTokens: est.promptTokens }, g.reservationId));
    };
    return r instanceof Promise ? r.then(granted) : granted(r);
  }

  /** A fallback takes over: its model, its body, its own reservation at its own price (no wait: the call is under way). */
  retarget(call: Call, model: string, provider: Provider): void {
    this.release(call, false);
    const json = { ...call.target.json, model };
    const est = this.d.meter.estimate(model, provider.name, json, call.agentId, call.endpoint);
    const r = this.d.meter.reserve(call.agentId, est.costMicros, model);
    if (!r.ok) throw this.refusal(r, model);
    const next = this.target(call, model, provider, json, null, est, r.reservationId);
    call.target = next.target;
    call.reservationId = next.reservationId;
  }

  /**
   * Give back whatever is still reserved (a path that did not settle). An agent that hung up
   * after the call went upstream still leaves a row, `aborted`, charged for the prompt the
   * provider was sent (as when an answer's body breaks off).
   */
  release(call: Call, record = true): void {
    if (call.reservationId === null) return;
    if (record && call.signal?.aborted) {
      const t = call.target;
      const outcome: Outcome = { status: 'aborted', httpStatus: 499, promptTokens: t.promptTokensEstimate, completionTokens: 0, usageSource: 'estimate', redactions: 0, firstByteMs: null, error: 'the client closed the request before the provider answered' };
      this.settle(call, outcome).catch((err: unknown) => this.d.logger.error({ err }, 'could not record a call the client abandoned'));
      return;
    }
    this.d.meter.release(call.reservationId);
    call.reservationId = null;
  }

  /** Charge what the provider produced and write the row (and its event); resolves once it is on disk. */
  async settle(call: Call, outcome: Outcome, pendingId: number | null = null, cache: Cache = {}): Promise<number> {
    // Whatever tokens the provider produced are owed, whatever became of the response.
    const micros = outcome.promptTokens + outcome.completionTokens === 0 ? 0 : this.cost(call.target, outcome, cache);
    const rid = call.reservationId;
    call.reservationId = null;
    await this.d.meter.settle(rid, call.agentId, micros, ledgerRow(call, outcome), pendingId);
    return micros;
  }

  /**
   * A stream is on record from its first byte, so a crash mid-stream still leaves the reservation
   * in the ledger. A failed insert (disk full, db closed) must not become an unhandled rejection;
   * the stream then settles with a fresh row instead of closing this one.
   */
  openPending(call: Call, httpStatus: number): Promise<number | null> {
    const t = call.target;
    const row = ledgerRow(call, { status: 'pending', httpStatus, promptTokens: t.promptTokensEstimate, completionTokens: 0, usageSource: 'estimate', redactions: 0, firstByteMs: null, error: null });
    return this.d.store.open(row).catch((err: unknown) => {
      this.d.logger.error({ err }, 'could not record an in-flight stream');
      return null;
    });
  }

  private target(req: CallRequest, model: string, provider: Provider, json: Record<string, unknown>, bodyText: string | null, est: Pick<RequestEstimate, 'costMicros' | 'promptTokens'>, reservationId: number): Reserved {
    const body = upstreamBody(req, json, bodyText);
    const target: Target = { model, provider, json, upstream: body.upstream, hideUsageChunk: body.hideUsageChunk, reservedMicros: est.costMicros, promptTokensEstimate: est.promptTokens };
    return { target, reservationId };
  }

  private refusal(r: BudgetRefusal, model: string): GatewayError {
    if (r.code === 'aborted') return new GatewayError('invalid_request', 'The client closed the request.', false);
    return new GatewayError('budget', this.d.meter.refusalMessage(r, model), false);
  }

  private cost(t: Target, o: Outcome, cache: Cache): number {
    const price = this.d.meter.book.lookup(t.model, t.provider.name);
    return costOf(price.schedule, { inputTokens: o.promptTokens, outputTokens: o.completionTokens, cacheReadTokens: cache.cacheReadTokens, cacheWriteTokens: cache.cacheWriteTokens });
  }
}
