import type { NewEvent } from '../core/events.js';
import type { BreakerTransition, FallbackReason, Tier } from '../domain/reliability/index.js';

// The words a user reads in the terminal and the dashboard's event feed.

/** `http_429` → `429`; `timeout` stays `timeout`. */
export function failureLabel(reason: string | null): string {
  if (!reason) return 'unknown failure';
  const m = /^http_(\d{3})$/.exec(reason);
  return m ? m[1]! : reason;
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

export function transitionEvent(t: BreakerTransition, cooldownMs: number, probes: number, agentId: string | null): NewEvent<'breaker.transition'> {
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
      service: t.service,
      from: t.from,
      to: t.to,
      reason: t.reason,
      consecutiveFailures: t.consecutiveFailures,
      failureRate: t.failureRate,
      lastFailure: t.lastFailure,
      cooldownMs,
      retryAt: t.retryAt === null ? null : new Date(t.retryAt).toISOString(),
      openCount: t.openCount,
    },
  };
}

/** `linkedin answered 429`, `linkedin timed out`, `linkedin unreachable`. */
export function upstreamFailure(service: string, detail: string): string {
  if (/^http_\d{3}$/.test(detail)) return `${service} answered ${failureLabel(detail)}`;
  if (detail === 'timeout') return `${service} timed out`;
  if (detail === 'connection') return `${service} unreachable`;
  return `${service} failed (${detail})`;
}

const WHY: Record<FallbackReason, string> = {
  circuit_open: 'circuit open',
  half_open_busy: 'circuit half-open, probe in flight',
  upstream_failure: 'upstream failed',
};

export function fallbackStartEvent(service: string, tier: Exclude<Tier, 'live'>, reason: FallbackReason, detail: string | null, agentId: string | null): NewEvent<'tool.fallback'> {
  const why = reason === 'upstream_failure' && detail ? upstreamFailure(service, detail) : WHY[reason];
  const message =
    tier === 'cache'
      ? `${service}: serving cached answers (${why})`
      : tier === 'placeholder'
        ? `${service}: serving the placeholder (${why}, nothing cached)`
        : `${service}: calls failing (${why}; no cached answer or placeholder)`;
  return {
    agentId,
    type: 'tool.fallback',
    severity: tier === 'failed' ? 'error' : 'warn',
    message,
    data: { service, active: true, tier, reason, detail, served: null },
  };
}

export function fallbackEndEvent(service: string, served: { cache: number; placeholder: number; failed: number }, agentId: string | null): NewEvent<'tool.fallback'> {
  const total = served.cache + served.placeholder + served.failed;
  const parts = [served.cache ? `${served.cache} cached` : '', served.placeholder ? `${served.placeholder} placeholder` : '', served.failed ? `${served.failed} failed` : ''].filter(Boolean);
  return {
    agentId,
    type: 'tool.fallback',
    severity: 'info',
    message: `${service}: live again after ${total} call${total === 1 ? '' : 's'} via fallback (${parts.join(', ') || 'none'})`,
    data: { service, active: false, tier: 'live', reason: 'ok', detail: null, served: { ...served } },
  };
}
