import type { SafetyMode, SafetyPolicy } from '../safety/index.js';

/** A policy with every mode (the default and each type's) passed through `fn`. */
export function withModes(p: SafetyPolicy, fn: (m: SafetyMode) => SafetyMode): SafetyPolicy {
  return { ...p, mode: fn(p.mode), perType: Object.fromEntries(Object.entries(p.perType ?? {}).map(([t, m]) => [t, fn(m)])) };
}

/**
 * What a text the scan cannot read may do under `policy`: it could hold any type, so it is
 * refused if the default or any type's mode would change or stop what it finds (redact,
 * block); it passes, announced, only where every mode is warn.
 *
 * @example
 * unreadableVerdict({ mode: 'warn', perType: { SSN: 'block' } }); // { refused: true, mode: 'block' }
 */
export function unreadableVerdict(policy: SafetyPolicy): { refused: boolean; mode: SafetyMode } {
  const modes = [policy.mode, ...Object.values(policy.perType ?? {})];
  const mode = modes.includes('block') ? 'block' : modes.includes('redact') ? 'redact' : policy.mode;
  return { refused: mode === 'block' || mode === 'redact', mode };
}

export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
