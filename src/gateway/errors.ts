import type { ServerResponse } from 'node:http';
import { IronCageError, STATUS_OF, type ErrorKind } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { CircuitOpenError, errorKindOf } from '../domain/reliability/index.js';
import { errorAnswer, sendJson } from '../server/index.js';
import type { Wire } from './wire/types.js';

/**
 * A refusal named by its kind: its status is the kind's on every wire (`STATUS_OF`), its body
 * the caller's wire's. `retry: false` tells the official SDKs not to retry. Its code is its
 * kind: only LLM wires answer it, and they name it by kind. `reason` names it more finely for
 * metrics and traces (`error.type`: `budget_exhausted`, `no_lease`, `circuit_open`…); default the kind.
 */
export class GatewayError extends IronCageError {
  readonly reason: string;
  constructor(kind: ErrorKind, message: string, retry = true, retryAfterS?: number, reason: string = kind) {
    super(kind, STATUS_OF[kind], message, { kind, retry, ...(retryAfterS === undefined ? {} : { retryAfterS }) });
    this.reason = reason;
  }
}

/** A failed `/v1/*` request as an HTTP answer: the one error answer, in the wire's own error shape. */
export function sendError(res: ServerResponse, wire: Wire, err: unknown, logger: Logger): void {
  const a = errorAnswer(err);
  if (a.unexpected) logger.error({ err }, 'gateway request failed');
  sendJson(res, a.status, wire.error(a.status, a.kind, a.message).body, a.headers);
}

/** A provider's error message from its JSON error body, if it has one. */
export function extractMessage(parsed: any): string | null {
  if (!parsed || typeof parsed !== 'object') return null;
  const m = parsed.error?.message ?? parsed.message;
  return typeof m === 'string' ? m : null;
}

/** A failed upstream attempt in a few words, for events, rows and error messages. */
export function describeFailure(e: unknown): string {
  // A refusal of our own says what happened in its message; its status says less.
  if (e instanceof GatewayError) return e.message;
  if (e && typeof e === 'object' && 'status' in e && typeof (e as { status: unknown }).status === 'number') return `HTTP ${(e as { status: number }).status}`;
  if (e instanceof CircuitOpenError) return 'circuit open';
  const kind = errorKindOf(e);
  if (kind !== 'unknown' && kind !== 'request') return kind;
  return e instanceof Error ? e.message : String(e);
}
