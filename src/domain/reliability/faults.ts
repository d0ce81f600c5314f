import type { CallOutcome } from './outcome.js';

export type FaultKind = number | 'timeout' | 'connection';

/** A fault plan, checked at the boundary it came in by (config file or POST /api/faults). */
export interface FaultConfig {
  service: string;
  /** 1-based number of the first call that fails. */
  fromCall: number;
  /** Fail this many calls… */
  count: number | null;
  /** …and/or for this long after the first injected call. Neither: fail until removed. */
  durationMs: number | null;
  status: FaultKind;
}

export type FaultDecision = { inject: false } | { inject: true; fault: FaultKind; outcome: CallOutcome; startedAt: number };

const NO_FAULT: FaultDecision = Object.freeze({ inject: false });

export function faultOutcome(fault: FaultKind): CallOutcome {
  return typeof fault === 'number' ? { status: fault } : { error: fault };
}

/**
 * Whether call number `n` (1-based) at time `now` fails. `startedAt` is when the first
 * injected call happened (null before it): a duration runs from there, not from config time,
 * so "fail for 30 s from call 34" means the same whenever call 34 comes.
 */
export function decideFault(config: FaultConfig, n: number, now: number, startedAt: number | null): FaultDecision {
  if (n < config.fromCall) return NO_FAULT;
  if (config.count !== null && n >= config.fromCall + config.count) return NO_FAULT;
  const start = startedAt ?? now;
  if (config.durationMs !== null && now - start >= config.durationMs) return NO_FAULT;
  return { inject: true, fault: config.status, outcome: faultOutcome(config.status), startedAt: start };
}

/** Counts one service's calls and applies a fault config to each. */
export class FaultInjector {
  private calls = 0;
  private startedAt: number | null = null;

  constructor(readonly config: FaultConfig) {}

  get callCount(): number {
    return this.calls;
  }

  next(now: number): FaultDecision {
    const decision = decideFault(this.config, ++this.calls, now, this.startedAt);
    if (decision.inject) this.startedAt = decision.startedAt;
    return decision;
  }

  /** True once no later call can be failed, so the caller can drop the injector. */
  exhausted(now: number): boolean {
    const c = this.config;
    if (c.count !== null && this.calls >= c.fromCall + c.count - 1) return true;
    return c.durationMs !== null && this.startedAt !== null && now - this.startedAt >= c.durationMs;
  }
}
