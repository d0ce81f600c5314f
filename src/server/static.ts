import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Hono } from 'hono';
import { NotFoundError } from '../core/errors.js';
import type { AppEnv } from './context.js';

/** What `npm run build` writes beside index.html (scripts/build.mjs). */
interface Manifest {
  js: string;
  css: string | null;
  assets: string[];
}

/**
 * The built dashboard, held in memory: serving the page never touches the disk. Its source maps
 * (as large as the rest together, and fetched only by a browser's developer tools) are read
 * from the disk when asked for.
 */
export interface Dashboard {
  index: Uint8Array<ArrayBuffer>;
  /** A strong validator for index.html, which is revalidated on every visit (no-cache). */
  etag: string;
  assets: Map<string, { body: Uint8Array<ArrayBuffer> | { path: string }; type: string }>;
}

// One copy at load into a plain Uint8Array, so each answer sends the bytes without copying.
const bytes = (path: string): Uint8Array<ArrayBuffer> => new Uint8Array(readFileSync(path));

/**
 * The page gets nothing it does not need: its own scripts and styles, data: images (icons),
 * its own API and WebSocket. No inline script or style, no eval, no framing.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " + "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

const NOT_BUILT_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Iron Cage: dashboard not built</title></head>
<body><h1>dashboard not built: run npm run build</h1>
<p>This iron-cage runs from source without its built web page. The API and the WebSocket work as usual.</p>
</body></html>
`;

/**
 * Where the built page lives: `web/` beside the bundle (dist/cli.js → dist/web) or, running from
 * source (vitest), `<repo>/dist/web`.
 */
export function dashboardDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'web'), join(here, '..', '..', 'dist', 'web')];
  return candidates.find((c) => existsSync(join(c, 'manifest.json'))) ?? candidates[0]!;
}

/**
 * Reads the built page into memory; null when there is none (the server then answers 503).
 *
 * @example
 * const page = loadDashboard(dashboardDir());
 * if (page) console.log(`${page.assets.size} assets`);
 */
export function loadDashboard(dir: string): Dashboard | null {
  if (!existsSync(join(dir, 'manifest.json')) || !existsSync(join(dir, 'index.html'))) return null;
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const index = bytes(join(dir, 'index.html'));
  const assets: Dashboard['assets'] = new Map();
  for (const name of manifest.assets) {
    const path = join(dir, 'assets', name);
    assets.set(name, { body: name.endsWith('.map') ? { path } : bytes(path), type: TYPES[extname(name)] ?? 'application/octet-stream' });
  }
  const etag = `"${createHash('sha256').update(index).digest('base64url').slice(0, 27)}"`;
  return { index, etag, assets };
}

function secure(c: Context<AppEnv>): void {
  c.header('content-security-policy', DASHBOARD_CSP);
  c.header('x-content-type-options', 'nosniff');
  c.header('referrer-policy', 'no-referrer');
}

/**
 * Mounts `/` (index.html, revalidated every time) and `/assets/<name>` (hashed, immutable).
 * Every answer, errors included, carries the CSP.
 *
 * @example
 * const app = new Hono<AppEnv>();
 * mountDashboard(app, loadDashboard(dashboardDir()));
 */
export function mountDashboard(app: Hono<AppEnv>, page: Dashboard | null): void {
  app.use('/', async (c, next) => {
    secure(c);
    await next();
  });
  app.use('/assets/*', async (c, next) => {
    secure(c);
    await next();
  });
  app.get('/', (c) => {
    if (!page) {
      c.header('cache-control', 'no-store');
      // Like every 503 of ours it says when to come back (a build takes about that long).
      c.header('retry-after', '60');
      return c.html(NOT_BUILT_HTML, 503);
    }
    c.header('cache-control', 'no-cache');
    c.header('etag', page.etag);
    if (c.req.header('if-none-match') === page.etag) return c.body(null, 304);
    c.header('content-type', 'text/html; charset=utf-8');
    return c.body(page.index);
  });
  app.get('/assets/:name', (c) => {
    const asset = page?.assets.get(c.req.param('name'));
    if (!asset) throw new NotFoundError(`no dashboard asset ${c.req.path}`);
    c.header('cache-control', 'public, max-age=31536000, immutable');
    c.header('content-type', asset.type);
    if (asset.body instanceof Uint8Array) return c.body(asset.body);
    // A map gone from the disk since the start (a rebuild under a running server) is not there.
    if (!existsSync(asset.body.path)) throw new NotFoundError(`no dashboard asset ${c.req.path}`);
    return c.body(bytes(asset.body.path));
  });
}
