import type { Hono } from 'hono';
import type { CircuitBreaker } from '../domain/reliability/index.js';
import type { AppEnv } from '../server/index.js';
import type { ProviderBreakers } from './breakers.js';
import type { Provider, ProviderName } from './providers/types.js';

/**
 * GET /api/gateway/providers: who answers each provider's calls, and its breaker's state. And
 * GET /api/breakers (the tool proxy's route) gains `providers`, the LLM providers' breakers
 * beside the tool services': added to its answer on the way out, so neither side owns the other.
 */
export function providerRoutes(providers: Record<ProviderName, Provider>, breakers: Map<string, CircuitBreaker>, saved?: ProviderBreakers) {
  return (app: Hono<AppEnv>) => {
    if (saved) {
      app.use('/api/breakers', async (c, next) => {
        await next();
        if (c.req.method !== 'GET' || c.res.status !== 200) return;
        const body = (await c.res.json()) as Record<string, unknown>;
        c.res = new Response(JSON.stringify({ ...body, providers: saved.views() }), { status: 200, headers: { 'content-type': 'application/json' } });
      });
    }
    app.get('/api/gateway/providers', (c) =>
      c.json(
        (['openai', 'anthropic', 'simulated'] as const).map((name) => {
          const p = providers[name];
          const b = breakers.get(p.name);
          b?.refresh();
          return { name, servedBy: p.name, real: p.real, breaker: b ? { state: b.state, retryAfterMs: b.retryAfterMs() } : null };
        }),
      ),
    );
  };
}
