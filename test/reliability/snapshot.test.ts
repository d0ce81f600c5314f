import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerSnapshot } from '../../src/domain/reliability/index.js';
import { ManualClock, fail, ok } from './helpers.js';

function openBreaker(clock: ManualClock): CircuitBreaker {
  const breaker = new CircuitBreaker('linkedin', {}, { clock });
  for (let i = 0; i < 7; i++) {
    const a = breaker.acquire();
    if (a.allowed) breaker.record(a.permit, i < 2 ? ok : fail);
  }
  breaker.acquire(); // one blocked call
  return breaker;
}

describe('snapshot and restore', () => {
  it('is plain JSON that survives a restart, cooldown included', () => {
    const clock = new ManualClock();
    const before = openBreaker(clock);
    const openedAt = clock.now();
    const json = JSON.stringify(before.snapshot());
    expect(JSON.parse(json)).toEqual({
      version: 1,
      service: 'linkedin',
      state: 'OPEN',
      consecutiveFailures: 5,
      halfOpenSuccesses: 0,
      openedAt,
      retryAt: openedAt + 60_000,
      lastTransitionAt: openedAt,
      lastFailureAt: openedAt,
      lastFailureReason: 'http_503',
      lastSuccessAt: openedAt,
      openCount: 1,
      counters: { allowed: 7, rejected: 1, successes: 2, failures: 5, ignored: 0 },
    } satisfies BreakerSnapshot);

    clock.advance(20_000); // the process was down for 20 s
    const after = new CircuitBreaker('linkedin', {}, { clock, snapshot: JSON.parse(json) });
    expect(after.state).toBe('OPEN');
    expect(after.acquire()).toEqual({ allowed: false, reason: 'open', retryAfterMs: 40_000 });
    expect(after.snapshot().counters).toEqual({ allowed: 7, rejected: 2, successes: 2, failures: 5, ignored: 0 });
    clock.advance(40_000);
    const probe = after.acquire();
    if (!probe.allowed) throw new Error('no probe after the restored cooldown');
    after.record(probe.permit, ok);
    expect(after.state).toBe('CLOSED');
  });

  it('round-trips a closed breaker with its failure streak', () => {
    const clock = new ManualClock();
    const a = new CircuitBreaker('crm', {}, { clock });
    for (let i = 0; i < 3; i++) {
      const p = a.acquire();
      if (p.allowed) a.record(p.permit, fail);
    }
    const b = new CircuitBreaker('crm', {}, { clock });
    expect(b.restore(a.snapshot())).toEqual({ restored: true, problems: [] });
    expect(b.snapshot()).toEqual(a.snapshot());
    for (let i = 0; i < 2; i++) {
      const p = b.acquire();
      if (p.allowed) b.record(p.permit, fail);
    }
    expect(b.state).toBe('OPEN');
  });

  it('a half-open snapshot restores half-open with its probe slots free', () => {
    const clock = new ManualClock();
    const a = openBreaker(clock);
    clock.advance(60_000);
    a.acquire(); // a probe in flight when the process died
    const b = new CircuitBreaker('linkedin', {}, { clock, snapshot: a.snapshot() });
    expect(b.state).toBe('HALF_OPEN');
    expect(b.acquire().allowed).toBe(true);
  });

  it('uses the configured cooldown, not the one at snapshot time', () => {
    const clock = new ManualClock();
    const snap = openBreaker(clock).snapshot();
    const b = new CircuitBreaker('linkedin', { cooldownMs: 10_000 }, { clock, snapshot: snap });
    expect(b.retryAfterMs()).toBe(10_000);
  });

  const corrupt: [string, unknown, string][] = [
    ['not an object', 'garbage', 'snapshot is not an object'],
    ['null', null, 'snapshot is not an object'],
    ['another version', { version: 2, service: 'linkedin', state: 'OPEN' }, 'unsupported snapshot version 2'],
    ['another service', { version: 1, service: 'github', state: 'OPEN' }, 'snapshot is for service "github", not "linkedin"'],
    ['unknown state', { version: 1, service: 'linkedin', state: 'AJAR', consecutiveFailures: 0, halfOpenSuccesses: 0 }, 'unknown state "AJAR"'],
    ['open without openedAt', { version: 1, service: 'linkedin', state: 'OPEN', consecutiveFailures: 5, halfOpenSuccesses: 0 }, 'an OPEN snapshot has no openedAt'],
    ['negative streak', { version: 1, service: 'linkedin', state: 'OPEN', consecutiveFailures: -3, halfOpenSuccesses: 0, openedAt: 1 }, 'consecutiveFailures is not a count'],
    ['string time', { version: 1, service: 'linkedin', state: 'OPEN', consecutiveFailures: 5, halfOpenSuccesses: 0, openedAt: 'yesterday' }, 'an OPEN snapshot has no openedAt'],
  ];

  it.each(corrupt)('a corrupt snapshot (%s) falls back to CLOSED', (_name, raw, problem) => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('linkedin', {}, { clock });
    const result = breaker.restore(raw);
    expect(result.restored).toBe(false);
    expect(result.problems).toContain(problem);
    expect(breaker.state).toBe('CLOSED');
    expect(breaker.acquire().allowed).toBe(true);
  });

  it('a partial snapshot keeps the state and the counters that read', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('linkedin', {}, { clock });
    const result = breaker.restore({
      version: 1,
      service: 'linkedin',
      state: 'OPEN',
      consecutiveFailures: 5,
      halfOpenSuccesses: 0,
      openedAt: clock.now() - 1_000,
      counters: { allowed: 40, rejected: 'many', failures: 5 },
    });
    expect(result.restored).toBe(true);
    expect(result.problems).toEqual(['counters.rejected is not a count', 'counters.successes is not a count', 'counters.ignored is not a count']);
    expect(breaker.snapshot()).toMatchObject({
      state: 'OPEN',
      counters: { allowed: 40, rejected: 0, successes: 0, failures: 5, ignored: 0 },
    });
    expect(breaker.retryAfterMs()).toBe(59_000);
  });

  it('an openedAt in the future cannot stretch the cooldown', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('linkedin', {}, { clock });
    const result = breaker.restore({
      version: 1,
      service: 'linkedin',
      state: 'OPEN',
      consecutiveFailures: 5,
      halfOpenSuccesses: 0,
      openedAt: clock.now() + 365 * 86_400_000,
      counters: { allowed: 0, rejected: 0, successes: 0, failures: 0, ignored: 0 },
    });
    expect(result.problems).toEqual(['openedAt is in the future; the cooldown restarts now']);
    expect(breaker.retryAfterMs()).toBe(60_000);
  });

  it('calls in flight across a restore decide nothing', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('linkedin', { failureThreshold: 1 }, { clock });
    const inflight = breaker.acquire();
    breaker.restore(breaker.snapshot());
    if (inflight.allowed) breaker.record(inflight.permit, fail);
    expect(breaker.state).toBe('CLOSED');
  });
});
