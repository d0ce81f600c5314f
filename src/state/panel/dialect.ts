import type { PgTable } from 'drizzle-orm/pg-core';
import { runAwaited, type Builder, type Dialect, type SharedTables, type Step } from '../dialect.js';
import type { PanelDb } from './pg.js';
import { apiTokens, secretAuditLog, secrets, users, vaultMeta } from './schema-pg.js';

const TWINS = { apiTokens, users, secrets, secretAuditLog, vaultMeta };

/** Whether each of two types is the other: a value of either is a value of both. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

// The bodies are typed with schema.ts's SQLite tables and run on these PostgreSQL twins (rendered
// from schema.ts): they read the same rows, checked here, so a row type that drifted fails to
// compile.
const SAME_ROWS: { [K in keyof SharedTables]: Same<(typeof TWINS)[K]['$inferSelect'], SharedTables[K]['$inferSelect']> } = {
  apiTokens: true,
  users: true,
  secrets: true,
  secretAuditLog: true,
  vaultMeta: true,
};
void SAME_ROWS;

/**
 * The stores both processes keep (tokens, users, the vault) on the control panel's PostgreSQL:
 * each query awaited, a write in one transaction, its event dropped (a panel keeps no event log;
 * see ../dialect.ts).
 *
 * @example
 *   const users = new UsersStore(onPostgres(pg.db));
 *   await users.list();
 */
export function onPostgres(db: PanelDb): Dialect<'async'> {
  const tables = TWINS as unknown as SharedTables;
  const on = (b: PanelDb) => (step: Step) => {
    if ('rows' in step) return step.rows as unknown as PromiseLike<unknown>;
    if ('run' in step) return step.run as unknown as PromiseLike<unknown>;
    if ('statement' in step) return (step.statement.build(b as unknown as Builder, tables) as unknown as { execute(values: Record<string, unknown>): Promise<unknown> }).execute(step.values);
    return b.insert(step.insert as unknown as PgTable).values(step.values);
  };
  return {
    read: (body) => runAwaited(body(db as unknown as Builder, tables), on(db)),
    write: (body) => db.transaction((tx) => runAwaited(body(tx as unknown as Builder, tables), on(tx as unknown as PanelDb))),
    locked: (q) => (q as { for(strength: 'update'): typeof q }).for('update'),
  };
}
