import type { BreakerKind, NewEvent } from '../core/events.js';
import type { BreakerSnapshot, BreakerTransition } from '../domain/reliability/index.js';

// The words a user reads about a circuit breaker in the terminal and the dashboard's event feed,
// whoever owns the breaker: one wording for a tool service's, an LLM provider's and an MCP server's.

/** `http_429` → `429`; `timeout` stays `timeout`. */
export function failureLabel(reason: string | null): string {
  if (!reason) return 'unknown failure';
  const m = /^http_(\d{3})$/.exec(reason);
  return m ? m[1]! : reason;
}

/** `60s`, `0.3s`. */
export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/**
 * How a breaker is named where nothing else says whose it is. A provider and a tool service may
 * share a name (`openai`), and a restored or reset circuit is read long after the calls that
 * explain it. Transitions keep the bare name: they arrive among the calls that caused them.
 */
export function breakerLabel(kind: BreakerKind, name: string): string {
  return kind === 'provider' ? `${name} (LLM provider)` : kind === 'mcp' ? `${name} (MCP server)` : name;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * @example
 *   transitionEvent('tool', t, 60_000, 1, 'lg-7a3f9c2d').message
 *   // 'Circuit linkedin OPEN after 5 consecutive failures (429); cooldown 60s'
 */
export function transitionEvent(kind: BreakerKind, t: BreakerTransition, cooldownMs: number, probes: number, agentId: string | null): NewEvent<'breaker.transition'> {
  const failure = failureLabel(t.lastFailure);
  let message: string;
  if (t.to === 'OPEN') {
    const why =
      t.reason === 'probe_failed'
        ? ` again: recovery probe failed (${failure})`
        : t.reason === 'failure_rate' && t.failureRate !== null
          ? `: ${Math.round(t.failureRate * 100)}% of recent calls failed (${failure})`
          : ` after ${t.consecutiveFailures} consecutive failure${t.consecutiveFailures === 1 ? '' : 's'} (${failure})`;
    message = `Circuit ${t.service} OPEN${why}; cooldown ${seconds(cooldownMs)}`;
  } else if (t.to === 'HALF_OPEN') {
    message = `Circuit ${t.service} HALF_OPEN after ${seconds(cooldownMs)} cooldown; letting ${probes === 1 ? 'one probe' : `${probes} probes`} through`;
  } else {
    message = t.reason === 'manual_reset' ? `Circuit ${t.service} CLOSED by reset` : `Circuit ${t.service} CLOSED: recovery probe succeeded`;
  }
  return {
    agentId,
    type: 'breaker.transition',
    severity: t.to === 'OPEN' ? 'warn' : 'info',
    message,
    data: {
      kind,
      service: t.service,
      from: t.from,
      to: t.to,
      reason: t.reason,
      consecutiveFailures: t.consecutiveFailures,
      failureRate: t.failureRate,
      lastFailure: t.lastFailure,
      cooldownMs,
      retryAt: iso(t.retryAt),
      openCount: t.openCount,
    },
  };
}

/**
 * A breaker that starts in other than a clean CLOSED: restored OPEN or HALF_OPEN from the last
 * run, or started CLOSED because what was saved could not be trusted. Either way a warning: the
 * operator meets a circuit they did not see open, or lost what it knew.
 *
 * @example
 *   restoredEvent('provider', snap, 3_500_000, []).message
 *   // 'Circuit openai (LLM provider) restored OPEN from the last run; probe in 3500s'
 */
export function restoredEvent(kind: BreakerKind, snap: BreakerSnapshot, retryAfterMs: number, problems: string[]): NewEvent<'breaker.restored'> {
  const label = breakerLabel(kind, snap.service);
  const when = snap.state === 'OPEN' ? `; probe in ${seconds(Math.ceil(retryAfterMs / 1000) * 1000)}` : '';
  return {
    agentId: null,
    type: 'breaker.restored',
    severity: 'warn',
    message:
      problems.length > 0
        ? `Circuit ${label}: the saved state could not be trusted (${problems.join('; ')}); starting ${snap.state}`
        : `Circuit ${label} restored ${snap.state} from the last run${when}`,
    data: { kind, service: snap.service, state: snap.state, retryAt: iso(snap.retryAt), problems },
  };
}

/**
 * @example
 *   resetEvent('tool', 'linkedin', 'OPEN', 'admin dashboard').message
 *   // 'Circuit linkedin reset by admin dashboard (was OPEN)'
 */
export function resetEvent(kind: BreakerKind, name: string, from: BreakerSnapshot['state'], requestedBy: string): NewEvent<'breaker.reset'> {
  return {
    agentId: null,
    type: 'breaker.reset',
    severity: 'info',
    message: `Circuit ${breakerLabel(kind, name)} reset by ${requestedBy} (was ${from})`,
    data: { kind, service: name, from, requestedBy },
  };
}
