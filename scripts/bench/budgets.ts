// Central budgets: twenty runtimes sharing one budget through leases from a panel.
//   throughput  one gateway's c=16 calls/s under a central budget against the same gateway's
//               calls/s under a local one, rounds interleaved, while the nineteen other runtimes
//               keep calling lightly and hold leases on the same budget
//   fraction    the twenty runtimes spend one limited budget until the first refusal: the share
//               of the limit spent by then (the calls in flight at that moment included)
//   trips       lease round trips per 1,000 calls, counted by a relay in front of the panel
// PostgreSQL is Debian's, started here like the tests start it (test/helpers/postgres.ts); every
// process (panel, runtimes) is the real `iron-cage` binary.
// Run: npm run bench -- budgets
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool, request } from 'undici';
import { startPostgres } from '../../test/helpers/postgres.js';
import { api, calls, fmt, gateway, report, startPanel, type Row } from './lib.js';

const RUNTIMES = 20;
const ROUNDS = 3;
const THROUGHPUT_CALLS = 3_000;
const FRACTION_LIMIT_USD = 2;

const db = await startPostgres();
const rows: Row[] = [];
const extra: Record<string, unknown> = {};
const dir = mkdtempSync(join(tmpdir(), 'iron-budgets-bench-'));
const panel = await startPanel(await db.createDatabase('budgets'), ['--lease-ttl', '30s']);
const admin = (await api(panel.origin, '/api/session', null, { link: panel.link })).token as string;

/** A relay in front of the panel that counts lease calls (every runtime reports through it). */
let leaseCalls = 0;
const upstream = new Pool(panel.origin, { connections: 64 });
const relay = createServer((req: IncomingMessage, res: ServerResponse) => {
  if (req.method === 'POST' && req.url?.startsWith('/api/leases')) leaseCalls++;
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    try {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'connection' && k !== 'content-length')) as Record<string, string>;
      const r = await upstream.request({ path: req.url!, method: req.method as 'GET', headers, body: chunks.length ? Buffer.concat(chunks) : null });
      const body = Buffer.from(await r.body.arrayBuffer());
      res.writeHead(r.statusCode, {
        'content-type': String(r.headers['content-type'] ?? 'application/json'),
        ...(r.headers['retry-after'] ? { 'retry-after': String(r.headers['retry-after']) } : {}),
      });
      res.end(body);
    } catch {
      res.writeHead(502).end();
    }
  });
});
await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
const relayOrigin = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;

