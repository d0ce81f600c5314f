import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { bodyLimit } from 'hono/body-limit';
import { ForbiddenError, IronCageError, NotFoundError, PayloadTooLargeError, ValidationError } from '../core/errors.js';
import type { Principal } from '../core/roles.js';
import type { AppEnv, ServerDeps } from './context.js';
import { repeatedParam, toErrorResponse } from './errors.js';
import { dashboardDir, loadDashboard, mountDashboard } from './static.js';

export const MAX_BODY_BYTES = 2 * 1024 * 1024;

/** GET /api/whoami: whose credentials these are (the dashboard learns its role from it). */
export type Whoami = Pick<Principal, 'role' | 'name' | 'agentId'> & {
  /** Set on a control panel (`iron-cage panel`): the page shows the fleet. */
  mode?: 'panel';
};

/** The request's connection died before its body was whole (@hono/node-server puts the Node request in `env`). */
function clientGone(c: Context<AppEnv>): boolean {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming !== undefined && !incoming.complete && (incoming.destroyed || incoming.errored !== null);
}

/** A route's path as a pattern of whole paths (`:id` one segment). */
const routePatterns = new Map<string, RegExp>();
const patternOf = (path: string): RegExp => {
  let re = routePatterns.get(path);
  if (!re) {
    const body = path
      .split('/')
      .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    re = new RegExp(`^${body}$`);
    routePatterns.set(path, re);
  }
  return re;
};

/** The methods the app's routes answer at `path` (HEAD with GET), none when no route has it. */
function methodsAt(app: Hono<AppEnv>, path: string): string[] {
  const found = new Set<string>();
  for (const r of app.routes) if (r.method !== 'ALL' && !r.path.includes('*') && patternOf(r.path).test(path)) found.add(r.method);
  if (found.has('GET')) found.add('HEAD');
  return [...found].sort();
}

export function createApp(deps: ServerDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  const answer = (err: unknown, c: Context<AppEnv>) => {
    const { status, body, unexpected, headers } = toErrorResponse(err);
    for (const [k, v] of Object.entries(headers)) c.header(k, v);
    // A client that hangs up mid-body makes reading it throw: its business, not a server fault.
    if (unexpected && clientGone(c)) deps.logger.debug(`${c.req.method} ${c.req.path}: the client closed the connection before the body ended`);
    else if (unexpected) deps.logger.error({ err }, `${c.req.method} ${c.req.path} failed`);
    return c.json(body, status as 400);
  };
  app.onError(answer);
  // A path a route answers, asked with another method: 405 naming the ones it takes, not 404.
  app.notFound((c) => {
    const allow = c.req.path.startsWith('/api/') ? methodsAt(app, c.req.path) : [];
    if (allow.length === 0 || allow.includes(c.req.method)) return answer(new NotFoundError(`no route ${c.req.method} ${c.req.path}`), c);
    const list = allow.join(', ');
    return answer(new IronCageError('method_not_allowed', 405, `${c.req.method} ${c.req.path}: this route answers ${list}`, { headers: { allow: list } }), c);
  });

  const corsMiddleware = cors({
    origin: (origin) => (deps.guard.allowsOrigin(origin) ? origin : null),
    allowHeaders: ['Authorization', 'Content-Type', 'X-Api-Key'],
    allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    maxAge: 600,
  });
  app.use('/api/*', async (c, next) => {
    if (c.req.method === 'OPTIONS' || c.req.header('origin') !== undefined) return corsMiddleware(c, next);
    // A request with no Origin (an agent, a script: most of them) gets from the CORS middleware
    // only its `Vary: Origin`, which it appends after the handler, to the finished Response: hono
    // then makes that Response again around its body as a stream, and @hono/node-server writes
    // it by reading the stream instead of the string it had. Set before the handler, it is built
    // into the Response; a handler that returns a Response of its own still gets it after.
    c.header('Vary', 'Origin', { append: true });
    await next();
    if (
      !c.res.headers
        .get('vary')
        ?.split(/\s*,\s*/)
        .includes('Origin')
    )
      c.header('Vary', 'Origin', { append: true });
  });
  const limiter = (maxSize: number) =>
    bodyLimit({
      maxSize,
      onError: () => {
        throw new PayloadTooLargeError(maxSize);
      },
    });
  const bodyLimits = new Map(Object.entries(deps.bodyLimits ?? {}).map(([path, max]) => [path, limiter(max)]));
  const defaultLimit = limiter(MAX_BODY_BYTES);
  app.use('/api/*', (c, next) => {
    // A compressed body would be read as the bytes it is ("not valid JSON"): said for what it is.
    const coding = c.req.header('content-encoding')?.trim().toLowerCase();
    if (coding && coding !== 'identity') throw new IronCageError('unsupported_media_type', 415, `content-encoding ${coding.slice(0, 40)}: request bodies are read as sent; send this one uncompressed`);
    return (bodyLimits.get(c.req.path) ?? defaultLimit)(c, next);
  });

  app.get('/api/health', (c) => {
    const health = {
      status: 'ok',
      version: deps.version,
      uptimeMs: Date.now() - deps.startedAt,
      ...(deps.mode ? { mode: deps.mode } : {}),
      ...(deps.tokens.renew ? { renew: deps.tokens.renew } : {}),
      ...deps.health?.(),
    };
    // ?proof=<nonce>: the CLI checks this server holds its database's key before sending a token.
    const nonce = c.req.query('proof');
    if (nonce === undefined) return c.json(health);
    if (!/^[0-9a-f]{32,128}$/.test(nonce)) throw new ValidationError('proof: must be 32-128 lower-case hex characters');
    return c.json({ ...health, proof: deps.tokens.proof(nonce) });
  });

  for (const mount of deps.publicRoutes ?? []) mount(app);

  const runtimePaths = new Set(deps.runtimePaths ?? []);
  app.use('/api/*', async (c, next) => {
    const p = await deps.tokens.authenticate({ authorization: c.req.header('authorization'), 'x-api-key': c.req.header('x-api-key') });
    // A runtime token reports telemetry for its runtime and does nothing else, whatever a route's own check says.
    if (p.role === 'runtime' && !runtimePaths.has(c.req.path))
      throw new ForbiddenError(
        'a runtime token may only send telemetry (/api/telemetry), take budget leases (/api/leases), read the secrets in its scope (GET /api/runtime/secrets) and the panel decisions on its approvals (GET /api/runtime/approvals)',
      );
    // A scraper's token reads /metrics (outside /api) and nothing else.
    if (p.role === 'metrics') throw new ForbiddenError('a metrics token may only read GET /metrics');
    c.set('principal', p);
    // Each route reads one value of a parameter: one given twice is refused, never read as the first or the last.
    const twice = repeatedParam(new URL(c.req.url).searchParams);
    if (twice !== null) throw new ValidationError(`${twice}: given more than once in the query (give it once)`);
    await next();
  });

  app.get('/api/whoami', (c) => {
    const p = c.get('principal');
    return c.json({ role: p.role, name: p.name, agentId: p.agentId, ...(deps.mode ? { mode: deps.mode } : {}) } satisfies Whoami);
  });
  for (const mount of deps.apiRoutes ?? []) mount(app);

  mountDashboard(app, loadDashboard(dashboardDir()));
  return app;
}
