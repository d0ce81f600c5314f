import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createLogger } from '../../src/core/logger.js';
import { ALERT_CLAIM_LEASE_MS, ALERT_MAX_CLAIMS, PanelAlerts } from '../../src/panel/alerts.js';
import { openPostgres } from '../../src/state/panel/pg.js';
import { freePort } from '../helpers/http.js';
import { batchOf, startTestPanel, type TestPanel } from '../helpers/panel.js';
import { panelProbes } from '../../src/panel/health.js';
import { JOBS_LOCK } from '../../src/panel/jobs.js';
import { Outage } from '../../src/panel/outage.js';
import { Replica } from '../../src/panel/replica.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/runtime.js';

// The panel as replicas on one PostgreSQL. Two (or three) real panel processes' worth of
// Panel.start in this process, each on its own port, one database: what one replica takes, the
// others' viewers hear; what one revokes, the others refuse at once; failed logins count across
// them; the fleet's jobs run on one at a time and its alerts are sent once; each answers its
// probes and drains when it stops.

let server: TestPostgres;
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(() => server?.destroy());

const count = async (url: string, q: string): Promise<number> => {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return Number((await c.query(q)).rows[0].n);
  } finally {
    await c.end();
  }
};

/** A runtime added on `p` (an admin's REST call), with its token. */
async function addRuntime(p: TestPanel, id: string): Promise<string> {
  const r = await p.api('/api/runtimes', { token: p.admin, body: { id } });
  expect(r.status).toBe(201);
  return ((await r.json()) as { token: string }).token;
}

/** A viewer's /ws on `p`, its frames kept as they come (`after`: resume after that place in the feed). */
async function viewer(p: TestPanel, token: string, after?: number): Promise<{ frames: any[]; ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(`${p.url.replace('http', 'ws')}/ws?token=${encodeURIComponent(token)}${after === undefined ? '' : `&after=${after}`}`);
  const frames: any[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(String(d))));
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise<void>((r, j) => {
    ws.once('open', () => r());
    ws.once('error', j);
  });
  await until(() => frames.length > 0);
  return { frames, ws, closed };
}

