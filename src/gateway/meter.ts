import {
  BudgetPolicy,
  type BudgetTracker,
  budgetAlert,
  formatAvgPerUnit,
  formatProjection,
  estimateRequestCost,
  formatBudgetUsage,
  PriceBook,
  projectSpend,
  recommendIncrease,
  type AcquireRequest,
  type BudgetAlert,
  type BudgetRefusal,
  type RequestEstimate,
  type ReserveResult,
  type SettleResult,
  type ThresholdNotice,
  type WaitBound,
} from '../domain/budget/index.js';
import type { GatewayConfig } from '../config/index.js';
import { formatUsd, microsToUsd, type Micros } from '../core/money.js';
import type { NewEvent } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { LlmRequestInput, LlmStore, StateManager } from '../state/index.js';
import { WaitNotices } from './meter.waits.js';

/** Seconds a call held back by in-flight calls (not by spend) is told to wait before retrying. */
export const CONGESTION_RETRY_S = 5;

export interface MeterDeps {
  state: StateManager;
  /** The one budget ledger, shared with the StateManager's status objects. */
  tracker: BudgetTracker;
  store: LlmStore;
  config: GatewayConfig;
  /** Budget alerts leave through here (webhook, e-mail). */
  alert: (a: BudgetAlert) => void;
  /** What `budget_policy.on_exhausted: stop` does to a supervised agent. */
  stopAgent: (agentId: string, why: string) => void;
  /** Where an event that could not be written is reported. */
  logger?: Logger;
}

/**
 * Money for the gateway: prices, reservations, the ledger rows, and what happens at each
 * threshold. The budget domain decides; this class persists, announces and acts.
 */
export class Meter {
  readonly tracker: BudgetTracker;
  readonly book: PriceBook;
  private readonly policy: BudgetPolicy;
  private readonly warnedModels = new Set<string>();
  private readonly waits: WaitNotices;

  constructor(private readonly d: MeterDeps) {
    this.tracker = d.tracker;
    this.waits = new WaitNotices(d.tracker, d.state, (fn) => this.safely(fn));
    this.policy = new BudgetPolicy(d.config.budgetPolicy.onExhausted);
    this.book = new PriceBook({
      overrides: d.config.pricing,
      ...(d.config.defaultPrice ? { defaultRates: d.config.defaultPrice } : {}),
    });
  }

  /** `budget_policy.near_limit: clamp`: a call whose worst case no longer fits gets a lower output limit. */
  get clamps(): boolean {
    return this.d.config.budgetPolicy.nearLimit === 'clamp';
  }

  /** Rebuild every ledger from the recorded requests (the truth after a restart or a kill -9). */
  restore(): void {
    this.d.store.settleInterrupted();
    const spent = this.d.store.spendByAgent();
    for (const a of this.d.state.listAgents()) {
      const limitMicros = this.d.state.agentBrief(a.id)?.limitMicros ?? null;
      const spentMicros = spent.get(a.id) ?? 0;
      this.policy.limitChanged(a.id, this.tracker.restore(a.id, { limitMicros, spentMicros }).snapshot);
    }
  }

  /** Make sure an agent the tracker has not seen (just started, or created by another process) has a ledger. */
  ensure(agentId: string, limitMicros: Micros | null): void {
    if (!this.tracker.has(agentId)) this.tracker.setLimit(agentId, limitMicros);
  }

  /** The worst case to reserve; an embedding produces no output, so it reserves its input only. */
  estimate(model: string, provider: string, body: Record<string, unknown>, agentId: string, endpoint?: string): RequestEstimate {
    const est = estimateRequestCost(this.book, {
      model,
      provider,
      body: body as never,
      defaultMaxOutputTokens: endpoint === 'embeddings' ? 0 : this.d.config.budgetPolicy.defaultMaxOutputTokens,
    });
    if (est.unknownModel && !this.warnedModels.has(model)) {
      this.warnedModels.add(model);
      const p = this.book.lookup(model, provider);
      const r = p.schedule.rates;
      const price = `${formatUsd(r.input)}/M input, ${formatUsd(r.output)}/M output`;
      const as = p.family === null ? `the default price for unknown models (${price})` : `the price of ${p.matched}, the dearest ${p.family}* model (${price})`;
      this.d.state.record({
        agentId,
        type: 'llm.unknown_model',
        severity: 'warn',
        message: `No price known for model ${model}: charging ${as}; set pricing.${model} in the config to fix`,
        data: { model, provider, inputPerMillionUsd: microsToUsd(r.input), outputPerMillionUsd: microsToUsd(r.output), family: p.family, pricedAs: p.matched },
      });
    }
    return est;
  }

