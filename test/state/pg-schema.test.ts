import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PER_RUNTIME, renderPgSchema, SHARED } from '../../scripts/pg-schema.js';
import { openPostgres, pgSchema } from '../../src/state/panel/pg.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { ROOT, until } from '../helpers/runtime.js';

// The control panel's PostgreSQL schema is not written a second time: schema-pg.ts is rendered
// from schema.ts (scripts/pg-schema.ts). These tests fail when the file and its source differ,
// when a change has no PostgreSQL migration, and run the migrations on a real PostgreSQL.

const MIGRATIONS = join(ROOT, 'src/state/migrations/pg');

describe('the PostgreSQL schema', () => {
  it('is what scripts/pg-schema.ts renders from schema.ts (npm run db:generate writes it)', () => {
    expect(readFileSync(join(ROOT, 'src/state/panel/schema-pg.ts'), 'utf8')).toBe(renderPgSchema());
  });

  it('has a migration for every change (npm run db:generate writes the missing one)', async () => {
    const journal = JSON.parse(readFileSync(join(MIGRATIONS, 'meta/_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> };
    const last = journal.entries.at(-1)!.tag.split('_')[0];
    const snapshot = JSON.parse(readFileSync(join(MIGRATIONS, `meta/${last}_snapshot.json`), 'utf8'));
    const now = generateDrizzleJson(pgSchema, snapshot.id);
    expect(await generateMigration(snapshot, now)).toEqual([]);
  });
});

describe('on a real PostgreSQL', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterAll(() => server?.destroy());

  const columns = async (client: pg.Client, table: string) =>
    (await client.query('SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position', [table])).rows as Array<{
      column_name: string;
      data_type: string;
      is_nullable: string;
    }>;

  it('builds every table, runs once when two panels open the same database at once, and keeps money in bigint', async () => {
    const url = await server.createDatabase('twice');
    const [a, b] = await Promise.all([openPostgres(url), openPostgres(url)]);
    await Promise.all([a.close(), b.close()]);
    const client = new pg.Client(url);
    await client.connect();
    try {
      const tables = (await client.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")).rows.map((r) => r.table_name as string);
      for (const t of [...PER_RUNTIME, ...SHARED, 'runtimes', 'spend_hourly', 'spend_daily']) expect(tables).toContain(t);
      const ledger = await columns(client, 'llm_requests');
      expect(ledger[0]).toEqual({ column_name: 'runtime_id', data_type: 'text', is_nullable: 'NO' });
      expect(ledger.find((c) => c.column_name === 'cost_micros')?.data_type).toBe('bigint');
      expect(ledger.find((c) => c.column_name === 'latency_ms')?.data_type).toBe('double precision');
      expect(ledger.find((c) => c.column_name === 'stream')?.data_type).toBe('boolean');
      const applied = await client.query('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations');
      expect(applied.rows[0].n).toBe(JSON.parse(readFileSync(join(MIGRATIONS, 'meta/_journal.json'), 'utf8')).entries.length);
    } finally {
      await client.end();
    }
  });

  it('keeps a runtime’s rows under its own keys: the same row reported twice is one row', async () => {
    const url = await server.createDatabase('keys');
    const { db, close } = await openPostgres(url);
    try {
      const row = {
        runtimeId: 'laptop-a',
        id: 7,
        ts: '2026-11-23T10:00:00.000Z',
        agentId: 'a1',
        endpoint: 'chat',
        provider: 'simulated',
        model: 'gpt-4o-mini',
        status: 'ok',
        costMicros: 2_500_000_000_000,
      };
      await db.insert(pgSchema.llmRequests).values(row).onConflictDoNothing();
      await db.insert(pgSchema.llmRequests).values(row).onConflictDoNothing();
      await db
        .insert(pgSchema.llmRequests)
        .values({ ...row, runtimeId: 'laptop-b' })
        .onConflictDoNothing();
      const rows = await db.select().from(pgSchema.llmRequests);
      expect(rows.map((r) => [r.runtimeId, r.id, r.costMicros])).toEqual([
        ['laptop-a', 7, 2_500_000_000_000],
        ['laptop-b', 7, 2_500_000_000_000],
      ]);
    } finally {
      await close();
    }
  });

  it('refuses to rewrite the event log, as SQLite does', async () => {
    const url = await server.createDatabase('append');
    const { db, close } = await openPostgres(url);
    try {
      await db.insert(pgSchema.events).values({ runtimeId: 'r', seq: 1, ts: 'now', type: 'agent.started', severity: 'info', message: 'hi' });
      const cause = (p: PromiseLike<unknown>) =>
        Promise.resolve(p).then(
          () => 'accepted',
          (e: Error) => String((e.cause as Error | undefined)?.message ?? e.message),
        );
      expect(await cause(db.update(pgSchema.events).set({ message: 'changed' }))).toBe('events are append-only: UPDATE is not allowed');
      expect(await cause(db.delete(pgSchema.events))).toBe('events are append-only: DELETE is not allowed');
    } finally {
      await close();
    }
  });

  it('survives the server dropping a connection that is checked out of its pool (a query under way, a transaction held)', async () => {
    const url = await server.createDatabase('dropped');
    const heard: string[] = [];
    const { pool, close } = await openPostgres(url, { onError: (e) => heard.push(e.message) });
    const uncaught: Error[] = [];
    const catcher = (e: Error) => uncaught.push(e);
    process.on('uncaughtException', catcher);
    try {
      const busy = await pool.connect();
      const held = await pool.connect();
      await held.query('BEGIN');
      const slow = busy.query('SELECT pg_sleep(30)').catch((e: Error) => e);
      const pids = (await server.rows<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [new URL(url).pathname.slice(1)])).map((r) => r.pid);
      expect(pids.length).toBeGreaterThanOrEqual(2);
      await server.rows(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN (${pids.join(', ')})`);
      // The query under way rejects with what the server said; the idle one in its transaction is told too.
      expect(String(await slow)).toMatch(/terminat/);
      await until(() => (heard.length >= 2 ? true : null), 10_000);
      expect(uncaught).toEqual([]);
      busy.release(true);
      held.release(true);
      // And the pool goes on with new connections.
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      process.off('uncaughtException', catcher);
      await close();
    }
  });

  it('says which database it cannot reach, without its password', async () => {
    const err = await openPostgres(`postgres://iron:hunter2@127.0.0.1:${server.port + 1}/nowhere`).catch((e: Error) => e);
    expect(String(err)).toMatch(/cannot reach PostgreSQL at 127\.0\.0\.1:\d+\/nowhere/);
    expect(String(err)).not.toContain('hunter2');
    await expect(openPostgres('mysql://x@y/z')).rejects.toThrow(/expected a postgres:\/\/ URL/);
  });
});
