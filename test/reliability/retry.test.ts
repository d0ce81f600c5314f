import { describe, expect, it } from 'vitest';
import { backoffDelayMs, isRetryableOutcome, parseHttpDate, parseRetryAfter, retry, retryAfterFromHeaders, validateRetryPolicy, type Settled } from '../../src/domain/reliability/index.js';
import { expectIs } from '../helpers/cheap-expect.js';

interface Res {
  status: number;
  retryAfter?: string;
}
const retryable = (s: Settled<Res>) => (s.ok ? isRetryableOutcome({ status: s.value.status }) : true);

function scripted(statuses: (number | Error)[]) {
  let i = 0;
  const seen: number[] = [];
  return {
    seen,
    fn: async (attempt: number): Promise<Res> => {
      seen.push(attempt);
      const next = statuses[Math.min(i++, statuses.length - 1)]!;
      if (next instanceof Error) throw next;
      return { status: next };
    },
  };
}

function recorder() {
  const sleeps: number[] = [];
  return { sleeps, sleep: async (ms: number) => void sleeps.push(ms) };
}

describe('retry with exponential backoff and full jitter', () => {
  it('doubles the ceiling each time, capped, and draws the wait uniformly below it', async () => {
    const upstream = scripted([503]);
    const { sleeps, sleep } = recorder();
    const result = await retry(upstream.fn, { attempts: 6, baseMs: 100, maxMs: 1_000, retryable, sleep, random: () => 0.999 });
    expect(sleeps).toEqual([99, 199, 399, 799, 999]);
    expect(result).toMatchObject({ ok: true, value: { status: 503 }, attempts: 6, endedBy: 'attempts_exhausted' });
    expect(upstream.seen).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('every jittered wait lies in [0, ceiling)', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let retryNo = 1; retryNo <= 10; retryNo++) {
      const ceiling = Math.min(30_000, 200 * 2 ** (retryNo - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffDelayMs(retryNo, 200, 30_000, random);
        if (!(d >= 0)) expect(d).toBeGreaterThanOrEqual(0);
        if (!(d < ceiling)) expect(d).toBeLessThan(ceiling);
        expectIs(Number.isInteger(d), true);
      }
    }
    expect(backoffDelayMs(1, 200, 30_000, () => 0)).toBe(0);
  });

  it('stops at the first success', async () => {
    const upstream = scripted([503, 429, 200, 503]);
    const { sleeps, sleep } = recorder();
    const result = await retry(upstream.fn, { attempts: 5, baseMs: 100, maxMs: 1_000, retryable, sleep, random: () => 0.5 });
    expect(result).toMatchObject({ ok: true, value: { status: 200 }, attempts: 3, endedBy: 'done', delaysMs: [50, 100] });
    expect(sleeps).toEqual([50, 100]);
  });

  it('does not repeat what is not retryable', async () => {
    const upstream = scripted([400]);
    const result = await retry(upstream.fn, { attempts: 5, baseMs: 100, maxMs: 1_000, retryable, sleep: async () => {} });
    expect(result).toMatchObject({ attempts: 1, endedBy: 'done', delaysMs: [] });
  });

  it('returns the last error instead of throwing it', async () => {
    const boom = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const result = await retry(scripted([boom]).fn, { attempts: 3, baseMs: 1, maxMs: 1, retryable, sleep: async () => {} });
    expect(result).toMatchObject({ ok: false, error: boom, attempts: 3, endedBy: 'attempts_exhausted' });
  });

  it('honours Retry-After, capped at maxMs', async () => {
    const responses: Res[] = [{ status: 429, retryAfter: '2' }, { status: 429, retryAfter: '120' }, { status: 200 }];
    let i = 0;
    const { sleeps, sleep } = recorder();
    const result = await retry(async () => responses[i++]!, {
      attempts: 5,
      baseMs: 100,
      maxMs: 10_000,
      retryable,
      retryAfterMs: (s) => (s.ok ? parseRetryAfter(s.value.retryAfter, 0) : null),
      sleep,
      random: () => 0.5,
    });
    expect(sleeps).toEqual([2_000, 10_000]);
    expect(result).toMatchObject({ ok: true, value: { status: 200 }, attempts: 3 });
  });

  it('gives up rather than wait past the overall deadline', async () => {
    let t = 0;
    const result = await retry(scripted([503]).fn, {
      attempts: 10,
      baseMs: 1_000,
      maxMs: 60_000,
      maxElapsedMs: 5_000,
      retryable,
      random: () => 0.999,
      now: () => t,
      sleep: async (ms) => void (t += ms),
    });
    // waits of 999 and 1998 fit in 5 s; the next (3996) would end at 6993 ms
    expect(result).toMatchObject({ endedBy: 'deadline', attempts: 3, delaysMs: [999, 1_998] });
  });

  it('validates its policy', async () => {
    const fn = async () => ({ status: 200 });
    await expect(retry(fn, { attempts: 0, baseMs: 1, maxMs: 1, retryable })).rejects.toThrow('retry.attempts must be an integer from 1 to 20 (got 0)');
    expect(() => validateRetryPolicy({ baseMs: 500, maxMs: 100 })).toThrow('retry.maxMs (100) must be at least retry.baseMs (500)');
    expect(validateRetryPolicy({})).toEqual({ attempts: 3, baseMs: 250, maxMs: 8_000, maxElapsedMs: null });
  });
});

describe('what is worth retrying', () => {
  it('timeouts, connection errors, 408, 429 and transient 5xx', () => {
    for (const status of [408, 429, 500, 502, 503, 504, 529]) expect(isRetryableOutcome({ status })).toBe(true);
    for (const status of [200, 400, 401, 404, 501, 505]) expect(isRetryableOutcome({ status })).toBe(false);
    expect(isRetryableOutcome({ error: 'timeout' })).toBe(true);
    expect(isRetryableOutcome({ error: 'connection' })).toBe(true);
    expect(isRetryableOutcome({ error: 'aborted' })).toBe(false);
  });
});

describe('Retry-After parsing', () => {
  const now = Date.UTC(2015, 9, 21, 7, 28, 0);

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('1.5', now)).toBe(1_500);
    expect(parseRetryAfter(['3', '9'], now)).toBe(3_000);
  });

  it('reads all three HTTP-date forms', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wednesday, 21-Oct-15 07:29:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Wed Oct 21 07:28:05 2015', now)).toBe(5_000);
    expect(parseRetryAfter('Wed Oct  1 07:28:05 2015', Date.UTC(2015, 9, 1, 7, 28, 0))).toBe(5_000);
  });

  it('a date in the past means now', () => {
    expect(parseRetryAfter('Tue, 20 Oct 2015 07:28:00 GMT', now)).toBe(0);
  });

  it('refuses what is not a Retry-After value', () => {
    for (const v of [undefined, null, '', 'soon', '-5', '1e3', '2015-10-21T07:28:00Z', 'Wed, 31 Feb 2015 07:28:00 GMT', 'Wed, 21 Oct 2015 25:00:00 GMT']) {
      expect(parseRetryAfter(v, now)).toBeNull();
    }
    expect(parseHttpDate('Wed, 21 Oct 2015 07:28:00 GMT')).toBe(now);
  });

  it('prefers the millisecond header the LLM providers send', () => {
    expect(retryAfterFromHeaders({ 'retry-after-ms': '1500', 'retry-after': '2' }, now)).toBe(1_500);
    expect(retryAfterFromHeaders({ 'retry-after': '2' }, now)).toBe(2_000);
    expect(retryAfterFromHeaders({ 'retry-after-ms': 'bogus', 'retry-after': '2' }, now)).toBe(2_000);
    expect(retryAfterFromHeaders({}, now)).toBeNull();
  });
});
