import { sql } from 'drizzle-orm';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';
import { runNow, statement, type Builder, type Dialect, type SharedTables, type Statement, type Step } from '../dialect.js';
import { apiTokens, secretAuditLog, secrets, users, vaultMeta } from '../schema.js';
import { storeDb, type StateManager, type StoreDb } from './manager.js';

const TABLES: SharedTables = { apiTokens, users, secrets, secretAuditLog, vaultMeta };

interface Prepared {
  all(values: Record<string, unknown>): unknown;
  run(values: Record<string, unknown>): unknown;
}

/** The statements of a connection, each prepared once. */
const preparedOn = new WeakMap<StoreDb, Map<Statement<unknown>, Prepared>>();

function prepared(db: StoreDb, s: Statement<unknown>): Prepared {
  let on = preparedOn.get(db);
  if (!on) preparedOn.set(db, (on = new Map()));
  let p = on.get(s);
  if (!p) on.set(s, (p = (s.build(db.orm, TABLES) as unknown as { prepare(): Prepared }).prepare()));
  return p;
}

/** The one-row insert `insertAll` runs per row, for a table and the columns given: one statement each. */
const oneRowInserts = new Map<SQLiteTable, Map<string, Statement<never>>>();

function oneRowInsert(table: SQLiteTable, columns: string[]): Statement<never> {
  let byColumns = oneRowInserts.get(table);
  if (!byColumns) oneRowInserts.set(table, (byColumns = new Map()));
  const key = columns.join(',');
  let s = byColumns.get(key);
  if (!s) byColumns.set(key, (s = statement((b) => b.insert(table).values(Object.fromEntries(columns.map((c) => [c, sql.placeholder(c)]))))));
  return s;
}

/**
 * The stores both processes keep (tokens, users, the vault) on this runtime's SQLite file: each
 * body run at once, a write in the one writer's transaction with its event (see ../dialect.ts).
 *
 * @example
 *   const users = new UsersStore(onSqlite(state));
 *   users.list(); // UserView[], at once
 */
export function onSqlite(state: StateManager): Dialect<'sync'> {
  const db = storeDb(state);
  const b: Builder = db.orm;
  const exec = (step: Step): unknown => {
    if ('rows' in step) return step.rows.all();
    if ('run' in step) return step.run.run();
    if ('statement' in step) return step.read ? prepared(db, step.statement).all(step.values) : prepared(db, step.statement).run(step.values);
    for (const row of step.values) prepared(db, oneRowInsert(step.insert, Object.keys(row))).run(row);
    return undefined;
  };
  return {
    read: (body) => runNow(body(b, TABLES), exec),
    write: (body, event) => db.writer.now(() => runNow(body(b, TABLES), exec), event).result,
    locked: (q) => q,
  };
}
