import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { FaultInjector, decideFault, validateFaultConfig, validateFaultConfigs } from '../../src/reliability/index.js';

const injectedCalls = (injector: FaultInjector, calls: number, stepMs = 0, t0 = 0): number[] => {
  const hit: number[] = [];
  for (let n = 1, t = t0; n <= calls; n++, t += stepMs) if (injector.next(t).inject) hit.push(n);
  return hit;
};

describe('fault injection plan', () => {
  it('fails K calls from call N', () => {
    const injector = new FaultInjector(validateFaultConfig({ service: 'linkedin', fromCall: 34, count: 5, status: 429 }));
    expect(injectedCalls(injector, 100)).toEqual([34, 35, 36, 37, 38]);
    expect(injector.exhausted(0)).toBe(true);
  });

  it('fails for a duration measured from the first injected call', () => {
    const injector = new FaultInjector(validateFaultConfig({ service: 'linkedin', fromCall: 3, durationMs: 2_500, status: 503 }));
    // a call every second: call 3 at t=2 s starts the fault, which lasts until t=4.5 s
    expect(injectedCalls(injector, 10, 1_000)).toEqual([3, 4, 5]);
  });

  it('with both, stops at whichever runs out first', () => {
    const cfg = validateFaultConfig({ service: 'crm', fromCall: 1, count: 10, durationMs: 3_000, status: 'timeout' });
    expect(injectedCalls(new FaultInjector(cfg), 20, 1_000)).toEqual([1, 2, 3]);
    expect(injectedCalls(new FaultInjector(cfg), 20, 100)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('without a limit fails every call from N on', () => {
    const injector = new FaultInjector(validateFaultConfig({ service: 'crm', fromCall: 98, status: 500 }));
    expect(injectedCalls(injector, 100)).toEqual([98, 99, 100]);
    expect(injector.exhausted(1e12)).toBe(false);
  });

  it('says what to inject', () => {
    const timeout = validateFaultConfig({ service: 'crm', fromCall: 1, status: 'timeout' });
    expect(decideFault(timeout, 1, 500, null)).toEqual({ inject: true, fault: 'timeout', outcome: { error: 'timeout' }, startedAt: 500 });
    const http = validateFaultConfig({ service: 'crm', fromCall: 2, status: 503 });
    expect(decideFault(http, 1, 0, null)).toEqual({ inject: false });
    expect(decideFault(http, 2, 0, null)).toMatchObject({ outcome: { status: 503 } });
  });

  it('validates configs with precise messages', () => {
    const bad = (input: unknown) => () => validateFaultConfig(input);
    expect(bad({ service: 'linkedin', fromCall: 0, status: 429 })).toThrow(
      new ValidationError('fault.fromCall must be an integer >= 1 (got 0)'),
    );
    expect(bad({ service: 'linkedin', fromCall: 1, count: 0, status: 429 })).toThrow('fault.count must be an integer >= 1 (got 0)');
    expect(bad({ service: 'linkedin', durationMs: -1, status: 429 })).toThrow(
      'fault.durationMs must be a whole number of milliseconds >= 1 (got -1)',
    );
    expect(bad({ service: 'linkedin', status: 200 })).toThrow('fault.status must be an integer from 400 to 599 (got 200)');
    expect(bad({ service: 'linkedin', status: 'slow' })).toThrow(
      'fault.status must be an HTTP status from 400 to 599, "timeout" or "connection" (got "slow")',
    );
    expect(bad({ service: '', status: 500 })).toThrow('fault.service must be 1-64 letters');
    expect(bad({ service: 'crm', status: 500, form: 3 })).toThrow('fault.form is not a known option');
    expect(() => validateFaultConfigs([{ service: 'a', status: 500 }, { service: 'b', status: 'x' }])).toThrow('faults[1].status');
    expect(() => validateFaultConfigs({})).toThrow('faults must be a list (got an object)');
  });
});
