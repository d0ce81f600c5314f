import { isRecord } from './check.js';

export type BreakerState = 'CLOSED' | 'OPEN' | 'HALF_OPEN';
const BREAKER_STATES: readonly BreakerState[] = ['CLOSED', 'OPEN', 'HALF_OPEN'];

export interface BreakerCounters {
  /** Calls let through to the upstream (probes included). */
  allowed: number;
  /** Calls refused without reaching the upstream: open, or half-open with every probe slot taken. */
  rejected: number;
  successes: number;
  failures: number;
  ignored: number;
}

export const COUNTER_KEYS: readonly (keyof BreakerCounters)[] = ['allowed', 'rejected', 'successes', 'failures', 'ignored'];

/**
 * Plain JSON the caller persists. Times are epoch ms from the breaker's clock, so they only
 * mean something across a restart when that clock is wall time (the default).
 */
export interface BreakerSnapshot {
  version: 1;
  service: string;
  state: BreakerState;
  consecutiveFailures: number;
  halfOpenSuccesses: number;
  openedAt: number | null;
  /** When the cooldown ends; derived from openedAt and the cooldown at the time of the snapshot. */
  retryAt: number | null;
  lastTransitionAt: number | null;
  lastFailureAt: number | null;
  lastFailureReason: string | null;
  lastSuccessAt: number | null;
  openCount: number;
  counters: BreakerCounters;
}

/** The part of a snapshot that drives the state machine, after validation. */
export interface RestoredCore {
  state: BreakerState;
  consecutiveFailures: number;
  halfOpenSuccesses: number;
  openedAt: number | null;
  lastTransitionAt: number | null;
  lastFailureAt: number | null;
  lastFailureReason: string | null;
  lastSuccessAt: number | null;
  openCount: number;
}

export const FRESH_CORE: Readonly<RestoredCore> = Object.freeze({
  state: 'CLOSED',
  consecutiveFailures: 0,
  halfOpenSuccesses: 0,
  openedAt: null,
  lastTransitionAt: null,
  lastFailureAt: null,
  lastFailureReason: null,
  lastSuccessAt: null,
  openCount: 0,
});

export interface ParsedSnapshot {
  /** null when the state machine part could not be trusted: start CLOSED. */
  core: RestoredCore | null;
  /** Counters are metrics, not safety: each one that reads well is kept even if the rest did not. */
  counters: BreakerCounters;
  problems: string[];
}

const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const time = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function optionalTime(s: Record<string, unknown>, key: string, problems: string[]): number | null {
  const v = s[key];
  if (v == null) return null;
  if (time(v)) return v;
  problems.push(`${key} is not a timestamp`);
  return null;
}

function readCounters(raw: unknown, problems: string[]): BreakerCounters {
  const counters: BreakerCounters = { allowed: 0, rejected: 0, successes: 0, failures: 0, ignored: 0 };
  if (!isRecord(raw)) {
    problems.push('counters missing');
    return counters;
  }
  for (const key of COUNTER_KEYS) {
    if (count(raw[key])) counters[key] = raw[key] as number;
    else problems.push(`counters.${key} is not a count`);
  }
  return counters;
}

/**
 * Read a persisted snapshot defensively: a corrupt or half-written one must never leave a
 * breaker stuck open (or in a state the machine cannot leave), so anything doubtful in the
 * state part yields `core: null` and the breaker starts CLOSED.
 */
export function parseSnapshot(raw: unknown, service: string, now: number): ParsedSnapshot {
  const problems: string[] = [];
  if (!isRecord(raw)) return { core: null, counters: readCounters(undefined, []), problems: ['snapshot is not an object'] };
  const counters = readCounters(raw.counters, problems);
  const fatal = (why: string): ParsedSnapshot => ({ core: null, counters, problems: [...problems, why] });

  if (raw.version !== 1) return fatal(`unsupported snapshot version ${JSON.stringify(raw.version)}`);
  if (raw.service !== service) return fatal(`snapshot is for service ${JSON.stringify(raw.service)}, not ${JSON.stringify(service)}`);
  const state = raw.state;
  if (!BREAKER_STATES.includes(state as BreakerState)) return fatal(`unknown state ${JSON.stringify(state)}`);
  if (!count(raw.consecutiveFailures)) return fatal('consecutiveFailures is not a count');
  if (!count(raw.halfOpenSuccesses)) return fatal('halfOpenSuccesses is not a count');

  let openedAt = optionalTime(raw, 'openedAt', problems);
  if (state === 'OPEN' && openedAt === null) return fatal('an OPEN snapshot has no openedAt');
  if (openedAt !== null && openedAt > now) {
    // A clock that went backwards (or a forged time) must not stretch the cooldown.
    problems.push('openedAt is in the future; the cooldown restarts now');
    openedAt = now;
  }
  const lastFailureReason = typeof raw.lastFailureReason === 'string' ? raw.lastFailureReason.slice(0, 200) : null;
  return {
    core: {
      state: state as BreakerState,
      consecutiveFailures: raw.consecutiveFailures,
      halfOpenSuccesses: raw.halfOpenSuccesses,
      openedAt,
      lastTransitionAt: optionalTime(raw, 'lastTransitionAt', problems),
      lastFailureAt: optionalTime(raw, 'lastFailureAt', problems),
      lastFailureReason,
      lastSuccessAt: optionalTime(raw, 'lastSuccessAt', problems),
      openCount: count(raw.openCount) ? raw.openCount : 0,
    },
    counters,
    problems,
  };
}
