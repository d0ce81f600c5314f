import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { cliInProcess } from '../helpers/cli.js';
import { startTestRuntime, until, WsProbe, type TestRuntime } from '../helpers/runtime.js';

// Named users end to end: login, the one answer for a wrong name or password, the failed-login
// limits, and revocation (a removed user, a revoked API token) reaching open WebSockets.
const PASSWORD = 'correct horse battery staple';

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function addUser(rt: TestRuntime, name: string, role: 'admin' | 'viewer', password = PASSWORD) {
  const r = await rt.api('/api/users', { method: 'POST', body: JSON.stringify({ name, role, password }) });
  expect(r.status).toBe(201);
  return r.json();
}

const login = (rt: TestRuntime, name: string, password: string) =>
  rt.api('/api/login', { method: 'POST', token: null, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password }) });

/** A WebSocket on `token` that records how it was closed. */
function socket(rt: TestRuntime, token: string) {
  const probe = new WsProbe(`${rt.rt.url.replace('http', 'ws')}/ws?token=${token}`);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => probe.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  return { probe, closed };
}

describe('POST /api/login', () => {
  it('gives a live user a short-lived token of their role; a wrong name and a wrong password get the same 401', async () => {
    t = await startTestRuntime();
    const ann = await addUser(t, 'ann', 'viewer');
    expect(ann).toEqual({ id: expect.stringMatching(/^user_/), name: 'ann', role: 'viewer', createdAt: expect.any(String), removedAt: null });

    const before = Date.now();
    const ok = await login(t, 'ann', PASSWORD);
    expect(ok.status).toBe(200);
    const body = await ok.json();
    expect(body).toEqual({ token: expect.any(String), role: 'viewer', name: 'ann', expiresAt: expect.any(String) });
    const ttl = Date.parse(body.expiresAt) - before;
    expect(ttl).toBeGreaterThan(479 * 60_000);
    expect(ttl).toBeLessThanOrEqual(481 * 60_000);
    const claims = JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ role: 'viewer', name: 'ann', uid: ann.id, iss: 'iron-cage' });
    expect(claims.exp - claims.iat).toBe(480 * 60);

    const me = await t.api('/api/whoami', { token: body.token });
    expect(await me.json()).toEqual({ role: 'viewer', name: 'ann', agentId: null });
    expect((await t.api('/api/agents', { token: body.token })).status).toBe(200);
    // A viewer reads; it does not manage users.
    expect((await t.api('/api/users', { token: body.token })).status).toBe(403);

    const wrongPassword = await login(t, 'ann', `${PASSWORD}!`);
    const unknownName = await login(t, 'nobody', PASSWORD);
    expect(wrongPassword.status).toBe(401);
    expect(unknownName.status).toBe(401);
    const a = await wrongPassword.json();
    expect(a).toEqual({ error: { code: 'unauthorized', message: 'wrong name or password' } });
    expect(await unknownName.json()).toEqual(a);

    // Malformed bodies are 400s, not logins.
    for (const bad of ['', '{}', '{"name":"ann"}', `{"name":"ann","password":"${PASSWORD}","role":"admin"}`, 'not json']) {
      const r = await t.api('/api/login', { method: 'POST', token: null, body: bad });
      expect(r.status, bad).toBe(400);
    }
  }, 30_000);

  it('takes login_token_ttl_minutes from the config', async () => {
    t = await startTestRuntime({ config: { loginTokenTtlMinutes: 5 } });
    await addUser(t, 'ann', 'admin');
    const body = await (await login(t, 'ann', PASSWORD)).json();
    const claims = JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString());
    expect(claims.exp - claims.iat).toBe(300);
    expect(body.role).toBe('admin');
    expect((await t.api('/api/users', { token: body.token })).status).toBe(200);
  });

  it('limits failed logins per name (429 with Retry-After, even for the right password) and a success resets the count', async () => {
    t = await startTestRuntime();
    await addUser(t, 'ann', 'viewer');
    await addUser(t, 'bob', 'viewer');
    // Four failures, then a success: the count starts again.
    for (let i = 0; i < 4; i++) expect((await login(t, 'ann', 'wrong password!')).status).toBe(401);
    expect((await login(t, 'ann', PASSWORD)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await login(t, 'ann', 'wrong password!')).status).toBe(401);
    const limited = await login(t, 'ann', PASSWORD);
    expect(limited.status).toBe(429);
    const retry = Number(limited.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(14 * 60);
    expect(retry).toBeLessThanOrEqual(15 * 60);
    expect((await limited.json()).error.code).toBe('too_many_attempts');
    expect((await login(t, 'ann', PASSWORD)).status).toBe(429);
    // Another name is not held back by ann's.
    expect((await login(t, 'bob', PASSWORD)).status).toBe(200);

    const { events } = await (await t.api('/api/events?limit=1000')).json();
    const failed = events.filter((e: { type: string }) => e.type === 'auth.login_failed');
    // Nine wrong passwords, and one row for the two refusals that followed.
    expect(failed.map((e: { data: { reason: string } }) => e.data.reason)).toEqual([...Array(9).fill('bad_credentials'), 'too_many_attempts']);
    expect(failed[0].data).toEqual({ name: 'ann', address: expect.stringMatching(/127\.0\.0\.1/), reason: 'bad_credentials' });
    expect(events.filter((e: { type: string }) => e.type === 'auth.login').map((e: { data: { name: string } }) => e.data.name)).toEqual(['ann', 'bob']);
  }, 60_000);

  it('limits failed logins per client address across names', async () => {
    t = await startTestRuntime();
    await addUser(t, 'ann', 'viewer');
    // The first guess tries to forge a log line through the name.
    const forged = 'x\n[12:00:00] INFO forged';
    for (let i = 0; i < 20; i++) expect((await login(t, i === 0 ? forged : `guess${i}`, 'wrong password!')).status).toBe(401);
    const r = await login(t, 'ann', PASSWORD);
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(t.log()).not.toContain('\n[12:00:00] INFO forged');
    // A name that is no user (perhaps a password typed into the wrong field) is not recorded.
    expect(t.log()).not.toContain('INFO forged');
    expect(t.log()).toContain("Failed login for '(unknown user)'");
  }, 60_000);

  it('counts parallel guesses before checking them: a burst gets no more tries than the limit', async () => {
    t = await startTestRuntime();
    await addUser(t, 'ann', 'viewer');
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => login(t!, 'ann', `wrong password ${i}`)));
    const statuses = burst.map((r) => r.status);
    // Each guess either had its password checked (401) or was refused unchecked (429).
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    // On a slow machine most of the burst may be refused for the checks already in flight, so the
    // guesser goes on one at a time: all told, no more than the limit are ever checked.
    let checked = statuses.filter((s) => s === 401).length;
    for (let i = 0; i < 6; i++) if ((await login(t, 'ann', `wrong again ${i}`)).status === 401) checked++;
    expect(checked).toBeLessThanOrEqual(5);
    expect((await login(t, 'ann', PASSWORD)).status).toBe(429);
    // The known user's name is recorded with its failures.
    expect(t.log()).toContain("Failed login for 'ann'");
  }, 60_000);

  it('keeps the password out of the database, the WAL, the log, the events and the WebSocket stream', async () => {
    t = await startTestRuntime();
    const ws = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
    await ws.opened;
    await addUser(t, 'ann', 'admin');
    expect((await login(t, 'ann', PASSWORD)).status).toBe(200);
    expect((await login(t, 'ann', `${PASSWORD} typo`)).status).toBe(401);
    await ws.waitForEvent((e) => e.type === 'auth.login_failed');
    await ws.waitForEvent((e) => e.type === 'auth.login');
    const events = await (await t.api('/api/events?limit=1000')).text();
    expect(events).toContain('auth.login');
    const users = await (await t.api('/api/users')).text();
    expect(users).not.toMatch(/argon2|password/i);
    const db = join(t.dir, 'iron_state.db');
    const files = [db, `${db}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f));
    for (const text of [JSON.stringify(ws.messages), t.log(), events, users, ...files.map((b) => b.toString('latin1'))]) {
      expect(text.includes(PASSWORD)).toBe(false);
    }
    await ws.close();
  }, 30_000);
});

describe('revocation on the next request', () => {
  it("refuses a removed user's token at once and closes their open WebSocket with 4401", async () => {
    t = await startTestRuntime();
    await addUser(t, 'ann', 'viewer');
    const { token } = await (await login(t, 'ann', PASSWORD)).json();
    expect((await t.api('/api/whoami', { token })).status).toBe(200); // now cached
    const { probe, closed } = socket(t, token);
    await probe.opened;
    const admin = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
    await admin.opened;

    const rm = await t.api('/api/users/ann', { method: 'DELETE' });
    expect(rm.status).toBe(200);
    expect((await rm.json()).removedAt).toEqual(expect.any(String));
    const refused = await t.api('/api/whoami', { token });
    expect(refused.status).toBe(401);
    expect((await refused.json()).error.message).toBe('this user has been removed');
    expect(await closed).toEqual({ code: 4401, reason: 'this user has been removed' });
    // Others stay connected, and the removed user cannot log in again.
    expect(admin.ws.readyState).toBe(WebSocket.OPEN);
    expect((await login(t, 'ann', PASSWORD)).status).toBe(401);
    const again = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${token}`);
    await expect(again.opened).rejects.toThrow('HTTP 401');
    await admin.close();
  }, 30_000);

  it("closes a user's socket with 4401 when `iron-cage user rm` removes the user from the state file (a connection of its own, as from another process)", async () => {
    t = await startTestRuntime();
    await addUser(t, 'ann', 'admin');
    const { token } = await (await login(t, 'ann', PASSWORD)).json();
    const { probe, closed } = socket(t, token);
    await probe.opened;
    const r = await cliInProcess(['user', 'rm', 'ann', '--db', join(t.dir, 'iron_state.db')]);
    expect(r.code, r.stderr).toBe(0);
    expect((await closed).code).toBe(4401);
    expect((await t.api('/api/whoami', { token })).status).toBe(401);
  }, 30_000);

  it('closes the sockets of an API token revoked with DELETE /api/tokens/:id or `iron-cage token revoke` with 4401', async () => {
    t = await startTestRuntime();
    const make = async (name: string) => (await (await t!.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'viewer', name }) })).json()) as { id: string; token: string };
    const viaApi = await make('wall-screen');
    const viaCli = await make('laptop');
    const a = socket(t, viaApi.token);
    const b = socket(t, viaCli.token);
    await Promise.all([a.probe.opened, b.probe.opened]);

    expect((await t.api(`/api/tokens/${viaApi.id}`, { method: 'DELETE' })).status).toBe(200);
    expect(await a.closed).toEqual({ code: 4401, reason: 'this API token has been revoked' });
    expect(b.probe.ws.readyState).toBe(WebSocket.OPEN);

    const r = await cliInProcess(['token', 'revoke', 'laptop', '--db', join(t.dir, 'iron_state.db')]);
    expect(r.code, r.stderr).toBe(0);
    expect((await b.closed).code).toBe(4401);
    await until(async () => (await t!.api('/api/whoami', { token: viaCli.token })).status === 401);
  }, 30_000);
});