describe('panel replicas on one PostgreSQL', () => {
  let a: TestPanel;
  let b: TestPanel;
  let db: string;

  beforeAll(async () => {
    db = await server.createDatabase('replicas');
    a = await startTestPanel(db);
    b = await startTestPanel(db);
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('know one another: the second start says it is a replica beside the first, and leaves the first one’s login link good', async () => {
    expect(b.log.join('')).toMatch(/Replica \S+ of this panel, beside \S+ \(http:\/\/127\.0\.0\.1:\d+\)/);
    expect(await count(db, 'select count(*) as n from panel_replicas')).toBe(2);
    // Each opened its admin session from its own start link (startTestPanel): b's start did not void a's.
    expect((await a.api('/api/whoami', { token: a.admin })).status).toBe(200);
    expect((await b.api('/api/whoami', { token: a.admin })).status).toBe(200);
  });

  it('tell a viewer on one replica of a batch that landed on another, within a few hundred ms, numbered by the feed; a viewer that reconnects elsewhere gets what it missed', async () => {
    const token = await addRuntime(a, 'rt-feed');
    const onA = await viewer(a, a.admin);
    expect(onA.frames[0]).toMatchObject({ kind: 'hello', mode: 'panel' });
    const t0 = performance.now();
    const sent = await b.api('/api/telemetry', { token, body: batchOf('rt-feed', 1) });
    expect(sent.status).toBe(200);
    const batch = await until(() => onA.frames.find((f) => f.kind === 'batch' && f.runtime === 'rt-feed'));
    const delay = performance.now() - t0;
    expect(delay).toBeLessThan(2_000);
    expect(batch.feed).toBeGreaterThan(0);
    expect(batch.events).toHaveLength(3);
    expect(onA.frames.find((f) => f.kind === 'runtime' && f.runtime === 'rt-feed')).toMatchObject({ feed: batch.feed });
    // The viewer goes away; two more batches land (on a and on b); it comes back on b after its last frame.
    const last = Math.max(...onA.frames.map((f) => f.feed ?? 0));
    onA.ws.close();
    expect((await b.api('/api/telemetry', { token, body: batchOf('rt-feed', 2, { from: 4 }) })).status).toBe(200);
    expect((await a.api('/api/telemetry', { token, body: batchOf('rt-feed', 3, { from: 7 }) })).status).toBe(200);
    await until(async () => ((await count(db, 'select count(*) as n from panel_feed')) >= 3 ? true : null));
    // b has read a's row by now (its NOTIFY, or the poll within a second).
    await new Promise((r) => setTimeout(r, 1_200));
    const back = await viewer(b, a.admin, last);
    const hello = back.frames[0];
    expect(hello.kind).toBe('hello');
    const replayed = (hello.replay as any[]).filter((f) => f.kind === 'batch').map((f) => f.seq);
    expect(replayed).toEqual([2, 3]);
    back.ws.close();
  });

  // What a replica says of a runtime token on a path it may not call: the token's verification
  // alone (a revoked one 401, a good one 403), not the runtime's row (telemetry reads it).
  const VALID = 403;
  const verdict = async (p: TestPanel, token: string) => (await p.api('/api/whoami', { token })).status;
  /**
   * `revoke` makes each of `on` refuse `token` within 5 s of the call that had it verified there:
   * a cache that kept it would answer until 5 s after that call at least, so a 401 within 5 s is no
   * cache's doing, however long a loaded machine takes over the calls (a bound after the revocation
   * alone could be broken by load without any cache in the way).
   */
  const refusedAtOnce = async (on: TestPanel[], token: string, revoke: () => Promise<void>) => {
    const cached = performance.now();
    for (const p of on) expect(await verdict(p, token)).toBe(VALID);
    await revoke();
    for (const p of on) await until(async () => ((await verdict(p, token)) === 401 ? true : null), 6_000, 20);
    expect(performance.now() - cached).toBeLessThan(5_000);
  };
  const removeRuntime = async (id: string) => {
    expect((await a.api(`/api/runtimes/${id}`, { method: 'DELETE', token: a.admin })).status).toBe(200);
  };

  it('refuse a token revoked on another replica at once, not after their 5 s cache', async () => {
    const token = await addRuntime(a, 'rt-revoked');
    await refusedAtOnce([b], token, () => removeRuntime('rt-revoked'));
  });

  it('refuse a token revoked on another replica within seconds even while their listening connection hears nothing (frozen, not closed): its own ping finds it deaf', async () => {
    const token = await addRuntime(a, 'rt-deaf');
    expect(await verdict(b, token)).toBe(VALID);
    // b's listening connection's server process stopped: its socket stays open, no NOTIFY reaches b, no error either.
    const listen = `iron-cage panel ${b.panel.replica.id} (listen)`;
    // By its LISTEN and its name (PostgreSQL keeps 63 bytes of a name: a long host name cuts it).
    const listenerOf = `select pid as n from pg_stat_activity where query like 'LISTEN %' and starts_with('${listen}', application_name)`;
    const pid = Number(await count(db, listenerOf));
    process.kill(pid, 'SIGSTOP');
    try {
      const revoked = performance.now();
      await removeRuntime('rt-deaf');
      // b trusted the token for a minute while it heard every revocation; its pings (every 2 s) say it no longer does:
      // a ping it committed and did not hear within 2 s gives the connection up (made again), and with it the trust.
      await until(() => (/feed from its other replicas is interrupted \(it did not hear its own ping within 2 s\)/.test(b.log.join('')) ? true : null), 20_000, 50);
      // Refused from then on: judged by b's own timers, so however loaded the machine (a bound of 8 s on this test's
      // clock was 8.6 s once in a whole run: the pings' timers, the pool and the requests all wait for a core).
      expect(await verdict(b, token)).toBe(401);
      // (and well inside the minute it trusted the token for while it heard every revocation)
      expect(performance.now() - revoked).toBeLessThan(30_000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // It listens again, on a new connection, and hears the next revocation at once.
    await until(
      async () => {
        const q = new pg.Client(db);
        await q.connect();
        try {
          const pids = (await q.query(listenerOf)).rows.map((r) => Number(r.n));
          return pids.length === 1 && pids[0] !== pid ? true : null;
        } finally {
          await q.end();
        }
      },
      10_000,
      100,
    );
    const again = await addRuntime(a, 'rt-deaf-2');
    // Trusted for a minute again once it hears its pings: only the word of the revocation makes it refuse within 5 s of the lookup.
    await refusedAtOnce([b], again, () => removeRuntime('rt-deaf-2'));
  }, 60_000);

  it('refuse a token revoked by SQL alone (no replica or command said a word): the revoking transaction tells every replica', async () => {
    const token = await addRuntime(a, 'rt-sql');
    await refusedAtOnce([b, a], token, async () => {
      const c = new pg.Client(db);
      await c.connect();
      try {
        const revoked = await c.query("update api_tokens set revoked_at = $1 where runtime_id = 'rt-sql' and revoked_at is null", [new Date().toISOString()]);
        expect(revoked.rowCount).toBe(1);
      } finally {
        await c.end();
      }
    });
  });

  it('count failed logins across replicas: a guesser spread over them is held back as one', async () => {
    expect((await a.api('/api/users', { token: a.admin, body: { name: 'carol', password: 'correct horse battery staple', role: 'viewer' } })).status).toBe(201);
    const tryOn = (p: TestPanel) => p.api('/api/login', { body: { name: 'carol', password: 'wrong guess, again' } });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await tryOn(i % 2 === 0 ? a : b)).status);
    // Five wrong guesses in all (three on a, two on b), then refused before any check, on either.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expect((await tryOn(a)).status).toBe(429);
    expect(await count(db, "select count(*) as n from login_failures where key = 'name:carol'")).toBe(1);
  });

  it('hold a guesser to five checks even when its guesses come at once, spread over the replicas', async () => {
    expect((await a.api('/api/users', { token: a.admin, body: { name: 'dave', password: 'correct horse battery staple', role: 'viewer' } })).status).toBe(201);
    const tryOn = (p: TestPanel) => p.api('/api/login', { body: { name: 'dave', password: 'wrong guess, again' } });
    // Three, one after another: two tries left in the window.
    for (let i = 0; i < 3; i++) expect((await tryOn(i % 2 === 0 ? a : b)).status).toBe(401);
    // Six at once, three on each replica (each replica checks up to four passwords at once): two are checked, the rest refused.
    const statuses = await Promise.all([a, b, a, b, a, b].map((p) => tryOn(p).then((r) => r.status)));
    expect(statuses.filter((s) => s === 401)).toHaveLength(2);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
    expect(await count(db, "select count as n from login_failures where key = 'name:dave'")).toBe(5);
  });

  it('run the fleet’s jobs on one replica at a time', async () => {
    // A round a replica's own timer started ends first (joined, it would answer for a moment
    // before this one: a busy machine's rounds are long enough to meet).
    await Promise.all([a.panel.service.jobs.round(), b.panel.service.jobs.round()]);
    // While the jobs' lock is held elsewhere (as by a replica mid-round), neither replica runs one.
    // (Two rounds asked "at the same moment" may also run one after the other: the lock keeps them
    // from overlapping, not from following each other.)
    const holder = new pg.Client(db);
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock($1)', [JOBS_LOCK]);
      // A round a replica's timer started before the lock was taken here has ended, and is counted,
      // before the count is read (asked again, each replica joins its round in flight; counted
      // before the lock, a loaded run saw one such round end after the count: 6, not 5).
      await Promise.all([a.panel.service.jobs.round(), b.panel.service.jobs.round()]);
      const before = a.panel.service.jobs.ran + b.panel.service.jobs.ran;
      expect(await Promise.all([a.panel.service.jobs.round(), b.panel.service.jobs.round()])).toEqual([false, false]);
      expect(a.panel.service.jobs.ran + b.panel.service.jobs.ran).toBe(before);
      await holder.query('select pg_advisory_unlock($1)', [JOBS_LOCK]);
    } finally {
      await holder.end();
    }
    // Free again: a round runs; a second ask on the same replica while it is in flight joins it.
    const aBefore = a.panel.service.jobs.ran;
    const [first, joined] = await until(async () => {
      const r = await Promise.all([a.panel.service.jobs.round(), a.panel.service.jobs.round()]);
      return r[0] ? r : null;
    }, 10_000);
    expect(joined).toBe(first);
    expect(a.panel.service.jobs.ran - aBefore).toBeGreaterThanOrEqual(1);
  });

  it('answer /healthz and /readyz without a token or a known Host; a draining replica says 503', async () => {
    // As a load balancer asks: by a name the replica does not know as its own.
    const viaLb = (p: TestPanel, path: string) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = request(`${p.url}${path}`, { headers: { host: 'lb.internal:9' } }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        req.end();
      });
    const live = await viaLb(a, '/healthz');
    expect(live).toMatchObject({ status: 200, body: { status: 'ok', replica: a.panel.replica.id } });
    const ready = await viaLb(a, '/readyz');
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready', checks: { database: 'ok', schema: 'current' } } });
    expect((await fetch(`${a.url}/readyz`, { method: 'POST' })).status).toBe(405);
    // Anything else still needs a Host that names the server.
    expect((await viaLb(a, '/api/health')).status).toBe(403);
  });
});

