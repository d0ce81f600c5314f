// PII protection as a service: the safety domain's detection and policy applied at every door
// (LLM output and prompts, agent output, tool responses), with the audit trail, the counters,
// the alerts and the routes that show them.
export { PiiProtection, type PiiLocation, type PiiNotifier, type PiiProtectionDeps } from './protection.js';
export type { GuardResult, OutputGuard, SlotKind, StreamGuard } from './guard.js';
export { piiRoutes, type ProtectionReport } from './pii.routes.js';
export { piiService } from './pii.service.js';
export { revealFinding, type RevealRequest, type Revealed } from './reveal.js';
