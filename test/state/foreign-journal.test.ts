import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { StateManager } from '../../src/state/index.js';
import { cliInProcess } from '../helpers/cli.js';
import { tempDir } from '../helpers/runtime.js';

// A rollback journal beside a state file in WAL mode is never iron-cage's (it keeps its state in
// WAL mode from the first write), and SQLite plays a journal it finds back into the file when it
// opens it: one put there by someone else (a sandboxed agent of another cage in the same folder)
// is refused before SQLite sees it, nothing changed; an empty one (a sandbox's placeholder for the
// name) and a journal beside a file in the rollback journal's mode are SQLite's business.

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const { dir, cleanup } = tempDir('iron-cage-journal-');
afterAll(() => cleanup());

/** A state file made and closed by iron-cage, with an agent in it. */
async function stateFile(name: string): Promise<string> {
  const db = join(dir, name);
  const state = StateManager.open(db);
  state.registerAgent({ id: 'a1', name: 'a1', kind: 'external', script: null, args: [], limitMicros: null });
  await state.close();
  return db;
}

describe('a rollback journal beside a state file in WAL mode', () => {
  it('is refused at open, by the store and by the command line (exit 2), and nothing is read or changed', async () => {
    const db = await stateFile('planted.db');
    const journal = `${db}-journal`;
    // A journal's header and a page: whatever it holds, iron-cage never wrote it.
    writeFileSync(journal, Buffer.concat([Buffer.from([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]), Buffer.alloc(4096, 7)]), { mode: 0o600 });
    const before = { db: sha(db), journal: sha(journal), files: readdirSync(dir).sort() };
    const message = `${journal} (4104 bytes) stands beside ${db}, a database in WAL mode, for which iron-cage never writes a rollback journal: someone else put it there, and SQLite would play it back into the state at this open. Nothing was opened or changed; look at it, move it out of the folder, and start again`;
    expect(() => StateManager.open(db)).toThrow(new ConfigError(message));
    const r = await cliInProcess(['token', 'list', '--db', db], { cwd: dir });
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 2, stdout: '', stderr: `iron-cage: ${message}\n` });
    expect({ db: sha(db), journal: sha(journal), files: readdirSync(dir).sort() }).toEqual(before);
  });

  it('opens as before when the journal is empty (a placeholder holding the name) or gone', async () => {
    const db = await stateFile('placeholder.db');
    writeFileSync(`${db}-journal`, '', { mode: 0o400 });
    const state = StateManager.open(db);
    try {
      expect(state.getAgent('a1')?.name).toBe('a1');
    } finally {
      await state.close();
    }
  });

  it('leaves a journal beside a file in the rollback journal mode to SQLite', async () => {
    const db = await stateFile('rollback.db');
    // Another SQLite tool switched the file to the rollback journal (and may have left a journal of its own).
    const raw = new Database(db);
    raw.pragma('journal_mode = DELETE');
    raw.close();
    expect(readFileSync(db)[18]).toBe(1);
    writeFileSync(`${db}-journal`, Buffer.alloc(512, 1), { mode: 0o600 });
    const state = StateManager.open(db);
    try {
      expect(state.getAgent('a1')?.name).toBe('a1');
    } finally {
      await state.close();
    }
  });
});
