import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { STATE_CLOSED, STATE_OPEN, stateMark } from '../../src/state/runtime/files.js';
import { closeStateFile, openStateFile } from '../../src/state/runtime/open.js';
import { tempDir } from '../helpers/temp.js';

// A WAL beside a state file is replayed by SQLite at open: whoever can write that name can rewrite
// any page of the state. A sandboxed agent cannot (the names are covered for its run), but in a
// folder where two cages ran, one's cover over the other's WAL goes when SQLite deletes the file
// at the other's clean close. The state file says in its own header whether its last process
// closed it cleanly; a WAL or journal found beside a file closed so is set aside, never read. A
// WAL left by a crash is replayed as always.

const places: Array<{ cleanup: () => void }> = [];
afterEach(() => {
  for (const p of places.splice(0)) p.cleanup();
});
function folder(): string {
  const t = tempDir('iron-cage-wal-');
  places.push(t);
  return t.dir;
}
const rows = (db: Database.Database) => (db.prepare('select agent_id from checkpoints order by id').all() as Array<{ agent_id: string }>).map((r) => r.agent_id);
const put = (db: Database.Database, agent: string) => db.prepare("insert into checkpoints (agent_id, created_at, state) values (?, '2026-11-27T00:00:00Z', '{}')").run(agent);

/** A state file closed cleanly after a run that wrote one row, and a WAL forged for it that adds another. */
function plantedWal(dir: string): { db: string; wal: Buffer } {
  const db = join(dir, 'iron_state.db');
  const first = openStateFile(db, () => {});
  put(first, 'agent-a');
  closeStateFile(first);
  // the forger: a copy of the file opened by a plain SQLite, its commit kept in the WAL
  const copy = join(dir, 'copy.db');
  copyFileSync(db, copy);
  const forger = new Database(copy);
  forger.pragma('wal_autocheckpoint = 0');
  put(forger, 'planted');
  const wal = readFileSync(`${copy}-wal`);
  forger.close();
  return { db, wal };
}

describe('the state file and a WAL or journal found beside it', () => {
  it('a file closed cleanly says so in its header, and leaves neither WAL nor journal', () => {
    const db = join(folder(), 'iron_state.db');
    const s = openStateFile(db, () => {});
    expect(stateMark(db)).toBe(STATE_OPEN);
    put(s, 'agent-a');
    closeStateFile(s);
    expect(stateMark(db)).toBe(STATE_CLOSED);
    expect(existsSync(`${db}-wal`)).toBe(false);
    expect(existsSync(`${db}-journal`)).toBe(false);
  });

  it('a WAL written beside a file closed cleanly is set aside unread, and said loudly', () => {
    const dir = folder();
    const { db, wal } = plantedWal(dir);
    // what it would have done: a plain open of the file with the WAL beside it reads the planted row
    const victim = join(dir, 'victim.db');
    copyFileSync(db, victim);
    writeFileSync(`${victim}-wal`, wal);
    const plain = new Database(victim);
    expect(rows(plain)).toEqual(['agent-a', 'planted']);
    plain.close();

    writeFileSync(`${db}-wal`, wal);
    const said: string[] = [];
    const s = openStateFile(db, (m) => said.push(m));
    try {
      expect(rows(s)).toEqual(['agent-a']);
    } finally {
      closeStateFile(s);
    }
    expect(said, said.join('\n')).toHaveLength(1);
    expect(said[0]).toContain(`${db}-wal was not written by iron-cage`);
    const aside = readdirSync(dir).filter((n) => n.startsWith('iron_state.db-wal.refused-'));
    expect(aside).toHaveLength(1);
    expect(said[0]).toContain(join(dir, aside[0]!));
    expect(statSync(join(dir, aside[0]!)).size).toBe(wal.length);
  });

  it('a rollback journal beside a file closed cleanly is set aside too', () => {
    const dir = folder();
    const { db } = plantedWal(dir);
    writeFileSync(`${db}-journal`, Buffer.alloc(4096, 0xd9));
    const said: string[] = [];
    closeStateFile(openStateFile(db, (m) => said.push(m)));
    expect(said.join('\n')).toContain(`${db}-journal was not written by iron-cage`);
    expect(existsSync(`${db}-journal`)).toBe(false);
  });

  it('after a crash the WAL holds the last commits and is replayed, said nothing', () => {
    const dir = folder();
    const db = join(dir, 'iron_state.db');
    const running = openStateFile(db, () => {});
    put(running, 'before-the-crash');
    // the files as a killed process leaves them: the commit in the WAL, not folded in
    const crashed = join(dir, 'crashed.db');
    copyFileSync(db, crashed);
    copyFileSync(`${db}-wal`, `${crashed}-wal`);
    closeStateFile(running);
    expect(stateMark(crashed)).toBe(STATE_OPEN);
    const said: string[] = [];
    const s = openStateFile(crashed, (m) => said.push(m));
    try {
      expect(rows(s)).toEqual(['before-the-crash']);
    } finally {
      closeStateFile(s);
    }
    expect(said).toEqual([]);
  });

  it('closed by one of two processes it stays open; the last one out marks it closed', () => {
    const db = join(folder(), 'iron_state.db');
    const a = openStateFile(db, () => {});
    const b = openStateFile(db, () => {});
    closeStateFile(b);
    expect(stateMark(db)).toBe(STATE_OPEN);
    put(a, 'after-b-left');
    closeStateFile(a);
    expect(stateMark(db)).toBe(STATE_CLOSED);
    const again = openStateFile(db, () => {});
    expect(rows(again)).toEqual(['after-b-left']);
    closeStateFile(again);
  });

  it('an empty name held for a sandboxed run is passed over, and a file from before the mark trusts its WAL', () => {
    const dir = folder();
    const db = join(dir, 'iron_state.db');
    closeStateFile(openStateFile(db, () => {}));
    writeFileSync(`${db}-wal`, '', { mode: 0o400 });
    const said: string[] = [];
    closeStateFile(openStateFile(db, (m) => said.push(m)));
    expect(said).toEqual([]);

    // a state file of an iron-cage before the mark (application id 0) left with a WAL by a crash
    const old = join(dir, 'old.db');
    const s = openStateFile(old, () => {});
    s.pragma('application_id = 0');
    s.pragma('wal_checkpoint(TRUNCATE)');
    put(s, 'old-row');
    copyFileSync(old, join(dir, 'old-crashed.db'));
    copyFileSync(`${old}-wal`, join(dir, 'old-crashed.db-wal'));
    closeStateFile(s);
    const reopened = openStateFile(join(dir, 'old-crashed.db'), (m) => said.push(m));
    expect(rows(reopened)).toEqual(['old-row']);
    closeStateFile(reopened);
    expect(said).toEqual([]);
  });
});
