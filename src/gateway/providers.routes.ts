import type { Hono } from 'hono';
import type { BreakerRegistry } from '../reliability/index.js';
import type { AppEnv } from '../server/index.js';
import type { Provider, ProviderName } from './providers/types.js';

/** GET /api/gateway/providers: who answers each provider's calls, and its breaker's state (all of it: GET /api/breakers). */
export function providerRoutes(providers: Record<ProviderName, Provider>, breakers: Pick<BreakerRegistry, 'view'>) {
  return (app: Hono<AppEnv>) => {
    app.get('/api/gateway/providers', (c) =>
      c.json(
        (['openai', 'anthropic', 'simulated'] as const).map((name) => {
          const p = providers[name];
          const b = breakers.view('provider', p.name);
          return { name, servedBy: p.name, real: p.real, breaker: { state: b.state, retryAfterMs: b.retryAfterMs } };
        }),
      ),
    );
  };
}
