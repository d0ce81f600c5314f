// Fleet queries on a control panel's PostgreSQL holding 10 million ledger rows (issue 23's goal:
// p99 < 50 ms each; LiteLLM's spend pages took 20 s at 300k rows). A real PostgreSQL (Debian's
// package, started by the test helper), filled in bulk: 50 runtimes, 500 agents, 10M calls and
// 2M events over 30 days, the rollups as ingest leaves them; then each fleet query, one at a time.
import { performance } from 'node:perf_hooks';
import { startPostgres } from '../../test/helpers/postgres.js';
import { DAY_MS, FleetStore, HOUR_MS } from '../../src/state/fleet.store.js';
import { openPostgres } from '../../src/state/pg.js';
import { fmt, percentile, report, type Row } from './lib.js';

const CALLS = Number(process.env.FLEET_BENCH_CALLS ?? 10_000_000);
const EVENTS = Math.round(CALLS / 5);
const RUNTIMES = 50;
const AGENTS = 500;
const RUNS = 200;
const CHUNK = 1_000_000;

const server = await startPostgres({ settings: { shared_buffers: "'256MB'", maintenance_work_mem: "'256MB'", max_wal_size: "'4GB'" } });
const pg = await openPostgres(server.url);
try {
  const now = Date.now();
  const hour = Math.floor(now / HOUR_MS) * HOUR_MS;
  const day = Math.floor(now / DAY_MS) * DAY_MS;
  const span = 30 * DAY_MS;
  const c = await pg.pool.connect();
  const t0 = performance.now();
  try {
    await c.query(`INSERT INTO users (id, name, role, password_hash, created_at) SELECT 'u' || u, 'user-' || u, 'viewer', 'x', '2026-01-01' FROM generate_series(0, 9) u`);
    await c.query(
      `INSERT INTO runtimes (id, user_id, created_at, last_seq, last_seen_at, behind, hostname, version)
       SELECT 'rt-' || r, 'u' || (r % 10), '2026-01-01', 1000, $1::bigint - (r % 3) * 40000, r % 4, 'host-' || r, '0.9.0' FROM generate_series(0, ${RUNTIMES - 1}) r`,
      [now],
    );
    await c.query(
      `INSERT INTO agents (runtime_id, id, name, kind, status, created_at, limit_micros, progress_done, progress_total)
       SELECT 'rt-' || (a % ${RUNTIMES}), 'ag-' || a, 'agent-' || (a % 7), 'supervised', CASE WHEN a % 5 = 0 THEN 'running' ELSE 'completed' END,
              to_char(to_timestamp(($1::bigint - (a::bigint * ${Math.floor(span / AGENTS)})) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 50000000, a % 100, 100
       FROM generate_series(0, ${AGENTS - 1}) a`,
      [now],
    );
    for (let from = 1; from <= CALLS; from += CHUNK) {
      const to = Math.min(CALLS, from + CHUNK - 1);
      // Agent a lives on runtime a % RUNTIMES, so each call's (runtime, agent) pair is one of the 500.
      await c.query(
        `INSERT INTO llm_requests (runtime_id, id, ts, agent_id, endpoint, provider, model, status, prompt_tokens, completion_tokens, cost_micros)
         SELECT 'rt-' || ((i % ${AGENTS}) % ${RUNTIMES}), i, to_char(to_timestamp(($1::bigint - ((${CALLS} - i) * ${Math.floor(span / CALLS)})) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'ag-' || (i % ${AGENTS}), 'chat', 'openai', (ARRAY['gpt-4o-mini', 'gpt-4o', 'gpt-4.1'])[1 + i % 3], CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END, 900, 120, 1000 + i % 5000
         FROM generate_series($2::bigint, $3::bigint) i`,
        [now, from, to],
      );
    }
    for (let from = 1; from <= EVENTS; from += CHUNK) {
      const to = Math.min(EVENTS, from + CHUNK - 1);
      await c.query(
        `INSERT INTO events (runtime_id, seq, ts, agent_id, type, severity, message)
         SELECT 'rt-' || ((i % ${AGENTS}) % ${RUNTIMES}), i, '2026-11-01T00:00:00.000Z', 'ag-' || (i % ${AGENTS}), 'llm.request', 'debug', 'call' FROM generate_series($1::bigint, $2::bigint) i`,
        [from, to],
      );
    }
    await c.query(
      `INSERT INTO tool_calls (runtime_id, id, ts, agent_id, service, method, path, status, reason, latency_ms)
       SELECT 'rt-' || ((i % ${AGENTS}) % ${RUNTIMES}), i, '2026-11-01T00:00:00.000Z', 'ag-' || (i % ${AGENTS}), 'crm', 'GET', '/x', 200, 'ok', 3 FROM generate_series(1, 500000) i`,
    );
    // The rollups: 30 days of hours for each (runtime, agent name, model) that spends.
    await c.query(
      `INSERT INTO spend_hourly (hour, runtime_id, agent_name, provider, model, calls, errors, prompt_tokens, completion_tokens, cost_micros)
       SELECT $1::bigint - h::bigint * ${HOUR_MS}, 'rt-' || r, 'agent-' || g, 'openai', m, 20, 1, 18000, 2400, 60000
       FROM generate_series(0, 24 * 30 - 1) h, generate_series(0, ${RUNTIMES - 1}) r, generate_series(0, 2) g, unnest(ARRAY['gpt-4o-mini', 'gpt-4o', 'gpt-4.1']) m`,
      [hour],
    );
    await c.query(
      `INSERT INTO spend_daily (day, runtime_id, agent_name, provider, model, calls, errors, prompt_tokens, completion_tokens, cost_micros)
       SELECT $1::bigint - d::bigint * ${DAY_MS}, 'rt-' || r, 'agent-' || g, 'openai', m, 480, 24, 432000, 57600, 1440000
       FROM generate_series(0, 400) d, generate_series(0, ${RUNTIMES - 1}) r, generate_series(0, 2) g, unnest(ARRAY['gpt-4o-mini', 'gpt-4o', 'gpt-4.1']) m`,
      [day],
    );
    await c.query('VACUUM ANALYZE');
  } finally {
    c.release();
  }
  const loadS = (performance.now() - t0) / 1000;

  const fleet = new FleetStore(pg.db);
  const time = async (name: string, run: () => Promise<unknown>): Promise<Row> => {
    for (let i = 0; i < 10; i++) await run();
    const ms: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const s = performance.now();
      await run();
      ms.push(performance.now() - s);
    }
    ms.sort((a, b) => a - b);
    const p99 = percentile(ms, 99);
    return { metric: name, value: `p50 ${fmt(percentile(ms, 50), 1)} ms · p99 ${fmt(p99, 1)} ms`, target: '< 50 ms', ok: p99 < 50 };
  };
  const rows: Row[] = [];
  rows.push(await time('fleet overview (GET /api/fleet: totals)', () => fleet.overview()));
  rows.push(await time('runtimes (online, behind, agents, spend today)', () => fleet.runtimes()));
  rows.push(await time(`agents across machines (${AGENTS}, with spend and last activity)`, () => fleet.agents()));
  for (const by of ['runtime', 'user', 'model', 'agent'] as const)
    for (const w of ['24h', '30d'] as const) rows.push(await time(`spend by ${by}, ${w === '24h' ? 'last 24 h' : 'last 30 days'}`, () => fleet.spend(by, w)));
  let k = 0;
  rows.push(
    await time('one agent: its last 100 calls, events, tool calls, breakers', () => {
      const a = (k++ * 37) % AGENTS;
      return fleet.agent(`rt-${a % RUNTIMES}`, `ag-${a}`);
    }),
  );
  const ledger = (await pg.pool.query('SELECT count(*)::bigint AS n FROM llm_requests')).rows[0].n;
  report('fleet', `Fleet queries, ${fmt(Number(ledger), 0)} ledger rows in PostgreSQL (${RUNS} runs each, one at a time; loaded in ${fmt(loadS, 0)} s)`, rows, {
    calls: CALLS,
    events: EVENTS,
    runtimes: RUNTIMES,
    agents: AGENTS,
  });
} finally {
  await pg.close();
  await server.destroy();
}
