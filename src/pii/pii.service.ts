import { injectionWatchedFor } from '../config/index.js';
import type { Platform, Service } from '../server/index.js';
import { piiRoutes } from './pii.routes.js';
import type { PiiProtection } from './protection.js';

/**
 * PII protection for the runtime: its audit routes. The PiiProtection itself is built by the
 * runtime before any service, because the gateway, the tool proxy and the supervisor all scan
 * through it.
 */
export function piiService(d: Pick<Platform, 'state' | 'config'> & { pii: PiiProtection }): Service {
  return {
    name: 'pii',
    apiRoutes: [piiRoutes(d.pii, d.state, { injection: (agentId) => injectionWatchedFor(d.config.safety.injection, d.state.agentBrief(agentId)?.name ?? null) })],
  };
}
