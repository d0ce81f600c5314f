import { describe, expect, it } from 'vitest';
import { FaultInjector, decideFault, type FaultConfig } from '../../src/domain/reliability/index.js';

/** A plan as the boundary hands it over (config file or POST /api/faults; checked there). */
const plan = (p: Partial<FaultConfig> & Pick<FaultConfig, 'service' | 'status'>): FaultConfig => ({ fromCall: 1, count: null, durationMs: null, ...p });

const injectedCalls = (injector: FaultInjector, calls: number, stepMs = 0, t0 = 0): number[] => {
  const hit: number[] = [];
  for (let n = 1, t = t0; n <= calls; n++, t += stepMs) if (injector.next(t).inject) hit.push(n);
  return hit;
};

describe('fault injection plan', () => {
  it('fails K calls from call N', () => {
    const injector = new FaultInjector(plan({ service: 'linkedin', fromCall: 34, count: 5, status: 429 }));
    expect(injectedCalls(injector, 100)).toEqual([34, 35, 36, 37, 38]);
    expect(injector.exhausted(0)).toBe(true);
  });

  it('fails for a duration measured from the first injected call', () => {
    const injector = new FaultInjector(plan({ service: 'linkedin', fromCall: 3, durationMs: 2_500, status: 503 }));
    // a call every second: call 3 at t=2 s starts the fault, which lasts until t=4.5 s
    expect(injectedCalls(injector, 10, 1_000)).toEqual([3, 4, 5]);
  });

  it('with both, stops at whichever runs out first', () => {
    const cfg = plan({ service: 'crm', fromCall: 1, count: 10, durationMs: 3_000, status: 'timeout' });
    expect(injectedCalls(new FaultInjector(cfg), 20, 1_000)).toEqual([1, 2, 3]);
    expect(injectedCalls(new FaultInjector(cfg), 20, 100)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('without a limit fails every call from N on', () => {
    const injector = new FaultInjector(plan({ service: 'crm', fromCall: 98, status: 500 }));
    expect(injectedCalls(injector, 100)).toEqual([98, 99, 100]);
    expect(injector.exhausted(1e12)).toBe(false);
  });

  it('says what to inject', () => {
    const timeout = plan({ service: 'crm', fromCall: 1, status: 'timeout' });
    expect(decideFault(timeout, 1, 500, null)).toEqual({ inject: true, fault: 'timeout', outcome: { error: 'timeout' }, startedAt: 500 });
    const http = plan({ service: 'crm', fromCall: 2, status: 503 });
    expect(decideFault(http, 1, 0, null)).toEqual({ inject: false });
    expect(decideFault(http, 2, 0, null)).toMatchObject({ outcome: { status: 503 } });
  });
});
