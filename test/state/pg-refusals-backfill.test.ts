import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/state/index.js';
import { pgMigrationsBefore, startPostgres, type TestPostgres } from '../helpers/postgres.js';

// Pg migration 0019 on a panel that already holds rows of the schema before it.
// Its backfill moves blocked calls from errors to refused, counts the refusal events each agent
// has, and puts on a budget's card only the refusals of runtimes the panel told of that budget.

let server: TestPostgres;
// The migrations up to 0018: the schema a panel ran before 0019.
const schema0018 = pgMigrationsBefore('0019');

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.destroy();
  schema0018.cleanup();
});

describe('pg migration 0019 over rows of the schema before it', () => {
  it('moves blocked calls from errors to refused, counts the refusal events, and the covered central refusals', async () => {
    const url = await server.createDatabase('before_refusals');
    const c = new pg.Client(url);
    await c.connect();
    try {
      await migrate(drizzle(c), { migrationsFolder: schema0018.dir });
      const ts = '2026-11-25T10:00:00.000Z';
      const call = (id: number, agent: string, status: string) =>
        c.query(
          `INSERT INTO llm_requests (runtime_id, id, ts, agent_id, endpoint, provider, model, stream, status, http_status, prompt_tokens, completion_tokens, cost_micros, reserved_micros, usage_source, latency_ms)
           VALUES ('rt-1', $1, $2, $3, 'chat', 'simulated', 'gpt-4o', false, $4, 200, 1, 1, 10, 10, 'provider', 1)`,
          [id, ts, agent, status],
        );
      const event = (seq: number, agent: string, type: string, data: unknown, runtime = 'rt-1') =>
        c.query(`INSERT INTO events (runtime_id, seq, ts, agent_id, type, severity, message, data) VALUES ($1, $2, $3, $4, $5, 'warn', $5, $6)`, [
          runtime,
          seq,
          ts,
          agent,
          type,
          typeof data === 'string' ? data : JSON.stringify(data),
        ]);
      await call(1, 'a', 'ok');
      await call(2, 'a', 'blocked');
      await call(3, 'a', 'error');
      await call(4, 'b', 'blocked');
      await c.query(`INSERT INTO budgets (id, scope, period, limit_micros, created_at, updated_at) VALUES ('team', 'fleet', 'none', 5000000, $1, $1)`, [ts]);
      await c.query(`INSERT INTO budget_coverage (runtime_id, budget_id, window_start, budget_created_at, covers_all, since) VALUES ('rt-1', 'team', 0, $1, true, 0)`, [ts]);
      await event(1, 'a', 'budget.refused', { central: 'team@0' });
      await event(2, 'a', 'policy.decision', { action: 'deny' });
      await event(3, 'a', 'policy.decision', { action: 'allow' });
      await event(4, 'a', 'policy.decision', '{not json');
      await event(5, 'b', 'tool.refused', { reason: 'unknown_service' });
      // A runtime never told of the budget: its agent's refusal, not the budget's.
      await event(1, 'x', 'budget.refused', { central: 'team@0' }, 'rt-2');
      const before = (await c.query('SELECT agent_id, calls::int, errors::int FROM agent_spend ORDER BY runtime_id, agent_id')).rows;
      expect(before).toEqual([
        { agent_id: 'a', calls: 3, errors: 2 },
        { agent_id: 'b', calls: 1, errors: 1 },
        { agent_id: 'x', calls: 0, errors: 0 },
      ]);
    } finally {
      await c.end();
    }
    const db = await openPostgres(url);
    await db.close();
    const d = new pg.Client(url);
    await d.connect();
    try {
      expect((await d.query('SELECT runtime_id, agent_id, calls::int, errors::int, refused::int FROM agent_spend ORDER BY runtime_id, agent_id')).rows).toEqual([
        { runtime_id: 'rt-1', agent_id: 'a', calls: 3, errors: 1, refused: 3 },
        { runtime_id: 'rt-1', agent_id: 'b', calls: 1, errors: 0, refused: 2 },
        { runtime_id: 'rt-2', agent_id: 'x', calls: 0, errors: 0, refused: 1 },
      ]);
      expect((await d.query('SELECT budget_id, window_start::int, runtime_id, refused::int FROM budget_refusals')).rows).toEqual([
        { budget_id: 'team', window_start: 0, runtime_id: 'rt-1', refused: 1 },
      ]);
    } finally {
      await d.end();
    }
  });
});
