import type { Context, Hono } from 'hono';
import { assertRole } from '../auth/index.js';
import type { BreakerKind } from '../core/events.js';
import { readJsonBody, type AppEnv } from '../server/index.js';
import type { BreakerRegistry, BreakerRow } from './registry.js';

/**
 * GET /api/breakers. `T` is what the tool proxy adds to each service's row and `S` its totals
 * (tools/details.ts: `ToolBreakersResponse` fills them in); the registry itself knows neither.
 */
export interface BreakersResponse<T = Record<string, unknown>, S = object> {
  services: Array<BreakerRow<'tool'> & T>;
  totals: S | undefined;
  providers: BreakerRow<'provider'>[];
  /** The MCP servers agents reach through the cage (also on GET /api/mcp/servers, with their calls). */
  mcp: BreakerRow<'mcp'>[];
}

/**
 * /api/breakers: every circuit breaker, the tool services' (`services`, with their `totals`),
 * the LLM providers' (`providers`) and the MCP servers' (`mcp`); one of each, and the admin reset of each.
 */
export function breakerRoutes(registry: Pick<BreakerRegistry, 'rows' | 'row' | 'summary' | 'view' | 'reset'>): (app: Hono<AppEnv>) => void {
  const reset = async (c: Context<AppEnv>, kind: BreakerKind, name: string) => {
    const p = c.get('principal');
    assertRole(p, 'admin');
    registry.view(kind, name); // 404 before the body is read
    await readJsonBody(c.req, { optional: true });
    registry.reset(kind, name, `${p.role} ${p.name}`);
    return c.json(registry.row(kind, name));
  };
  return (app) => {
    app.get('/api/breakers', (c) =>
      c.json({ services: registry.rows('tool'), totals: registry.summary('tool'), providers: registry.rows('provider'), mcp: registry.rows('mcp') } satisfies BreakersResponse),
    );
    app.get('/api/breakers/:service', (c) => c.json(registry.row('tool', c.req.param('service'))));
    app.post('/api/breakers/:service/reset', (c) => reset(c, 'tool', c.req.param('service')));
    // Two segments: no tool service's path can be mistaken for a provider's.
    app.get('/api/breakers/providers/:provider', (c) => c.json(registry.row('provider', c.req.param('provider'))));
    app.post('/api/breakers/providers/:provider/reset', (c) => reset(c, 'provider', c.req.param('provider')));
    app.get('/api/breakers/mcp/:server', (c) => c.json(registry.row('mcp', c.req.param('server'))));
    app.post('/api/breakers/mcp/:server/reset', (c) => reset(c, 'mcp', c.req.param('server')));
  };
}
