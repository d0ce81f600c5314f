import type { SafetyMode, SafetyPolicy } from '../domain/pii/index.js';

/** A policy with every mode (the default and each type's) passed through `fn`. */
export function withModes(p: SafetyPolicy, fn: (m: SafetyMode) => SafetyMode): SafetyPolicy {
  return { ...p, mode: fn(p.mode), perType: Object.fromEntries(Object.entries(p.perType ?? {}).map(([t, m]) => [t, fn(m)])) };
}

/**
 * The strictest mode of `policy` (the default or any type's), and whether it changes or stops
 * what it finds (redact, block). What the scan cannot read or check (a text in a coding we
 * cannot undo, tokens' log-probabilities) could hold any type, so it is held to this mode.
 *
 * @example
 * strictest({ mode: 'warn', perType: { SSN: 'block' } }); // { enforced: true, mode: 'block' }
 */
export function strictest(policy: SafetyPolicy): { enforced: boolean; mode: SafetyMode } {
  const modes = [policy.mode, ...Object.values(policy.perType ?? {})];
  const mode = modes.includes('block') ? 'block' : modes.includes('redact') ? 'redact' : policy.mode;
  return { enforced: mode === 'block' || mode === 'redact', mode };
}

export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
