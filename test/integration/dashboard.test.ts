import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { DASHBOARD_CSP } from '../../src/server/static.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

// The page `npm run build` made, served by a real iron-cage over real HTTP: what a browser gets
// at the printed URL. (The build runs before the suite in `npm test`.)

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

/** GET with a Host header of our choosing (fetch will not send a foreign one). */
function getWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the dashboard at /', () => {
  it('is the built page: no inline script or style, and every file it names is served immutable', async () => {
    t = await startTestRuntime();
    const r = await fetch(`${t.rt.url}/`);
    const html = await r.text();
    expect(r.status, 'dist/web is missing: run npm run build').toBe(200);
    expect(r.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(r.headers.get('cache-control')).toBe('no-cache');

    // Every script is a file; no <style>, no style= or on*= attributes, no javascript: URLs.
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/\bsrc="\/assets\/[^"]+"/);
      expect(body!.trim()).toBe('');
    }
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=|javascript:/i);

    const linked = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(linked.some((p) => /^\/assets\/main-[A-Z0-9]+\.js$/.test(p))).toBe(true);
    expect(linked.some((p) => /^\/assets\/main-[A-Z0-9]+\.css$/.test(p))).toBe(true);
    for (const path of linked) {
      const a = await fetch(`${t.rt.url}${path}`);
      expect(a.status, path).toBe(200);
      expect(a.headers.get('cache-control'), path).toBe('public, max-age=31536000, immutable');
      expect(a.headers.get('content-type'), path).toMatch(path.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      expect(a.headers.get('content-security-policy'), path).toBe(DASHBOARD_CSP);
      expect((await a.text()).length, path).toBeGreaterThan(0);
    }
    expect((await fetch(`${t.rt.url}/assets/main-NOPE.js`)).status).toBe(404);
  });

  it('keeps the Host guard in front of the page and its assets', async () => {
    t = await startTestRuntime();
    const html = await (await fetch(`${t.rt.url}/`)).text();
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    for (const path of ['/', js]) {
      const r = await getWithHost(`${t.rt.url}${path}`, 'evil.example:80');
      expect(r.status, path).toBe(403);
      expect(JSON.parse(r.body).error.code).toBe('forbidden_host');
    }
  });
});
