import { isUtf8 } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import type { z } from 'zod';
import { IronCageError, ValidationError, type ErrorKind } from '../core/errors.js';
import { describeZodIssue } from '../core/validation.js';
import { JsonTooDeepError, parseBoundedJson } from './io.js';

/**
 * An error as every surface answers it. REST renders it as `{"error":{"code","message"}}`
 * (`toErrorResponse`), each LLM wire in its provider's shape from `kind` (the gateway's
 * `sendError`), the tool proxy as REST does; the status and headers are the same everywhere.
 */
export interface ErrorAnswer {
  status: number;
  code: string;
  kind: ErrorKind;
  message: string;
  /** `retry-after`, `x-should-retry`, `connection: close` and any the error must carry. */
  headers: Record<string, string>;
  /** Not a typed error: a bug, for the caller to log; the client hears only that it happened. */
  unexpected: boolean;
}

/** The statuses that tell a client to come back later: each answer of ours carries `retry-after`. */
const SAYS_WHEN = new Set([429, 503]);
/** The wait a 429 or 503 states when its error knows no better one. */
export const DEFAULT_RETRY_AFTER_S = 1;

/**
 * The one place an error becomes an HTTP answer: typed errors keep their status, code and
 * message; anything else is a 500 that says no more.
 *
 * @example
 *   errorAnswer(new TooManyAttemptsError(30));
 *   // { status: 429, code: 'too_many_attempts', kind: 'rate_limit', message: 'too many failed logins: try again in 30 s', headers: { 'retry-after': '30' }, unexpected: false }
 */
export function errorAnswer(err: unknown): ErrorAnswer {
  if (!(err instanceof IronCageError)) {
    return { status: 500, code: 'internal_error', kind: 'upstream', message: 'iron-cage internal error: the details are in its log', headers: {}, unexpected: true };
  }
  const headers: Record<string, string> = { ...err.headers };
  if (err.retryAfterS !== undefined) headers['retry-after'] = String(err.retryAfterS);
  // Every 429 and 503 says when to come back, so none can be forgotten: a client without a time
  // retries at once, into the limit or the outage that refused it.
  else if (SAYS_WHEN.has(err.status) && headers['retry-after'] === undefined) headers['retry-after'] = String(DEFAULT_RETRY_AFTER_S);
  if (err.retry === false) headers['x-should-retry'] = 'false';
  // The rest of the request was never read: the connection cannot be reused.
  if (err.close) headers.connection = 'close';
  return { status: err.status, code: err.code, kind: err.kind, message: err.message, headers, unexpected: false };
}

export interface ErrorBody {
  error: { code: string; message: string; [field: string]: string | number };
}

/**
 * REST's rendering (the tool proxy's too): the answer with its `{"error":{"code","message"}}` body.
 * @example const { status, body, headers } = toErrorResponse(new NotFoundError('no agent a1'));
 */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; headers: Record<string, string>; unexpected: boolean } {
  const a = errorAnswer(err);
  const fields = err instanceof IronCageError ? err.fields : {};
  return { status: a.status, body: { error: { ...fields, code: a.code, message: a.message } }, headers: a.headers, unexpected: a.unexpected };
}

/** The same answer as a raw HTTP/1.1 response, for a WebSocket upgrade refused before it began. */
export function upgradeRefusal(err: unknown): string {
  const { status, body, headers } = toErrorResponse(err);
  return rawJsonAnswer(status, JSON.stringify(body), headers);
}

/**
 * A JSON answer as raw HTTP/1.1, written to a socket no HTTP response owns (an upgrade refused:
 * REST's shape by `upgradeRefusal`, an LLM wire's by the gateway's socket); it closes the connection.
 */
export function rawJsonAnswer(status: number, text: string, headers: Record<string, string>): string {
  // The socket is ended after it whatever the error says.
  const extra = Object.entries(headers)
    .filter(([k]) => k !== 'connection')
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n${extra}Connection: close\r\n\r\n${text}`;
}

/**
 * The first query parameter given more than once, or null. Every route reads one value of each,
 * and which one a reader would take (the first, the last) must never decide what happens:
 * `?reveal=true&reveal=false` revealed a secret.
 *
 * @example repeatedParam(new URL('http://x/?limit=5&limit=abc').searchParams) // 'limit'
 */
export function repeatedParam(q: URLSearchParams): string | null {
  const seen = new Set<string>();
  for (const name of q.keys()) {
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return null;
}

export function parseWith<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(describeZodIssue(r.error.issues[0]!));
  return r.data;
}

/**
 * A request's body as text, refusing bytes that are not UTF-8: read as U+FFFD, a name, a reason
 * or a secret's value would be stored changed. A leading byte order mark is dropped, as a
 * decoder drops it.
 */
export async function bodyText(req: { arrayBuffer(): Promise<ArrayBuffer> }): Promise<string> {
  const bytes = Buffer.from(await req.arrayBuffer());
  if (!isUtf8(bytes)) throw new ValidationError('request body is not valid UTF-8', 'invalid_json');
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** A request's JSON body (bodyText, then parseJsonBody). */
export async function readJsonBody(req: { arrayBuffer(): Promise<ArrayBuffer> }, o: { optional?: boolean } = {}): Promise<unknown> {
  return parseJsonBody(await bodyText(req), o);
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
