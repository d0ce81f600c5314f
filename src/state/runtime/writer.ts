import type Database from 'better-sqlite3';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import type { IronEvent, NewEvent } from '../../core/events.js';
import { boundRun } from './bound.js';
import type { EventSpec } from '../dialect.js';
import { events } from '../schema.js';

/**
 * Proof that code runs inside a write (the writer's transaction): a store's write statements
 * take one, so they cannot run on their own, outside the transaction that carries their event.
 */
export type Tx = { readonly inWrite: unique symbol };
const TX = Object.freeze({}) as Tx;

export interface Written<T> {
  result: T;
  event: IronEvent | null;
}

interface Pending {
  write: (tx: Tx) => unknown;
  e: EventSpec<unknown>;
  resolve: (w: Written<unknown>) => void;
  reject: (err: unknown) => void;
}

type Outcome = ({ ok: true } & Written<unknown>) | { ok: false; error: unknown };

const NOTHING = (_tx: Tx): undefined => undefined;

/**
 * How long a write nobody waits for (`later`) may wait for others to share its commit, and how
 * many may wait: a commit writes every page its rows touched (a `tool_calls` row and its event
 * touch a dozen, with their indexes and counters), so a commit shared by many calls costs each a
 * fraction of one of its own.
 */
const LATER_MS = 50;
const LATER_MAX = 512;

/**
 * The one write path: a write and the event that announces it go into the database in one
 * transaction, and only once that transaction has committed is the event broadcast, so a
 * subscriber never sees something the database does not hold. `now` commits at once; `soon`
 * joins the group commit of this turn of the event loop (hot paths: one row per call); `later`
 * joins one up to `LATER_MS` away, for a write nobody waits for.
 */
export class Writer {
  private readonly insertEvent;
  /** One wrapper for every transaction; nested calls become savepoints. */
  private readonly tx: <T>(fn: () => T) => T;
  private batch: Pending[] = [];
  /** The batch's commit is due on the next turn of the event loop (`soon`), or at `timer` (`later`). */
  private immediate = false;
  private timer: NodeJS.Timeout | null = null;
  /** How deep in writes we are (a write may run inside another: a savepoint). */
  private depth = 0;

  constructor(
    sqlite: Database.Database,
    private readonly broadcast: (event: IronEvent) => void,
  ) {
    // The hottest write in the process (every event), prepared once and run by position (bound.ts).
    const p = sql.placeholder;
    this.insertEvent = boundRun(
      sqlite,
      drizzle(sqlite)
        .insert(events)
        .values({ ts: p('ts'), agentId: p('agentId'), type: p('type'), severity: p('severity'), message: p('message'), data: p('data') })
        .toSQL(),
    );
    const tx = sqlite.transaction((fn: () => unknown) => fn());
    this.tx = ((fn: () => unknown) => this.writing(() => tx(fn))) as <T>(fn: () => T) => T;
    this.guard(sqlite);
  }

  /** Persist one event and broadcast it. */
  event(e: NewEvent): IronEvent {
    return this.now(NOTHING, e).event!;
  }

  /**
   * `write` and its event in one transaction, then `committed` (in-memory mirrors of the rows
   * are updated only once the rows are on disk, and before anyone hears about them), then the
   * broadcast.
   */
  now<T>(write: (tx: Tx) => T, e: EventSpec<T>, committed?: (result: T) => void): Written<T> {
    // A lone event is one statement, atomic on its own: no transaction to open.
    const done = write === NOTHING ? { result: undefined as T, event: e ? this.writing(() => this.persist(e as NewEvent)) : null } : this.tx(() => this.apply(write, e));
    committed?.(done.result);
    if (done.event) this.broadcast(done.event);
    return done;
  }

  /**
   * Group commit: `write` and its event join the batch committed on the next turn of the event
   * loop; the promise resolves once they are on disk and the event has been broadcast. Each
   * write runs in its own savepoint, so one that fails does not take the others down.
   */
  soon<T>(write: (tx: Tx) => T, e: EventSpec<T>): Promise<Written<T>> {
    return new Promise((resolve, reject) => {
      this.batch.push({ write, e: e as EventSpec<unknown>, resolve: resolve as Pending['resolve'], reject });
      this.commitNextTurn();
    });
  }

