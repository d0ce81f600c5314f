import type { Service } from '../server/index.js';
import { breakerRoutes } from './breakers.routes.js';
import type { BreakerRegistry } from './registry.js';

/**
 * The circuit breakers for the runtime: /api/breakers, and the final save at shutdown. The
 * registry itself is built by the runtime before any service, because the gateway and the tool
 * proxy both take their breakers from it; this service is listed before theirs so it closes
 * (saves) before they cut their connections.
 */
export function reliabilityService(d: { breakers: BreakerRegistry }): Service {
  return {
    name: 'reliability',
    apiRoutes: [breakerRoutes(d.breakers)],
    close: () => d.breakers.close(),
  };
}
