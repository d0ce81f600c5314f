import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerTransition } from '../../src/domain/reliability/index.js';
import { ManualClock, fail, ok } from './helpers.js';

function run(breaker: CircuitBreaker, pattern: string, clock?: ManualClock, stepMs = 0): void {
  for (const c of pattern) {
    const a = breaker.acquire();
    if (!a.allowed) throw new Error(`refused while ${breaker.state}`);
    breaker.record(a.permit, c === 'x' ? fail : ok);
    clock?.advance(stepMs);
  }
}

describe('failure-rate window', () => {
  it('opens at 50% failures over the last 10 calls, without 5 in a row', () => {
    const clock = new ManualClock();
    const events: BreakerTransition[] = [];
    const breaker = new CircuitBreaker('crm', { failureRate: { thresholdPercent: 50, minCalls: 10, windowCalls: 10 } }, { clock, onTransition: (e) => events.push(e) });
    run(breaker, 'x.x.x.x.x'); // 5 of 9: below the minimum call count
    expect(breaker.state).toBe('CLOSED');
    run(breaker, '.'); // 5 of 10, but only a failure is a moment to judge
    expect(breaker.state).toBe('CLOSED');
    run(breaker, 'x'); // the oldest `x` fell out: .x.x.x.x.x is 5 of 10
    expect(breaker.state).toBe('OPEN');
    expect(events[0]).toMatchObject({ reason: 'failure_rate', failureRate: 0.5, consecutiveFailures: 1 });
  });

  it('stays closed below the threshold', () => {
    const breaker = new CircuitBreaker(
      'crm',
      {
        failureRate: { thresholdPercent: 50, minCalls: 10, windowCalls: 10 },
      },
      { clock: new ManualClock() },
    );
    run(breaker, '..x..x..x...x..x..x..x..x'.repeat(4));
    expect(breaker.state).toBe('CLOSED');
  });

  it('a time window forgets calls older than T ms', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker(
      'crm',
      {
        failureRate: { thresholdPercent: 50, minCalls: 4, windowMs: 10_000 },
      },
      { clock },
    );
    run(breaker, 'xxx', clock, 0);
    clock.advance(10_000); // those three failures leave the window
    run(breaker, '...', clock, 1_000);
    run(breaker, 'x', clock, 1_000); // 1 of 4 in the window
    expect(breaker.state).toBe('CLOSED');
    run(breaker, 'x', clock, 0); // 2 of 5 = 40%
    expect(breaker.state).toBe('CLOSED');
    run(breaker, 'x', clock, 0); // 3 of 6 = 50%
    expect(breaker.state).toBe('OPEN');
  });

  it('starts empty again after the circuit closes', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker(
      'crm',
      {
        failureThreshold: 100,
        cooldownMs: 1_000,
        failureRate: { thresholdPercent: 50, minCalls: 4, windowCalls: 4 },
      },
      { clock },
    );
    run(breaker, '..xx');
    expect(breaker.state).toBe('OPEN');
    clock.advance(1_000);
    run(breaker, '.'); // probe closes
    expect(breaker.state).toBe('CLOSED');
    run(breaker, 'x.x'); // old failures would make this 4 of 4… a fresh window has 2 of 3, under minCalls
    expect(breaker.state).toBe('CLOSED');
  });
});
