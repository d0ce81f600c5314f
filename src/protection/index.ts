// PII protection as a service: the safety domain's detection and policy applied at every door
// (LLM output and prompts, agent output, tool responses), with the audit trail, the counters,
// the alerts and the routes that show them.
export { PiiProtection, type PiiLocation, type PiiNotifier, type PiiProtectionDeps } from './pii.service.js';
export { piiRoutes } from './pii.routes.js';
export { revealFinding, type RevealRequest, type Revealed } from './pii.reveal.js';
