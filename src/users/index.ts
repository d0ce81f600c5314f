// Named dashboard users as a service: their tokens checked live on every verification, the
// login route (no token needed) and the admin routes.
import { LoginService, wireUsers } from '../auth/index.js';
import type { Service, ServiceContext } from '../runtime/services.js';
import { UsersStore } from '../state/index.js';
import { loginRoutes, userRoutes } from './users.routes.js';

export { loginRoutes, userRoutes, type UserRoutesDeps } from './users.routes.js';

export function usersService(ctx: ServiceContext): Service {
  const users = new UsersStore(ctx.state);
  wireUsers(ctx.tokens, users);
  const login = new LoginService({ users, tokens: ctx.tokens, state: ctx.state, ttlMinutes: ctx.config.loginTokenTtlMinutes });
  return {
    name: 'users',
    publicRoutes: [loginRoutes(login)],
    apiRoutes: [userRoutes({ users, tokens: ctx.tokens })],
  };
}
