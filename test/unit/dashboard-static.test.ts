import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hono, type Context } from 'hono';
import { NotFoundError } from '../../src/core/errors.js';
import type { AppEnv } from '../../src/server/index.js';
import { toErrorResponse } from '../../src/server/index.js';
import { DASHBOARD_CSP, loadDashboard, mountDashboard } from '../../src/server/static.js';
import { tempDir } from '../helpers/runtime.js';

// How the dashboard is served, through app.request() on a build written here: the headers a
// browser relies on (CSP, caching, types) and what happens without a build.

const IMMUTABLE = 'public, max-age=31536000, immutable';
let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

/** A build as scripts/build.mjs writes it, with recognisable contents. */
function fakeBuild(): string {
  const tmp = tempDir('iron-cage-web-');
  cleanup = tmp.cleanup;
  mkdirSync(join(tmp.dir, 'assets'));
  const files = { 'main-AAAA1111.js': 'console.log(1)', 'main-AAAA1111.js.map': '{"version":3}', 'main-BBBB2222.css': 'body{color:red}', 'logo-CCCC3333.svg': '<svg/>' };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(tmp.dir, 'assets', name), body);
  writeFileSync(join(tmp.dir, 'index.html'), '<!doctype html><script type="module" src="/assets/main-AAAA1111.js"></script>');
  // A file on disk that the manifest does not list is not served.
  writeFileSync(join(tmp.dir, 'assets', 'stray.js'), 'alert(1)');
  writeFileSync(join(tmp.dir, 'manifest.json'), JSON.stringify({ js: 'main-AAAA1111.js', css: 'main-BBBB2222.css', assets: Object.keys(files) }));
  return tmp.dir;
}

function app(dir: string): Hono<AppEnv> {
  const a = new Hono<AppEnv>();
  // The server's own error mapping, as createApp installs it.
  const answer = (err: unknown, c: Context<AppEnv>) => {
    const { status, body } = toErrorResponse(err);
    return c.json(body, status as 404);
  };
  a.onError(answer);
  a.notFound((c) => answer(new NotFoundError(`no route ${c.req.path}`), c));
  mountDashboard(a, loadDashboard(dir));
  return a;
}

function expectSecured(r: Response): void {
  expect(r.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
  expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  expect(r.headers.get('referrer-policy')).toBe('no-referrer');
}

describe('the built dashboard', () => {
  it('serves / as HTML revalidated on every visit (no-cache, ETag, 304) with the strict CSP', async () => {
    const a = app(fakeBuild());
    const r = await a.request('/');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('cache-control')).toBe('no-cache');
    expectSecured(r);
    expect(await r.text()).toContain('/assets/main-AAAA1111.js');
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
      expect(DASHBOARD_CSP).toContain(directive);
    }
    expect(DASHBOARD_CSP).not.toMatch(/unsafe-(inline|eval)/);

    const etag = r.headers.get('etag');
    expect(etag).toMatch(/^".+"$/);
    const again = await a.request('/', { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expectSecured(again);
    expect((await a.request('/', { headers: { 'if-none-match': '"other"' } })).status).toBe(200);
  });

  it('serves each hashed asset immutable with its content type', async () => {
    const a = app(fakeBuild());
    const cases = [
      ['main-AAAA1111.js', 'text/javascript; charset=utf-8', 'console.log(1)'],
      ['main-BBBB2222.css', 'text/css; charset=utf-8', 'body{color:red}'],
      ['main-AAAA1111.js.map', 'application/json; charset=utf-8', '{"version":3}'],
      ['logo-CCCC3333.svg', 'image/svg+xml', '<svg/>'],
    ];
    for (const [name, type, body] of cases) {
      const r = await a.request(`/assets/${name}`);
      expect(r.status, name).toBe(200);
      expect(r.headers.get('content-type'), name).toBe(type);
      expect(r.headers.get('cache-control'), name).toBe(IMMUTABLE);
      expectSecured(r);
      expect(await r.text()).toBe(body);
    }
  });

  it('answers 404 with the CSP for an unknown asset, a file the manifest does not list, and a path outside assets/', async () => {
    const a = app(fakeBuild());
    for (const path of ['/assets/main-ZZZZ9999.js', '/assets/stray.js', '/assets/..%2Fmanifest.json', '/assets/%2E%2E%2Findex.html', '/assets/']) {
      const r = await a.request(path);
      expect(r.status, path).toBe(404);
      expect(r.headers.get('cache-control'), path).toBeNull();
      expectSecured(r);
      expect((await r.json()).error.code, path).toBe('not_found');
    }
  });
});

describe('without a build', () => {
  it('answers / with a 503 page saying to run npm run build, never cached, and no assets', async () => {
    const tmp = tempDir('iron-cage-web-');
    cleanup = tmp.cleanup;
    expect(loadDashboard(tmp.dir)).toBeNull();
    const a = app(tmp.dir);
    const r = await a.request('/');
    expect(r.status).toBe(503);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expectSecured(r);
    expect(await r.text()).toContain('dashboard not built: run npm run build');
    expect((await a.request('/assets/main-AAAA1111.js')).status).toBe(404);
  });
});
