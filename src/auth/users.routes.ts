import type { Hono } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import * as z from 'zod';
import { assertRole } from '../core/roles.js';
import type { LoginService } from './login.js';
import type { TokenService } from './tokens.js';
import { addUser, USER_ROLES, type UsersRepo } from './users.js';
import { NotFoundError } from '../core/errors.js';
import { readJsonBody, parseWith, type AppEnv } from '../server/index.js';
import { openSession, type LinkStore } from './links.js';

// Bounds only: what a name or password must look like is the auth domain's to say (and a
// login with a malformed name is simply a wrong name, with the same answer).
const loginBody = z.strictObject({
  name: z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters'),
  password: z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters'),
});
const userBody = z.strictObject({ name: z.string(), role: z.enum(USER_ROLES), password: z.string() });

const sessionBody = z.strictObject({ link: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters') });

/**
 * The routes under /api that take no token, the two ways a person opens a dashboard session:
 * POST /api/login (a named user's password) and POST /api/session (a one-time login link).
 */
export function loginRoutes(login: Pick<LoginService, 'login'>, links: { store: LinkStore; ttlMinutes: number; renew: () => string }) {
  return (app: Hono<AppEnv>) => {
    app.post('/api/login', async (c) => {
      const body = parseWith(loginBody, await readJsonBody(c.req));
      const address = getConnInfo(c).remote.address ?? 'unknown';
      return c.json(await login.login(body.name, body.password, address));
    });
    app.post('/api/session', async (c) => {
      const body = parseWith(sessionBody, await readJsonBody(c.req));
      const address = getConnInfo(c).remote.address ?? 'unknown';
      return c.json(await openSession(links.store, body.link, { ttlMinutes: links.ttlMinutes, address, renew: links.renew() }), 201);
    });
  };
}

export interface UserRoutesDeps {
  users: UsersRepo;
  tokens: Pick<TokenService, 'invalidate'>;
}

/** /api/users: list, add and remove named users. Admin only; never a password hash. */
export function userRoutes(d: UserRoutesDeps) {
  return (app: Hono<AppEnv>) => {
    app.get('/api/users', async (c) => {
      assertRole(c.get('principal'), 'admin');
      return c.json(await d.users.list());
    });
    app.post('/api/users', async (c) => {
      assertRole(c.get('principal'), 'admin');
      const body = parseWith(userBody, await readJsonBody(c.req));
      return c.json(await addUser(d.users, body), 201);
    });
    app.delete('/api/users/:name', async (c) => {
      assertRole(c.get('principal'), 'admin');
      const removed = await d.users.remove(c.req.param('name'));
      if (!removed) throw new NotFoundError(`no user '${c.req.param('name')}'`);
      // The removed user's tokens (and the sessions its removal revoked) are refused from the next
      // request on, open sockets included.
      d.tokens.invalidate();
      return c.json(removed);
    });
  };
}
