import type Database from 'better-sqlite3';
import { type DriverValueEncoder, is, Param, Placeholder, type Query } from 'drizzle-orm';

/**
 * A write statement built by drizzle, prepared once and run with its named values bound by
 * position, each through its column's encoder, as drizzle's own `run` binds them, without the
 * work drizzle's does on every run: `fillPlaceholders` tests each parameter's class twice
 * (`is` walks the prototype chain) and the query logger is called. For the statements of every
 * LLM call (its row: 21 values, its event: 6): ~6 → ~2.5 µs a row's insert (a statement's own
 * SQLite work aside). The SQL is drizzle's (`toSQL()`), prepared on the StateManager's
 * connection: the writer's guard applies to it as to any other statement.
 *
 * @example
 *   const insert = boundRun(sqlite, orm.insert(events).values({ ts: sql.placeholder('ts'), … }).toSQL());
 *   insert({ ts, … });
 */
export function boundRun(sqlite: Database.Database, query: Query): (values: Record<string, unknown>) => Database.RunResult {
  const stmt = sqlite.prepare(query.sql);
  // Per position: the placeholder's name (null: a value fixed in the statement) and its column's encoder.
  const names: Array<string | null> = [];
  const encoders: Array<DriverValueEncoder<unknown, unknown> | null> = [];
  const fixed: unknown[] = [];
  for (const p of query.params) {
    const named = is(p, Placeholder) ? p : is(p, Param) && is(p.value, Placeholder) ? (p.value as Placeholder) : null;
    names.push(named === null ? null : named.name);
    encoders.push(named !== null && is(p, Param) ? p.encoder : null);
    fixed.push(named === null ? p : undefined);
  }
  const args: unknown[] = new Array(names.length);
  return (values) => {
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      if (name === null) {
        args[i] = fixed[i];
        continue;
      }
      if (!(name in values)) throw new Error(`No value for placeholder "${name}" was provided`);
      const encoder = encoders[i]!;
      args[i] = encoder === null ? values[name] : encoder.mapToDriverValue(values[name]);
    }
    return stmt.run(...args);
  };
}
