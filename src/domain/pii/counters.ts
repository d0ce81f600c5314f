import { modeFor, type SafetyPolicy } from './policy.js';
import { PII_TYPES, type Detection, type PiiType } from './types.js';

/**
 * The protection panel's numbers. A leak counts as blocked when the value never
 * reached the agent: redacted or the call refused. Findings under `warn` passed through and
 * are counted apart. Unauthorized actions are counted by whoever refuses them (the protection
 * routes count the tool proxy's refusals); prompt injections have no detector yet.
 */
export interface ProtectionCounters {
  piiLeaksBlocked: number;
  piiLeaksBlockedByType: Record<PiiType, number>;
  piiWarned: number;
  unauthorizedActions: number;
  promptInjectionAttempts: number;
}

export function emptyProtectionCounters(): ProtectionCounters {
  const byType = Object.fromEntries(PII_TYPES.map((t) => [t, 0])) as Record<PiiType, number>;
  return { piiLeaksBlocked: 0, piiLeaksBlockedByType: byType, piiWarned: 0, unauthorizedActions: 0, promptInjectionAttempts: 0 };
}

/** Returns new counters with the findings added; the input is not changed. */
export function addDetections(counters: ProtectionCounters, detections: readonly Detection[], policy?: SafetyPolicy): ProtectionCounters {
  const next: ProtectionCounters = { ...counters, piiLeaksBlockedByType: { ...counters.piiLeaksBlockedByType } };
  for (const d of detections) {
    if (modeFor(d.type, policy) === 'warn') {
      next.piiWarned++;
    } else {
      next.piiLeaksBlocked++;
      next.piiLeaksBlockedByType[d.type]++;
    }
  }
  return next;
}
