import type { ServerResponse } from 'node:http';
import type { Logger } from '../core/logger.js';
import { CircuitOpenError, errorKindOf } from '../domain/reliability/index.js';
import { PayloadTooLargeError } from '../core/errors.js';
import { BodyReadError, sendJson } from '../server/index.js';
import type { ErrorKind, Wire } from './wire/types.js';

/** A refusal in the caller's own wire format; `retry: false` tells the official SDKs not to retry. */
export class GatewayError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly retry = true,
    /** Seconds the caller should wait before retrying (`retry-after`). */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

/** The one place a failed `/v1/*` request becomes an HTTP answer, in the wire's own error shape. */
export function sendError(res: ServerResponse, wire: Wire, err: unknown, logger: Logger): void {
  if (err instanceof GatewayError) {
    const status = wire.status(err.kind);
    const headers: Record<string, string> = err.retry ? {} : { 'x-should-retry': 'false' };
    if (err.retryAfterS !== undefined) headers['retry-after'] = String(err.retryAfterS);
    sendJson(res, status, wire.error(status, err.kind, err.message).body, headers);
    return;
  }
  if (err instanceof PayloadTooLargeError) {
    sendJson(res, 413, wire.error(413, 'too_large', `Request body is larger than the gateway's limit of ${err.limit} bytes.`).body, { connection: 'close' });
    return;
  }
  if (err instanceof BodyReadError) {
    // The agent broke off its own request: usually nobody is left to read this.
    sendJson(res, 400, wire.error(400, 'invalid_request', `Iron Cage could not read the request body: ${err.message}.`).body);
    return;
  }
  logger.error({ err }, 'gateway request failed');
  sendJson(res, 500, wire.error(500, 'upstream', 'Iron Cage gateway internal error.').body);
}

/** A provider's error message from its JSON error body, if it has one. */
export function extractMessage(parsed: any): string | null {
  if (!parsed || typeof parsed !== 'object') return null;
  const m = parsed.error?.message ?? parsed.message;
  return typeof m === 'string' ? m : null;
}

/** A failed upstream attempt in a few words, for events, rows and error messages. */
export function describeFailure(e: unknown): string {
  if (e && typeof e === 'object' && 'status' in e && typeof (e as { status: unknown }).status === 'number') return `HTTP ${(e as { status: number }).status}`;
  if (e instanceof CircuitOpenError) return 'circuit open';
  const kind = errorKindOf(e);
  if (kind !== 'unknown' && kind !== 'request') return kind;
  return e instanceof Error ? e.message : String(e);
}
