// PII protection: detect, redact (whole texts and streams), decide by
// policy, prepare audit fields, and count what the protection panel shows. Pure functions over strings; callers do the I/O.
export { PII_TYPES, PII_SEVERITIES, RISKS } from './types.js';
export type { PiiType, Risk, Severity, Detection, ScanOptions } from './types.js';
export { scan, redact, applyRedactions, scannerFor, type RedactOptions, type RedactResult } from './redact.js';
export { createStreamRedactor, type StreamRedactor, type StreamRedactorOptions } from './stream.js';
export {
  SAFETY_MODES,
  DEFAULT_POLICY,
  DEFAULT_SEVERITY,
  decide,
  modeFor,
  severityFor,
  validatePolicy,
  type SafetyMode,
  type SafetyPolicy,
  type PolicyAction,
  type PolicyDecision,
} from './policy.js';
export { auditFields, deriveAuditKeys, openSealedValue, sealValue, type AuditKeys, type PiiAuditFields } from './audit.js';
export { emptyProtectionCounters, addDetections, type ProtectionCounters } from './counters.js';
export { createJsonStreamRedactor, redactJsonText, mapJsonStrings, type TextRedactor } from './json.js';
export { jsonTexts, mayHoldPii, type JsonTexts } from './json-batch.js';
export { LATIN_NEVER_FOLDS } from './normalize.js';
export { typesInShortText } from './short-text.js';