describe('a panel replica stopping (SIGTERM: Panel.shutdown)', () => {
  it('says not ready at once, serves on while another replica is alive, finishes what is in flight, tells its viewers to go, and leaves the table', async () => {
    const db = await server.createDatabase('drain');
    const a = await startTestPanel(db, { drainGraceMs: 600, drainTimeoutMs: 5_000 });
    const b = await startTestPanel(db);
    try {
      const watching = await viewer(a, a.admin);
      const stopping = a.panel.shutdown('test: SIGTERM');
      await until(async () => ((await fetch(`${a.url}/readyz`)).status === 503 ? true : null), 2_000, 20);
      // Still serving during the grace: a request on a fresh connection is answered.
      expect((await a.api('/api/whoami', { token: a.admin })).status).toBe(200);
      expect(await watching.closed).toBe(1001);
      await stopping;
      await expect(fetch(`${a.url}/healthz`)).rejects.toThrow();
      expect(await count(db, 'select count(*) as n from panel_replicas')).toBe(1);
      // The other replica serves the same session.
      expect((await b.api('/api/whoami', { token: a.admin })).status).toBe(200);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('answers a request in flight when it began with Connection: close, and takes no WebSocket on that connection after (its stop is not held open)', async () => {
    const db = await server.createDatabase('drain_inflight');
    const p = await startTestPanel(db, { drainTimeoutMs: 30_000 });
    const { port } = new URL(p.url);
    const sock = connect(Number(port), '127.0.0.1');
    let got = '';
    sock.on('data', (d) => (got += String(d)));
    const ended = new Promise<void>((r) => sock.on('close', () => r()));
    await new Promise<void>((r) => sock.once('connect', () => r()));
    // A request whose body has not all come yet: in flight when the stop begins.
    const body = JSON.stringify({ link: 'x'.repeat(20) });
    sock.write(`POST /api/session HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`);
    await sleep(200);
    const t0 = performance.now();
    const stopping = p.panel.shutdown('test: SIGTERM');
    await sleep(300);
    sock.write(body.slice(5));
    await until(() => (/\r\n\r\n/.test(got) ? true : null), 5_000, 10);
    expect(got).toMatch(/^HTTP\/1\.1 4\d\d/);
    expect(got.toLowerCase()).toContain('connection: close');
    // Had the connection been kept alive, a WebSocket asked for on it now must not be taken.
    if (!sock.destroyed && sock.writable) {
      sock.write(
        `GET /ws?token=${encodeURIComponent(p.admin)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      );
    }
    await ended;
    expect(got).not.toContain('101 Switching Protocols');
    await stopping;
    // Not the drain's timeout: the stop ended once the one request in flight was answered.
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('alone, stops at once: no grace to wait out', async () => {
    const db = await server.createDatabase('alone');
    const p = await startTestPanel(db, { drainGraceMs: 30_000 });
    const t0 = performance.now();
    await p.close();
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});

describe('the panel’s own alerts under replicas', () => {
  let hook: Server;
  const posts: any[] = [];
  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        posts.push(JSON.parse(body));
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  });
  afterAll(() => hook?.close());

  it('send a central budget’s warning and exhaustion once per fleet, whichever replica took the rows', async () => {
    const db = await server.createDatabase('alerts');
    const webhookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    const cfg = { alerts: { webhookUrl, email: null }, leaseTtlMs: 400, leaseReclaimAfterMs: 0 };
    const panels = [await startTestPanel(db, cfg), await startTestPanel(db, cfg), await startTestPanel(db, cfg)];
    try {
      const [a] = panels;
      expect((await a!.api('/api/budgets', { token: a!.admin, body: { id: 'team', scope: 'fleet', period: 'none', limitUsd: 0.01 } })).status).toBe(201);
      const token = await addRuntime(a!, 'rt-alerts');
      // A lease, so the rows may charge the budget.
      const lease = await panels[1]!.api('/api/leases', { token, body: { budgets: [] } });
      expect(lease.status).toBe(200);
      const window = ((await lease.json()) as any).budgets[0].window;
      const tagged = (seq: number, from: number, costMicros: number) => {
        const b = batchOf('rt-alerts', seq, { from, n: 1, costMicros }) as any;
        b.llmRequests[0].budgets = JSON.stringify([`team@${window}`]);
        return b;
      };
      // 95% on replica b, then 120% on replica c.
      expect((await panels[1]!.api('/api/telemetry', { token, body: tagged(1, 1, 9_500) })).status).toBe(200);
      await until(() => (posts.length >= 1 ? true : null), 15_000);
      expect((await panels[2]!.api('/api/telemetry', { token, body: tagged(2, 2, 2_500) })).status).toBe(200);
      await until(() => (posts.length >= 2 ? true : null), 15_000);
      // Several more rounds of every replica's jobs: nothing is sent twice.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(posts.map((p) => p.text.split('.')[0])).toEqual(['⚠️ Central budget at 90%: team', '🛑 Central budget exhausted: team']);
      expect(await count(db, 'select count(*) as n from panel_alerts where sent_at is not null')).toBe(2);
    } finally {
      for (const p of panels) await p.close();
    }
  });

  it('send an alert a replica took and never sent (it stopped) once its claim’s lease is over, and give one up after its claims', async () => {
    const pgdb = await openPostgres(await server.createDatabase('alerts_lease'));
    const webhookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    const logger = createLogger({ format: 'json', level: 'error' });
    let now = 1_800_000_000_000;
    const alerts = new PanelAlerts(pgdb.db, { config: { webhookUrl, email: null } as never, logger, now: () => now });
    try {
      posts.length = 0;
      await alerts.raise('budget.exhausted', 'lost', 'Central budget lost is exhausted.', {});
      // A replica takes it, then stops before sending it (its claim, no delivery).
      expect((await alerts.store.claim(now, { leaseMs: ALERT_CLAIM_LEASE_MS, maxClaims: ALERT_MAX_CLAIMS })).map((r) => r.budgetId)).toEqual(['lost']);
      // Within the lease nobody takes it again; past it, a replica's round sends it, once.
      now += ALERT_CLAIM_LEASE_MS - 1;
      expect(await alerts.deliver()).toBe(0);
      now += 1;
      expect(await alerts.deliver()).toBe(1);
      await until(async () => ((await alerts.store.list()).find((r) => r.budgetId === 'lost')?.sentAt === now ? true : null), 10_000);
      expect(posts.map((p) => p.text.split('.')[0])).toEqual(['🛑 Central budget exhausted: lost']);
      now += ALERT_CLAIM_LEASE_MS;
      expect(await alerts.deliver()).toBe(0);
      // One whose replicas kept stopping before they sent it: given up on after its claims, and said so.
      await alerts.raise('budget.warning', 'cursed', 'Central budget cursed is at 90%.', {});
      for (let i = 0; i < ALERT_MAX_CLAIMS; i++) {
        expect(await alerts.store.claim(now, { leaseMs: ALERT_CLAIM_LEASE_MS, maxClaims: ALERT_MAX_CLAIMS })).toHaveLength(1);
        now += ALERT_CLAIM_LEASE_MS;
      }
      expect(await alerts.deliver()).toBe(0);
      expect((await alerts.store.list()).find((r) => r.budgetId === 'cursed')).toMatchObject({ sentAt: now, attempts: ALERT_MAX_CLAIMS, error: `not confirmed sent after ${ALERT_MAX_CLAIMS} claims` });
      expect(posts).toHaveLength(1);
    } finally {
      await alerts.close();
      await pgdb.close();
    }
  });
});

describe("a replica's readiness probe", () => {
  /** The probes on an HTTP server of their own, over `db`'s pool (the requests) and the probes' own connection to `url`. */
  async function probesOn(db: string, url = db) {
    const pgdb = await openPostgres(db, { max: 2 });
    const logger = createLogger({ format: 'json', level: 'error' });
    const outage = new Outage(logger, 'test');
    const probes = panelProbes({ url, outage, replica: new Replica(pgdb.db, { version: 'test', logger }), version: 'test', schemaKnownMs: 300 });
    const readyz = probes.routes.find((r) => r.prefix === '/readyz')!;
    const http = createServer((req, res) => readyz.handle(req, res));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const at = `http://127.0.0.1:${(http.address() as AddressInfo).port}/readyz`;
    return {
      pgdb,
      outage,
      probe: async () => {
        const res = await fetch(at);
        return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
      },
      close: async () => {
        await new Promise((r) => http.close(r));
        await probes.close();
        await pgdb.close();
      },
    };
  }

  it('answers at once while every pooled connection is busy and requests wait for one, reads its schema again beside the probes, and says 503 once that read finds it lacking', async () => {
    const { pgdb, outage, probe, close } = await probesOn(await server.createDatabase('probe_busy'));
    const held: Promise<unknown>[] = [];
    try {
      expect(await probe()).toMatchObject({ status: 200, body: { checks: { database: 'ok', schema: 'current' } } });
      // A burst: both pooled connections held 3 s, four requests waiting behind them, none answered yet.
      for (let i = 0; i < 2; i++) held.push(outage.run(() => pgdb.pool.query('select pg_sleep(3)')));
      await until(() => pgdb.pool.idleCount === 0 && pgdb.pool.totalCount === 2, 5_000, 10);
      const order: string[] = [];
      for (let i = 0; i < 4; i++) held.push(outage.run(() => pgdb.pool.query('select 1')).then(() => order.push('a request queued before the probe')));
      expect(outage.okAt).toBe(0);
      const probed = await probe();
      order.push('the probe');
      expect(probed).toMatchObject({ status: 200, body: { checks: { database: 'ok', schema: 'current' } } });
      await Promise.all(held);
      expect(order[0]).toBe('the probe');
      // Requests answer again: the probes answer from what they know, and read the schema again beside once it is older than 300 ms.
      // It loses a migration this build needs (a database restored from an old backup): the probes see it once they read it again.
      await pgdb.pool.query('delete from drizzle.__drizzle_migrations where created_at = (select max(created_at) from drizzle.__drizzle_migrations)');
      const lacking = await until(
        async () => {
          await outage.run(() => pgdb.pool.query('select 1'));
          const p = await probe();
          return p.status === 503 ? p : null;
        },
        10_000,
        50,
      );
      expect(lacking.body.checks).toEqual({ replica: 'serving', database: 'ok', schema: 'lacks migrations this build needs' });
    } finally {
      await Promise.allSettled(held);
      await close();
    }
  });

  it('says 503 naming PostgreSQL when its own connection cannot be made, and 200 once it can', async () => {
    const db = await server.createDatabase('probe_down');
    // Its URL names a port nothing listens on: the pool is fine, the probes' connection is refused.
    const dead = new URL(db);
    dead.port = String(await freePort());
    const { probe, close } = await probesOn(db, dead.toString());
    try {
      const down = await probe();
      expect(down.status).toBe(503);
      expect(down.body.checks.database).toMatch(/^PostgreSQL: .*ECONNREFUSED/);
    } finally {
      await close();
    }
    const up = await probesOn(db);
    try {
      expect(await up.probe()).toMatchObject({ status: 200, body: { checks: { database: 'ok', schema: 'current' } } });
    } finally {
      await up.close();
    }
  });
});
