import { describe, expect, it } from 'vitest';
import { CircuitBreaker, CircuitOpenError, statusClassifier, type BreakerTransition } from '../../src/domain/reliability/index.js';
import { ManualClock, countingUpstream, deferred, fail, ok } from './helpers.js';

function setup(options = {}) {
  const clock = new ManualClock();
  const events: BreakerTransition[] = [];
  const breaker = new CircuitBreaker('linkedin', options, { clock, onTransition: (e) => events.push(e) });
  return { clock, events, breaker };
}

function failTimes(breaker: CircuitBreaker, n: number): void {
  for (let i = 0; i < n; i++) {
    const a = breaker.acquire();
    if (!a.allowed) throw new Error('unexpectedly rejected');
    breaker.record(a.permit, fail);
  }
}

const rateLimited = async (): Promise<never> => {
  throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
};

describe('circuit breaker state machine', () => {
  it('opens after 5 consecutive failures, and announces it', () => {
    const { breaker, events, clock } = setup();
    failTimes(breaker, 4);
    expect(breaker.state).toBe('CLOSED');
    failTimes(breaker, 1);
    expect(breaker.state).toBe('OPEN');
    expect(events).toEqual([
      {
        service: 'linkedin',
        from: 'CLOSED',
        to: 'OPEN',
        reason: 'consecutive_failures',
        at: clock.now(),
        consecutiveFailures: 5,
        failureRate: null,
        lastFailure: 'http_503',
        retryAt: clock.now() + 60_000,
        openCount: 1,
      },
    ]);
  });

  it('a success in between resets the consecutive count', () => {
    const { breaker } = setup();
    failTimes(breaker, 4);
    const a = breaker.acquire();
    if (a.allowed) breaker.record(a.permit, ok);
    failTimes(breaker, 4);
    expect(breaker.state).toBe('CLOSED');
  });

  it('calls while open never reach the upstream', async () => {
    const { breaker, clock } = setup();
    const upstream = countingUpstream(rateLimited);
    for (let i = 0; i < 5; i++) await expect(breaker.call(upstream.fn)).rejects.toThrow('ECONNREFUSED');
    expect(upstream.calls()).toBe(5);
    expect(breaker.state).toBe('OPEN');

    clock.advance(10_000);
    for (let i = 0; i < 20; i++) {
      const err = await breaker.call(upstream.fn).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CircuitOpenError);
      expect(err).toMatchObject({ code: 'circuit_open', status: 503, service: 'linkedin', retryAfterMs: 50_000 });
    }
    expect(upstream.calls()).toBe(5);
    expect(breaker.snapshot().counters).toMatchObject({ allowed: 5, rejected: 20, failures: 5 });
  });

  it('acquire while open says when to come back', () => {
    const { breaker, clock } = setup({ cooldownMs: 30_000 });
    failTimes(breaker, 5);
    clock.advance(12_345);
    expect(breaker.acquire()).toEqual({ allowed: false, reason: 'open', retryAfterMs: 17_655 });
    expect(breaker.retryAfterMs()).toBe(17_655);
  });

  it('goes half-open once the cooldown has passed, on the next attempt or when asked', () => {
    const { breaker, clock, events } = setup();
    failTimes(breaker, 5);
    clock.advance(59_999);
    expect(breaker.refresh()).toBe('OPEN');
    expect(breaker.acquire().allowed).toBe(false);
    clock.advance(1);
    expect(breaker.state).toBe('OPEN'); // lazy: nothing happens until someone asks
    expect(breaker.refresh()).toBe('HALF_OPEN');
    expect(events.at(-1)).toMatchObject({ from: 'OPEN', to: 'HALF_OPEN', reason: 'cooldown_elapsed', retryAt: null });

    const lazy = setup();
    failTimes(lazy.breaker, 5);
    lazy.clock.advance(60_000);
    expect(lazy.breaker.acquire().allowed).toBe(true);
    expect(lazy.breaker.state).toBe('HALF_OPEN');
  });

  it('a probe success closes the circuit', async () => {
    const { breaker, clock, events } = setup();
    failTimes(breaker, 5);
    clock.advance(60_000);
    const upstream = countingUpstream(() => 'profile');
    await expect(breaker.call(upstream.fn)).resolves.toBe('profile');
    expect(breaker.state).toBe('CLOSED');
    expect(events.map((e) => `${e.from}>${e.to}:${e.reason}`)).toEqual(['CLOSED>OPEN:consecutive_failures', 'OPEN>HALF_OPEN:cooldown_elapsed', 'HALF_OPEN>CLOSED:probe_succeeded']);
    // Closed again means a fresh count: it takes 5 new failures to reopen.
    failTimes(breaker, 4);
    expect(breaker.state).toBe('CLOSED');
  });

  it('a probe failure reopens with a fresh cooldown', async () => {
    const { breaker, clock, events } = setup();
    failTimes(breaker, 5);
    clock.advance(60_000);
    await expect(breaker.call(rateLimited)).rejects.toThrow();
    expect(breaker.state).toBe('OPEN');
    expect(events.at(-1)).toMatchObject({ from: 'HALF_OPEN', to: 'OPEN', reason: 'probe_failed', openCount: 2, consecutiveFailures: 6 });
    clock.advance(59_999);
    expect(breaker.acquire()).toMatchObject({ allowed: false, retryAfterMs: 1 });
    clock.advance(1);
    expect(breaker.acquire().allowed).toBe(true);
  });

  it('needs the configured number of probe successes to close', () => {
    const { breaker, clock } = setup({ halfOpenSuccessThreshold: 3 });
    failTimes(breaker, 5);
    clock.advance(60_000);
    for (let i = 0; i < 2; i++) {
      const a = breaker.acquire();
      if (!a.allowed) throw new Error('probe refused');
      breaker.record(a.permit, ok);
      expect(breaker.state).toBe('HALF_OPEN');
    }
    const a = breaker.acquire();
    if (a.allowed) breaker.record(a.permit, ok);
    expect(breaker.state).toBe('CLOSED');
  });

  it('lets only the configured number of concurrent probes through', async () => {
    const { breaker, clock } = setup({ halfOpenMaxProbes: 2 });
    failTimes(breaker, 5);
    clock.advance(60_000);
    const gate = deferred<string>();
    const upstream = countingUpstream(() => gate.promise);
    const calls = Array.from({ length: 6 }, () =>
      breaker.call(upstream.fn).then(
        (v) => v,
        (e: unknown) => e,
      ),
    );
    expect(upstream.calls()).toBe(2);
    gate.resolve('ok');
    const results = await Promise.all(calls);
    expect(results.filter((r) => r === 'ok')).toHaveLength(2);
    const refused = results.filter((r) => r instanceof CircuitOpenError) as CircuitOpenError[];
    expect(refused).toHaveLength(4);
    expect(refused.every((e) => e.reason === 'half_open_busy')).toBe(true);
    expect(breaker.state).toBe('CLOSED');
  });

  it('outcomes from calls started before a transition decide nothing', () => {
    const { breaker, clock } = setup();
    const early = breaker.acquire();
    failTimes(breaker, 5);
    clock.advance(60_000);
    const probe = breaker.acquire();
    if (!early.allowed || !probe.allowed) throw new Error('refused');
    breaker.record(early.permit, ok); // a slow call from the CLOSED days must not close the circuit
    expect(breaker.state).toBe('HALF_OPEN');
    breaker.record(probe.permit, ok);
    expect(breaker.state).toBe('CLOSED');
  });

  it('recording the same permit twice counts once', () => {
    const { breaker } = setup();
    const a = breaker.acquire();
    if (!a.allowed) throw new Error('refused');
    breaker.record(a.permit, fail);
    breaker.record(a.permit, fail);
    expect(breaker.snapshot()).toMatchObject({ consecutiveFailures: 1, counters: { failures: 1 } });
  });

  it('a probe that never reports back frees its slot after the probe timeout', () => {
    const { breaker, clock } = setup({ probeTimeoutMs: 5_000 });
    failTimes(breaker, 5);
    clock.advance(60_000);
    const lost = breaker.acquire();
    expect(lost.allowed).toBe(true);
    clock.advance(4_000);
    expect(breaker.acquire()).toEqual({ allowed: false, reason: 'half_open_busy', retryAfterMs: 1_000 });
    clock.advance(1_000);
    const next = breaker.acquire();
    if (!next.allowed || !lost.allowed) throw new Error('slot not reclaimed');
    breaker.record(lost.permit, fail); // too late to matter
    expect(breaker.state).toBe('HALF_OPEN');
    breaker.record(next.permit, ok);
    expect(breaker.state).toBe('CLOSED');
  });

  it('4xx client errors do not count, 429 and 5xx do', () => {
    const { breaker } = setup();
    const hit = (status: number) => {
      const a = breaker.acquire();
      if (!a.allowed) throw new Error('refused');
      return breaker.recordOutcome(a.permit, { status });
    };
    for (const s of [400, 401, 403, 404, 422, 400, 404, 409]) expect(hit(s).kind).toBe('success');
    expect(breaker.state).toBe('CLOSED');
    hit(429);
    hit(500);
    hit(502);
    hit(503);
    expect(breaker.state).toBe('CLOSED');
    expect(hit(504)).toEqual({ kind: 'failure', reason: 'http_504' });
    expect(breaker.state).toBe('OPEN');
  });

  it('a classifier decides what a resolved value means', async () => {
    const { breaker } = setup({ failureThreshold: 2 });
    const response = { status: 503 };
    const byStatus = (s: { ok: boolean; value?: { status: number } }) => (s.ok && s.value!.status < 500 ? ok : fail);
    await breaker.call(async () => response, byStatus);
    await breaker.call(async () => response, byStatus);
    expect(breaker.state).toBe('OPEN');
  });

  it('a status classifier judges a resolved HTTP answer under the breaker’s own classify config', async () => {
    const { breaker } = setup({ failureThreshold: 2, classify: { failureStatuses: [418] } });
    const byStatus = statusClassifier((r: { status: number }) => r.status, breaker.options.classify);
    const answer = (status: number) => breaker.call(async () => ({ status }), byStatus);
    await expect(answer(429)).resolves.toEqual({ status: 429 }); // not a failure under this config
    await answer(404);
    expect(breaker.snapshot()).toMatchObject({ state: 'CLOSED', counters: { successes: 2, failures: 0 } });
    await answer(418);
    await expect(answer(503)).resolves.toEqual({ status: 503 });
    expect(breaker.snapshot()).toMatchObject({ state: 'OPEN', lastFailureReason: 'http_503', counters: { failures: 2 } });
    await expect(answer(200)).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it('with a status classifier, a thrown error is still judged by its kind', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const byStatus = statusClassifier((r: { status: number }) => r.status, breaker.options.classify);
    const aborted = () =>
      breaker.call<{ status: number }>(async () => {
        throw new DOMException('aborted', 'AbortError');
      }, byStatus);
    await expect(aborted()).rejects.toThrow('aborted');
    expect(breaker.snapshot()).toMatchObject({ state: 'CLOSED', counters: { ignored: 1 } });
    await expect(breaker.call<{ status: number }>(rateLimited, byStatus)).rejects.toThrow('ECONNREFUSED');
    expect(breaker.snapshot()).toMatchObject({ state: 'OPEN', lastFailureReason: 'connection' });
  });

  it('a client abort neither counts as failure nor as success', async () => {
    const { breaker } = setup({ failureThreshold: 2 });
    const aborted = async () => {
      throw new DOMException('aborted', 'AbortError');
    };
    await expect(breaker.call(rateLimited)).rejects.toThrow();
    for (let i = 0; i < 3; i++) await expect(breaker.call(aborted)).rejects.toThrow('aborted');
    expect(breaker.snapshot()).toMatchObject({ state: 'CLOSED', consecutiveFailures: 1, counters: { ignored: 3 } });
  });

  it('admin reset closes an open circuit', () => {
    const { breaker, events } = setup();
    failTimes(breaker, 5);
    breaker.reset();
    expect(breaker.state).toBe('CLOSED');
    expect(events.at(-1)).toMatchObject({ from: 'OPEN', to: 'CLOSED', reason: 'manual_reset' });
    expect(breaker.acquire().allowed).toBe(true);
  });

  it('failures in flight when an admin resets do not count afterwards', () => {
    const { breaker } = setup({ failureThreshold: 1 });
    const inflight = breaker.acquire();
    breaker.reset();
    if (inflight.allowed) breaker.record(inflight.permit, fail);
    expect(breaker.state).toBe('CLOSED');
  });

  it('a classifier that throws counts the call as a failure', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    await breaker.call(
      async () => 'x',
      () => {
        throw new Error('classifier bug');
      },
    );
    expect(breaker.snapshot()).toMatchObject({ state: 'OPEN', lastFailureReason: 'classifier_error' });
  });

  it('a throwing listener does not break the call path', () => {
    const clock = new ManualClock();
    const errors: unknown[] = [];
    const breaker = new CircuitBreaker(
      'crm',
      { failureThreshold: 1 },
      {
        clock,
        onTransition: () => {
          throw new Error('listener bug');
        },
        onListenerError: (e) => errors.push(e),
      },
    );
    const seen: string[] = [];
    const off = breaker.onTransition((e) => seen.push(e.to));
    failTimes(breaker, 1);
    expect(breaker.state).toBe('OPEN');
    expect(seen).toEqual(['OPEN']);
    expect(errors).toHaveLength(1);
    off();
    breaker.reset();
    expect(seen).toEqual(['OPEN']);
  });

  it('a zero cooldown goes half-open on the very next attempt', () => {
    const { breaker } = setup({ cooldownMs: 0 });
    failTimes(breaker, 5);
    expect(breaker.state).toBe('OPEN');
    expect(breaker.acquire().allowed).toBe(true);
    expect(breaker.state).toBe('HALF_OPEN');
  });
});
