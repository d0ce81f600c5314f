import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tryListen } from '../server/index.js';
import { basename, dirname, join } from 'node:path';
import { stateFileList } from '../auth/index.js';
import { ConfigError } from '../core/errors.js';
import { processAlive } from '../core/process.js';
import { makeFolders, PRIVATE_DIR, privateDir, writePrivateFile, type PermissionWarning } from '../state/index.js';

// The demo deletes its previous run at start. It deletes only what it can prove it made: a
// data folder whose marker names this very database path. A second demo on the same database
// while one runs would delete a live run: an exclusive lock in the folder stops it first.

/** Marks a data folder (and so its database) as the demo's own, safe to delete. */
export const MARKER = 'iron-cage-demo.json';
const LOCK = 'demo.lock';

/**
 * The demo's folder beside its database: one per database path (`foo` and `foo.db` differ).
 *
 * @example
 * dataDirFor('/home/me/iron_demo.db') // '/home/me/iron_demo.db.files'
 */
export function dataDirFor(db: string): string {
  return join(dirname(db), `${basename(db)}.files`);
}

function markerDb(dataDir: string): string | null {
  try {
    const m = JSON.parse(readFileSync(join(dataDir, MARKER), 'utf8')) as { db?: unknown };
    return typeof m.db === 'string' ? m.db : null;
  } catch {
    return null;
  }
}

/** O_EXCL lock file holding our pid; a lock whose pid is gone is taken over. Released at exit. */
function lock(dataDir: string, db: string): void {
  const path = join(dataDir, LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      process.once('exit', () => rmSync(path, { force: true }));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new ConfigError(`--db: another iron-cage demo (pid ${pid}) is running on ${db}; stop it or choose another --db`);
    }
    unlinkSync(path);
  }
  throw new ConfigError(`--db: could not lock ${join(dataDir, LOCK)}; another demo keeps taking it`);
}

/**
 * Refuse (ConfigError, exit 2) a database or data folder at `db` that the demo did not make for
 * this path; whether there is one it made. Read only: the demo asks it before its slower checks,
 * so a wrong --db is refused at once, and `claimDataDir` asks again as it claims the folder.
 *
 * @example
 * refuseForeign('/home/me/notes.db', false); // throws: notes.db was not made by iron-cage demo
 */
export function refuseForeign(db: string, keep: boolean): boolean {
  const dataDir = dataDirFor(db);
  const ours = markerDb(dataDir) === db;
  if (existsSync(dataDir) && !ours) {
    throw new ConfigError(`--db: ${dataDir} exists but was not made by iron-cage demo for ${db}; refusing to touch it (choose another --db)`);
  }
  if (existsSync(db) && !ours) {
    throw new ConfigError(`--db: ${db} was not made by iron-cage demo; refusing to ${keep ? 'add the demo to' : 'delete'} it (choose another --db)`);
  }
  return ours;
}

/**
 * Claim the data folder of `db` for this run, then (unless `keep`) delete the previous run:
 * the database, the key files the runtime keeps beside it and the folder's contents. Refuses
 * (ConfigError, exit 2) a database or folder the demo did not make for this path, and a folder
 * another live demo holds. Nothing is deleted before every check passed.
 *
 * @example
 * const dataDir = claimDataDir('/home/me/iron_demo.db', false); // '/home/me/iron_demo.db.files'
 */
export function claimDataDir(db: string, keep: boolean, warn?: PermissionWarning): string {
  const dataDir = dataDirFor(db);
  const ours = refuseForeign(db, keep);
  makeFolders(dataDir, PRIVATE_DIR);
  lock(dataDir, db);
  // Mails, results and the run's config: the operator's alone, like the database. Only once
  // the folder is this run's: a live run's folder is not ours to change.
  privateDir(dataDir, warn);
  if (ours && !keep) {
    for (const f of stateFileList(db)) rmSync(f, { force: true });
    for (const f of readdirSync(dataDir)) if (f !== LOCK && f !== MARKER) rmSync(join(dataDir, f), { recursive: true, force: true });
  }
  writePrivateFile(join(dataDir, MARKER), JSON.stringify({ db, createdAt: new Date().toISOString() }));
  return dataDir;
}

/**
 * Whether `port` on `host` can be listened on now (0 always can).
 *
 * @example
 * if (!(await portFree('127.0.0.1', 8080))) port = 0;
 */
export async function portFree(host: string, port: number): Promise<boolean> {
  return port === 0 || (await tryListen(host, port)) === null;
}
