import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TELEMETRY_MAX_BYTES } from '../../src/state/index.js';
import { CLI, cli, cliInProcess } from '../helpers/cli.js';
import { batchOf, startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { ROOT, until } from '../helpers/runtime.js';

// The control panel on a real PostgreSQL: its start and refusals (the built CLI), login, runtime
// tokens, telemetry in (stored, duplicate, out of order, malformed, too large, another runtime's),
// the feed, and PostgreSQL going away under it.

let server: TestPostgres;
beforeAll(async () => {
  // It stops and starts its server (an outage): one of its own, not the run's shared one.
  server = await startPostgres({ own: true });
}, 60_000);
afterAll(() => server?.destroy());

const rowsOf = async (url: string, q: string) => {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return (await c.query(q)).rows;
  } finally {
    await c.end();
  }
};
const count = async (url: string, q: string) => Number((await rowsOf(url, q))[0].n);

describe('iron-cage panel (the command line)', () => {
  it('refuses bad flags with exit 2 naming the flag, and a PostgreSQL that is down with one line and exit 1, never the password', async () => {
    const down = `postgres://iron:hunter2@127.0.0.1:${server.port + 1}/nowhere`;
    // Bad flags are refused before the panel starts anything: in-process (cliInProcess, the same
    // program without a cold start of Node); the database that is down, and its exit 1, as a process.
    const [plain, url, none, half, unreachable] = await Promise.all([
      cliInProcess(['panel', '--database', server.url, '--host', '0.0.0.0', '--port', '0']),
      cliInProcess(['panel', '--database', 'mysql://x@y/z']),
      cliInProcess(['panel']),
      cliInProcess(['panel', '--database', server.url, '--tls-cert', '/nonexistent.pem']),
      cli(['panel', '--database', down, '--port', '0']),
    ]);
    expect([plain.code, url.code, none.code, half.code, unreachable.code]).toEqual([2, 2, 2, 2, 1]);
    expect(plain.stderr).toMatch(/^iron-cage: --host: the panel would take tokens and passwords from 0\.0\.0\.0 over plain HTTP; give it --tls-cert and --tls-key/);
    expect(url.stderr).toContain('--database: expected a postgres:// URL, got mysql://');
    expect(none.stderr).toMatch(/^iron-cage: --database: required/);
    expect(half.stderr).toContain('--tls-key: required with --tls-cert');
    expect(unreachable.stderr.trim().split('\n')).toHaveLength(1);
    expect(unreachable.stderr).toMatch(/cannot reach PostgreSQL at 127\.0\.0\.1:\d+\/nowhere/);
    expect(unreachable.stderr).not.toContain('hunter2');
    // The one-shot commands say it the same way (they printed a stack): in-process, exit 1.
    for (const args of [
      ['panel', 'budget', 'list'],
      ['panel', 'link'],
      ['panel', 'runtime', 'add', 'r1'],
    ]) {
      const r = await cliInProcess([...args, '--database', down]);
      expect({ args, code: r.code, lines: r.stderr.trim().split('\n').length, password: r.stderr.includes('hunter2') }).toEqual({ args, code: 1, lines: 1, password: false });
      expect(r.stderr).toMatch(/^iron-cage: cannot reach PostgreSQL at 127\.0\.0\.1:\d+\/nowhere/);
    }
  }, 60_000);

  it('starts, prints a login link the dashboard exchanges for a session, says mode panel; `panel runtime add` prints a token it takes', async () => {
    const db = await server.createDatabase('cli');
    const child = spawn(process.execPath, [CLI, 'panel', '--database', db, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (out += c));
      const [, base, link] = await until(() => /dashboard (http:\/\/127\.0\.0\.1:\d+)\/#login=(\S+)/.exec(out), 20_000);
      const session = await fetch(`${base}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ link }) });
      expect(session.status).toBe(201);
      const { token, role } = (await session.json()) as { token: string; role: string };
      expect(role).toBe('admin');
      const who = await (await fetch(`${base}/api/whoami`, { headers: { authorization: `Bearer ${token}` } })).json();
      expect(who).toMatchObject({ role: 'admin', mode: 'panel' });
      expect(await (await fetch(`${base}/api/health`)).json()).toMatchObject({ status: 'ok', mode: 'panel' });
      // The link works once.
      expect((await fetch(`${base}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ link }) })).status).toBe(401);

      const added = await cli(['panel', 'runtime', 'add', 'ci-box', '--database', db, '--json']);
      expect(added.code).toBe(0);
      const { token: rt } = JSON.parse(added.stdout) as { token: string };
      expect(rt).toMatch(/^ic_rt_/);
      const hello = await fetch(`${base}/api/telemetry`, { headers: { authorization: `Bearer ${rt}` } });
      expect(await hello.json()).toEqual({ runtime: 'ci-box', lastSeq: 0, cursor: { eventSeq: 0, llmRequestId: 0, toolCallId: 0 } });
      // The first add as a process of its own, the others in-process.
      const bad = await cliInProcess(['panel', 'runtime', 'add', 'no spaces', '--database', db]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('id: a runtime id is 1-63 letters');
      // A runtime added for a user says whose it is: in the list, and on the fleet page's answer.
      expect((await cliInProcess(['panel', 'runtime', 'add', 'laptop-anna', '--user', 'anna', '--database', db])).code).toBe(0);
      const list = await cliInProcess(['panel', 'runtime', 'list', '--database', db]);
      expect(list.code).toBe(0);
      expect(list.stdout.split('\n').filter(Boolean)).toEqual([expect.stringMatching(/^ci-box\tuser -\tlast seq 0\t/), expect.stringMatching(/^laptop-anna\tuser anna\tlast seq 0\t/)]);
      const fleet = (await (await fetch(`${base}/api/fleet`, { headers: { authorization: `Bearer ${token}` } })).json()) as { runtimes: Array<{ id: string; user: string | null }> };
      expect(fleet.runtimes.map((r) => [r.id, r.user])).toEqual([
        ['ci-box', null],
        ['laptop-anna', 'anna'],
      ]);
    } finally {
      child.kill('SIGTERM');
    }
  }, 60_000);

  it('with --log-format json logs no login link (it opens an admin session), and names `panel link` as it was started wherever a new link is needed: that command, run as printed, works', async () => {
    const db = await server.createDatabase('jsonlog');
    // Started as `node dist/cli.js` from the checkout, not through npx (which a test runner may have been).
    const child = spawn(process.execPath, [CLI, 'panel', '--database', db, '--port', '0', '--log-format', 'json'], {
      cwd: ROOT,
      env: { ...process.env, npm_command: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (out += c));
      const line = await until(() => out.split('\n').find((l) => l.includes('control panel at')), 20_000);
      const { msg } = JSON.parse(line) as { msg: string };
      // The panel's own address first, the database's beside it.
      const started = /control panel at (http:\/\/127\.0\.0\.1:(\d+))\/ \(database 127\.0\.0\.1:\d+\/\w+\) · run `([^`]+)` for a one-time login link$/.exec(msg)!;
      expect(started, msg).not.toBeNull();
      const [, base, port, renew] = started as unknown as [string, string, string, string];
      expect(renew).toBe(`node dist/cli.js panel link --database ${db} --port ${port}`);
      expect(out).not.toContain('#login=');
      // No link was made either: nothing lies unused in the database that the log did not show.
      expect(await count(db, "SELECT count(*) AS n FROM api_tokens WHERE kind = 'link'")).toBe(0);

      // The command it names, run as printed, makes a link to this panel (its port, not the default), and that link is refused a second time with the panel's own advice.
      const made = execFileSync('/bin/sh', ['-c', renew], { cwd: ROOT, encoding: 'utf8' });
      const printed = /^(http:\/\/127\.0\.0\.1:\d+)\/#login=(\S+)$/m.exec(made)!;
      expect(printed[1]).toBe(base);
      const link = printed[2]!;
      const exchange = () => fetch(`${base}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ link }) });
      const opened = await exchange();
      expect(opened.status).toBe(201);
      const { token } = (await opened.json()) as { token: string };
      const again = await exchange();
      expect(again.status).toBe(401);
      expect(((await again.json()) as { error: { message: string } }).error.message).toBe(`this login link has been used already (each works once): run \`${renew}\` for a new one`);
      // A session that has expired says the same.
      const c = new pg.Client(db);
      await c.connect();
      await c.query("UPDATE api_tokens SET expires_at = '2000-01-01T00:00:00.000Z' WHERE kind = 'session'").finally(() => c.end());
      const who = await fetch(`${base}/api/whoami`, { headers: { authorization: `Bearer ${token}` } });
      expect(who.status).toBe(401);
      expect(((await who.json()) as { error: { message: string } }).error.message).toBe(`this dashboard session has expired: run \`${renew}\` for a new login link`);
    } finally {
      child.kill('SIGTERM');
    }
  }, 60_000);

  it('serves HTTPS with --tls-cert and --tls-key, also beyond loopback', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iron-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], {
        stdio: 'ignore',
      });
      const db = await server.createDatabase('tls');
      const child = spawn(process.execPath, [CLI, 'panel', '--database', db, '--host', '0.0.0.0', '--port', '0', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      try {
        let out = '';
        child.stdout.on('data', (c) => (out += c));
        const port = Number(await until(() => /dashboard https:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1], 20_000));
        const body = await new Promise<string>((resolve, reject) => {
          httpsRequest({ host: '127.0.0.1', port, path: '/api/health', rejectUnauthorized: false }, (res) => {
            let b = '';
            res.on('data', (c) => (b += c));
            res.on('end', () => resolve(b));
          })
            .on('error', reject)
            .end();
        });
        expect(JSON.parse(body)).toMatchObject({ status: 'ok', mode: 'panel' });
      } finally {
        child.kill('SIGTERM');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('a panel at work', () => {
  let t: TestPanel;
  let db: string;
  beforeAll(async () => {
    db = await server.createDatabase('work');
    t = await startTestPanel(db);
  }, 30_000);
  afterAll(() => t?.close());

  const addRuntime = async (id: string) => {
    const r = await t.api('/api/runtimes', { token: t.admin, body: { id } });
    expect(r.status).toBe(201);
    return ((await r.json()) as { token: string }).token;
  };

  it('takes a batch once: the same batch again is a duplicate counted once, a gap is 409 with expectedSeq, the hello has moved', async () => {
    const rt = await addRuntime('laptop-a');
    const first = await t.api('/api/telemetry', { token: rt, body: batchOf('laptop-a', 1, { n: 3, costMicros: 1_000 }) });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ runtime: 'laptop-a', seq: 1, duplicate: false, stored: { agents: 1, events: 3, llmRequests: 3, toolCalls: 0, breakers: 0 } });
    const again = await t.api('/api/telemetry', { token: rt, body: batchOf('laptop-a', 1, { n: 3, costMicros: 1_000 }) });
    expect(await again.json()).toMatchObject({ seq: 1, duplicate: true, stored: { events: 0, llmRequests: 0 } });
    // Rows sent twice in a new batch (a runtime resending after a restart) are dropped by their keys.
    const overlap = await t.api('/api/telemetry', { token: rt, body: batchOf('laptop-a', 2, { from: 2, n: 3, costMicros: 1_000 }) });
    expect(await overlap.json()).toMatchObject({ seq: 2, duplicate: false, stored: { events: 1, llmRequests: 1 } });
    expect(await count(db, "SELECT count(*) AS n FROM llm_requests WHERE runtime_id = 'laptop-a'")).toBe(4);
    expect(await count(db, "SELECT sum(cost_micros) AS n FROM spend_hourly WHERE runtime_id = 'laptop-a'")).toBe(4_000);
    expect(await count(db, "SELECT sum(calls) AS n FROM spend_daily WHERE runtime_id = 'laptop-a' AND agent_name = 'lead-gen'")).toBe(4);

    const gap = await t.api('/api/telemetry', { token: rt, body: batchOf('laptop-a', 5, { from: 10 }) });
    expect(gap.status).toBe(409);
    expect(await gap.json()).toEqual({ error: { code: 'out_of_order', expectedSeq: 3, message: 'batch 5 is out of order: the panel expects batch 3 next' } });
    const hello = await (await t.api('/api/telemetry', { token: rt })).json();
    expect(hello).toEqual({ runtime: 'laptop-a', lastSeq: 2, cursor: { eventSeq: 4, llmRequestId: 4, toolCallId: 0 } });
  });

  it('answers a malformed batch 400 naming the field, an oversized one 413, and stores nothing of either', async () => {
    const rt = await addRuntime('laptop-b');
    const broken = batchOf('laptop-b', 1);
    (broken.llmRequests![0] as { costMicros: unknown }).costMicros = 'lots';
    const bad = await t.api('/api/telemetry', { token: rt, body: broken });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/llmRequests\.0\.costMicros/);
    const extra = await t.api('/api/telemetry', { token: rt, body: { ...batchOf('laptop-b', 1), surprise: 1 } });
    expect(extra.status).toBe(400);
    const big = await t.api('/api/telemetry', { token: rt, raw: JSON.stringify({ ...batchOf('laptop-b', 1), sentAt: 'x'.repeat(TELEMETRY_MAX_BYTES) }) });
    expect(big.status).toBe(413);
    // A key twice in one batch (it would be stored once and summed twice), a negative or absurd cost.
    const twice = batchOf('laptop-b', 1);
    twice.llmRequests!.push({ ...twice.llmRequests![0]! });
    const dup = await t.api('/api/telemetry', { token: rt, body: twice });
    expect(dup.status).toBe(400);
    expect(((await dup.json()) as { error: { message: string } }).error.message).toMatch(/llmRequests id 1 appears twice in this batch/);
    for (const costMicros of [-1, 2 ** 52]) {
      const r = await t.api('/api/telemetry', { token: rt, body: batchOf('laptop-b', 1, { costMicros }) });
      expect(r.status, String(costMicros)).toBe(400);
    }
    expect(await count(db, "SELECT count(*) AS n FROM events WHERE runtime_id = 'laptop-b'")).toBe(0);
    expect(await count(db, "SELECT count(*) AS n FROM llm_requests WHERE runtime_id = 'laptop-b'")).toBe(0);
    expect(await count(db, "SELECT count(*) AS n FROM spend_daily WHERE runtime_id = 'laptop-b'")).toBe(0);
    expect(await count(db, "SELECT last_seq AS n FROM runtimes WHERE id = 'laptop-b'")).toBe(0);
  });

  it('stores what PostgreSQL text cannot hold (a NUL an agent printed) as U+FFFD instead of refusing the runtime’s report', async () => {
    const rt = await addRuntime('laptop-nul');
    const b = batchOf('laptop-nul', 1, { n: 2 });
    (b.events![0] as { message: string }).message = 'before\u0000after \\u0000 stays text';
    (b.agents![0] as { name: string }).name = 'lead\u0000gen';
    const r = await t.api('/api/telemetry', { token: rt, body: b });
    expect(r.status, await r.clone().text()).toBe(200);
    const [event] = (await rowsOf(db, "SELECT message FROM events WHERE runtime_id = 'laptop-nul' ORDER BY seq LIMIT 1")) as unknown as Array<{ message: string }>;
    expect(event!.message).toBe('before\uFFFDafter \\u0000 stays text');
    const [agent] = (await rowsOf(db, "SELECT name FROM agents WHERE runtime_id = 'laptop-nul'")) as unknown as Array<{ name: string }>;
    expect(agent!.name).toBe('lead\uFFFDgen');
  });

  it('lets a runtime token report for its own runtime only and call nothing else; revoked, it is refused at once', async () => {
    const rt = await addRuntime('laptop-c');
    await addRuntime('laptop-d');
    const other = await t.api('/api/telemetry', { token: rt, body: batchOf('laptop-d', 1) });
    expect(other.status).toBe(403);
    expect(((await other.json()) as { error: { message: string } }).error.message).toContain("reports for runtime 'laptop-c', not 'laptop-d'");
    for (const [path, method] of [
      ['/api/whoami', 'GET'],
      ['/api/runtimes', 'GET'],
      ['/api/runtimes', 'POST'],
      ['/api/users', 'GET'],
      ['/api/runtimes/laptop-c', 'DELETE'],
    ] as const) {
      const r = await t.api(path, { token: rt, method, ...(method === 'POST' ? { body: { id: 'x' } } : {}) });
      expect([path, method, r.status]).toEqual([path, method, 403]);
    }
    const ws = await wsStatus(t.url, rt);
    expect(ws).toBe(403);
    // An admin's token is no runtime's: the telemetry routes refuse it.
    expect((await t.api('/api/telemetry', { token: t.admin })).status).toBe(403);
    expect((await t.api('/api/telemetry', { token: rt, body: batchOf('laptop-c', 1) })).status).toBe(200);
    const gone = await t.api('/api/runtimes/laptop-c', { token: t.admin, method: 'DELETE' });
    expect(await gone.json()).toMatchObject({ runtime: { id: 'laptop-c' }, revoked: 1 });
    const after = await t.api('/api/telemetry', { token: rt, body: batchOf('laptop-c', 2, { from: 10 }) });
    expect(after.status).toBe(401);
    expect(((await after.json()) as { error: { message: string } }).error.message).toBe('this runtime token has been revoked');
    const listed = (await (await t.api('/api/runtimes', { token: t.admin })).json()) as Array<{ id: string }>;
    expect(listed.map((r) => r.id)).not.toContain('laptop-c');
  });

  it('pushes each landed batch and the runtime’s state to the viewers on /ws', async () => {
    const rt = await addRuntime('laptop-e');
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/ws?token=${t.admin}`);
    const frames: Array<Record<string, unknown>> = [];
    ws.on('message', (m) => frames.push(JSON.parse(String(m))));
    await until(() => frames.find((f) => f.kind === 'hello'));
    await t.api('/api/telemetry', { token: rt, body: batchOf('laptop-e', 1, { n: 2 }) });
    const batch = await until(() => frames.find((f) => f.kind === 'batch' && f.runtime === 'laptop-e'));
    expect(batch).toMatchObject({ seq: 1, stored: { events: 2 }, events: [{ runtime: 'laptop-e', seq: 1, agentId: 'lg-1', type: 'llm.request', message: 'call 1', data: { n: 1 } }, { seq: 2 }] });
    expect(await until(() => frames.find((f) => f.kind === 'runtime' && f.runtime === 'laptop-e'))).toMatchObject({ behind: 0, lastSeenAt: expect.any(Number) });
    ws.close();
  });

  it('adds users who log in with a password to a revocable session; removing the user ends it', async () => {
    const add = await t.api('/api/users', { token: t.admin, body: { name: 'vera', role: 'viewer', password: 'a long viewer password' } });
    expect(add.status).toBe(201);
    const login = await t.api('/api/login', { body: { name: 'vera', password: 'a long viewer password' } });
    expect(login.status).toBe(200);
    const { token, role } = (await login.json()) as { token: string; role: string };
    expect([role, token.startsWith('ic_')]).toEqual(['viewer', true]);
    expect((await t.api('/api/runtimes', { token })).status).toBe(200);
    expect((await t.api('/api/runtimes', { token, body: { id: 'nope' } })).status).toBe(403);
    expect((await t.api('/api/users/vera', { token: t.admin, method: 'DELETE' })).status).toBe(200);
    expect((await t.api('/api/whoami', { token })).status).toBe(401);
  });

  it('lists the live sessions to an admin and revokes one at once (/api/tokens, as on a runtime)', async () => {
    await t.api('/api/users', { token: t.admin, body: { name: 'sam', role: 'admin', password: 'a long admin password' } });
    const { token } = (await (await t.api('/api/login', { body: { name: 'sam', password: 'a long admin password' } })).json()) as { token: string };
    expect((await t.api('/api/whoami', { token })).status).toBe(200);
    const list = (await (await t.api('/api/tokens', { token: t.admin })).json()) as Array<{ id: string; name: string; kind: string; hash?: string }>;
    const sam = list.find((x) => x.kind === 'session' && x.name === 'sam');
    expect(sam).toBeDefined();
    expect(list.every((x) => x.hash === undefined && x.kind !== 'link')).toBe(true);
    const revoked = await t.api(`/api/tokens/${sam!.id}`, { token: t.admin, method: 'DELETE' });
    expect(revoked.status).toBe(200);
    expect((await t.api('/api/whoami', { token })).status).toBe(401);
    expect((await t.api(`/api/tokens/${sam!.id}`, { token: t.admin, method: 'DELETE' })).status).toBe(404);
    // The admin's own session still works.
    expect((await t.api('/api/whoami', { token: t.admin })).status).toBe(200);
  });

  it('answers 503 with Retry-After while PostgreSQL is away, says so once, and takes the batch again once it is back', async () => {
    const rt = await addRuntime('laptop-f');
    expect((await t.api('/api/telemetry', { token: rt, body: batchOf('laptop-f', 1) })).status).toBe(200);
    await server.stop();
    try {
      for (let i = 0; i < 3; i++) {
        const r = await t.api('/api/telemetry', { token: rt, body: batchOf('laptop-f', 2, { from: 10 }) });
        expect(r.status).toBe(503);
        expect(r.headers.get('retry-after')).toBe('2');
      }
      expect(t.log.filter((l) => l.includes('is unreachable'))).toHaveLength(1);
    } finally {
      await server.start();
    }
    const back = await until(async () => {
      const r = await t.api('/api/telemetry', { token: rt, body: batchOf('laptop-f', 2, { from: 10 }) });
      return r.status === 503 ? null : r;
    }, 20_000);
    expect(await back.json()).toMatchObject({ seq: 2, duplicate: false, stored: { llmRequests: 3 } });
    expect(t.log.filter((l) => l.includes('is back after'))).toHaveLength(1);
    expect(await count(db, "SELECT count(*) AS n FROM llm_requests WHERE runtime_id = 'laptop-f'")).toBe(6);
  }, 45_000);
});

/** The status a WebSocket upgrade is answered with. */
function wsStatus(url: string, token: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?token=${token}`);
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => undefined);
  });
}
