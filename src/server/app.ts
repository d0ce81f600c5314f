import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { bodyLimit } from 'hono/body-limit';
import { tokenFromHeaders } from '../auth/index.js';
import { PayloadTooLargeError, UnauthorizedError } from '../core/errors.js';
import type { AppEnv, ServerDeps } from './context.js';
import { toErrorResponse } from './errors.js';
import { HOME_HTML } from './home.js';
import { agentRoutes } from './routes/agents.js';

export const MAX_BODY_BYTES = 2 * 1024 * 1024;

export function createApp(deps: ServerDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.onError((err, c) => {
    const { status, body, unexpected } = toErrorResponse(err);
    if (unexpected) deps.logger.error({ err }, `${c.req.method} ${c.req.path} failed`);
    // The rest of an oversized body was never read: the connection cannot be reused.
    if (status === 413) c.header('connection', 'close');
    return c.json(body, status as 400);
  });
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } }, 404));

  app.use(
    '/api/*',
    cors({
      origin: (origin) => (deps.guard.allowsOrigin(origin) ? origin : null),
      allowHeaders: ['Authorization', 'Content-Type', 'X-Api-Key'],
      allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
      maxAge: 600,
    }),
  );
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new PayloadTooLargeError(MAX_BODY_BYTES);
      },
    }),
  );

  app.get('/api/health', (c) =>
    c.json({ status: 'ok', version: deps.version, uptimeMs: Date.now() - deps.startedAt, agents: deps.state.listAgents().length }),
  );

  app.use('/api/*', async (c, next) => {
    const token = tokenFromHeaders(c.req.header('authorization'), c.req.header('x-api-key'));
    if (!token) throw new UnauthorizedError('a token is required: send Authorization: Bearer <token>');
    c.set('principal', await deps.tokens.verify(token));
    await next();
  });

  app.get('/api/whoami', (c) => {
    const p = c.get('principal');
    return c.json({ role: p.role, name: p.name, agentId: p.agentId });
  });
  app.route('/api', agentRoutes(deps));
  for (const mount of deps.apiRoutes ?? []) mount(app);

  app.get('/', (c) => c.html(HOME_HTML));
  return app;
}
