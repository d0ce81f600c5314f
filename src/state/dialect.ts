import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';
import type { NewEvent } from '../core/events.js';
import { isUniqueViolation } from './db-errors.js';
import type { apiTokens, secretAuditLog, secrets, users, vaultMeta } from './schema.js';

// A store both processes keep (tokens, users, the vault) is written once, over either database:
// the runtime's SQLite file, where a write is synchronous and goes through the one writer with
// its event, and the control panel's PostgreSQL, where every answer is a promise and a panel,
// which keeps no event log, drops the event. A store's method is a generator that yields its
// queries one at a time (`rows`, `run`, `insertAll`, a hot path's `statement` built once); the
// database's `Dialect` runs it, at once on SQLite (runtime/dialect.ts), one awaited query at a
// time on PostgreSQL (panel/dialect.ts), so the same rules run the same queries on both.
//
// The queries are built with drizzle's SQLite types over schema.ts's tables, the one description
// of the tables. On PostgreSQL the same calls are made on its own builder and its own tables
// (schema-pg.ts, rendered from schema.ts: the same names, the same rows; panel/dialect.ts checks
// that the rows are the same types). Both builders have select, insert, update, delete, where,
// orderBy, limit, returning and onConflictDoNothing alike; what only one has is the dialect's
// (`locked`). test/state/stores-both-dialects.test.ts runs every method on both.

/** `sync`: answers at once (SQLite); `async`: answers with promises (PostgreSQL). */
export type Mode = 'sync' | 'async';

/** What a store's method answers on a database of this mode: T at once, or a promise of T. */
export type Answer<M extends Mode, T> = M extends 'sync' ? T : Promise<T>;

/** The event a write announces: fixed, built from the write's result (e.g. a new row id), or none. */
export type EventSpec<T> = NewEvent | ((result: T) => NewEvent | null) | null;

/** The tables of the stores both processes keep, as schema.ts describes them. */
export interface SharedTables {
  apiTokens: typeof apiTokens;
  users: typeof users;
  secrets: typeof secrets;
  secretAuditLog: typeof secretAuditLog;
  vaultMeta: typeof vaultMeta;
}

/** What a store's body builds its queries with: the builder of the write's transaction, or the database's. */
export type Builder = Pick<BetterSQLite3Database, 'select' | 'insert' | 'update' | 'delete'>;

/** A query whose rows are read (a select, or a write with `returning`). */
interface RowsQuery<R> {
  all(): R[];
}
/** A statement run for its effect. */
interface RunQuery {
  run(): unknown;
}

/**
 * One query of a body: rows read, a statement run, or many rows added to one table (`insert`,
 * which each database does its own cheapest way). `duplicate`: the error to throw instead when
 * the statement breaks a unique key (the same on both databases, whose errors differ).
 */
export type Step = (
  | { rows: RowsQuery<unknown> }
  | { run: RunQuery }
  | { insert: SQLiteTable; values: Array<Record<string, unknown>> }
  | { statement: Statement<unknown>; values: Record<string, unknown>; read: boolean }
) & { duplicate?: () => Error };

/**
 * A query of a hot path, built once with `sql.placeholder`s and run with their values: prepared
 * once on SQLite (building a query with drizzle costs more than running it there), built and sent
 * with the values on PostgreSQL (the same builder calls on the transaction's own builder).
 *
 * @example
 *   const BY_HASH = statement((b, { apiTokens: a }) => b.select().from(a).where(eq(a.hash, sql.placeholder('hash'))));
 *   this.d.read(() => firstOf(BY_HASH, { hash }));
 */
export interface Statement<R> {
  readonly build: (b: Builder, t: SharedTables) => RowsQuery<R> | RunQuery;
}

export function statement<R>(build: (b: Builder, t: SharedTables) => RowsQuery<R>): Statement<R>;
export function statement(build: (b: Builder, t: SharedTables) => RunQuery): Statement<never>;
export function statement<R>(build: (b: Builder, t: SharedTables) => RowsQuery<R> | RunQuery): Statement<R> {
  return { build };
}

/** A store method's body: its queries in order, then its answer. */
export type Steps<T> = Generator<Step, T, unknown>;

/** The rows of `q`. */
export function* rows<R>(q: RowsQuery<R>): Steps<R[]> {
  return (yield { rows: q }) as R[];
}

/** The first row of `q`, or null. */
export function* first<R>(q: RowsQuery<R>): Steps<R | null> {
  return (yield* rows(q))[0] ?? null;
}

/** The rows of a statement, with these values for its placeholders. */
export function* rowsOf<R>(s: Statement<R>, values: Record<string, unknown>): Steps<R[]> {
  return (yield { statement: s, values, read: true }) as R[];
}

/** The first row of a statement, or null. */
export function* firstOf<R>(s: Statement<R>, values: Record<string, unknown>): Steps<R | null> {
  return (yield* rowsOf(s, values))[0] ?? null;
}

/** Run `q`; with `duplicate`, a unique key it breaks throws that error instead. */
export function* run(q: RunQuery, duplicate?: () => Error): Steps<void> {
  yield duplicate ? { run: q, duplicate } : { run: q };
}

/**
 * Add these rows to `table` (none: nothing). SQLite runs one statement prepared once per row (a
 * statement is cheap in process; building one of many rows is not: ~2 ms for 100 audit rows);
 * PostgreSQL sends one statement of all of them (each statement is a round trip).
 */
export function* insertAll<Tb extends SQLiteTable>(table: Tb, values: Array<Tb['$inferInsert']>): Steps<void> {
  if (values.length > 0) yield { insert: table, values };
}

export interface Dialect<M extends Mode> {
  /** Queries that read: on the database's own connection, no transaction. */
  read<T>(body: (b: Builder, t: SharedTables) => Steps<T>): Answer<M, T>;
  /** Queries that write, in one transaction; the event with them where the database keeps events (SQLite). */
  write<T>(body: (b: Builder, t: SharedTables) => Steps<T>, event: EventSpec<T>): Answer<M, T>;
  /** `q` with the rows it reads locked until the write commits: PostgreSQL's FOR UPDATE (a SQLite write holds the whole file). */
  locked<Q>(q: Q): Q;
}

function failed(step: Step, e: unknown): unknown {
  return step.duplicate && isUniqueViolation(e) ? step.duplicate() : e;
}

/** A body run at once, each step by `exec` as it is yielded (SQLite). */
export function runNow<T>(steps: Steps<T>, exec: (step: Step) => unknown): T {
  let next = steps.next();
  while (!next.done) {
    const step = next.value;
    let out: unknown;
    try {
      out = exec(step);
    } catch (e) {
      throw failed(step, e);
    }
    next = steps.next(out);
  }
  return next.value;
}

/** A body run one awaited step at a time (PostgreSQL). */
export async function runAwaited<T>(steps: Steps<T>, exec: (step: Step) => PromiseLike<unknown>): Promise<T> {
  let next = steps.next();
  while (!next.done) {
    const step = next.value;
    let out: unknown;
    try {
      out = await exec(step);
    } catch (e) {
      throw failed(step, e);
    }
    next = steps.next(out);
  }
  return next.value;
}
