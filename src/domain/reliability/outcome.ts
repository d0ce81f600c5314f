// What happened on one upstream call, and whether it says the service is unwell.

/**
 * Ways a call can end without an HTTP status. `aborted` and `request` are never the
 * upstream's fault: our own client went away, or the request itself could not be sent or
 * made the (in-process) provider throw.
 */
export const ERROR_KINDS = ['timeout', 'connection', 'protocol', 'aborted', 'request', 'unknown'] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export interface CallOutcome {
  status?: number;
  error?: ErrorKind;
}

/**
 * `ignore` is neither health nor sickness: a client that hung up, or a status the config
 * excludes. It frees a half-open probe slot without deciding anything.
 */
export type VerdictKind = 'success' | 'failure' | 'ignore';

export interface Verdict {
  kind: VerdictKind;
  /** Short machine label for events and metrics: `ok`, `http_429`, `timeout`, … */
  reason: string;
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

export type Classifier<T> = (settled: Settled<T>) => Verdict;

export interface ClassifyConfig {
  /** Statuses below 500 that still mean the service is struggling. */
  failureStatuses: readonly number[];
  /** Whether 5xx answers count as failures. */
  serverErrorsFail: boolean;
  /** Statuses that count neither way; checked first, so they can carve out e.g. 501. */
  ignoredStatuses: readonly number[];
  /** Transport errors that count as failures; the other kinds are ignored. */
  failureErrors: readonly ErrorKind[];
}

export const DEFAULT_CLASSIFY: Readonly<ClassifyConfig> = Object.freeze({
  failureStatuses: Object.freeze([408, 429]),
  serverErrorsFail: true,
  ignoredStatuses: Object.freeze([]),
  // `aborted` is our own client going away, `request` the caller's own bad request: neither
  // says anything about the upstream.
  failureErrors: Object.freeze(['timeout', 'connection', 'protocol', 'unknown'] as ErrorKind[]),
});

export const SUCCESS: Verdict = Object.freeze({ kind: 'success', reason: 'ok' });

export function classifyOutcome(outcome: CallOutcome, config: ClassifyConfig = DEFAULT_CLASSIFY): Verdict {
  if (outcome.error !== undefined) {
    return { kind: config.failureErrors.includes(outcome.error) ? 'failure' : 'ignore', reason: outcome.error };
  }
  const status = outcome.status;
  if (status === undefined) return SUCCESS;
  const reason = `http_${status}`;
  if (config.ignoredStatuses.includes(status)) return { kind: 'ignore', reason };
  if (config.failureStatuses.includes(status)) return { kind: 'failure', reason };
  if (status >= 500 && config.serverErrorsFail) return { kind: 'failure', reason };
  // A 4xx is the caller's mistake answered by a healthy service.
  return { kind: 'success', reason };
}

const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
// The request could not be sent as it is (a header, method or URL the HTTP client refuses).
const REQUEST_CODES = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
  'ERR_INVALID_CHAR',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_HTTP_INVALID_HEADER_VALUE',
  'ERR_INVALID_URL',
]);
// Node's HTTP parser prefixes its errors with HPE_; a garbled answer is the upstream's fault.
function isProtocolCode(code: string): boolean {
  return code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH';
}

/**
 * Map a thrown Node/undici error to an ErrorKind by its `code`/`name`, following `cause`
 * because fetch and undici wrap the socket error one level down.
 */
export function errorKindOf(error: unknown): ErrorKind {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const { code, name, cause } = e as { code?: unknown; name?: unknown; cause?: unknown };
    if (name === 'TimeoutError' || (typeof code === 'string' && TIMEOUT_CODES.has(code))) return 'timeout';
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return 'connection';
    if (typeof code === 'string' && isProtocolCode(code)) return 'protocol';
    if (name === 'AbortError' || code === 'ABORT_ERR' || code === 'UND_ERR_ABORTED') return 'aborted';
    if (name === 'RequestError' || (typeof code === 'string' && REQUEST_CODES.has(code))) return 'request';
    e = cause;
  }
  return 'unknown';
}

/** The default for `breaker.call`: a returned value is health, a throw is judged by its kind. */
export function defaultClassifier(config: ClassifyConfig = DEFAULT_CLASSIFY): Classifier<unknown> {
  return (settled) => (settled.ok ? SUCCESS : classifyOutcome({ error: errorKindOf(settled.error) }, config));
}

/** For calls that resolve to an HTTP response: judge by its status, and thrown errors by kind. */
export function statusClassifier<T>(statusOf: (value: T) => number, config: ClassifyConfig = DEFAULT_CLASSIFY): Classifier<T> {
  return (settled) => (settled.ok ? classifyOutcome({ status: statusOf(settled.value) }, config) : classifyOutcome({ error: errorKindOf(settled.error) }, config));
}

export function judgeSafely<T>(judge: Classifier<T>, settled: Settled<T>): Verdict {
  try {
    return judge(settled);
  } catch {
    // A classifier that throws cannot vouch for the call; count it against the upstream.
    return { kind: 'failure', reason: 'classifier_error' };
  }
}
