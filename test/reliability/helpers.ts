import type { Clock } from '../../src/domain/reliability/index.js';

/** A clock the test moves by hand, so cooldowns are exact and nothing sleeps. */
export class ManualClock implements Clock {
  constructor(private t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** An upstream that counts how often it is really reached. */
export function countingUpstream<T>(answer: () => T | Promise<T>): { fn: () => Promise<T>; calls: () => number } {
  let calls = 0;
  return {
    fn: async () => {
      calls++;
      return answer();
    },
    calls: () => calls,
  };
}

export const fail = { kind: 'failure', reason: 'http_503' } as const;
export const ok = { kind: 'success', reason: 'ok' } as const;

/** A promise plus its resolver, to hold a probe in flight while others arrive. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
