import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError } from '../../core/errors.js';
import { notADatabase, prepareStateFile, secureOpenedState, tightenStateFiles, type PermissionWarning } from './files.js';
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
  let sqlite: Database.Database;
  try {
    if (path !== ':memory:') prepareStateFile(path);
    sqlite = new Database(path);
  } catch (e) {
    throw unopenable(path, e);
  }
  try {
    // A newer iron-cage's file, or another program's, is left as it was: not even switched to WAL, nor its mode changed.
    refuseNewer(sqlite);
    if (path !== ':memory:') tightenStateFiles(path, warn);
    sqlite.pragma('journal_mode = WAL');
  } catch (e) {
    sqlite.close();
    throw unopenable(path, e);
  }
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
    throw unopenable(path, e);
  }
  return sqlite;
}

/**
 * Why a state file cannot be opened, as a ConfigError that names it (one line and exit 2 on the
 * command line, never a stack): a folder, a path through a file, no right to write it, a
 * read-only disk, a file that is no SQLite database. Anything else as it is.
 *
 * @example
 * unopenable('/tmp', eisdir).message // '/tmp is a folder, not a state file: give a file's path (e.g. /tmp/iron_state.db)'
 */
function unopenable(path: string, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'EISDIR':
      return new ConfigError(`${path} is a folder, not a state file: give a file's path (e.g. ${join(path, 'iron_state.db')})`);
    case 'ENOTDIR':
    case 'EEXIST': // mkdir through a file
      return new ConfigError(`${path}: cannot make its folder, ${fileAbove(path)} is a file (give another path)`);
    case 'SQLITE_NOTADB':
      return notADatabase(path);
    case 'SQLITE_CORRUPT':
      return new ConfigError(`${path} is damaged (SQLITE_CORRUPT): restore it from a backup, or give another path`);
    case 'SQLITE_READONLY':
    case 'SQLITE_CANTOPEN':
      return new ConfigError(`${path}: SQLite cannot ${e.code === 'SQLITE_READONLY' ? 'write' : 'open'} it (${e.code}: is it or its folder read-only?)`);
  }
  if ((e.syscall === 'mkdir' || e.syscall === 'open') && typeof e.code === 'string') {
    const why = e.code === 'EACCES' || e.code === 'EPERM' ? ', not allowed' : e.code === 'EROFS' ? ', a read-only file system' : '';
    return new ConfigError(`${path}: cannot ${e.syscall === 'mkdir' ? `make the folder ${e.path ?? dirname(path)}` : 'create or open it'} (${e.code}${why})`);
  }
  return err;
}

/** Close the file with its WAL folded back in (what is left is the file alone). */
export function closeStateFile(sqlite: Database.Database): void {
  try {
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    sqlite.close();
  }
}

/** The file that stands where a folder above `path` should be (`/x/notes.txt` for `/x/notes.txt/a/s.db`). */
function fileAbove(path: string): string {
  let d = dirname(resolve(path));
  while (d !== dirname(d) && !(existsSync(d) && !statSync(d).isDirectory())) d = dirname(d);
  return d;
}
