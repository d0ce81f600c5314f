import type { Hono } from 'hono';
import * as z from 'zod';
import type { TokenService } from '../auth/index.js';
import { NotFoundError } from '../core/errors.js';
import { assertRole } from '../core/roles.js';
import { readJsonBody, parseWith, type AppEnv } from '../server/index.js';
import type { TokensStore } from '../state/index.js';
import type { Outage } from './outage.js';
import { createMetricsToken } from './panel-auth.js';

/** People sign in (login, links) and runtimes get theirs with the runtime: the one token made here is a scraper's. */
const tokenBody = z.strictObject({
  role: z.string().refine((r) => r === 'metrics', 'must be "metrics": a panel makes metrics tokens here (people sign in; a runtime gets its token from POST /api/runtimes)'),
  name: z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters'),
});

export interface PanelTokenRoutesDeps {
  store: Pick<TokensStore<'async'>, 'list' | 'revoke' | 'add'>;
  tokens: Pick<TokenService, 'invalidate'>;
  outage: Pick<Outage, 'run'>;
}

/**
 * `/api/tokens` on a panel, as on a runtime: the live sessions (logins and login links exchanged),
 * runtime and metrics tokens, listed without their hashes, and revoked one at a time: refused from
 * the next request on (the token cache is cleared), its open WebSockets closed. POST makes a
 * `metrics` token for Prometheus (GET /metrics only).
 */
export function panelTokenRoutes(d: PanelTokenRoutesDeps) {
  const shown = <T extends { hash: string }>({ hash: _hash, ...t }: T) => t;
  return (app: Hono<AppEnv>) => {
    app.post('/api/tokens', async (c) => {
      assertRole(c.get('principal'), 'admin');
      const body = parseWith(tokenBody, await readJsonBody(c.req));
      return c.json(await d.outage.run(() => createMetricsToken(d.store, body.name)), 201);
    });

    app.get('/api/tokens', async (c) => {
      assertRole(c.get('principal'), 'admin');
      return c.json((await d.outage.run(() => d.store.list())).map(shown));
    });

    app.delete('/api/tokens/:id', async (c) => {
      assertRole(c.get('principal'), 'admin');
      const revoked = await d.outage.run(() => d.store.revoke(c.req.param('id')));
      if (revoked.length === 0) throw new NotFoundError(`no active token ${c.req.param('id')} (by name only an API token; a session or a runtime token by its id, as the token list shows it)`);
      d.tokens.invalidate();
      return c.json(revoked.map(shown));
    });
  };
}
