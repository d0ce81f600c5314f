import type { Hono } from 'hono';
import type { TokenService } from '../auth/index.js';
import { NotFoundError } from '../core/errors.js';
import { assertRole } from '../core/roles.js';
import type { AppEnv } from '../server/index.js';
import type { PgTokensStore } from '../state/index.js';
import type { Outage } from './outage.js';

export interface PanelTokenRoutesDeps {
  store: Pick<PgTokensStore, 'list' | 'revoke'>;
  tokens: Pick<TokenService, 'invalidate'>;
  outage: Pick<Outage, 'run'>;
}

/**
 * `/api/tokens` on a panel, as on a runtime: the live sessions (logins and login links exchanged)
 * and runtime tokens, listed without their hashes, and revoked one at a time: refused from the
 * next request on (the token cache is cleared), its open WebSockets closed.
 */
export function panelTokenRoutes(d: PanelTokenRoutesDeps) {
  const shown = <T extends { hash: string }>({ hash: _hash, ...t }: T) => t;
  return (app: Hono<AppEnv>) => {
    app.get('/api/tokens', async (c) => {
      assertRole(c.get('principal'), 'admin');
      return c.json((await d.outage.run(() => d.store.list())).map(shown));
    });

    app.delete('/api/tokens/:id', async (c) => {
      assertRole(c.get('principal'), 'admin');
      const revoked = await d.outage.run(() => d.store.revoke(c.req.param('id')));
      if (revoked.length === 0) throw new NotFoundError(`no active token ${c.req.param('id')}`);
      d.tokens.invalidate();
      return c.json(revoked.map(shown));
    });
  };
}
