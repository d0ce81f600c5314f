import type { RejectReason } from './errors.js';
import type { BreakerState } from './snapshot.js';

export interface Clock {
  now(): number;
}

/** Wall time, so openedAt in a persisted snapshot still means something after a restart. */
export const systemClock: Clock = { now: Date.now };

export type TransitionReason = 'consecutive_failures' | 'failure_rate' | 'cooldown_elapsed' | 'probe_succeeded' | 'probe_failed' | 'manual_reset';

export interface BreakerTransition {
  service: string;
  from: BreakerState;
  to: BreakerState;
  reason: TransitionReason;
  at: number;
  consecutiveFailures: number;
  /** Failure rate of the window when it decided, else null. */
  failureRate: number | null;
  /** The verdict reason of the last failure (`http_429`, `timeout`), if any. */
  lastFailure: string | null;
  /** When an OPEN circuit will let a probe through; null in the other states. */
  retryAt: number | null;
  openCount: number;
}

export type TransitionListener = (transition: BreakerTransition) => void;

/** The caller's ticket for one call; hand it back to `record` exactly once. */
export class Permit {
  private settled = false;
  constructor(
    readonly owner: { readonly service: string },
    readonly generation: number,
    readonly probe: boolean,
    readonly issuedAt: number,
  ) {}

  /** @internal true the first time only, so a double record cannot free a probe slot twice. */
  settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    return true;
  }
}

export type Acquisition = { allowed: true; permit: Permit } | { allowed: false; reason: RejectReason; retryAfterMs: number };

export interface BreakerDeps {
  clock?: Clock;
  onTransition?: TransitionListener;
  /** A persisted snapshot to start from; validated like `restore`. */
  snapshot?: unknown;
  /** Listener errors must not break the call path; they are handed here instead. */
  onListenerError?: (error: unknown) => void;
}

export interface RestoreResult {
  restored: boolean;
  problems: string[];
}
