// Circuit breakers as a service: the one registry of every breaker in the process (a tool
// service's, an LLM provider's, an MCP server's), which creates, restores, saves, times, resets and shows them;
// the wording of their events; /api/breakers. The state machine itself is src/domain/reliability.

export {
  BreakerRegistry,
  COUNTERS_SAVE_MS,
  rowName,
  type BreakerDetails,
  type BreakerExtra,
  type BreakerRegistryDeps,
  type BreakerSpec,
  type BreakerRow,
  type BreakerView,
} from './registry.js';
export { breakerLabel, failureLabel, resetEvent, restoredEvent, seconds, transitionEvent } from './messages.js';
export { breakerRoutes, type BreakersResponse } from './breakers.routes.js';
export { reliabilityService } from './reliability.service.js';
