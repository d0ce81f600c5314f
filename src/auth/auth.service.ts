import type { Platform, Service } from '../server/index.js';
import { onSqlite, TokensStore, UsersStore } from '../state/index.js';
import { LoginService } from './login.js';
import type { TokenService } from './tokens.js';
import { wireApiTokens } from './manage.js';
import { tokenRoutes } from './tokens.routes.js';
import { wireUsers } from './users.js';
import { loginRoutes, userRoutes } from './users.routes.js';

/**
 * Who may call: API tokens and dashboard sessions (looked up by hash) and named users (their
 * tokens checked live on every verification), POST /api/login and POST /api/session (no token
 * needed), and the admin's /api/tokens and /api/users routes.
 */
export function authService(ctx: Pick<Platform, 'config' | 'state'> & { tokens: TokenService }): Service {
  const tokens = new TokensStore(onSqlite(ctx.state));
  wireApiTokens(ctx.tokens, tokens);
  const users = new UsersStore(onSqlite(ctx.state));
  wireUsers(ctx.tokens, users);
  const login = new LoginService({ users, tokens: ctx.tokens, state: ctx.state, ttlMinutes: ctx.config.loginTokenTtlMinutes });
  return {
    name: 'auth',
    publicRoutes: [loginRoutes(login, { store: tokens, ttlMinutes: ctx.config.loginTokenTtlMinutes, renew: () => ctx.tokens.renew })],
    apiRoutes: [userRoutes({ users, tokens: ctx.tokens }), tokenRoutes({ state: ctx.state, store: tokens, tokens: ctx.tokens })],
  };
}
