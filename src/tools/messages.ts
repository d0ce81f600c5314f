import type { NewEvent } from '../core/events.js';
import type { FallbackReason, Tier } from '../domain/reliability/index.js';
import { failureLabel } from '../reliability/index.js';

// The words a user reads in the terminal and the dashboard's event feed about a service's
// fallbacks (its breaker's events are the registry's: src/reliability/messages.ts).

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
