import { ValidationError } from '../../core/errors.js';
import { PII_SEVERITIES, PII_TYPES, type Detection, type PiiType, type Severity } from './types.js';

/**
 * What to do when PII shows up: `redact` delivers the text with the values
 * replaced and the agent carries on; `block` refuses the call; `warn` delivers the text
 * untouched and only counts and logs (for trying the detectors out).
 */
export const SAFETY_MODES = ['redact', 'block', 'warn'] as const;
export type SafetyMode = (typeof SAFETY_MODES)[number];

export interface SafetyPolicy {
  mode: SafetyMode;
  /** Per-type modes, e.g. `{ IP_ADDRESS: 'warn', API_KEY: 'block' }`. */
  perType?: Partial<Record<PiiType, SafetyMode>>;
  /** Audit severity per type, overriding DEFAULT_SEVERITY. */
  severity?: Partial<Record<PiiType, Severity>>;
}

export const DEFAULT_POLICY: SafetyPolicy = { mode: 'redact' };

export const DEFAULT_SEVERITY: Readonly<Record<PiiType, Severity>> = {
  EMAIL: 'CRITICAL',
  CREDIT_CARD: 'CRITICAL',
  SSN: 'CRITICAL',
  API_KEY: 'CRITICAL',
  PHONE: 'WARN',
  IBAN: 'WARN',
  IP_ADDRESS: 'INFO',
};

/** Checks a policy that came from outside (config file, flags, API) and says precisely what is wrong. */
export function validatePolicy(policy: SafetyPolicy): SafetyPolicy {
  if (!SAFETY_MODES.includes(policy.mode)) throw new ValidationError(`safety_mode must be one of ${SAFETY_MODES.join(', ')}, not '${String(policy.mode)}'`);
  for (const [type, mode] of Object.entries(policy.perType ?? {})) {
    if (!PII_TYPES.includes(type as PiiType)) throw new ValidationError(`unknown PII type '${type}' in safety mode overrides`);
    if (!SAFETY_MODES.includes(mode)) throw new ValidationError(`safety mode for ${type} must be one of ${SAFETY_MODES.join(', ')}, not '${String(mode)}'`);
  }
  for (const [type, severity] of Object.entries(policy.severity ?? {})) {
    if (!PII_TYPES.includes(type as PiiType)) throw new ValidationError(`unknown PII type '${type}' in severity overrides`);
    if (!PII_SEVERITIES.includes(severity)) throw new ValidationError(`severity for ${type} must be one of ${PII_SEVERITIES.join(', ')}, not '${String(severity)}'`);
  }
  return policy;
}

export function modeFor(type: PiiType, policy: SafetyPolicy = DEFAULT_POLICY): SafetyMode {
  return policy.perType?.[type] ?? policy.mode;
}

export function severityFor(type: PiiType, policy: SafetyPolicy = DEFAULT_POLICY): Severity {
  return policy.severity?.[type] ?? DEFAULT_SEVERITY[type];
}

/** `allow`: nothing found. Otherwise the strongest mode among the findings: block > redact > warn. */
export type PolicyAction = 'allow' | 'redact' | 'warn' | 'block';

export interface PolicyDecision {
  action: PolicyAction;
  /** Replaced in the delivered text. */
  redacted: Detection[];
  /** Left in the text; counted and logged only. */
  warned: Detection[];
  /** Make the call fail; also replaced wherever the text is kept (logs, audit). */
  blocking: Detection[];
}

export function decide(detections: readonly Detection[], policy: SafetyPolicy = DEFAULT_POLICY): PolicyDecision {
  const decision: PolicyDecision = { action: 'allow', redacted: [], warned: [], blocking: [] };
  for (const d of detections) {
    const mode = modeFor(d.type, policy);
    if (mode === 'block') decision.blocking.push(d);
    else if (mode === 'redact') decision.redacted.push(d);
    else decision.warned.push(d);
  }
  if (decision.blocking.length > 0) decision.action = 'block';
  else if (decision.redacted.length > 0) decision.action = 'redact';
  else if (decision.warned.length > 0) decision.action = 'warn';
  return decision;
}
