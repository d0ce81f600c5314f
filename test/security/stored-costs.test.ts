import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPassword } from '../../src/auth/index.js';
import { checkUsd } from '../../src/core/validation.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { FakeService } from '../helpers/http.js';
import { withTools } from '../tools/helpers.js';

// What storage or a request may ask of the process is
// bounded. A password hash edited to ask for 4 GiB and 1000 passes must not make one login take
// gigabytes and minutes; a password of twelve spaces is no password; 0.30000000000000004 dollars
// is not six decimals; a fault plan lasts a day at most.

let t: TestRuntime;
let svc: FakeService;

beforeAll(async () => {
  svc = await FakeService.start();
  t = await startTestRuntime({ config: withTools({ echo: { url: svc.url } }) });
});
afterAll(async () => {
  await t?.stop();
  await svc?.close();
});

const post = (path: string, body: unknown, token?: string) => t.api(path, { method: 'POST', body: JSON.stringify(body), ...(token ? { token } : {}) });
const messageOf = async (r: Response) => ((await r.json()) as { error: { message: string } }).error.message;

describe('a stored password hash is verified only within the costs iron-cage hashes with', () => {
  it('a hash edited to m = 4 GiB, t = 1000 refuses that login at once (401), says why in the event log, and other users log in', async () => {
    expect((await post('/api/users', { name: 'ann', role: 'viewer', password: 'correct horse battery' })).status).toBe(201);
    expect((await post('/api/users', { name: 'bob', role: 'viewer', password: 'staple battery horse' })).status).toBe(201);
    const db = new Database(t.rt.config.db);
    try {
      const stored = (db.prepare("SELECT password_hash AS h FROM users WHERE name = 'ann'").get() as { h: string }).h;
      // The same salt and hash, asking for 4 GiB of memory and a thousand passes.
      db.prepare("UPDATE users SET password_hash = ? WHERE name = 'ann'").run(stored.replace(/m=\d+,t=\d+,p=\d+/, 'm=4194304,t=1000,p=1'));
    } finally {
      db.close();
    }
    const r = await t.api('/api/login', { method: 'POST', body: JSON.stringify({ name: 'ann', password: 'correct horse battery' }), token: null });
    expect(r.status).toBe(401);
    expect(await messageOf(r)).toBe('wrong name or password');
    const page = (await (await t.api('/api/events?limit=1000')).json()) as { events: Array<{ type: string; message: string; data: { reason: string; name: string } }> };
    const failed = page.events.filter((e) => e.type === 'auth.login_failed');
    expect(failed.at(-1)!.data).toMatchObject({ name: 'ann', reason: 'untrusted_hash' });
    expect(failed.at(-1)!.message).toMatch(/stored password hash asks for a cost iron-cage never hashes with/);
    const bob = await t.api('/api/login', { method: 'POST', body: JSON.stringify({ name: 'bob', password: 'staple battery horse' }), token: null });
    expect(bob.status).toBe(200);
  });
});

describe('a password is more than twelve characters', () => {
  it.each([
    ['twelve spaces', ' '.repeat(12), /at least 5 different characters/],
    ['twelve NULs', '\u0000'.repeat(12), /no control characters/],
    ['a tab inside', 'correct\thorse battery', /no control characters/],
    ['one letter twelve times', 'a'.repeat(12), /at least 5 different characters/],
  ])('%s is refused with a precise 400, and no user is added', async (_what, password, message) => {
    expect(() => checkPassword(password)).toThrow(message);
    const r = await post('/api/users', { name: 'weak', role: 'viewer', password });
    expect(r.status).toBe(400);
    expect(await messageOf(r)).toMatch(message);
    expect(((await (await t.api('/api/users')).json()) as Array<{ name: string }>).map((u) => u.name)).not.toContain('weak');
  });

  it('a passphrase with spaces, and one in any script, is fine', () => {
    expect(checkPassword('correct horse battery')).toBe('correct horse battery');
    expect(checkPassword('Übermäßig lange Passphrase')).toBe('Übermäßig lange Passphrase');
  });
});

describe('six decimals means six as written, not close to six', () => {
  it.each([0.30000000000000004, 0.1 + 0.2, 1.0000001, 1e-7])('%s dollars is refused, everywhere the money rule applies', async (usd) => {
    expect(checkUsd(usd)).toBe('must have at most 6 decimal places (micro-dollars)');
    const r = await post('/api/tokens', { role: 'agent', name: `six-${String(usd).replace(/\W/g, '')}`, budgetUsd: usd });
    expect(r.status).toBe(400);
    expect(await messageOf(r)).toMatch(/budgetUsd: must have at most 6 decimal places/);
  });

  it.each([
    [0.3, 300_000],
    [0.1, 100_000],
    [12.345678, 12_345_678],
    [1_000_000, 1_000_000_000_000],
  ])('%s dollars is %s micro-dollars exactly', (usd, micros) => {
    expect(checkUsd(usd)).toBe(micros);
  });
});

describe('a fault plan is bounded like the config file bounds it', () => {
  it.each([
    [{ durationMs: 1e15 }, /durationMs: must be at most 86400000 \(a day\)/],
    [{ fromCall: 1e15 }, /fromCall: must be at most 1000000000/],
    [{ count: 1e12 }, /count: must be at most 1000000000/],
  ])('%j → 400, no plan added', async (extra, message) => {
    const r = await post('/api/faults', { service: 'echo', status: 503, ...extra });
    expect(r.status).toBe(400);
    expect(await messageOf(r)).toMatch(message);
    expect(((await (await t.api('/api/faults')).json()) as { faults: unknown[] }).faults).toEqual([]);
  });

  it('a day, and a billion calls, are accepted', async () => {
    const r = await post('/api/faults', { service: 'echo', status: 503, durationMs: 86_400_000, fromCall: 1_000_000_000 });
    expect(r.status).toBe(201);
    await t.api('/api/faults', { method: 'DELETE' });
  });
});
