import type { GatewayConfig } from '../config/index.js';
import { llmRequestSeverity, type NewEvent } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { formatUsd, type Micros, microsToUsd } from '../core/money.js';
import {
  type BudgetAlert,
  BudgetPolicy,
  type BudgetRefusal,
  type BudgetSnapshot,
  type BudgetTracker,
  budgetAlert,
  formatAvgPerUnit,
  formatBudgetUsage,
  formatProjection,
  type PriceLookup,
  projectSpend,
  recommendIncrease,
  type SettleResult,
  type ThresholdNotice,
  type WaitReason,
} from '../domain/budget/index.js';
import type { LlmRequestInput, StateManager } from '../state/index.js';
import type { Runways } from './runway.js';

/** Seconds a call held back by in-flight calls (not by spend) is told to wait before retrying. */
export const CONGESTION_RETRY_S = 5;

/** At most one `budget.waiting` count update per agent this often, between the first and the last. */
const WAIT_NOTE_MS = 1000;

export interface BudgetNoticesDeps {
  state: StateManager;
  /** Read for the figures an event carries; only `declareExhausted` is ever asked of it here. */
  tracker: BudgetTracker;
  policy: Pick<GatewayConfig['budgetPolicy'], 'onExhausted' | 'minIncreaseMicros'>;
  /** Budget alerts leave through here (webhook, e-mail). */
  alert: (a: BudgetAlert) => void;
  /** What `budget_policy.on_exhausted: stop` does to a supervised agent. */
  stopAgent: (agentId: string, why: string) => void;
  /** Where an event that could not be written is reported. */
  logger?: Logger;
  /** Every agent's burn rate and burn-rate alarm, told of each charge. */
  runways?: Pick<Runways, 'settled' | 'limitChanged'>;
}

/**
 * Everything the process says about budgets: the events the dashboard and the log show (a
 * refused or waiting call, every call's cost, each 10% of spend, the 90% warning and the
 * exhaustion, a new limit, an unpriced model), the alerts that leave by webhook and e-mail,
 * the words a refused agent reads, and what the exhausted policy does. The arithmetic is the
 * tracker's (domain/budget); this class only reads it, and declares a budget exhausted when
 * the policy says so.
 */
export class BudgetNotices {
  private readonly policy: BudgetPolicy;
  private readonly warnedModels = new Set<string>();
  /** Agents whose calls were announced waiting (owed a "none waits any more" event), and when. */
  /** Per agent whose calls wait: when it was last said (`said` false: not yet, a wait on the panel that may end within a second). */
  private readonly waitNotes = new Map<string, { lastAt: number; timer: NodeJS.Timeout | null; micros: Micros; model: string | null; said: boolean }>();

  constructor(private readonly d: BudgetNoticesDeps) {
    this.policy = new BudgetPolicy(d.policy.onExhausted);
  }

  // ── before a call ────────────────────────────────────────────────────────────────────────

  /** A model nobody priced: said once per model, with the price it is charged at and how to fix it. */
  unknownModel(agentId: string, price: PriceLookup, provider: string): void {
    const model = price.model;
    if (this.warnedModels.has(model)) return;
    this.warnedModels.add(model);
    const r = price.schedule.rates;
    const rates = `${formatUsd(r.input)}/M input, ${formatUsd(r.output)}/M output`;
    const as = price.family === null ? `the default price for unknown models (${rates})` : `the price of ${price.matched}, the dearest ${price.family}* model (${rates})`;
    this.safely(() =>
      this.d.state.record({
        agentId,
        type: 'llm.unknown_model',
        severity: 'warn',
        message: `No price known for model ${model}: charging ${as}; set pricing.${model} in the config to fix`,
        data: { model, provider, inputPerMillionUsd: microsToUsd(r.input), outputPerMillionUsd: microsToUsd(r.output), family: price.family, pricedAs: price.matched },
      }),
    );
  }

