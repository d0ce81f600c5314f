import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/state/index.js';
import { pgMigrationsBefore, startPostgres, type TestPostgres } from '../helpers/postgres.js';

// Pg migration 0022 on a panel that already holds events of the schema before it: each agent's
// prompt injections (agent_spend.injections, the fleet view's counter) counted once from the
// injection.detected events held, and from then on by the events' trigger, with the refusals it
// counted before still counted.

let server: TestPostgres;
const before = pgMigrationsBefore('0022');

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.destroy();
  before.cleanup();
});

const event = (c: pg.Client, runtime: string, seq: number, agent: string | null, type: string, data: unknown = {}) =>
  c.query(`INSERT INTO events (runtime_id, seq, ts, agent_id, type, severity, message, data) VALUES ($1, $2, '2026-11-26T10:00:00.000Z', $3, $4, 'warn', $4, $5)`, [
    runtime,
    seq,
    agent,
    type,
    JSON.stringify(data),
  ]);
const counts = async (c: pg.Client) =>
  (await c.query('SELECT runtime_id, agent_id, refused::int, injections::int FROM agent_spend ORDER BY runtime_id, agent_id')).rows as Array<{
    runtime_id: string;
    agent_id: string;
    refused: number;
    injections: number;
  }>;

describe('pg migration 0022 over events of the schema before it', () => {
  it('counts each agent’s injections held once, then every new one as it lands, beside its refusals', async () => {
    const url = await server.createDatabase('before_injections');
    const c = new pg.Client(url);
    await c.connect();
    try {
      await migrate(drizzle(c), { migrationsFolder: before.dir });
      await event(c, 'rt-1', 1, 'a', 'injection.detected', { source: 'tool', signals: ['addressed'] });
      await event(c, 'rt-1', 2, 'a', 'injection.detected', { source: 'mcp', signals: ['classifier'] });
      await event(c, 'rt-1', 3, 'a', 'tool.refused', { reason: 'policy' });
      await event(c, 'rt-1', 4, 'b', 'llm.response', {});
      await event(c, 'rt-2', 1, 'a', 'injection.detected', { source: 'tool', signals: [] });
      // An event of no agent counts for none.
      await event(c, 'rt-1', 5, null, 'injection.detected', {});
      expect((await c.query("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'agent_spend' AND column_name = 'injections'")).rows[0].n).toBe(0);
    } finally {
      await c.end();
    }
    const db = await openPostgres(url);
    await db.close();
    const d = new pg.Client(url);
    await d.connect();
    try {
      expect(await counts(d)).toEqual([
        { runtime_id: 'rt-1', agent_id: 'a', refused: 1, injections: 2 },
        { runtime_id: 'rt-1', agent_id: 'b', refused: 0, injections: 0 },
        { runtime_id: 'rt-2', agent_id: 'a', refused: 0, injections: 1 },
      ]);
      // From now on the trigger counts them as they land, once each.
      await event(d, 'rt-1', 6, 'b', 'injection.detected', { source: 'llm' });
      await event(d, 'rt-1', 7, 'a', 'injection.detected', { source: 'tool' });
      await event(d, 'rt-1', 8, 'a', 'policy.decision', { action: 'deny' });
      expect(await counts(d)).toEqual([
        { runtime_id: 'rt-1', agent_id: 'a', refused: 2, injections: 3 },
        { runtime_id: 'rt-1', agent_id: 'b', refused: 0, injections: 1 },
        { runtime_id: 'rt-2', agent_id: 'a', refused: 0, injections: 1 },
      ]);
    } finally {
      await d.end();
    }
  });
});
