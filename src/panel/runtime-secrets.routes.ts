import type { Hono } from 'hono';
import * as z from 'zod';
import { ForbiddenError } from '../core/errors.js';
import { assertRole } from '../core/roles.js';
import type { VaultService } from '../secrets/index.js';
import { parseWith, type AppEnv } from '../server/index.js';
import type { RuntimesStore } from '../state/index.js';
import type { Outage } from './outage.js';

/** Where a runtime reads the panel's secrets in its scope (a runtime token may call it). */
export const RUNTIME_SECRETS_PATH = '/api/runtime/secrets';

const query = z.strictObject({
  names: z.string().min(1, 'must name at least one secret (names=NAME,NAME…)').max(8_192, 'must be at most 8192 characters'),
  environment: z.string().max(64, 'must be at most 64 characters'),
});

export interface RuntimeSecretsRoutesDeps {
  vault: () => Promise<VaultService>;
  runtimes: RuntimesStore;
  outage: Outage;
}

/**
 * `GET /api/runtime/secrets?names=A,B&environment=production`: the values a runtime's `panel:NAME`
 * references resolve to, only those in the scope an admin gave its token. With `If-None-Match`
 * holding the ETag of its last answer, 304 when none of them changed (nothing read, nothing
 * audited): a runtime polls this every 2 s.
 */
export function runtimeSecretsRoutes(d: RuntimeSecretsRoutesDeps) {
  return (app: Hono<AppEnv>) => {
    app.get(RUNTIME_SECRETS_PATH, async (c) => {
      const p = c.get('principal');
      assertRole(p, 'runtime');
      const q = parseWith(query, c.req.query());
      const read = await d.outage.run(async () => {
        const runtime = p.runtimeId ? await d.runtimes.byId(p.runtimeId) : null;
        // A removed runtime's token is revoked too; this only closes the few seconds a cached check lasts.
        if (!runtime || runtime.removedAt !== null) throw new ForbiddenError(`runtime '${p.runtimeId}' has been removed from this panel`);
        return (await d.vault()).runtimeRead(p, { names: q.names.split(','), environment: q.environment, scope: runtime.secrets, ifNoneMatch: c.req.header('if-none-match') ?? null });
      });
      c.header('etag', read.etag);
      c.header('cache-control', 'no-store');
      if (read.notModified) return c.body(null, 304);
      return c.json({ environment: read.environment, secrets: read.secrets } satisfies RuntimeSecrets);
    });
  };
}

/** `GET /api/runtime/secrets`'s answer (200): each secret asked for, its value and version. */
export interface RuntimeSecrets {
  environment: string;
  secrets: Record<string, { value: string; version: string; updatedAt: string }>;
}
