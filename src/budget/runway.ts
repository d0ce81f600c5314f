import type { Logger } from '../core/logger.js';
import { formatUsd, type Micros, microsToUsd } from '../core/money.js';
import { formatRoughly } from '../core/duration.js';
import { type BudgetSnapshot, BurnWindow, formatRunway, type Runway, RunwayAlarm, type RunwayAlert, runway } from '../domain/budget/index.js';
import type { LlmRequestInput, StateManager } from '../state/index.js';

/**
 * An agent's budget runway (`GET /api/agents/:id/budget`'s `runway`): at the rate of the last
 * five minutes' settled spend, how long and how many units of work what is left lasts, what the
 * next call may cost at worst, and the alerts configured.
 */
export interface RunwayView {
  /** Settled spend per minute over the last 5 min (or since the first call, if shorter; at least a minute); 0 if nothing. */
  rateUsdPerMin: number;
  /** The span the rate is measured over, ms (1-5 min). */
  windowMs: number;
  remainingUsd: number;
  /** How long what is left lasts at that rate; null when the rate is 0. */
  runwayMs: number | null;
  /** Units what is left pays for at the average cost of those done; null before one is done. */
  unitsLeft: number | null;
  unit: string | null;
  /** Units still to do, of the total the agent announced; null without one. */
  unitsToGo: number | null;
  /** Whether what is left pays for the units still to do at the average so far (then no alarm); null: unknown. */
  covers: boolean | null;
  /** The worst case the agent's last call reserved: what the next one may cost; null before any call. */
  nextCallWorstUsd: number | null;
  /** `budget_policy.runway_alert_minutes` in ms; null when off. */
  alertMs: number | null;
  /** The configured thresholds (fractions of the limit), and those that fired. */
  thresholds: number[];
  firedThresholds: number[];
  /** In words: `≈ 38 more leads, 11 min at $0.21/min · next call ≤ $0.04`. */
  text: string;
}

export interface RunwaysDeps {
  state: Pick<StateManager, 'record' | 'getAgent' | 'progressOf'>;
  /** Configured thresholds, as the tracker normalised them. */
  thresholds: readonly number[];
  /** `budget_policy.runway_alert_minutes` in ms; 0: off. */
  alertMs: number;
  alert: (a: RunwayAlert) => void;
  logger?: Logger;
  now?: () => number;
}

interface AgentBurn {
  burn: BurnWindow;
  alarm: RunwayAlarm;
  lastReservedMicros: Micros | null;
}

/**
 * Every agent's burn rate and burn-rate alarm, kept from the settled calls as they are charged
 * (O(1) a call: a rolling sum per agent, never a query), and the runway read from them.
 */
export class Runways {
  private readonly agents = new Map<string, AgentBurn>();
  private readonly now: () => number;

  constructor(private readonly d: RunwaysDeps) {
    this.now = d.now ?? Date.now;
  }

  /** A call's row is on disk and charged: its cost joins the rate, and the alarm is checked. */
  settled(row: Pick<LlmRequestInput, 'agentId' | 'costMicros' | 'reservedMicros' | 'latencyMs'>, s: BudgetSnapshot): void {
    const a = this.entry(row.agentId);
    const now = this.now();
    a.burn.add(now, row.costMicros, now - Math.max(0, row.latencyMs ?? 0));
    if (row.reservedMicros > 0) a.lastReservedMicros = row.reservedMicros;
    if (s.limitMicros === null || this.d.alertMs <= 0) return;
    const r = this.runwayOf(a, s.limitMicros, s.spentMicros, row.agentId, now);
    // What is left pays for the work still to do: the work ends first, nothing to say (and the
    // alarm stays as it is: a projection hovering at the limit must not say it again and again).
    if (r.covers === true) return;
    if (a.alarm.check(r.runwayMs, this.d.alertMs)) this.fire(row.agentId, r, s);
  }

