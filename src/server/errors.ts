import { STATUS_CODES } from 'node:http';
import type { z } from 'zod';
import { IronCageError, TooManyAttemptsError, ValidationError } from '../core/errors.js';
import { describeZodIssue } from '../core/validation.js';
import { JsonTooDeepError, parseBoundedJson } from './io.js';

export interface ErrorBody {
  error: { code: string; message: string };
}

/** The one place errors become HTTP: typed errors keep their status; anything else is a 500. */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; unexpected: boolean; headers?: Record<string, string> } {
  if (err instanceof TooManyAttemptsError) {
    return { status: err.status, body: { error: { code: err.code, message: err.message } }, unexpected: false, headers: { 'retry-after': String(err.retryAfterSeconds) } };
  }
  if (err instanceof IronCageError) return { status: err.status, body: { error: { code: err.code, message: err.message } }, unexpected: false };
  return { status: 500, body: { error: { code: 'internal_error', message: 'internal error' } }, unexpected: true };
}

/** The same answer as a raw HTTP/1.1 response, for a WebSocket upgrade refused before it began. */
export function upgradeRefusal(err: unknown): string {
  const { status, body } = toErrorResponse(err);
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`;
}

export function parseWith<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(describeZodIssue(r.error.issues[0]!));
  return r.data;
}

export function parseJsonBody(text: string, { optional = false } = {}): unknown {
  if (text.trim() === '') {
    if (optional) return {};
    throw new ValidationError('request body must be a JSON object', 'invalid_json');
  }
  try {
    return parseBoundedJson(text);
  } catch (e) {
    if (e instanceof JsonTooDeepError) throw e;
    // Not the parser's own message: it quotes the text around the error, which may be a secret
    // value or a password, and this message is answered, logged and audited.
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new ValidationError(`request body is not valid JSON${at === undefined ? '' : ` (at position ${at})`}`, 'invalid_json');
  }
}
