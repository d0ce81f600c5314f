import { isDeepStrictEqual } from 'node:util';
import { expect } from 'vitest';

// For assertions inside loops of thousands of cases (the PII engine's fast paths against their
// plain forms, a budget's invariant after every step). vitest's expect() copies its whole state
// object at each call before any matcher runs, and toEqual walks both values with its custom
// testers: in test:quick's profile the assertion machinery was ~20 s of ~135 s of CPU, nearly all
// of it in such loops. These compare with Node's own checks first and call expect only when those
// fail, so a passing case costs a comparison and a failing one reads exactly as expect's would
// (expect then decides: its toEqual is looser than a strict deep equality, never stricter).

/** `expect(actual, message).toEqual(expected)`, paying for expect only when the two are not strictly deep-equal. */
export function expectEqual<T>(actual: T, expected: T, message?: string): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual, message).toEqual(expected);
}

/** `expect(actual, message).toBe(expected)`, paying for expect only when `Object.is` says they differ. */
export function expectIs<T>(actual: T, expected: T, message?: string): void {
  if (!Object.is(actual, expected)) expect(actual, message).toBe(expected);
}

/** `expect(actual, message).toBeLessThanOrEqual(bound)`, paying for expect only when it is not. */
export function expectAtMost(actual: number, bound: number, message?: string): void {
  if (!(actual <= bound)) expect(actual, message).toBeLessThanOrEqual(bound);
}