  /** A limit was set or restored: the alarm is armed again. */
  limitChanged(agentId: string): void {
    this.agents.get(agentId)?.alarm.rearm();
  }

  /** The runway of an agent's budget now; null without a limit. */
  view(agentId: string, s: Pick<BudgetSnapshot, 'limitMicros' | 'spentMicros' | 'firedThresholds'> | null): RunwayView | null {
    if (s === null || s.limitMicros === null) return null;
    const a = this.entry(agentId);
    const now = this.now();
    const r = this.runwayOf(a, s.limitMicros, s.spentMicros, agentId, now);
    return {
      rateUsdPerMin: microsToUsd(Math.round(r.ratePerMinMicros)),
      windowMs: a.burn.read(now).windowMs,
      remainingUsd: microsToUsd(r.remainingMicros),
      runwayMs: r.runwayMs,
      unitsLeft: r.unitsLeft,
      unit: r.unit,
      unitsToGo: r.unitsToGo,
      covers: r.covers,
      nextCallWorstUsd: r.nextCallWorstMicros === null ? null : microsToUsd(r.nextCallWorstMicros),
      alertMs: this.d.alertMs > 0 ? this.d.alertMs : null,
      thresholds: [...this.d.thresholds],
      firedThresholds: [...s.firedThresholds],
      text: formatRunway(r),
    };
  }

  private entry(agentId: string): AgentBurn {
    let a = this.agents.get(agentId);
    if (a === undefined) {
      a = { burn: new BurnWindow(), alarm: new RunwayAlarm(), lastReservedMicros: null };
      this.agents.set(agentId, a);
    }
    return a;
  }

  private runwayOf(a: AgentBurn, limitMicros: Micros, spentMicros: Micros, agentId: string, now: number): Runway {
    const w = a.burn.read(now);
    const progress = this.d.state.progressOf(agentId);
    // The rate to the micro-dollar a minute, as the view says it: the page recomputes the runway
    // from it and the status it holds (web/figures.ts) and gets the same figures.
    const ratePerMin = w.windowMs > 0 ? Math.round((w.micros * 60_000) / w.windowMs) : 0;
    return runway({ limitMicros, spentMicros, windowMicros: ratePerMin, windowMs: 60_000, progress, lastReservedMicros: a.lastReservedMicros });
  }

  /** The `budget.runway` event and its alert; a failure is logged, never the call's. */
  private fire(agentId: string, r: Runway, s: BudgetSnapshot): void {
    const runwayMs = r.runwayMs ?? 0;
    const text = formatRunway(r);
    const agent = this.d.state.getAgent(agentId);
    try {
      this.d.state.record({
        agentId,
        type: 'budget.runway',
        severity: 'warn',
        message: `Budget runway: at this rate the ${formatUsd(s.limitMicros!)} budget is gone in ${formatRoughly(runwayMs)} (${text})`,
        data: {
          spentUsd: microsToUsd(s.spentMicros),
          limitUsd: microsToUsd(s.limitMicros!),
          remainingUsd: microsToUsd(r.remainingMicros),
          rateUsdPerMin: microsToUsd(Math.round(r.ratePerMinMicros)),
          runwayMs,
          alertMs: this.d.alertMs,
          unitsLeft: r.unitsLeft,
          unit: r.unit,
          unitsToGo: r.unitsToGo,
          nextCallWorstUsd: r.nextCallWorstMicros === null ? null : microsToUsd(r.nextCallWorstMicros),
        },
      });
      this.d.alert({
        agentId,
        agentName: agent ? (agent.calledName ?? agent.name) : null,
        spentMicros: s.spentMicros,
        limitMicros: s.limitMicros!,
        ratePerMinMicros: r.ratePerMinMicros,
        runwayMs,
        alertMs: this.d.alertMs,
        text,
        at: new Date(this.now()).toISOString(),
      });
    } catch (err) {
      this.d.logger?.error({ err }, 'budget: could not announce the runway');
    }
  }
}
