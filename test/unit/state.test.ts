import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { StateManager, schemaVersion } from '../../src/state/index.js';
import { closeSqlite, sqliteOf } from '../helpers/db.js';
import { tempDir } from '../helpers/runtime.js';

describe('StateManager', () => {
  it('persists before it broadcasts, with increasing seq', async () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    const seen: number[] = [];
    sm.subscribe((e) => {
      // The event is already in the database when a subscriber hears of it.
      expect(sm.eventsAfter(e.seq - 1, 1)[0]?.seq).toBe(e.seq);
      seen.push(e.seq);
    });
    const a = sm.record({ agentId: null, type: 'server.started', severity: 'info', message: 'one', data: { version: 'x', url: 'y' } });
    const b = sm.record({ agentId: null, type: 'server.stopping', severity: 'info', message: 'two', data: { reason: 'r' } });
    expect(b.seq).toBe(a.seq + 1);
    expect(seen).toEqual([a.seq, b.seq]);
    expect(sm.lastSeq()).toBe(b.seq);
    expect(sm.lastEvents(1)[0]).toEqual(b);
    expect(sqliteOf(sm).pragma('journal_mode', { simple: true })).toBe('wal');
    expect(sqliteOf(sm).pragma('user_version', { simple: true })).toBe(schemaVersion());
    closeSqlite(sm.path);
    await sm.close();
    cleanup();
  });

  it('a subscriber that throws does not stop the others', async () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    const errors: unknown[] = [];
    sm.onListenerError = (e) => errors.push(e);
    let heard = 0;
    sm.subscribe(() => {
      throw new Error('boom');
    });
    sm.subscribe(() => heard++);
    sm.record({ agentId: null, type: 'server.stopping', severity: 'info', message: 'x', data: { reason: 'r' } });
    expect(heard).toBe(1);
    expect(errors).toHaveLength(1);
    await sm.close();
    cleanup();
  });

  it('keeps only the recent checkpoints and returns the latest', async () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    sm.registerAgent({ id: 'ab-00000001', name: 'a', kind: 'supervised', script: 'a.py', args: [], limitMicros: null });
    for (let i = 0; i < 30; i++) sm.saveCheckpoint('ab-00000001', JSON.stringify({ i }));
    expect(sm.latestCheckpoint('ab-00000001')?.state).toEqual({ i: 29 });
    const n = sqliteOf(sm).prepare('SELECT count(*) AS n FROM checkpoints').get() as { n: number };
    closeSqlite(sm.path);
    expect(n.n).toBe(20);
    expect(sm.latestCheckpoint('zz-00000000')).toBeNull();
    await sm.close();
    cleanup();
  });

  it('marks agents left running by a dead iron-cage as crashed on the next open', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 's.db');
    const sm = StateManager.open(path);
    sm.registerAgent({ id: 'ab-00000002', name: 'a', kind: 'supervised', script: 'a.py', args: [], limitMicros: null });
    sm.updateAgent('ab-00000002', { status: 'running', pid: 1234 }, { type: 'agent.started', severity: 'info', message: 'started', data: { pid: 1234, attempt: 1 } });
    // Pretend a process that has since exited was supervising it.
    const dead = spawnSync('true').pid!;
    sqliteOf(sm).prepare('UPDATE agents SET supervisor_pid = ?').run(dead);
    closeSqlite(path);
    await sm.close();
    const again = StateManager.open(path);
    expect(again.getAgent('ab-00000002')).toMatchObject({ status: 'crashed', pid: null });
    expect(again.lastEvents(1)[0]).toMatchObject({ type: 'agent.exited', severity: 'error', message: expect.stringContaining('ended while it ran') });
    await again.close();
    cleanup();
  });
});
