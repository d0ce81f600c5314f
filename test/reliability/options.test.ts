import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { CircuitBreaker, DEFAULT_BREAKER_OPTIONS, validateBreakerOptions } from '../../src/domain/reliability/index.js';

const bad = (input: unknown) => () => validateBreakerOptions(input);

describe('breaker options', () => {
  it('defaults to 5 failures, 60 s cooldown, one probe', () => {
    expect(validateBreakerOptions({})).toEqual(DEFAULT_BREAKER_OPTIONS);
    expect(validateBreakerOptions(undefined)).toMatchObject({ failureThreshold: 5, cooldownMs: 60_000, halfOpenMaxProbes: 1 });
  });

  it('rejects bad values with messages that name the field and the value', () => {
    expect(bad({ failureThreshold: 0 })).toThrow(new ValidationError('breaker.failureThreshold must be an integer >= 1 (got 0)'));
    expect(bad({ failureThreshold: 2.5 })).toThrow('breaker.failureThreshold must be an integer >= 1 (got 2.5)');
    expect(bad({ cooldownMs: -1 })).toThrow('breaker.cooldownMs must be a whole number of milliseconds >= 0 (got -1)');
    expect(bad({ cooldownMs: '60s' })).toThrow('breaker.cooldownMs must be a whole number of milliseconds >= 0 (got "60s")');
    expect(bad({ halfOpenMaxProbes: 0 })).toThrow('breaker.halfOpenMaxProbes must be an integer >= 1 (got 0)');
    expect(bad({ cooldown: 5 })).toThrow('breaker.cooldown is not a known option (known: failureThreshold, cooldownMs,');
    expect(bad([])).toThrow('breaker must be an object (got an array)');
  });

  it('checks the failure-rate window', () => {
    expect(bad({ failureRate: { thresholdPercent: 50 } })).toThrow('breaker.failureRate needs windowCalls (last M calls) or windowMs (last T ms), or both');
    expect(bad({ failureRate: { thresholdPercent: 0, windowCalls: 10 } })).toThrow('breaker.failureRate.thresholdPercent must be a number above 0 and at most 100 (got 0)');
    expect(bad({ failureRate: { thresholdPercent: 101, windowCalls: 10 } })).toThrow('(got 101)');
    expect(bad({ failureRate: { minCalls: 20, windowCalls: 10 } })).toThrow('breaker.failureRate.minCalls (20) must not exceed breaker.failureRate.windowCalls (10), or the rate is never evaluated');
    expect(bad({ failureRate: { windowCalls: 1_000_000 } })).toThrow('breaker.failureRate.windowCalls must be an integer from 1 to 100000 (got 1000000)');
    expect(bad({ failureRate: { windowMs: 0 } })).toThrow('breaker.failureRate.windowMs must be a whole number of milliseconds >= 1 (got 0)');
    expect(validateBreakerOptions({ failureRate: { windowMs: 30_000 } }).failureRate).toEqual({
      thresholdPercent: 50,
      minCalls: 10,
      windowCalls: null,
      windowMs: 30_000,
    });
  });

  it('checks the classification lists', () => {
    expect(bad({ classify: { failureStatuses: [429, 999] } })).toThrow('breaker.classify.failureStatuses[1] must be an integer from 100 to 599 (got 999)');
    expect(bad({ classify: { failureErrors: ['timeout', 'dns'] } })).toThrow('breaker.classify.failureErrors[1] must be one of timeout, connection, protocol, aborted, request, unknown (got "dns")');
    expect(bad({ classify: { serverErrorsFail: 'yes' } })).toThrow('breaker.classify.serverErrorsFail must be true or false (got "yes")');
  });

  it('uses the caller path in messages', () => {
    expect(() => validateBreakerOptions({ cooldownMs: -5 }, 'tools.linkedin.breaker')).toThrow('tools.linkedin.breaker.cooldownMs must be');
  });

  it('the constructor validates too, and checks the service name', () => {
    expect(() => new CircuitBreaker('linkedin', { failureThreshold: -1 })).toThrow(ValidationError);
    expect(() => new CircuitBreaker('../etc', {})).toThrow('service must be 1-64 letters, digits');
  });
});
