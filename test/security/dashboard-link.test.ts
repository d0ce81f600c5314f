import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { mintLoginLink, openSession, RENEW_RUNTIME } from '../../src/auth/index.js';
import { selfCommand } from '../../src/core/invocation.js';
import { onSqlite, TokensStore } from '../../src/state/index.js';
import { cliInProcess } from '../helpers/cli.js';
import { sqliteOf } from '../helpers/db.js';
import { dashboardSession, ROOT, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';

// The dashboard link iron-cage prints was a 30-day admin JWT, valid after
// restarts, impossible to revoke, and printed into JSON log pipelines. Now it is a one-time login
// that opens a session (expiring, listed with the API tokens, revocable); a link copied from old
// logs opens nothing. Real `iron-cage serve` processes on real files, real HTTP and WebSockets.

const CLI = join(ROOT, 'bin/iron-cage.js');

let tmp: ReturnType<typeof tempDir> | undefined;
let procs: ChildProcess[] = [];
let t: TestRuntime | undefined;
afterEach(async () => {
  for (const p of procs) if (p.exitCode === null) await stop(p);
  procs = [];
  await t?.stop();
  t = undefined;
  tmp?.cleanup();
  tmp = undefined;
});

async function stop(p: ChildProcess): Promise<void> {
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

/** `iron-cage serve` on a file; resolves with its URL, the login link it printed (pretty log) and its whole output so far. */
async function serve(db: string, format: 'pretty' | 'json' = 'pretty') {
  // Started as `node bin/iron-cage.js`, not through npx (which a test runner may have been).
  const p = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--db', db, '--log-format', format], { env: { ...process.env, NO_COLOR: '1', npm_command: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  let out = '';
  p.stdout!.on('data', (c) => (out += c));
  p.stderr!.on('data', (c) => (out += c));
  const url = await until(() => /dashboard (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1]);
  const link = format === 'pretty' ? await until(() => /#login=(\S+)/.exec(out)?.[1]) : null;
  // What it says gets a new link, as it was started: our script, from this folder, on its file and port.
  const renew = `node bin/iron-cage.js dashboard --db ${db} --port ${new URL(url).port}`;
  return { p, url, link: link === null ? null : decodeURIComponent(link), out: () => out, renew };
}

/** What an iron-cage started in this process says gets a new link: as this process was started (npx, or the installed command), on its file and port. */
const renewOf = (rt: TestRuntime['rt']) => `${selfCommand()} dashboard --db ${rt.config.db} --port ${new URL(rt.url).port}`;

const exchange = (url: string, body: unknown) =>
  fetch(`${url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const get = (url: string, path: string, token: string) => fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
const messageOf = async (r: Response) => ((await r.json()) as { error: { message: string } }).error.message;

function openWs(url: string, token: string): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?token=${encodeURIComponent(token)}`);
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    ws.once('message', () => resolve({ ws, closed }));
    ws.once('error', reject);
  });
}

