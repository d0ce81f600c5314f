import { IronCageError } from '../../core/errors.js';

export type RejectReason = 'open' | 'half_open_busy';

/**
 * Thrown by `breaker.call` when the circuit refuses the call. It extends IronCageError so the
 * server's one error mapping turns it into a 503 without knowing about breakers.
 */
export class CircuitOpenError extends IronCageError {
  readonly service: string;
  readonly reason: RejectReason;
  readonly retryAfterMs: number;
  constructor(service: string, reason: RejectReason, retryAfterMs: number) {
    const why = reason === 'open' ? 'is open' : 'is half-open and already probing';
    const waitS = Math.max(1, Math.ceil(retryAfterMs / 1000));
    // The time until the breaker lets a probe through, as every 503 of ours says it.
    super('circuit_open', 503, `the circuit for ${service} ${why}; retry in ${waitS} s`, { retryAfterS: waitS });
    this.service = service;
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * The request broke something on the way (an in-process provider threw on it, the HTTP client
 * refused to send it): the caller's problem, so errorKindOf says `request` and no breaker
 * counts it against the service.
 *
 * @example
 * try { return provider.call(c); } catch (e) { throw new RequestError(e); }
 */
export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}
