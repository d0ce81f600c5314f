import { ValidationError } from '../../core/errors.js';

// Shared checks for the configs this folder validates. Messages name the exact path and the
// offending value so a config typo is fixed from the message alone.

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function requireRecord(value: unknown, path: string): Record<string, unknown> {
  if (!isRecord(value)) throw new ValidationError(`${path} must be an object (got ${show(value)})`);
  return value;
}

export function rejectUnknownKeys(obj: Record<string, unknown>, known: readonly string[], path: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      throw new ValidationError(`${path}.${key} is not a known option (known: ${known.join(', ')})`);
    }
  }
}

export function integerAtLeast(value: unknown, min: number, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new ValidationError(`${path} must be an integer >= ${min} (got ${show(value)})`);
  }
  return value;
}

export function integerInRange(value: unknown, min: number, max: number, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ValidationError(`${path} must be an integer from ${min} to ${max} (got ${show(value)})`);
  }
  return value;
}

/** Durations are whole milliseconds; fractions would only hide unit mistakes. */
export function durationMs(value: unknown, min: number, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new ValidationError(`${path} must be a whole number of milliseconds >= ${min} (got ${show(value)})`);
  }
  return value;
}

/** What a service name may be: the one rule for config keys, URLs and API bodies. */
export const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const SERVICE_RULE = "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";

/** Service names end up in URLs (/tools/<service>/…) and event payloads, so keep them plain. */
export function serviceName(value: unknown, path: string): string {
  if (typeof value !== 'string' || !SERVICE_NAME.test(value)) {
    throw new ValidationError(`${path} ${SERVICE_RULE} (got ${show(value)})`);
  }
  return value;
}
