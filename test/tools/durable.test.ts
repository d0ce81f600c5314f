import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { raw, withTools } from './helpers.js';
import { FakeService } from '../helpers/http.js';

let up: FakeService;
let t: TestRuntime;

beforeAll(async () => {
  up = await FakeService.start();
  t = await startTestRuntime({ config: withTools({ crm: { url: up.url, cache_ttl_s: 60 } }) });
});
afterAll(async () => {
  await t?.stop();
  await up?.close();
});

/** Another connection on the same file: it sees only what has been committed. */
function onDisk<T>(query: string): T {
  const db = new Database(t.rt.state.path, { readonly: true });
  try {
    return db.prepare(query).get() as T;
  } finally {
    db.close();
  }
}

describe('a tool call is on record', () => {
  it('before the agent has its answer, with the cache row it produced', async () => {
    const token = t.rt.adminToken;
    for (let i = 1; i <= 3; i++) {
      const r = await raw(t.rt.url, 'GET', `/tools/crm/contacts/${i}`, { token });
      expect(r.status).toBe(200);
      // Read as soon as the answer is here: no waiting for a flush.
      expect(onDisk<{ n: number }>("SELECT count(*) AS n FROM tool_calls WHERE service = 'crm'").n).toBe(i);
      expect(onDisk<{ n: number }>("SELECT count(*) AS n FROM tool_cache WHERE service = 'crm'").n).toBe(i);
    }
    const last = onDisk<{ path: string; status: number; tier: string; reason: string }>('SELECT path, status, tier, reason FROM tool_calls ORDER BY id DESC LIMIT 1');
    expect(last).toEqual({ path: '/contacts/3', status: 200, tier: 'live', reason: 'ok' });
  });

  it('when it was refused, before the refusal reaches the agent', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024 + 1, 'a');
    const r = await raw(t.rt.url, 'POST', '/tools/crm/import', { token: t.rt.adminToken, body });
    expect(r.status).toBe(413);
    const last = onDisk<{ status: number; tier: string | null; reason: string; bytes: number }>('SELECT status, tier, reason, bytes FROM tool_calls ORDER BY id DESC LIMIT 1');
    expect(last).toEqual({ status: 413, tier: null, reason: 'payload_too_large', bytes: 0 });
  });
});
