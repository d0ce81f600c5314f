import Database from 'better-sqlite3';
import { prepareStateFile, secureOpenedState, type PermissionWarning } from './files.js';
import { migrate, refuseNewer } from './migrate.js';

/**
 * The runtime's SQLite file opened for this process: created the operator's alone (0600) or
 * `warn`ed of and tightened, a newer iron-cage's file refused untouched, WAL with its commits and
 * checkpoints tuned for a row and an event a call, migrated to this build's schema. A failure
 * closes what it opened.
 *
 * @example
 *   const sqlite = openStateFile('./iron_state.db', (m) => logger.warn(m));
 */
export function openStateFile(path: string, warn: PermissionWarning): Database.Database {
  if (path !== ':memory:') prepareStateFile(path, warn);
  const sqlite = new Database(path);
  try {
    // A newer iron-cage's file is left as it was: not even switched to WAL.
    refuseNewer(sqlite);
  } catch (e) {
    sqlite.close();
    throw e;
  }
  sqlite.pragma('journal_mode = WAL');
  if (path !== ':memory:') secureOpenedState(path);
  // NORMAL is durable against process crashes in WAL mode (only an OS crash can lose the
  // last commits) and keeps per-event commits cheap.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  // Checkpoints run inside the commit that crosses this many WAL pages (4 MB): each fsyncs the
  // WAL and the file whatever it copies, and an LLM call writes ~9 pages, so at 400 one call in
  // ~45 paid one. At 1000: CPU a call ×0.90-0.95 (gateway A/B), the amortised checkpoint ~7 µs
  // of CPU a call instead of ~12 (scripts/bench/ledger.ts); at 2000 no less CPU and lone events
  // ~10% slower (scripts/bench/events.ts, which also measures the longest pause: a WAL cycled
  // through a larger span of memory). Under 4096 frames the WAL's index is one hash table.
  sqlite.pragma('wal_autocheckpoint = 1000');
  sqlite.pragma('foreign_keys = ON');
  try {
    migrate(sqlite, warn);
  } catch (e) {
    sqlite.close();
    throw e;
  }
  return sqlite;
}

/** Close the file with its WAL folded back in (what is left is the file alone). */
export function closeStateFile(sqlite: Database.Database): void {
  try {
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    sqlite.close();
  }
}
