import type { Hono } from 'hono';
import * as z from 'zod';
import { NotFoundError } from '../core/errors.js';
import { assertRole } from '../core/roles.js';
import { checkScope } from '../domain/secrets/index.js';
import { readJsonBody, parseWith, type AppEnv } from '../server/index.js';
import type { RuntimesStore } from '../state/index.js';
import type { Outage } from './outage.js';
import { addRuntime } from './runtimes.js';

const runtimeBody = z.strictObject({
  id: z.string().min(1, 'must not be empty').max(63, 'must be at most 63 characters'),
  user: z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters').nullable().optional(),
  /** The panel secrets its token may read: names and PREFIX_* patterns (checkScope says what is wrong). */
  secrets: z.array(z.unknown()).max(256, 'must be at most 256 patterns').optional(),
});
const scopeBody = z.strictObject({ secrets: z.array(z.unknown()).max(256, 'must be at most 256 patterns') });

export interface RuntimeRoutesDeps {
  store: RuntimesStore;
  outage: Outage;
  /** Drop cached token checks: a removed runtime's token is refused from the next request on. */
  tokens: { invalidate(): void };
}

/** /api/runtimes: the runtimes that may report to this panel, their tokens and the panel secrets each may read. Admin only (viewers list). */
export function runtimeRoutes(d: RuntimeRoutesDeps) {
  return (app: Hono<AppEnv>) => {
    app.get('/api/runtimes', async (c) => {
      assertRole(c.get('principal'), 'admin', 'viewer');
      return c.json(await d.outage.run(() => d.store.list()));
    });
    app.post('/api/runtimes', async (c) => {
      assertRole(c.get('principal'), 'admin');
      const body = parseWith(runtimeBody, await readJsonBody(c.req));
      const added = await d.outage.run(() => addRuntime(d.store, { id: body.id, userId: body.user ?? null, secrets: body.secrets }));
      return c.json(added, 201);
    });
    // The secrets its token may read from now on (its next poll, within 2 s): the whole list, replaced.
    app.put('/api/runtimes/:id/secrets', async (c) => {
      assertRole(c.get('principal'), 'admin');
      const id = c.req.param('id');
      const secrets = checkScope(parseWith(scopeBody, await readJsonBody(c.req)).secrets);
      const row = await d.outage.run(() => d.store.setSecrets(id, secrets));
      if (!row) throw new NotFoundError(`no runtime '${id}'`);
      return c.json(row);
    });
    app.delete('/api/runtimes/:id', async (c) => {
      assertRole(c.get('principal'), 'admin');
      const id = c.req.param('id');
      const removed = await d.outage.run(() => d.store.remove(id));
      if (!removed) throw new NotFoundError(`no runtime '${id}'`);
      d.tokens.invalidate();
      return c.json(removed);
    });
  };
}
