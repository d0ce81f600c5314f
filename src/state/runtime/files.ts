import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readSync, type Stats, statSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../../core/errors.js';
import { dirname, resolve } from 'node:path';

// The state files hold checkpoints, cached tool bodies, events and sealed secrets: they are
// the operator's alone, like the key files beside them. Files are created 0600 (a mode given
// at creation can only be narrowed by the umask), folders 0700; one found wider is tightened
// and the caller is told, so the operator learns it was exposed.

export const PRIVATE_FILE = 0o600;
export const PRIVATE_DIR = 0o700;

/** A notice for the operator: a state file was found readable by others and was tightened. */
export type PermissionWarning = (message: string) => void;

/** Node's own warning channel, for callers without a logger (CLI commands, embedding). */
export const emitPermissionWarning: PermissionWarning = (message) => process.emitWarning(message, 'IronCageWarning');

/**
 * Tighten `path` to `mode` if it exists with more; null when it is missing or already private.
 * A symbolic link is followed only where `links` says so (the state file a user linked): a
 * journal or key file standing as a link is refused (`refuse`) or left alone (`skip`), never
 * chmod-ed through: planted beside the state, it would make iron-cage change any file's mode.
 */
function tighten(path: string, mode: number, links: 'follow' | 'refuse' | 'skip' = 'follow'): string | null {
  let current: number;
  try {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) {
      if (links === 'refuse') throw new ConfigError(`${path} is a symbolic link: iron-cage changes none of its own files through a link; remove it`);
      if (links === 'skip') return null;
    }
    current = (st.isSymbolicLink() ? statSync(path) : st).mode & 0o777;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    return null;
  }
  if ((current & ~mode) === 0) return null;
  chmodSync(path, mode);
  return `${path} was ${current.toString(8).padStart(4, '0')} (readable by others): tightened to ${mode.toString(8).padStart(4, '0')}`;
}

/**
 * `dir` and the folders missing above it, each made with `mode`, one at a time: what `mkdirSync(dir,
 * { recursive: true })` does, but failing where it fails. Node 20's own spins at full CPU forever
 * where mkdir says ENOENT under a folder that exists (in /proc or /sys: `--db /proc/x/s.db`).
 *
 * @example
 * makeFolders('./state/today', PRIVATE_DIR);
 */
export function makeFolders(dir: string, mode: number): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d) && d !== dirname(d); d = dirname(d)) missing.push(d);
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // made meanwhile by another process
    }
  }
}

/** The SQLite files of a database: the db, its WAL and shared memory, and a rollback journal. */
export function sqliteFiles(db: string): string[] {
  return [db, `${db}-wal`, `${db}-shm`, `${db}-journal`];
}

/**
 * Before SQLite opens `db`: create its folder 0700 and it 0600 when missing (SQLite then gives its
 * -wal and -shm the same mode), after refusing what cannot be a state file.
 *
 * @example
 * prepareStateFile('./iron_state.db');
 */
export function prepareStateFile(db: string): void {
  makeFolders(dirname(db), PRIVATE_DIR);
  refuseNotStateFile(db);
  // A journal of the state file standing as a link: SQLite would write through it (or refuse with no reason), tighten chmod through it.
  for (const f of sqliteFiles(db).slice(1)) {
    if (lstatSync(f, { throwIfNoEntry: false })?.isSymbolicLink()) throw new ConfigError(`${f} is a symbolic link: iron-cage changes none of its own files through a link; remove it`);
  }
  closeSync(openSync(db, 'a', PRIVATE_FILE));
}

/**
 * Once `db` is known to be a state file (ours, or new): tighten every file of it that exists wider
 * than 0600, with a warning each.
 *
 * @example
 * tightenStateFiles('./iron_state.db', (m) => logger.warn(m));
 */
export function tightenStateFiles(db: string, warn: PermissionWarning = emitPermissionWarning): void {
  for (const f of sqliteFiles(db)) {
    const w = tighten(f, PRIVATE_FILE, f === db ? 'follow' : 'refuse');
    if (w) warn(w);
  }
}

/** What is said of a file at a state file's path that is no SQLite database. */
export const notADatabase = (db: string) => new ConfigError(`${db} is not an iron-cage state file (not an SQLite database): give another path`);

/**
 * Refuse, before anything is changed (its mode included), what stands at `db` and cannot be a
 * state file: a device (`--db /dev/null` had its mode set to 0600), a FIFO or a socket (an open
 * waits forever), or a file with content that is no SQLite database (a user's notes). A folder is
 * the opener's to say (EISDIR).
 */
function refuseNotStateFile(db: string): void {
  let st: Stats;
  try {
    st = statSync(db);
  } catch {
    return; // nothing there yet (or unreadable: the open says why)
  }
  if (st.isDirectory()) return;
  if (!st.isFile()) throw new ConfigError(`${db} is not a regular file (${st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device'}): give a state file's path`);
  if (st.size === 0) return;
  const head = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(db, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (!head.equals(SQLITE_HEADER)) throw notADatabase(db);
}

/** The first 16 bytes of every SQLite database file. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * After SQLite opened `db`: its own -wal and -shm follow the db's mode, but a filesystem or a
 * SQLite build that does otherwise must not leave them open to others. Silent: we made them.
 *
 * @example
 * secureOpenedState('./iron_state.db');
 */
export function secureOpenedState(db: string): void {
  for (const f of sqliteFiles(db)) tighten(f, PRIVATE_FILE, f === db ? 'follow' : 'skip');
}

/**
 * A folder for state beside the database (the demo's `<db>.files/`): created 0700, tightened
 * with a warning when it exists wider.
 *
 * @example
 * privateDir('./iron_demo.db.files');
 */
export function privateDir(dir: string, warn: PermissionWarning = emitPermissionWarning): void {
  makeFolders(dir, PRIVATE_DIR);
  const w = tighten(dir, PRIVATE_DIR);
  if (w) warn(w);
}

/**
 * Write a state file (an export, a results file, a saved mail) readable by the operator only.
 *
 * @example
 * writePrivateFile('./iron_demo.db.files/results.json', JSON.stringify(results));
 */
export function writePrivateFile(path: string, data: string | Uint8Array): void {
  writeFileSync(path, data, { mode: PRIVATE_FILE });
  // The mode above applies to a new file only; one left by an older run keeps its own.
  tighten(path, PRIVATE_FILE);
}