const budget = async (method: 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown) => {
  const r = await request(`${panel.origin}${path}`, { method, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await r.body.text();
  if (r.statusCode >= 300) throw new Error(`${method} ${path}: ${r.statusCode} ${text}`);
  return text ? JSON.parse(text) : null;
};
const budgetView = async (id: string) => (await api(panel.origin, `/api/budgets/${id}`, admin)) as { spentMicros: number; leases: unknown[] };

// Twenty runtimes of one team, and one of another user no central budget covers (the local case).
await budget('POST', '/api/budgets', { id: 'shared', scope: 'team', users: ['bench-team'], period: 'none', limitUsd: 1_000_000 });
const team = [];
for (let i = 0; i < RUNTIMES; i++) {
  const rt = (await api(panel.origin, '/api/runtimes', admin, { id: `bench-${i}`, user: 'bench-team' })).token as string;
  team.push(await gateway(dir, `bench-${i}`, ['--panel', relayOrigin], { IRON_CAGE_PANEL_TOKEN: rt }));
}
const soloToken = (await api(panel.origin, '/api/runtimes', admin, { id: 'solo', user: 'solo' })).token as string;
const solo = await gateway(dir, 'solo', ['--panel', relayOrigin], { IRON_CAGE_PANEL_TOKEN: soloToken });
const measured = team[0]!;

// The other nineteen call lightly the whole time: they hold and renew leases on the same budget.
let background = true;
const light = Promise.all(
  team.slice(1).map(async (g) => {
    while (background) {
      await calls(g.origin, g.token, 1, 1);
      await new Promise((r) => setTimeout(r, 250));
    }
  }),
);

// ---- throughput ----
for (const g of [solo, measured]) await calls(g.origin, g.token, 4, 500); // warm, and the first lease
const best = { local: 0, central: 0 };
const full = { calls: 0, leases: leaseCalls, startedAt: Date.now() };
for (let round = 0; round < ROUNDS; round++) {
  for (const k of round % 2 === 0 ? (['local', 'central'] as const) : (['central', 'local'] as const)) {
    const g = k === 'local' ? solo : measured;
    const r = await calls(g.origin, g.token, 16, THROUGHPUT_CALLS);
    best[k] = Math.max(best[k], r.rps);
    full.calls += THROUGHPUT_CALLS;
  }
}
const fullLeases = leaseCalls - full.leases;
const fullSeconds = (Date.now() - full.startedAt) / 1000;
background = false;
await light;
rows.push({
  metric: `gateway c=16 calls/s, local budget / central budget (${RUNTIMES} runtimes share it; best of ${ROUNDS} interleaved rounds)`,
  value: `${fmt(best.local, 0)} / ${fmt(best.central, 0)}`,
  target: 'central within 10% of local',
  ok: best.central >= best.local * 0.9,
});
extra.throughput = best;

// ---- fraction of a limited budget spent before the first refusal ----
await budget('DELETE', '/api/budgets/shared');
await budget('POST', '/api/budgets', { id: 'limited', scope: 'team', users: ['bench-team'], period: 'none', limitUsd: FRACTION_LIMIT_USD });
// Every runtime learns of it at its next lease call.
const t0 = Date.now();
while ((await budgetView('limited')).leases.length < RUNTIMES) {
  if (Date.now() - t0 > 60_000) throw new Error('the runtimes did not all take a lease on the new budget within 60 s');
  await Promise.all(team.map((g) => calls(g.origin, g.token, 1, 1)));
  await new Promise((r) => setTimeout(r, 500));
}
const leasesBefore = leaseCalls;
let refusedAt: number | null = null;
let answered = 0;
const body = JSON.stringify({ model: 'gpt-4o', max_tokens: 60, messages: [{ role: 'user', content: 'qualify lead 42: Acme Corp, 200 people, Berlin' }] });
await Promise.all(
  team.flatMap((g) => {
    const pool = new Pool(g.origin, { connections: 2 });
    return [0, 1].map(async () => {
      while (refusedAt === null) {
        const r = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json' }, body });
        await r.body.dump();
        if (r.statusCode === 200) answered++;
        else if (r.statusCode === 402) refusedAt ??= Date.now();
        else throw new Error(`HTTP ${r.statusCode} before the budget was spent`);
      }
    });
  }),
);
// What was in flight settled; the runtimes report it within their linger.
await new Promise((r) => setTimeout(r, 2_000));
const spent = (await budgetView('limited')).spentMicros;
const fraction = spent / (FRACTION_LIMIT_USD * 1_000_000);
rows.push({
  metric: `share of a $${FRACTION_LIMIT_USD} budget spent before the first refusal (${RUNTIMES} runtimes, 2 connections each)`,
  value: `${fmt(fraction * 100, 2)}%`,
  target: '≥ 99%',
  ok: fraction >= 0.99,
});
const trips = ((leaseCalls - leasesBefore) / Math.max(1, answered)) * 1000;
rows.push({ metric: 'lease round trips per 1,000 calls while spending it', value: fmt(trips, 1) });
rows.push({
  metric: `lease round trips per 1,000 calls at full speed (throughput part: ${RUNTIMES} runtimes renewing, ${fmt(fullSeconds, 0)} s)`,
  value: fmt((fullLeases / Math.max(1, full.calls)) * 1000, 1),
});
extra.fraction = { spent, fraction, answered, trips };

for (const g of [...team, solo]) g.stop();
panel.stop();
relay.close();
await upstream.close();
await db.destroy();
rmSync(dir, { recursive: true, force: true });
report('budgets', 'Central budgets: leases from the panel', rows, extra);
