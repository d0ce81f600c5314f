import Database from 'better-sqlite3';

// Nothing in src/ hands out its database connection: every write goes through the StateManager's
// writer. A test that must see what only the database shows (a row's stored columns, a trigger's
// refusal, a query plan) or must damage the file on purpose opens the file itself, here.

const open = new Map<string, Database.Database>();

/**
 * The test's own connection to a state file (one per file, kept open until closeSqlite).
 *
 * @example
 *   const row = sqliteOf(t.rt.state).prepare('SELECT cost_micros FROM llm_requests').get();
 */
export function sqliteOf(state: { path: string }): Database.Database {
  let db = open.get(state.path);
  if (!db?.open) {
    db = new Database(state.path);
    // The StateManager may be committing on its own connection at the same moment.
    db.pragma('busy_timeout = 5000');
    open.set(state.path, db);
  }
  return db;
}

/** Close the test's connection to the file, if it opened one (before the file is deleted or reopened). */
export function closeSqlite(path: string): void {
  open.get(path)?.close();
  open.delete(path);
}
