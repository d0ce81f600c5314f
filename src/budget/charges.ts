import type { GatewayConfig } from '../config/index.js';
import type { Micros } from '../core/money.js';
import { type BudgetRefusal, type BudgetTracker, type ReservationId, stepOf } from '../domain/budget/index.js';
import type { LlmRequestInput, RequestsStore, StateManager } from '../state/index.js';
import type { Observer } from '../observability/index.js';
import type { Budgets } from './budgets.js';
import type { BudgetNotices } from './notices.js';

// A charge of a known amount that is not a model's answer: an MCP tool call's configured cost.
// It is held before the call goes out, against the agent's budget and every central budget
// covering it, exactly as an LLM call's worst case is (waiting for in-flight calls the same way),
// and settled with a ledger row of its own, so its spend is what every figure counts: restored at
// start, sent to a control panel with its central budgets, in the rollups, the thresholds'
// warnings and the hard stop.

/** What a fixed charge is for, as its ledger row says: the row's endpoint, provider and model. */
export interface ChargeFor {
  agentId: string;
  /** The ledger's endpoint column: `mcp` for an MCP tool call. */
  endpoint: string;
  /** `mcp` (the kind of thing charged), and the thing itself (`<server>/<tool>`). */
  provider: string;
  model: string;
}

export class FixedChargeRefused extends Error {
  constructor(
    message: string,
    readonly refusal: BudgetRefusal,
  ) {
    super(message);
  }
}

export interface FixedChargeDeps {
  state: StateManager;
  tracker: BudgetTracker;
  requests: RequestsStore;
  notices: BudgetNotices;
  budgets: Pick<Budgets, 'ensure'>;
  policy: Pick<GatewayConfig['budgetPolicy'], 'waitMs' | 'maxWaiting'>;
}

export class FixedCharges {
  /** Told of each row once it is on disk, as the gateway tells of an LLM call's (metrics' spend, the watch's spikes); set once the observers exist. */
  observer: Pick<Observer, 'settled'> | null = null;

  constructor(private readonly d: FixedChargeDeps) {}

  /**
   * Hold `micros` for `what` before it happens: the reservation, or null when it costs nothing.
   * Refused (FixedChargeRefused, with the budget's own words) when the agent's budget or a
   * central one cannot cover it, after waiting for in-flight calls as an LLM call would.
   */
  async hold(what: ChargeFor, micros: Micros, signal?: AbortSignal): Promise<ReservationId | null> {
    if (micros <= 0) return null;
    // An agent the tracker has not seen yet (its first call is this one) gets its account, as the gateway gives it.
    const agent = this.d.state.agentBrief(what.agentId);
    if (agent) this.d.budgets.ensure(what.agentId, agent.limitMicros);
    const r = await this.d.tracker.acquire(what.agentId, { amountMicros: micros }, { timeoutMs: this.d.policy.waitMs, maxWaiting: this.d.policy.maxWaiting, ...(signal ? { signal } : {}) });
    if (!r.ok) {
      this.d.notices.refused(r, what.model);
      throw new FixedChargeRefused(this.d.notices.refusalMessage(r, what.model), r);
    }
    return r.reservationId;
  }

  /** The thing was not done (refused before it left, its server unreachable): what was held is given back, nothing charged. */
  release(reservation: ReservationId | null): void {
    if (reservation !== null) this.d.tracker.release(reservation);
  }

  /**
   * It was done (or may have been: it was sent): charged what was held, with its ledger row in
   * the same write (the central budgets it is charged to tagged on the row, as an LLM call's).
   */
  async settle(what: ChargeFor, reservation: ReservationId | null, micros: Micros, o: { status: 'ok' | 'error'; httpStatus: number; latencyMs: number; error: string | null }): Promise<void> {
    if (reservation === null) return;
    const row: LlmRequestInput = {
      agentId: what.agentId,
      endpoint: what.endpoint,
      provider: what.provider,
      model: what.model,
      stream: false,
      status: o.status,
      httpStatus: o.httpStatus,
      promptTokens: 0,
      completionTokens: 0,
      costMicros: micros,
      reservedMicros: micros,
      usageSource: 'provider',
      latencyMs: o.latencyMs,
      firstByteMs: null,
      redactions: 0,
      error: o.error,
      attempts: 1,
      budgets: null,
      // The agent's unit of work, as an LLM call's row has it: cost per step counts the charge there.
      step: stepOf(this.d.state.progressOf(what.agentId)),
      chain: null,
    };
    let charged: ReturnType<BudgetTracker['settle']> | null = null;
    try {
      await this.d.state.writeSoon((tx) => {
        const keys = this.d.tracker.centralKeys(what.agentId, reservation);
        row.budgets = keys.length > 0 ? JSON.stringify(keys) : null;
        this.d.requests.insert(tx, row);
        charged = this.d.tracker.settle(reservation, micros);
      }, null);
    } catch (err) {
      const done = charged as ReturnType<BudgetTracker['settle']> | null;
      if (done !== null) this.d.tracker.uncharge(what.agentId, done);
      else this.d.tracker.release(reservation);
      throw err;
    }
    this.d.notices.charged(what.agentId, charged!, row);
    this.observer?.settled(undefined, row);
  }
}