describe('the printed dashboard link', () => {
  it('is a one-time login: it opens one session, is no token itself, and opens nothing the second time', async () => {
    tmp = tempDir();
    const s = await serve(join(tmp.dir, 'state.db'));
    expect(s.out()).toMatch(/one-time login link, 15 min/);
    // The link itself is not a credential anywhere.
    const asToken = await get(s.url, '/api/whoami', s.link!);
    expect(asToken.status).toBe(401);
    expect(await messageOf(asToken)).toMatch(/a login link is not a token/);

    const before = Date.now();
    const r = await exchange(s.url, { link: s.link });
    expect(r.status).toBe(201);
    const session = (await r.json()) as { token: string; role: string; name: string; expiresAt: string };
    expect(session).toMatchObject({ role: 'admin', name: 'dashboard session' });
    // login_token_ttl_minutes (480 by default): an 8-hour session, not 30 days.
    const life = Date.parse(session.expiresAt) - before;
    expect(life).toBeGreaterThan(479 * 60_000);
    expect(life).toBeLessThan(481 * 60_000);
    expect(await (await get(s.url, '/api/whoami', session.token)).json()).toMatchObject({ role: 'admin' });

    const again = await exchange(s.url, { link: s.link });
    expect(again.status).toBe(401);
    expect(await messageOf(again)).toBe(`this login link has been used already (each works once): run \`${s.renew}\` for a new one`);
  });

  it('opens a session that is listed with the API tokens and ends at once when revoked, its WebSocket too', async () => {
    tmp = tempDir();
    const db = join(tmp.dir, 'state.db');
    const s = await serve(db);
    const session = (await (await exchange(s.url, { link: s.link })).json()) as { token: string };
    const ws = await openWs(s.url, session.token);

    const listed = (await (await get(s.url, '/api/tokens', session.token)).json()) as Array<Record<string, unknown>>;
    const mine = listed.find((x) => x.kind === 'session')!;
    expect(mine).toMatchObject({ name: 'dashboard session', role: 'admin', revokedAt: null, expiresAt: expect.any(String) });
    // Links are not tokens: the events are their record.
    expect(listed.filter((x) => x.kind === 'link')).toEqual([]);
    expect(JSON.stringify(listed)).not.toMatch(/hash|ic_/);
    // The CLI lists it too (in-process: cliInProcess, the same program without a cold start of Node).
    expect((await cliInProcess(['token', 'list', '--db', db])).stdout).toMatch(new RegExp(`${mine.id}\\s+admin\\s+session\\s+dashboard session\\s+expires `));

    // Revoked by another admin credential (here: a second session from `iron-cage dashboard`).
    const other = await dashboardSession(db, s.url);
    const del = await fetch(`${s.url}/api/tokens/${mine.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${other}` } });
    expect(del.status).toBe(200);
    expect(await ws.closed).toEqual({ code: 4401, reason: 'this dashboard session has been revoked' });
    const after = await get(s.url, '/api/whoami', session.token);
    expect(after.status).toBe(401);
    expect(await messageOf(after)).toBe('this dashboard session has been revoked');
    expect((await get(s.url, '/api/whoami', other)).status).toBe(200);
  });

  it('from an earlier start opens nothing, even unused and within its 15 minutes', async () => {
    tmp = tempDir();
    const db = join(tmp.dir, 'state.db');
    const first = await serve(db);
    await stop(first.p);
    const second = await serve(db);
    expect(second.link).not.toBe(first.link);
    const old = await exchange(second.url, { link: first.link });
    expect(old.status).toBe(401);
    expect(await messageOf(old)).toBe(`this login link has expired: run \`${second.renew}\` for a new one`);
    expect((await exchange(second.url, { link: second.link })).status).toBe(201);
  });

  // Two cold starts of the CLI (the server, then the printed command): 17 s of a 30 s limit in a loaded full run.
  it('never reaches a JSON log: the log says how to get one', { timeout: 60_000 }, async () => {
    tmp = tempDir();
    const db = join(tmp.dir, 'state.db');
    const s = await serve(db, 'json');
    await until(() => s.out().includes('LLM gateway'));
    expect(s.out()).toContain(`run \`${s.renew}\` on this machine for a one-time login link`);
    // No login link, API token or JWT anywhere in what the process printed.
    expect(s.out()).not.toMatch(/#login=|#token=|ic_[A-Za-z0-9_-]{20}|eyJ[A-Za-z0-9_-]{10,}\./);
    const token = await dashboardSession(db, s.url);
    expect((await get(s.url, '/api/whoami', token)).status).toBe(200);
    // The command as printed, run by a shell where it was started: its link opens a session on this server.
    const printed = /run `([^`]+)` on this machine/.exec(s.out())![1]!;
    const out = execFileSync('/bin/sh', ['-c', printed], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const link = decodeURIComponent(/^(http:\/\/127\.0\.0\.1:\d+)\/#login=(\S+)$/m.exec(out)![2]!);
    expect(/^(http:\/\/127\.0\.0\.1:\d+)\//m.exec(out)![1]).toBe(s.url);
    expect((await exchange(s.url, { link })).status).toBe(201);
  });
});

describe('POST /api/session', () => {
  it('gives one session for one link when two exchanges race', async () => {
    t = await startTestRuntime();
    const store = new TokensStore(onSqlite(t.rt.state));
    const { link } = mintLoginLink(store, { ttlMinutes: 15, by: 'cli' });
    const answers = await Promise.all(Array.from({ length: 8 }, () => exchange(t!.rt.url, { link })));
    expect(answers.map((r) => r.status).sort()).toEqual([201, 401, 401, 401, 401, 401, 401, 401]);
    expect(store.list().filter((r) => r.kind === 'session')).toHaveLength(1);
  });

  it('refuses a link past its time, and a session past its time', async () => {
    t = await startTestRuntime();
    const store = new TokensStore(onSqlite(t.rt.state));
    const twentyMinutesAgo = new Date(Date.now() - 20 * 60_000);
    const stale = mintLoginLink(store, { ttlMinutes: 15, by: 'cli', now: twentyMinutesAgo });
    const r = await exchange(t.rt.url, { link: stale.link });
    expect(r.status).toBe(401);
    expect(await messageOf(r)).toBe(`this login link has expired: run \`${renewOf(t.rt)}\` for a new one`);

    // A session opened two minutes ago for one minute.
    const twoMinutesAgo = new Date(Date.now() - 2 * 60_000);
    const fresh = mintLoginLink(store, { ttlMinutes: 15, by: 'cli', now: twoMinutesAgo });
    const session = await openSession(store, fresh.link, { ttlMinutes: 1, address: '127.0.0.1', renew: RENEW_RUNTIME, now: twoMinutesAgo });
    const w = await get(t.rt.url, '/api/whoami', session.token);
    expect(w.status).toBe(401);
    expect(await messageOf(w)).toBe(`this dashboard session has expired: run \`${renewOf(t.rt)}\` for a new login link`);
  });

  it('answers malformed bodies with 400 and an unknown link with 401, recording nothing', async () => {
    t = await startTestRuntime();
    const store = new TokensStore(onSqlite(t.rt.state));
    const rows = store.list().length;
    for (const [body, message] of [
      ['{', /JSON/i],
      [{}, /link/],
      [{ link: 5 }, /link/],
      [{ link: '' }, /link: must not be empty/],
      [{ link: 'x'.repeat(300) }, /link: must be at most 256 characters/],
      [{ link: 'ic_abc', extra: 1 }, /extra/],
    ] as const) {
      const r = await exchange(t.rt.url, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(await messageOf(r)).toMatch(message);
    }
    const unknown = await exchange(t.rt.url, { link: 'ic_not-one-of-ours' });
    expect(unknown.status).toBe(401);
    expect(await messageOf(unknown)).toBe(`this login link is not one this iron-cage made: run \`${renewOf(t.rt)}\` for a new one`);
    expect(store.list()).toHaveLength(rows);
  });

  it('leaves no row per start behind: links and sessions that ended over a day ago are forgotten at the next start', async () => {
    t = await startTestRuntime();
    const store = new TokensStore(onSqlite(t.rt.state));
    const twoDaysAgo = new Date(Date.now() - 48 * 3600_000);
    const old = mintLoginLink(store, { ttlMinutes: 15, by: 'cli', now: twoDaysAgo });
    await openSession(store, old.link, { ttlMinutes: 60, address: '127.0.0.1', renew: RENEW_RUNTIME, now: twoDaysAgo });
    const recent = mintLoginLink(store, { ttlMinutes: 15, by: 'cli' });
    const kinds = () => (sqliteOf(t!.rt.state).prepare('SELECT id, kind FROM api_tokens ORDER BY created_at').all() as Array<{ id: string; kind: string }>).filter((r) => r.kind !== 'api');
    expect(kinds().map((r) => r.kind)).toEqual(['link', 'session', 'link', 'link']);
    store.endLinks(new Date());
    // The two-day-old pair is gone; the start's own link and the recent one stay (now ended).
    expect(kinds().map((r) => r.id)).not.toContain(old.id);
    expect(kinds()).toHaveLength(2);
    expect((await exchange(t.rt.url, { link: recent.link })).status).toBe(401);
  });

  it('is recorded: the link made and the session opened, never the secret', async () => {
    t = await startTestRuntime();
    const store = new TokensStore(onSqlite(t.rt.state));
    const l = mintLoginLink(store, { ttlMinutes: 15, by: 'cli' });
    const s = (await (await exchange(t.rt.url, { link: l.link })).json()) as { token: string };
    const events = t.rt.state.lastEvents(50).filter((e) => e.type.startsWith('auth.'));
    expect(events.find((e) => e.type === 'auth.link_created' && (e.data as { tokenId: string }).tokenId === l.id)).toMatchObject({ data: { by: 'cli', role: 'admin' } });
    expect(events.find((e) => e.type === 'auth.session_opened')).toMatchObject({ data: { linkId: l.id, role: 'admin', address: '127.0.0.1' } });
    expect(JSON.stringify(events)).not.toContain(l.link);
    expect(JSON.stringify(events)).not.toContain(s.token);
  });
});