  /** A reservation was refused: on record, and the budget declared exhausted when the refusal means it is. */
  refused(r: BudgetRefusal, model: string): void {
    // Nobody is left to hear of a call whose agent went away while it waited.
    if (r.code === 'aborted') return;
    this.safely(() =>
      this.d.state.record({
        agentId: r.agentId,
        type: 'budget.refused',
        severity: 'error',
        message: `LLM call refused: ${r.message}`,
        data: {
          requestedUsd: microsToUsd(r.requestedMicros),
          spentUsd: microsToUsd(r.spentMicros),
          limitUsd: r.limitMicros === null ? null : microsToUsd(r.limitMicros),
          model,
          // The central budget by its key; none for the gate before the panel's first answer (no budget's, no account to name).
          ...(r.central?.key ? { central: r.central.key } : {}),
        },
      }),
    );
    if (this.policy.refusalExhausts(r)) this.safely(() => this.exhausted(r.agentId));
  }

  /**
   * The agent's count of waiting calls moved (`model` null: a call left the queue). Announced
   * at once when calls start to wait and when none waits any more; in between at most once a
   * second (the status route shows the live count), so a burst of waiting calls is not a burst
   * of synchronous event writes.
   */
  waiting(agentId: string, micros: Micros, model: string | null): void {
    const waiting = this.d.tracker.snapshot(agentId)?.waitingCalls ?? 0;
    const note = this.waitNotes.get(agentId);
    if (waiting === 0) {
      if (note === undefined) return;
      if (note.timer) clearTimeout(note.timer);
      this.waitNotes.delete(agentId);
      // A wait nobody was told of ends as quietly as it began.
      if (note.said) this.safely(() => this.waitingEvent(agentId, 0, null));
      return;
    }
    if (note === undefined) {
      // A call that waits only for the control panel (its first answer after a start, a lease
      // topped up) usually goes on within milliseconds: said once it has lasted a second.
      const ownBudget = this.d.tracker.waitsFor(agentId).some((w) => w.kind === 'own');
      const fresh = { lastAt: Date.now(), timer: null, micros, model, said: ownBudget };
      this.waitNotes.set(agentId, fresh);
      if (ownBudget) this.safely(() => this.waitingEvent(agentId, micros, model));
      else this.planWaitNote(agentId, fresh);
      return;
    }
    // A call leaving keeps the last newcomer's figures for the update.
    if (model !== null) Object.assign(note, { micros, model });
    this.planWaitNote(agentId, note);
  }

  /** The next word on an agent's waiting calls, WAIT_NOTE_MS after the last (or after the wait began). */
  private planWaitNote(agentId: string, note: { lastAt: number; timer: NodeJS.Timeout | null; micros: Micros; model: string | null; said: boolean }): void {
    if (note.timer) return;
    note.timer = setTimeout(
      () => {
        note.timer = null;
        if (this.waitNotes.get(agentId) !== note || (this.d.tracker.snapshot(agentId)?.waitingCalls ?? 0) === 0) return;
        note.lastAt = Date.now();
        note.said = true;
        this.safely(() => this.waitingEvent(agentId, note.micros, note.model));
      },
      Math.max(0, note.lastAt + WAIT_NOTE_MS - Date.now()),
    );
    note.timer.unref?.();
  }

