import { costOf } from '../budget/index.js';
import type { Logger } from '../core/logger.js';
import type { LlmStore } from '../state/index.js';
import { ledgerRow, upstreamBody, type Cache, type Call, type CallRequest, type Outcome, type Target } from './call.js';
import { GatewayError } from './errors.js';
import type { Meter } from './meter.js';
import type { Provider } from './providers/types.js';

/**
 * The money side of one call: reserve before it leaves, move the reservation when a fallback
 * takes over, settle on the usage and record the row, or release. The only code that changes
 * a Call after it is made.
 */
export class CallLedger {
  constructor(private readonly d: { meter: Meter; store: LlmStore; logger: Logger }) {}

  /** Reserve the worst case for the requested model; a refusal is the agent's answer. */
  begin(req: CallRequest, model: string, provider: Provider, json: Record<string, unknown>, bodyText: string | null): Call {
    const { target, reservationId } = this.reserve(req, model, provider, json, bodyText);
    return { t0: req.t0, agentId: req.agentId, endpoint: req.endpoint, wire: req.wire, stream: req.stream, headers: req.headers, target, reservationId };
  }

  /** A fallback takes over: its model, its body, its own reservation at its own price. */
  retarget(call: Call, model: string, provider: Provider): void {
    this.release(call);
    const next = this.reserve(call, model, provider, { ...call.target.json, model }, null);
    call.target = next.target;
    call.reservationId = next.reservationId;
  }

  /** Give back whatever is still reserved (a path that did not settle). */
  release(call: Call): void {
    if (call.reservationId === null) return;
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

  private reserve(req: CallRequest, model: string, provider: Provider, json: Record<string, unknown>, bodyText: string | null): { target: Target; reservationId: number } {
    const est = this.d.meter.estimate(model, provider.name, json, req.agentId, req.endpoint);
    const r = this.d.meter.reserve(req.agentId, est.costMicros, model);
    if (!r.ok) throw new GatewayError('budget', this.d.meter.refusalMessage(r, model), false);
    const body = upstreamBody(req, json, bodyText);
    const target: Target = { model, provider, json, upstream: body.upstream, hideUsageChunk: body.hideUsageChunk, reservedMicros: est.costMicros, promptTokensEstimate: est.promptTokens };
    return { target, reservationId: r.reservationId };
  }

  private cost(t: Target, o: Outcome, cache: Cache): number {
    const price = this.d.meter.book.lookup(t.model, t.provider.name);
    return costOf(price.schedule, { inputTokens: o.promptTokens, outputTokens: o.completionTokens, cacheReadTokens: cache.cacheReadTokens, cacheWriteTokens: cache.cacheWriteTokens });
  }
}
