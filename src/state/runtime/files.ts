import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

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

/** Tighten `path` to `mode` if it exists with more; null when it is missing or already private. */
function tighten(path: string, mode: number): string | null {
  let current: number;
  try {
    current = statSync(path).mode & 0o777;
  } catch {
    return null;
  }
  if ((current & ~mode) === 0) return null;
  chmodSync(path, mode);
  return `${path} was ${current.toString(8).padStart(4, '0')} (readable by others): tightened to ${mode.toString(8).padStart(4, '0')}`;
}

/** The SQLite files of a database: the db, its WAL and shared memory, and a rollback journal. */
export function sqliteFiles(db: string): string[] {
  return [db, `${db}-wal`, `${db}-shm`, `${db}-journal`];
}

/**
 * Before SQLite opens `db`: create its folder 0700 and it 0600 when missing (SQLite then gives its -wal and -shm
 * the same mode), and tighten every file of it that exists wider, with a warning each.
 *
 * @example
 * prepareStateFile('./iron_state.db', (m) => logger.warn(m));
 */
export function prepareStateFile(db: string, warn: PermissionWarning = emitPermissionWarning): void {
  mkdirSync(dirname(db), { recursive: true, mode: PRIVATE_DIR });
  closeSync(openSync(db, 'a', PRIVATE_FILE));
  for (const f of sqliteFiles(db)) {
    const w = tighten(f, PRIVATE_FILE);
    if (w) warn(w);
  }
}

// Whether the state file was closed cleanly, in its own header: SQLite's application id
// (4 bytes at offset 68 of page 1, which SQLite never reads itself) is OPEN while a process has the
// file and CLOSED once the last one closed it, its WAL folded in and deleted by SQLite. A WAL or a
// rollback journal beside a file closed so was not written by iron-cage: someone wrote it into the
// folder since (an agent of another cage in the same folder, whose cover over this name went when
// SQLite deleted the file it covered), and SQLite would replay it at open, rewriting any page of the
// state (a config row, an agent's token, a budget). It is set aside, never read. After a crash the
// mark is still OPEN and the WAL holds the last commits: it is replayed as SQLite always does.
const APPLICATION_ID_AT = 68;
export const STATE_OPEN = 0x49434f50; // 'ICOP'
export const STATE_CLOSED = 0x4943434c; // 'ICCL'

/** The state file's application id as its header holds it (what SQLite has folded into the file), null when it has no full header. */
export function stateMark(db: string): number | null {
  let fd: number;
  try {
    fd = openSync(db, 'r');
  } catch {
    return null;
  }
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, APPLICATION_ID_AT) === 4 ? b.readUInt32BE(0) : null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Before SQLite opens `db`: a WAL or rollback journal beside a file its last process closed cleanly
 * is renamed `<name>.refused-<time>` (never read) and `warn`ed of; what is left is what iron-cage wrote.
 *
 * @example
 * refusePlantedJournals('./iron_state.db', (m) => logger.warn(m));
 */
export function refusePlantedJournals(db: string, warn: PermissionWarning, now = new Date()): void {
  if (stateMark(db) !== STATE_CLOSED) return;
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  for (const f of [`${db}-wal`, `${db}-journal`]) {
    // (an empty one is nothing SQLite could replay: a name the sandbox holds for a run, say)
    if (!existsSync(f) || statSync(f).size === 0) continue;
    const aside = `${f}.refused-${stamp}`;
    renameSync(f, aside);
    warn(
      `${f} was not written by iron-cage: ${db} was closed cleanly after its last run, which leaves no ${f.endsWith('-wal') ? 'WAL' : 'journal'}, so something wrote it into the folder since (an agent of another cage run here?) and SQLite would have replayed it over the state. Set aside unread as ${aside}.`,
    );
  }
}

/** After the last connection closed `db` (SQLite deleted its WAL): mark it closed cleanly. Nothing when a WAL is left (another process still has it open). */
export function markClosed(db: string): void {
  if (existsSync(`${db}-wal`) || stateMark(db) !== STATE_OPEN) return;
  const fd = openSync(db, 'r+');
  try {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(STATE_CLOSED, 0);
    writeSync(fd, b, 0, 4, APPLICATION_ID_AT);
  } finally {
    closeSync(fd);
  }
}

/**
 * After SQLite opened `db`: its own -wal and -shm follow the db's mode, but a filesystem or a
 * SQLite build that does otherwise must not leave them open to others. Silent: we made them.
 *
 * @example
 * secureOpenedState('./iron_state.db');
 */
export function secureOpenedState(db: string): void {
  for (const f of sqliteFiles(db)) tighten(f, PRIVATE_FILE);
}

/**
 * A folder for state beside the database (the demo's `<db>.files/`): created 0700, tightened
 * with a warning when it exists wider.
 *
 * @example
 * privateDir('./iron_demo.db.files');
 */
export function privateDir(dir: string, warn: PermissionWarning = emitPermissionWarning): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
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