  /**
   * What a refused agent reads in its SDK's exception: what happened (the budget, the spend and
   * what this call could cost at most) and what to do, with the exact route and a limit that
   * would let this call through.
   *
   * @example
   *   throw new GatewayError('budget', notices.refusalMessage(refusal, 'gpt-4o'), false);
   */
  refusalMessage(r: BudgetRefusal, model: string): string {
    if (r.code === 'wait_timeout' || r.code === 'queue_full') {
      return `Iron Cage held back this ${model} call (nothing was sent to the provider): the ${r.message}. The budget is not used up: this agent's in-flight calls hold the headroom this call needs until they finish. Retry in ${CONGESTION_RETRY_S} s, or make fewer calls at once.`;
    }
    if (r.central) {
      if (r.central.key === null)
        return `Iron Cage held back this ${model} call (nothing was sent to the provider): ${r.message}. This runtime's budgets are set on the control panel, and no call goes out before the panel has answered once; check that it is up and that this runtime reaches it.`;
      if (r.code === 'no_lease')
        return `Iron Cage held back this ${model} call (nothing was sent to the provider): the ${r.message}. Calls under this budget go on as soon as the control panel leases more of it; an admin of the control panel can see why it does not.`;
      const less = r.exhausted ? '' : ' Or ask for less output (max_tokens).';
      return `Iron Cage refused this ${model} call (nothing was sent to the provider): the ${r.message} (the most this call could cost). This budget is set on the control panel: an admin there can raise it.${less}`;
    }
    const route = `POST /api/agents/${r.agentId}/budget`;
    if (r.limitMicros === null) return `Iron Cage refused this ${model} call: ${r.message}.`;
    const need = r.spentMicros + r.reservedMicros + r.requestedMicros;
    const projected = projectSpend(r.spentMicros, r.limitMicros, this.d.state.getAgent(r.agentId)?.progress ?? null).projectedMicros;
    const rec = recommendIncrease({ limitMicros: r.limitMicros, spentMicros: r.spentMicros, projectedMicros: Math.max(projected ?? 0, need) }, { minIncreaseMicros: this.d.policy.minIncreaseMicros });
    const fix = `To continue, raise the budget: ${route} {"limitUsd": ${microsToUsd(rec.newLimitMicros)}} with an admin token, or Approve the increase on the Iron Cage dashboard.`;
    const smaller = r.exhausted ? '' : ' Or ask for less output (max_tokens).';
    return `Iron Cage refused this ${model} call (nothing was sent to the provider): the ${r.message} (the most this call could cost). ${fix}${smaller}`;
  }

  // ── after a call ─────────────────────────────────────────────────────────────────────────

