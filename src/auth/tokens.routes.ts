import type { Hono } from 'hono';
import * as z from 'zod';
import { createApiToken } from './manage.js';
import { assertRole, ROLES } from '../core/roles.js';
import type { TokenService } from './tokens.js';
import { NotFoundError } from '../core/errors.js';
import { usdAmount } from '../core/validation.js';
import { readJsonBody, parseWith, type AppEnv } from '../server/index.js';
import type { StateManager, TokensStore } from '../state/index.js';

const tokenBody = z.strictObject({
  role: z.enum(ROLES),
  name: z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters'),
  budgetUsd: usdAmount.nullable().optional(),
});

export interface TokenRoutesDeps {
  state: StateManager;
  store: TokensStore<'sync'>;
  tokens: Pick<TokenService, 'invalidate'>;
}

/** /api/tokens: the API keys external agents (and people) use with the gateway. Admin only. */
export function tokenRoutes(d: TokenRoutesDeps) {
  return (app: Hono<AppEnv>) => {
    app.post('/api/tokens', async (c) => {
      assertRole(c.get('principal'), 'admin');
      const body = parseWith(tokenBody, await readJsonBody(c.req));
      const created = createApiToken(d.state, d.store, { role: body.role, name: body.name, budgetMicros: body.budgetUsd ?? null });
      return c.json(created, 201);
    });

    app.get('/api/tokens', (c) => {
      assertRole(c.get('principal'), 'admin');
      return c.json(d.store.list().map(({ hash: _hash, ...t }) => t));
    });

    app.delete('/api/tokens/:id', (c) => {
      assertRole(c.get('principal'), 'admin');
      const revoked = d.store.revoke(c.req.param('id'));
      if (revoked.length === 0) throw new NotFoundError(`no active token ${c.req.param('id')} (by name only an API token; a session or a runtime token by its id, as the token list shows it)`);
      d.tokens.invalidate();
      return c.json(revoked.map(({ hash: _hash, ...t }) => t));
    });
  };
}
