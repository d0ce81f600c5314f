import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/state/index.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// The events trigger counts a central budget's refusals into budget_refusals in
// the batch's transaction; an admin deleting that budget at the same moment cascades into those
// rows. A batch that added to a budget's refusal row and then charges its lease row (the ingest's
// order: events first, the after-statement later) must not deadlock with the delete: the trigger
// takes the budget's key lock before its refusal row, the order every writer of the budget's rows
// keeps, so the delete waits for the batch (or the batch for the delete) and both succeed.

let server: TestPostgres;
let url: string;

beforeAll(async () => {
  server = await startPostgres({ settings: { deadlock_timeout: '200ms' } });
  url = await server.createDatabase('refusal_locks');
  const db = await openPostgres(url);
  await db.close();
}, 60_000);
afterAll(() => server?.destroy());

const made = '2026-11-25T00:00:00.000Z';
const refusal = (seq: number) => ['rt-1', seq, made, 'ag-1', 'budget.refused', 'error', 'refused', JSON.stringify({ requestedUsd: 0.5, spentUsd: 5, limitUsd: 5, model: 'gpt-4o', central: 'team@0' })];
const INSERT_EVENT = 'INSERT INTO events (runtime_id, seq, ts, agent_id, type, severity, message, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)';

describe("a budget's refusals counted while an admin deletes it", () => {
  it('neither the batch nor the delete fails', async () => {
    const ingest = new pg.Client(url);
    const admin = new pg.Client(url);
    await Promise.all([ingest.connect(), admin.connect()]);
    try {
      await admin.query(`INSERT INTO budgets (id, scope, period, limit_micros, created_at, updated_at) VALUES ('team', 'fleet', 'none', 5000000, '${made}', '${made}')`);
      await admin.query(`INSERT INTO budget_coverage (runtime_id, budget_id, window_start, budget_created_at, covers_all, since) VALUES ('rt-1', 'team', 0, '${made}', true, 0)`);
      // An earlier batch counted a refusal: the row the next one adds to.
      await ingest.query(INSERT_EVENT, refusal(1));
      expect((await admin.query('SELECT refused FROM budget_refusals')).rows).toEqual([{ refused: '1' }]);

      await ingest.query('BEGIN');
      await ingest.query(INSERT_EVENT, refusal(2));
      // The admin deletes the budget meanwhile.
      const deleting = admin.query("DELETE FROM budgets WHERE id = 'team'").then(
        () => null,
        (e: Error & { code?: string }) => e.code ?? e.message,
      );
      await new Promise((r) => setTimeout(r, 300));
      // The batch's after-statement charges the budget's lease row.
      const charged = await ingest.query("INSERT INTO budget_leases (budget_id, window_start, runtime_id, spent_micros, calls) VALUES ('team', 0, 'rt-1', 1000, 1)").then(
        () => null,
        (e: Error & { code?: string }) => e.code ?? e.message,
      );
      await ingest.query(charged === null ? 'COMMIT' : 'ROLLBACK');
      expect({ charged, deleted: await deleting }).toEqual({ charged: null, deleted: null });
      expect((await admin.query("SELECT count(*)::int AS n FROM budgets WHERE id = 'team'")).rows[0].n).toBe(0);
      expect((await admin.query('SELECT count(*)::int AS n FROM budget_refusals')).rows[0].n).toBe(0);
    } finally {
      await Promise.all([ingest.end(), admin.end()]);
    }
  });
});