  /** The `llm.request` event of a settled call: built inside the transaction that writes its row and its charge. */
  requestEvent(requestId: number, row: LlmRequestInput, charged: SettleResult): NewEvent<'llm.request'> {
    const s = charged.snapshot;
    const cost = row.costMicros;
    const attempts = row.attempts ?? 0;
    return {
      agentId: row.agentId,
      type: 'llm.request',
      severity: llmRequestSeverity(row.status),
      message: `${row.model} ${row.promptTokens}+${row.completionTokens} tokens ${formatUsd(cost)}${s.limitMicros === null ? '' : ` · ${formatBudgetUsage(s.spentMicros, s.limitMicros)}`}${attempts > 1 ? ` · ${attempts} attempts` : ''}`,
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
        costUsd: microsToUsd(cost),
        spentUsd: microsToUsd(s.spentMicros),
        limitUsd: s.limitMicros === null ? null : microsToUsd(s.limitMicros),
        latencyMs: Math.round((row.latencyMs ?? 0) * 100) / 100,
        redactions: row.redactions,
        usageSource: row.usageSource as 'provider' | 'estimate',
        attempts,
      },
    };
  }

  /**
   * A charge is on disk: the 10% progress line when a step was reached, then each threshold it
   * crossed, then the burn rate (`row`: the call's row) and its alarm.
   */
  charged(agentId: string, r: SettleResult, row?: LlmRequestInput): void {
    const s = r.snapshot;
    this.safely(() => this.progress(agentId, s.spentMicros, s.limitMicros));
    // Thresholds were decided with the charge (the tracker is the truth); their events follow the row's.
    this.crossed(r.notices);
    const runways = this.d.runways;
    if (row && runways) this.safely(() => runways.settled(row, s));
  }

  // ── the limit ────────────────────────────────────────────────────────────────────────────

  /** A limit was set or restored: progress counts from here, and an exhausted budget may be exhausted again. */
  limitChanged(agentId: string, s: BudgetSnapshot): void {
    this.policy.limitChanged(agentId, s);
    this.d.runways?.limitChanged(agentId);
  }

  /** The `budget.changed` event of a new limit (written with the agent's row). */
  limitEvent(before: Micros | null, after: Micros | null, by: string): Omit<NewEvent<'budget.changed'>, 'agentId'> {
    return {
      type: 'budget.changed',
      severity: 'info',
      message: `Budget ${after === null ? 'removed' : `set to ${formatUsd(after)}`}${before === null ? '' : ` (was ${formatUsd(before)})`} by ${by}`,
      data: { limitUsd: after === null ? null : microsToUsd(after), previousUsd: before === null ? null : microsToUsd(before), by },
    };
  }

  /** Thresholds a charge or a lowered limit crossed: each an event and an alert; 100% acts on the exhausted policy. */
  crossed(notices: readonly ThresholdNotice[]): void {
    for (const n of notices) this.safely(() => this.threshold(n));
  }

  // ── the events ───────────────────────────────────────────────────────────────────────────

  /**
   * The `budget.waiting` event: how many calls wait and for what (their agent's budget, held by
   * its in-flight calls; a central budget's lease; the control panel's answer).
   */
  private waitingEvent(agentId: string, micros: Micros, model: string | null): void {
    const s = this.d.tracker.snapshot(agentId);
    const waiting = s?.waitingCalls ?? 0;
    const reasons = waiting > 0 ? this.d.tracker.waitsFor(agentId) : [];
    const calls = `${waiting} LLM call${waiting === 1 ? '' : 's'} wait${waiting === 1 ? 's' : ''}`;
    this.d.state.record({
      agentId,
      type: 'budget.waiting',
      severity: waiting > 0 ? 'info' : 'debug',
      message: waiting > 0 ? `${calls} ${waitsFor(reasons, s)}: ${formatUsd(micros)} needed` : 'No LLM call waits for budget any more',
      data: {
        waiting,
        requestedUsd: microsToUsd(micros),
        reservedUsd: microsToUsd(s?.reservedMicros ?? 0),
        inFlight: s?.openReservations ?? 0,
        model,
        on: [...new Set(reasons.map((r) => r.kind))],
      },
    });
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

  private threshold(n: ThresholdNotice): void {
    const agent = this.d.state.getAgent(n.agentId);
    const projection = projectSpend(n.spentMicros, n.limitMicros, agent?.progress ?? null);
    const rec = recommendIncrease({ limitMicros: n.limitMicros, spentMicros: n.spentMicros, projectedMicros: projection.projectedMicros }, { minIncreaseMicros: this.d.policy.minIncreaseMicros });
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
        action: { method: 'POST', path: `/api/agents/${n.agentId}/budget`, body: { limitUsd: microsToUsd(rec.newLimitMicros), expectedLimitUsd: microsToUsd(n.limitMicros) } },
      },
    });
    this.d.alert(budgetAlert(n, { agentName: agent ? (agent.calledName ?? agent.name) : null, projection, recommendation: rec }));
    if (n.kind === 'exhausted') this.exhausted(n.agentId);
  }

  private exhausted(agentId: string): void {
    // Before the event: the status it carries to the dashboard must already say so.
    this.d.tracker.declareExhausted(agentId);
    const policy = this.policy.exhaust(agentId);
    if (policy === null) return;
    const s = this.d.tracker.snapshot(agentId);
    this.d.state.record({
      agentId,
      type: 'budget.exhausted',
      severity: 'critical',
      message: policy === 'stop' ? 'Budget exhausted: stopping the agent' : 'Budget exhausted: further LLM calls are refused',
      data: { spentUsd: microsToUsd(s?.spentMicros ?? 0), limitUsd: microsToUsd(s?.limitMicros ?? 0), policy },
    });
    if (policy === 'stop') this.d.stopAgent(agentId, 'budget exhausted');
  }

  /** Run an announcement whose failure must not undo what it announces (a charge, a reservation). */
  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.d.logger?.error({ err }, 'budget: could not record an event');
    }
  }
}

/**
 * What waiting calls wait for, in words: `for budget ($0.40 held by 2 in-flight requests)`, `for
 * the control panel to lease more of team budget sales ($500.00/month)`, `for the control panel to
 * answer (this runtime's central budgets)`; several joined with "and".
 */
export function waitsFor(reasons: readonly WaitReason[], s: Pick<BudgetSnapshot, 'reservedMicros' | 'openReservations'> | null): string {
  const parts = reasons.map((r) => {
    if (r.kind === 'own') {
      const open = s?.openReservations ?? 0;
      return `for budget (${formatUsd(s?.reservedMicros ?? 0)} held by ${open} in-flight request${open === 1 ? '' : 's'})`;
    }
    return r.kind === 'lease' ? `for the control panel to lease more of ${r.label}` : `for the control panel to answer (${r.label})`;
  });
  return parts.length === 0 ? 'for budget' : [...new Set(parts)].join(' and ');
}
