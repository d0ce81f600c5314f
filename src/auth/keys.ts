import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, lstatSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { ConfigError } from '../core/errors.js';

/** The signing key lives beside the database: `iron_state.db` → `iron_state.db.key`. */
export function keyPathFor(dbPath: string): string {
  return stateFilesFor(dbPath).tokenKey;
}

/**
 * Every file the runtime keeps beside a database, named in one place so a tool that removes
 * a database's state (the demo) removes exactly these.
 *
 * @example
 * stateFilesFor('/x/iron_state.db').auditKey // '/x/iron_state.db.audit.key'
 */
export function stateFilesFor(dbPath: string): { wal: string; shm: string; tokenKey: string; auditKey: string } {
  return { wal: `${dbPath}-wal`, shm: `${dbPath}-shm`, tokenKey: `${dbPath}.key`, auditKey: `${dbPath}.audit.key` };
}

/**
 * A database's state as files to remove: the database, its SQLite files and its keys.
 *
 * @example
 * for (const f of stateFileList(db)) rmSync(f, { force: true });
 */
export function stateFileList(dbPath: string): string[] {
  const s = stateFilesFor(dbPath);
  return [dbPath, s.wal, s.shm, `${dbPath}-journal`, s.tokenKey, s.auditKey];
}

/**
 * Load the JWT signing key, creating it (0600, 256 random bits) on first start. Tokens
 * survive restarts because the key does; deleting the file revokes every token.
 */
export function loadOrCreateKey(path: string): { key: Uint8Array; created: boolean } {
  try {
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
    } finally {
      closeSync(fd);
    }
    return { key: readKey(path), created: true };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') throw typeof code === 'string' ? new ConfigError(`key file ${path}: cannot create it (${code})`) : e;
  }
  // Read first (what stands there may be no key file: a folder is not to be chmod-ed); someone
  // loosened the permissions: tightened back rather than trust a readable key.
  // A link in a key's place is no key file of ours: not read through, nor its target's mode changed.
  if (lstatSync(path).isSymbolicLink()) throw new ConfigError(`key file ${path} is a symbolic link: iron-cage reads its keys from files of its own; remove it`);
  const key = readKey(path);
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  return { key, created: false };
}

/**
 * A key file that must already exist (a reader, not its creator: the PII audit reveal); null
 * when there is none, so the caller can say which file is missing.
 *
 * @example
 * readExistingKey(stateFilesFor(db).auditKey) ?? fail('no audit key');
 */
export function readExistingKey(path: string): Uint8Array | null {
  try {
    return readKey(path, `${path} is not a key file (64 hexadecimal digits)`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

const KEY_HEX = /^[0-9a-f]{64}$/;

/** A key file's key; what is wrong with it as a ConfigError naming the file (one line, exit 2), but a missing one's ENOENT. */
function readKey(path: string, malformed = `signing key ${path} is malformed; delete it to create a new one (this revokes all tokens)`): Uint8Array {
  let hex: string;
  try {
    hex = readFileSync(path, 'utf8').trim();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || typeof code !== 'string') throw e;
    throw new ConfigError(`key file ${path}: cannot read it (${code === 'EISDIR' ? 'a folder' : code})`);
  }
  if (!KEY_HEX.test(hex)) throw new ConfigError(malformed);
  return Buffer.from(hex, 'hex');
}