  reserve(agentId: string, micros: Micros, model: string): ReserveResult {
    const r = this.tracker.reserve(agentId, micros);
    if (!r.ok) this.refused(r, model);
    return r;
  }

  /**
   * Reserve, or wait (first come, first served, within `budget_policy.wait_ms`) for in-flight
   * calls to free the headroom they hold; synchronous when there is nothing to wait for. With
   * `minMicros` below the worst case (near_limit: clamp) the grant may be smaller: the caller
   * lowers the call's output limit to fit it.
   *
   * @example
   *   const r = meter.acquire('lg-1', { amountMicros: 20_000 }, 'gpt-4o', signal);
   *   const granted = r instanceof Promise ? await r : r;
   */
  acquire(agentId: string, req: AcquireRequest, model: string, signal?: AbortSignal): ReserveResult | Promise<ReserveResult> {
    return this.queued(agentId, req.amountMicros, model, signal, (bound) => this.tracker.acquire(agentId, req, bound));
  }

  /** A fallback takes over: the reservation becomes its worst case, never let go in between (tracker.replace). */
  replace(reservationId: number, agentId: string, req: AcquireRequest, model: string, signal?: AbortSignal): ReserveResult | Promise<ReserveResult> {
    return this.queued(agentId, req.amountMicros, model, signal, (bound) => this.tracker.replace(reservationId, req.amountMicros, bound, req.minMicros));
  }

  private queued(
    agentId: string,
    micros: Micros,
    model: string,
    signal: AbortSignal | undefined,
    ask: (bound: WaitBound) => ReserveResult | Promise<ReserveResult>,
  ): ReserveResult | Promise<ReserveResult> {
    const p = this.d.config.budgetPolicy;
    const bound = { timeoutMs: p.waitMs, maxWaiting: p.maxWaiting, ...(signal ? { signal } : {}), onWait: () => this.safely(() => this.waits.changed(agentId, micros, model)) };
    const r = ask(bound);
    if (!(r instanceof Promise)) {
      if (!r.ok) this.safely(() => this.refused(r, model));
      return r;
    }
    // The grant is the caller's whatever its events do: a failed write is logged, never a lost reservation.
    return r.then((x) => {
      this.safely(() => {
        if (!x.ok && x.code !== 'aborted') this.refused(x, model);
      });
      this.safely(() => this.waits.changed(agentId, 0, null));
      return x;
    });
  }