  /**
   * A write nobody waits for (a relayed call's row and event, written after its answer went out):
   * as `soon`, but it may wait up to `LATER_MS` for others to share its commit (with a `soon`'s
   * if one comes meanwhile). Its event is broadcast, and the promise resolves, once it is on disk.
   */
  later<T>(write: (tx: Tx) => T, e: EventSpec<T>): Promise<Written<T>> {
    return new Promise((resolve, reject) => {
      this.batch.push({ write, e: e as EventSpec<unknown>, resolve: resolve as Pending['resolve'], reject });
      if (this.batch.length >= LATER_MAX) this.commitNextTurn();
      // Not unref()'d: a process whose event loop empties without closing the state still writes them.
      else if (!this.immediate && this.timer === null) this.timer = setTimeout(this.flush, LATER_MS);
    });
  }

  private commitNextTurn(): void {
    if (this.immediate) return;
    this.immediate = true;
    setImmediate(this.flush);
  }

  /**
   * `fn` all or nothing inside a write already under way (its `tx`): a savepoint of the writer's
   * one transaction wrapper, so a failure undoes `fn`'s rows and leaves the rest of the write
   * whole. Not drizzle's `orm.transaction`, which builds a transaction object (a query builder
   * per table) and a new better-sqlite3 wrapper on every call.
   */
  within<T>(_tx: Tx, fn: () => T): T {
    return this.tx(fn);
  }

  /** Commit the waiting batch now (shutdown, or a reader that must see it). */
  readonly flush = (): void => {
    const items = this.batch;
    this.batch = [];
    this.immediate = false;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (items.length === 0) return;
    const outcomes: Outcome[] = [];
    try {
      this.tx(() => {
        // Alone in its batch (the usual case) a write needs no savepoint: if it fails, the
        // transaction rolls back with nothing else in it.
        if (items.length === 1) return void outcomes.push({ ok: true, ...this.apply(items[0]!.write, items[0]!.e) });
        for (const item of items) {
          try {
            outcomes.push({ ok: true, ...this.tx(() => this.apply(item.write, item.e)) });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      for (const item of items) item.reject(error);
      return;
    }
    items.forEach((item, i) => {
      const o = outcomes[i]!;
      if (!o.ok) {
        item.reject(o.error);
        return;
      }
      if (o.event) this.broadcast(o.event);
      item.resolve({ result: o.result, event: o.event });
    });
  };

  /** Run `fn` as (part of) a write: the guard lets its statements through. */
  private writing<T>(fn: () => T): T {
    this.depth++;
    try {
      return fn();
    } finally {
      this.depth--;
    }
  }

  /**
   * From here on, a statement of this connection that would change the database (drizzle's and
   * hand-written alike: both are made by its prepare) refuses to run unless the writer runs it,
   * so a write that does not go through here fails at once, in tests and in use, with its own
   * stack, instead of slipping past its event. Not PRAGMA query_only, which SQLite would enforce
   * itself: every change of it expires every prepared statement (+30 µs a proxied call, measured).
   */
  private guard(sqlite: Database.Database): void {
    const prepare = sqlite.prepare.bind(sqlite);
    const refuse = (source: string) => new Error(`a write outside the StateManager's writer (Writer.now or soon): ${source.slice(0, 120)}`);
    sqlite.prepare = ((source: string) => {
      const stmt = prepare(source);
      if (stmt.readonly) return stmt;
      for (const method of ['run', 'get', 'all', 'iterate'] as const) {
        const call = (stmt[method] as (...a: unknown[]) => unknown).bind(stmt);
        (stmt as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
          if (this.depth === 0) throw refuse(source);
          return call(...args);
        };
      }
      return stmt;
    }) as typeof sqlite.prepare;
    const exec = sqlite.exec.bind(sqlite);
    sqlite.exec = ((source: string) => {
      if (this.depth === 0) throw refuse(source);
      return exec(source);
    }) as typeof sqlite.exec;
  }

  private apply<T>(write: (tx: Tx) => T, spec: EventSpec<T>): Written<T> {
    const result = write(TX);
    const e = typeof spec === 'function' ? spec(result) : spec;
    return { result, event: e ? this.persist(e) : null };
  }

  private persist(e: NewEvent): IronEvent {
    const ts = new Date().toISOString();
    const info = this.insertEvent({ ts, agentId: e.agentId, type: e.type, severity: e.severity, message: e.message, data: JSON.stringify(e.data ?? {}) });
    return { seq: Number(info.lastInsertRowid), ts, agentId: e.agentId, type: e.type, severity: e.severity, message: e.message, data: e.data } as IronEvent;
  }
}
