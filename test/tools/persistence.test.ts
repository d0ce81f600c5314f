import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRuntime, tempDir } from '../helpers/runtime.js';
import { breakers, eventsOf, raw, withTools } from './helpers.js';
import { FakeService } from '../helpers/http.js';

let up: FakeService;
let dir: { dir: string; cleanup: () => void };

beforeAll(async () => {
  up = await FakeService.start();
  dir = tempDir();
});
afterAll(async () => {
  await up?.close();
  dir?.cleanup();
});

const config = () => withTools({ linkedin: { url: up.url, cost_per_call_usd: 0.1, breaker: { failure_threshold: 3, cooldown_s: 3600 } } });

describe('across an iron-cage restart on the same database', () => {
  it('keeps the breaker state, its counters and the response cache', async () => {
    const first = await startTestRuntime({ dir: dir.dir, config: config() });
    const token = first.rt.adminToken;
    const ok = await raw(first.rt.url, 'GET', '/tools/linkedin/company/acme?fields=size', { token });
    expect(ok.headers['x-iron-cage-tier']).toBe('live');
    up.failWith(502);
    for (let i = 0; i < 3; i++) await raw(first.rt.url, 'GET', '/tools/linkedin/company/other', { token });
    await raw(first.rt.url, 'GET', '/tools/linkedin/company/other', { token });
    const before = (await breakers(first)).linkedin;
    expect(before).toMatchObject({ state: 'OPEN', failures: 3, blocked: 1 });
    await first.stop();

    const seen = up.seen.length;
    const second = await startTestRuntime({ dir: dir.dir, config: config() });
    try {
      const after = (await breakers(second)).linkedin;
      expect(after).toMatchObject({ state: 'OPEN', calls: before.calls, failures: 3, blocked: 1, served: before.served, openCount: 1 });
      expect(after.retryAfterMs).toBeGreaterThan(3_500_000);
      const restored = eventsOf(second, 'breaker.restored');
      expect(restored.at(-1)).toMatchObject({ severity: 'warn', data: { kind: 'tool', service: 'linkedin', state: 'OPEN', problems: [] } });
      expect(restored.at(-1).message).toMatch(/^Circuit linkedin restored OPEN from the last run; probe in \d+s$/);

      // The cache written by the first run answers while the restored circuit stays open.
      const cached = await raw(second.rt.url, 'GET', '/tools/linkedin/company/acme?fields=size', { token: second.rt.adminToken });
      expect(cached.status).toBe(200);
      expect(cached.headers).toMatchObject({ 'x-iron-cage-tier': 'cache', 'x-iron-cage-breaker': 'open' });
      expect(cached.body).toBe(ok.body);
      expect(up.seen.length).toBe(seen);
      expect((await breakers(second)).linkedin).toMatchObject({ blocked: 2, costSavedUsd: 0.2 });

      // Calls of the first run are still on record.
      const calls = await (await second.api('/api/tools/calls?service=linkedin')).json();
      expect(calls.calls).toHaveLength(6);
    } finally {
      await second.stop();
    }
  });
});
