import type { Context, Hono } from 'hono';
import { queryInt } from '../core/validation.js';
import * as z from 'zod';
import { ValidationError } from '../core/errors.js';
import { parseWith, readJsonBody, type AppEnv } from '../server/index.js';
import { SECRET_OPERATIONS } from '../state/index.js';
import type { SecretView, VaultService } from './vault.js';

/** GET /api/secrets: the vault's secrets, masked. */
export interface SecretList {
  secrets: SecretView[];
}

const auditQuery = z.strictObject({
  secret_name: z.string().max(128, 'must be at most 128 characters').optional(),
  operation: z.enum(SECRET_OPERATIONS).optional(),
  after: queryInt(z.number().min(0, 'must be 0 or more')).optional(),
  limit: queryInt(z.number().min(1, 'must be 1-1000').max(1000, 'must be 1-1000')).optional(),
});
const listQuery = z.strictObject({ environment: z.string().optional() });
const getQuery = z.strictObject({ reveal: z.enum(['true', 'false']).optional() });

/** A JSON object body, refusing bytes that are not UTF-8 (a value must survive intact or not at all). */
async function jsonBody(c: Context<AppEnv>): Promise<unknown> {
  const body = await readJsonBody(c.req);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ValidationError('request body must be a JSON object', 'invalid_json');
  return body;
}

/** The body is read only once the caller is authorized; a refused caller's bad body is no unhandled rejection. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

export interface VaultRoutesOptions {
  /** Around each request's vault work (a control panel: PostgreSQL away → 503). */
  around?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Mount the agent's own `GET /api/agents/:id/secrets` (a runtime; a panel supervises no agent). */
  agentRoute?: boolean;
}

/**
 * The vault's REST surface: `/api/secrets` (list, create), `/api/secrets/status` (locked or
 * not, and why), `/api/secrets/audit`,
 * `/api/secrets/:id` (read, reveal, update, delete) and the agent's own
 * `GET /api/agents/:id/secrets`. Everything is decided in VaultService; this file only parses.
 * The same routes serve a runtime's vault and a control panel's.
 */
export function vaultRoutes(vault: () => Promise<VaultService>, o: VaultRoutesOptions = {}): (app: Hono<AppEnv>) => void {
  const around = o.around ?? ((fn) => fn());
  return (app) => {
    app.get('/api/secrets', async (c) => {
      const q = parseWith(listQuery, c.req.query());
      return c.json({ secrets: await around(async () => (await vault()).list(c.get('principal'), q.environment)) } satisfies SecretList);
    });
    app.post('/api/secrets', async (c) => {
      const body = quiet(jsonBody(c));
      return c.json(await around(async () => (await vault()).create(c.get('principal'), body)), 201);
    });
    app.get('/api/secrets/status', async (c) => c.json(await around(async () => (await vault()).state(c.get('principal')))));
    app.get('/api/secrets/audit', async (c) => {
      const p = c.get('principal');
      const q = parseWith(auditQuery, c.req.query());
      const rows = await around(async () => (await vault()).auditLog(p, { secretName: q.secret_name, operation: q.operation, after: q.after, limit: q.limit ?? 100 }));
      return c.json({ records: rows, nextAfter: rows.at(-1)?.id ?? q.after ?? 0 });
    });
    app.get('/api/secrets/:id', async (c) => {
      const q = parseWith(getQuery, c.req.query());
      return c.json(await around(async () => (await vault()).get(c.get('principal'), c.req.param('id'), q.reveal === 'true')));
    });
    app.put('/api/secrets/:id', async (c) => {
      const body = quiet(jsonBody(c));
      return c.json(await around(async () => (await vault()).update(c.get('principal'), c.req.param('id'), body)));
    });
    app.delete('/api/secrets/:id', async (c) => c.json({ deleted: await around(async () => (await vault()).remove(c.get('principal'), c.req.param('id'))) }));
    if (o.agentRoute !== false) app.get('/api/agents/:id/secrets', async (c) => c.json(await (await vault()).agentSecrets(c.get('principal'), c.req.param('id'))));
  };
}