  /** Run an announcement whose failure must not undo what it announces. */
  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.d.logger?.error({ err }, 'budget: could not record an event');
    }
  }

  private refused(r: BudgetRefusal, model: string): void {
    const micros = r.requestedMicros;
    this.d.state.record({
      agentId: r.agentId,
      type: 'budget.refused',
      severity: 'error',
      message: `LLM call refused: ${r.message}`,
      data: { requestedUsd: microsToUsd(micros), spentUsd: microsToUsd(r.spentMicros), limitUsd: r.limitMicros === null ? null : microsToUsd(r.limitMicros), model },
    });
    if (this.policy.refusalExhausts(r)) this.exhausted(r.agentId);
  }

  /**
   * What a refused agent reads in its SDK's exception: what happened (the budget, the spend and
   * what this call could cost at most) and what to do, with the exact route and a limit that
   * would let this call through.
   *
   * @example
   *   throw new GatewayError('budget', meter.refusalMessage(refusal, 'gpt-4o'), false);
   */
  refusalMessage(r: BudgetRefusal, model: string): string {
    if (r.code === 'wait_timeout' || r.code === 'queue_full') {
      return `Iron Cage held back this ${model} call (nothing was sent to the provider): the ${r.message}. The budget is not used up: this agent's in-flight calls hold the headroom this call needs until they finish. Retry in ${CONGESTION_RETRY_S} s, or make fewer calls at once.`;
    }
    const route = `POST /api/agents/${r.agentId}/budget`;
    if (r.limitMicros === null) return `Iron Cage refused this ${model} call: ${r.message}.`;
    const need = r.spentMicros + r.reservedMicros + r.requestedMicros;
    const projected = projectSpend(r.spentMicros, r.limitMicros, this.d.state.getAgent(r.agentId)?.progress ?? null).projectedMicros;
    const rec = recommendIncrease(
      { limitMicros: r.limitMicros, spentMicros: r.spentMicros, projectedMicros: Math.max(projected ?? 0, need) },
      { minIncreaseMicros: this.d.config.budgetPolicy.minIncreaseMicros },
    );
    const fix = `To continue, raise the budget: ${route} {"limitUsd": ${microsToUsd(rec.newLimitMicros)}} with an admin token, or Approve the increase on the Iron Cage dashboard.`;
    const smaller = r.exhausted ? '' : ' Or ask for less output (max_tokens).';
    return `Iron Cage refused this ${model} call (nothing was sent to the provider): the ${r.message} (the most this call could cost). ${fix}${smaller}`;
  }

  release(reservationId: number): void {
    this.tracker.release(reservationId);
  }

  /**
   * Charge the actual cost and write the request row and its event (group committed) as one
   * step: the in-memory charge is made inside the transaction that writes the row, so if the
   * write fails neither happened (the reservation is released, or the charge taken back if the
   * commit itself failed) and the ledger always says what the rows say. Until the commit the
   * reservation holds the call's worst case, so nothing else can spend it meanwhile. Resolves
   * when the row is on disk: callers finish the response after that.
   */
  async settle(reservationId: number | null, agentId: string, actualMicros: Micros, row: LlmRequestInput, pendingId: number | null = null): Promise<SettleResult> {
    let result: SettleResult | null = null;
    const charge = (): SettleResult => (result = reservationId === null ? this.tracker.charge(agentId, actualMicros) : this.tracker.settle(reservationId, actualMicros));
    const event = (id: number, r: SettleResult) => this.requestEvent(agentId, actualMicros, row, r, id);
    try {
      if (pendingId !== null) await this.d.store.close(pendingId, { ...row, costMicros: actualMicros }, (r: SettleResult) => event(pendingId, r), charge);
      else await this.d.store.record({ ...row, costMicros: actualMicros }, event, charge);
    } catch (err) {
      const charged = result as SettleResult | null;
      if (charged !== null) this.tracker.uncharge(agentId, charged);
      else if (reservationId !== null) this.tracker.release(reservationId);
      throw err;
    }
    const done = result as unknown as SettleResult;
    const s = done.snapshot;
    this.progress(agentId, s.spentMicros, s.limitMicros);
    // Thresholds were decided with the charge (the tracker is the truth); their events follow the row's.
    for (const n of done.notices) this.onThreshold(n);
    return done;
  }

  private requestEvent(agentId: string, actualMicros: Micros, row: LlmRequestInput, result: SettleResult, requestId: number): NewEvent<'llm.request'> {
    const s = result.snapshot;
    return {
      agentId,
      type: 'llm.request',
      severity: row.status === 'ok' ? 'debug' : 'warn',
      message: `${row.model} ${row.promptTokens}+${row.completionTokens} tokens ${formatUsd(actualMicros)}${s.limitMicros === null ? '' : ` · ${formatBudgetUsage(s.spentMicros, s.limitMicros)}`}`,
      data: {
        requestId,
        endpoint: row.endpoint,
        provider: row.provider,
        model: row.model,
        stream: row.stream,
        status: row.status as 'ok' | 'error' | 'aborted' | 'blocked',
        httpStatus: row.httpStatus ?? 0,
        promptTokens: row.promptTokens,
        completionTokens: row.completionTokens,
        costUsd: microsToUsd(actualMicros),
        spentUsd: microsToUsd(s.spentMicros),
        limitUsd: s.limitMicros === null ? null : microsToUsd(s.limitMicros),
        latencyMs: Math.round((row.latencyMs ?? 0) * 100) / 100,
        redactions: row.redactions,
        usageSource: row.usageSource as 'provider' | 'estimate',
      },
    };
  }

  /** Every 10% of a budget, one line for the terminal and the dashboard: spend, average, projection. */
  private progress(agentId: string, spent: Micros, limit: Micros | null): void {
    if (limit === null || this.policy.progressStep(agentId, spent, limit) === null) return;
    const agent = this.d.state.getAgent(agentId);
    const p = projectSpend(spent, limit, agent?.progress ?? null);
    const parts = [formatBudgetUsage(spent, limit)];
    if (p.avgPerUnitMicros !== null && p.unit) parts.push(formatAvgPerUnit(p.avgPerUnitMicros, p.unit));
    if (p.projectedMicros !== null) parts.push(formatProjection(p.projectedMicros));
    this.d.state.record({
      agentId,
      type: 'budget.progress',
      severity: 'info',
      message: `Spend ${parts.join(' · ')}`,
      data: {
        percentUsed: Math.round((spent / limit) * 1000) / 10,
        spentUsd: microsToUsd(spent),
        limitUsd: microsToUsd(limit),
        avgPerUnitUsd: p.avgPerUnitMicros === null ? null : microsToUsd(p.avgPerUnitMicros),
        unit: p.unit,
        projectionUsd: p.projectedMicros === null ? null : microsToUsd(p.projectedMicros),
      },
    });
  }

  /** Raise or lower an agent's limit live (admin). Returns an error message if refused. */
  setLimit(agentId: string, limitMicros: Micros | null, by: string): string | null {
    const before = this.tracker.snapshot(agentId)?.limitMicros ?? null;
    const r = this.tracker.setLimit(agentId, limitMicros);
    if (!r.ok) return r.message;
    this.policy.limitChanged(agentId, r.snapshot);
    this.d.state.updateAgent(
      agentId,
      { limitMicros },
      {
        type: 'budget.changed',
        severity: 'info',
        message: `Budget ${limitMicros === null ? 'removed' : `set to ${formatUsd(limitMicros)}`}${before === null ? '' : ` (was ${formatUsd(before)})`} by ${by}`,
        data: { limitUsd: limitMicros === null ? null : microsToUsd(limitMicros), previousUsd: before === null ? null : microsToUsd(before), by },
      },
    );
    for (const n of r.notices) this.onThreshold(n);
    return null;
  }

  private onThreshold(n: ThresholdNotice): void {
    const agent = this.d.state.getAgent(n.agentId);
    const projection = projectSpend(n.spentMicros, n.limitMicros, agent?.progress ?? null);
    const rec = recommendIncrease(
      { limitMicros: n.limitMicros, spentMicros: n.spentMicros, projectedMicros: projection.projectedMicros },
      { minIncreaseMicros: this.d.config.budgetPolicy.minIncreaseMicros },
    );
    const pct = Math.round(n.percentUsed * 10) / 10;
    this.d.state.record({
      agentId: n.agentId,
      type: 'budget.threshold',
      severity: n.kind === 'exhausted' ? 'critical' : 'warn',
      message:
        n.kind === 'exhausted'
          ? `Budget exhausted: ${formatBudgetUsage(n.spentMicros, n.limitMicros)}`
          : `Budget warning: ${formatBudgetUsage(n.spentMicros, n.limitMicros)}${projection.projectedMicros !== null ? ` · projection ${formatUsd(projection.projectedMicros)}` : ''} · ${rec.text}`,
      data: {
        threshold: n.threshold,
        percentUsed: pct,
        spentUsd: microsToUsd(n.spentMicros),
        limitUsd: microsToUsd(n.limitMicros),
        projectionUsd: projection.projectedMicros === null ? null : microsToUsd(projection.projectedMicros),
        avgPerUnitUsd: projection.avgPerUnitMicros === null ? null : microsToUsd(projection.avgPerUnitMicros),
        unit: projection.unit,
        recommendedIncreaseUsd: microsToUsd(rec.increaseMicros),
        action: { method: 'POST', path: `/api/agents/${n.agentId}/budget`, body: { limitUsd: microsToUsd(rec.newLimitMicros) } },
      },
    });
    this.d.alert(budgetAlert(n, { agentName: agent?.name ?? null, projection, recommendation: rec }));
    if (n.kind === 'exhausted') this.exhausted(n.agentId);
  }

  private exhausted(agentId: string): void {
    // Before the event: the status it carries to the dashboard must already say so.
    this.tracker.declareExhausted(agentId);
    const policy = this.policy.exhaust(agentId);
    if (policy === null) return;
    const s = this.tracker.snapshot(agentId);
    this.d.state.record({
      agentId,
      type: 'budget.exhausted',
      severity: 'critical',
      message: policy === 'stop' ? 'Budget exhausted: stopping the agent' : 'Budget exhausted: further LLM calls are refused',
      data: { spentUsd: microsToUsd(s?.spentMicros ?? 0), limitUsd: microsToUsd(s?.limitMicros ?? 0), policy },
    });
    if (policy === 'stop') this.d.stopAgent(agentId, 'budget exhausted');
  }
}
