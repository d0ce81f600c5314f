import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { breakers, eventsOf, raw, withTools } from './helpers.js';
import { FakeService, unusedPort } from '../helpers/http.js';

let t: TestRuntime;
let up: FakeService;

beforeAll(async () => {
  up = await FakeService.start();
  t = await startTestRuntime({
    config: withTools({
      retrying: { url: up.url, cache_ttl_s: 0, retry: { attempts: 3, base_ms: 5, max_ms: 20 }, breaker: { failure_threshold: 10 } },
      gone: { url: `http://127.0.0.1:${await unusedPort()}`, breaker: { failure_threshold: 2 } },
    }),
  });
});
afterAll(async () => {
  await t?.stop();
  await up?.close();
});

describe('retries and unreachable services', () => {
  it('retries idempotent calls that failed, and never repeats a POST', async () => {
    let n = 0;
    up.reply = (req) => (++n <= 2 ? { status: 503, body: 'busy' } : up.ok(req));
    const get = await raw(t.rt.url, 'GET', '/tools/retrying/report', { token: t.rt.adminToken });
    expect(get.status).toBe(200);
    expect(get.headers['x-iron-cage-tier']).toBe('live');
    expect(up.seen.map((s) => s.method)).toEqual(['GET', 'GET', 'GET']);
    expect((await breakers(t)).retrying).toMatchObject({ failures: 2, successes: 1, state: 'CLOSED' });

    n = 0;
    const post = await raw(t.rt.url, 'POST', '/tools/retrying/send', { token: t.rt.adminToken, body: '{"to":"x"}', headers: { 'content-type': 'application/json' } });
    expect(post.status).toBe(503);
    expect(up.seen.filter((s) => s.method === 'POST')).toHaveLength(1);
  });

  it('answers 503 when the service cannot be reached, and opens its circuit', async () => {
    const r = await raw(t.rt.url, 'GET', '/tools/gone/x', { token: t.rt.adminToken });
    expect(r.status).toBe(503);
    expect(r.json().error).toEqual({ code: 'upstream_unavailable', message: 'gone could not be reached (connection) and there is no cached answer or placeholder' });
    await raw(t.rt.url, 'GET', '/tools/gone/x', { token: t.rt.adminToken });
    expect((await breakers(t)).gone).toMatchObject({ state: 'OPEN', lastFailure: 'connection' });
    expect(eventsOf(t, 'tool.fallback').find((e) => e.data.service === 'gone')).toMatchObject({
      severity: 'error',
      message: 'gone: calls failing (gone unreachable; no cached answer or placeholder)',
    });
  });
});
