import { describe, expect, it } from 'vitest';
import { classifyOutcome, errorKindOf, statusClassifier, validateBreakerOptions } from '../../src/domain/reliability/index.js';

describe('failure classification', () => {
  it('counts timeouts, connection errors, 429 and 5xx as failures', () => {
    expect(classifyOutcome({ error: 'timeout' })).toEqual({ kind: 'failure', reason: 'timeout' });
    expect(classifyOutcome({ error: 'connection' })).toEqual({ kind: 'failure', reason: 'connection' });
    expect(classifyOutcome({ status: 429 })).toEqual({ kind: 'failure', reason: 'http_429' });
    expect(classifyOutcome({ status: 408 }).kind).toBe('failure');
    for (const status of [500, 502, 503, 504, 529]) expect(classifyOutcome({ status }).kind).toBe('failure');
  });

  it('does not count client errors or successes', () => {
    for (const status of [200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 422]) {
      expect(classifyOutcome({ status }).kind).toBe('success');
    }
    expect(classifyOutcome({})).toEqual({ kind: 'success', reason: 'ok' });
  });

  it('ignores our own aborted requests', () => {
    expect(classifyOutcome({ error: 'aborted' })).toEqual({ kind: 'ignore', reason: 'aborted' });
  });

  it('follows the configuration', () => {
    const config = validateBreakerOptions({
      classify: { failureStatuses: [429, 404], ignoredStatuses: [501], serverErrorsFail: true, failureErrors: ['timeout'] },
    }).classify;
    expect(classifyOutcome({ status: 404 }, config).kind).toBe('failure');
    expect(classifyOutcome({ status: 501 }, config).kind).toBe('ignore');
    expect(classifyOutcome({ error: 'connection' }, config).kind).toBe('ignore');
    const lenient = validateBreakerOptions({ classify: { serverErrorsFail: false, failureStatuses: [] } }).classify;
    expect(classifyOutcome({ status: 503 }, lenient).kind).toBe('success');
    expect(classifyOutcome({ status: 429 }, lenient).kind).toBe('success');
  });

  it('reads Node and undici errors, including wrapped ones', () => {
    const cause = (code: string) => Object.assign(new Error(code), { code });
    expect(errorKindOf(cause('ECONNREFUSED'))).toBe('connection');
    expect(errorKindOf(cause('UND_ERR_HEADERS_TIMEOUT'))).toBe('timeout');
    expect(errorKindOf(new TypeError('fetch failed', { cause: cause('ECONNRESET') }))).toBe('connection');
    expect(errorKindOf(new DOMException('signal timed out', 'TimeoutError'))).toBe('timeout');
    expect(errorKindOf(new DOMException('aborted', 'AbortError'))).toBe('aborted');
    expect(errorKindOf(cause('HPE_INVALID_CONSTANT'))).toBe('protocol');
    expect(errorKindOf(new Error('something else'))).toBe('unknown');
    expect(errorKindOf('not even an error')).toBe('unknown');
  });

  it('statusClassifier judges responses by status and throws by kind', () => {
    const judge = statusClassifier((r: { status: number }) => r.status);
    expect(judge({ ok: true, value: { status: 200 } }).kind).toBe('success');
    expect(judge({ ok: true, value: { status: 503 } })).toEqual({ kind: 'failure', reason: 'http_503' });
    expect(judge({ ok: false, error: Object.assign(new Error('x'), { code: 'ETIMEDOUT' }) }).reason).toBe('timeout');
  });
});
