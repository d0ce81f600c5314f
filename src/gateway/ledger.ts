import {
  choicesOf,
  clampBody,
  clampFloor,
  clampMinimum,
  clampOutput,
  clampPrompt,
  costOf,
  type AcquireRequest,
  type BudgetRefusal,
  type PriceSchedule,
  type RequestEstimate,
  type ReserveGranted,
  type ReserveResult,
} from '../domain/budget/index.js';
import type { Logger } from '../core/logger.js';
import type { LlmStore } from '../state/index.js';
import { ledgerRow, upstreamBody, type Cache, type Call, type CallRequest, type Outcome, type Target } from './call.js';
import { describeFailure, GatewayError } from './errors.js';
import { CONGESTION_RETRY_S, type Meter } from './meter.js';
import type { Provider } from './providers/types.js';

interface Reserved {
  target: Target;
  reservationId: number;
}

/** A call to one model, planned before its reservation: its worst case, and the least a clamp may give it. */
interface Plan {
  model: string;
  provider: Provider;
  json: Record<string, unknown>;
  est: RequestEstimate;
  schedule: PriceSchedule;
  choices: number;
  /** The prompt tokens a clamp plans for (the estimate with a margin). */
  prompt: number;
  ask: AcquireRequest;
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
    const plan = this.plan(req, model, provider, json);
    const r = this.d.meter.acquire(req.agentId, plan.ask, model, signal);
    const granted = (g: ReserveResult): Call => {
      if (!g.ok) throw this.refusal(g, model);
      try {
        return make(this.fit(req, plan, g, bodyText));
      } catch (err) {
        // A grant no call carries would hold its headroom for good.
        this.d.meter.release(g.reservationId);
        throw err;
      }
    };
    return r instanceof Promise ? r.then(granted) : granted(r);
  }

  /**
   * A fallback takes over: its model, its body, and the call's reservation swapped for the
   * fallback's worst case without letting go of it (a release first would hand the call's own
   * headroom to a waiter); a dearer fallback that does not fit waits or is refused like any call,
   * or with near_limit: clamp, and nothing else in flight, is sent with a lower output limit.
   */
  retarget(call: Call, model: string, provider: Provider): void | Promise<void> {
    const plan = this.plan(call, model, provider, { ...call.target.json, model });
    const held = call.reservationId;
    const r = held === null ? this.d.meter.acquire(call.agentId, plan.ask, model, call.signal) : this.d.meter.replace(held, call.agentId, plan.ask, model, call.signal);
    const swapped = (g: ReserveResult): void => {
      if (!g.ok) {
        // The refusal let go of what the call held; the call is still owed its row.
        call.reservationId = null;
        call.unrecorded = true;
        throw this.refusal(g, model);
      }
      // Held by the call from here: a fit that throws still has its reservation released with the call.
      call.reservationId = g.reservationId;
      call.target = this.fit(call, plan, g, null).target;
    };
    return r instanceof Promise ? r.then(swapped) : swapped(r);
  }

  /**
   * A call that did not settle still leaves its row, and gives back what it reserved. An agent
   * that hung up: `aborted`, charged for the prompt if the provider was sent it (as when an
   * answer's body breaks off), else $0. A call that failed (`failure`: a timeout, a broken
   * connection, an open circuit, a refused fallback): `error` at $0, with what went wrong.
   */
  release(call: Call, failure?: unknown): void {
    if (call.reservationId === null && !call.unrecorded) return;
    call.unrecorded = false;
    const aborted = call.signal?.aborted === true;
    if (!aborted && failure === undefined) {
      if (call.reservationId !== null) this.d.meter.release(call.reservationId);
      call.reservationId = null;
      return;
    }
    // Only a prompt the provider was sent is owed by a hang-up; a failed call is not billed.
    const sent = aborted && call.dispatched === true;
    const error = aborted ? (sent ? 'the client closed the request before the provider answered' : 'the client closed the request before it was sent to the provider') : describeFailure(failure);
    const httpStatus = aborted ? 499 : failure instanceof GatewayError ? call.wire.status(failure.kind) : 502;
    const outcome: Outcome = {
      status: aborted ? 'aborted' : 'error',
      httpStatus,
      promptTokens: sent ? call.target.promptTokensEstimate : 0,
      completionTokens: 0,
      usageSource: 'estimate',
      redactions: 0,
      firstByteMs: null,
      error,
    };
    this.settle(call, outcome).catch((err: unknown) => this.d.logger.error({ err }, 'could not record a call that did not finish'));
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

  /** What a call to `model` may cost at worst and, with near_limit: clamp, the least it may be given. */
  private plan(req: Pick<CallRequest, 'agentId' | 'endpoint'>, model: string, provider: Provider, json: Record<string, unknown>): Plan {
    const est = this.d.meter.estimate(model, provider.name, json, req.agentId, req.endpoint);
    const schedule = this.d.meter.book.lookup(model, provider.name).schedule;
    const choices = choicesOf(json);
    const clamp = this.d.meter.clamps && est.maxOutputTokens > 0;
    // Planned with a margin on the prompt, and never below what the model needs to answer at all.
    const prompt = clampPrompt(est.promptTokens, json);
    const minMicros = clamp ? clampMinimum(schedule, prompt, est.maxOutputTokens, choices, clampFloor(json)) : est.costMicros;
    return { model, provider, json, est, schedule, choices, prompt, ask: { amountMicros: est.costMicros, minMicros } };
  }

  /** The target a grant pays for: the call as asked, or (clamped) the largest output limit whose worst case fits, and only that reserved. */
  private fit(req: CallRequest, p: Plan, g: ReserveGranted, bodyText: string | null): Reserved {
    if (g.amountMicros >= p.est.costMicros) return this.target(req, p.model, p.provider, p.json, bodyText, p.est, g.reservationId);
    const c = clampOutput(p.schedule, p.prompt, p.choices, Math.floor(p.est.maxOutputTokens / p.choices), g.amountMicros);
    this.d.meter.tracker.shrink(g.reservationId, c.costMicros);
    const clamped = clampBody(p.json, req.endpoint, c.perChoice, p.provider.name !== 'anthropic');
    return this.target(req, p.model, p.provider, clamped, null, { costMicros: c.costMicros, promptTokens: p.est.promptTokens }, g.reservationId);
  }

  private target(
    req: CallRequest,
    model: string,
    provider: Provider,
    json: Record<string, unknown>,
    bodyText: string | null,
    est: Pick<RequestEstimate, 'costMicros' | 'promptTokens'>,
    reservationId: number,
  ): Reserved {
    const body = upstreamBody(req, json, bodyText);
    const target: Target = { model, provider, json, upstream: body.upstream, hideUsageChunk: body.hideUsageChunk, reservedMicros: est.costMicros, promptTokensEstimate: est.promptTokens };
    return { target, reservationId };
  }

  private refusal(r: BudgetRefusal, model: string): GatewayError {
    if (r.code === 'aborted') return new GatewayError('invalid_request', 'The client closed the request.', false);
    // Congestion, not an empty budget: 429 with retry-after; 402 says the budget must be raised.
    if (r.code === 'wait_timeout' || r.code === 'queue_full') return new GatewayError('rate_limit', this.d.meter.refusalMessage(r, model), true, CONGESTION_RETRY_S);
    return new GatewayError('budget', this.d.meter.refusalMessage(r, model), false);
  }

  private cost(t: Target, o: Outcome, cache: Cache): number {
    const price = this.d.meter.book.lookup(t.model, t.provider.name);
    return costOf(price.schedule, { inputTokens: o.promptTokens, outputTokens: o.completionTokens, cacheReadTokens: cache.cacheReadTokens, cacheWriteTokens: cache.cacheWriteTokens });
  }
}
