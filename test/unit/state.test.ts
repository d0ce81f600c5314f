import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
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

  it('an agent change rewrites its row whole: every field patched is on disk, the rest kept, by one statement prepared once', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 's.db');
    // The StateManager's own connection does not leave src/: its statements are counted as it
    // prepares them (its writer's guard binds the connection's prepare when it opens, so the
    // counting one stays in use for this connection after the prototype is restored).
    const prepare = Database.prototype.prepare;
    const agentUpdates: string[] = [];
    Database.prototype.prepare = function (this: Database.Database, source: string) {
      if (/^update "agents"/i.test(source)) agentUpdates.push(source);
      return prepare.call(this, source);
    } as typeof prepare;
    let sm: StateManager;
    try {
      sm = StateManager.open(path);
      sm.registerAgent({ id: 'ab-00000003', name: 'a', kind: 'supervised', script: 'a.py', args: ['--x'], limitMicros: 5 });
    } finally {
      Database.prototype.prepare = prepare;
    }
    const paused = { since: '2026-01-01T00:00:00.000Z', by: 'admin x', reason: 'looks stuck', cause: 'manual' as const };
    sm.updateAgent(
      'ab-00000003',
      { status: 'running', pid: 42, startedAt: '2026-01-01T00:00:01.000Z', restarts: 2, limitMicros: 9, paused, progress: { done: 3, total: 10, unit: 'leads', succeeded: 2, failed: 1 } },
      { type: 'agent.started', severity: 'info', message: 'started', data: { pid: 42, attempt: 3 } },
    );
    sm.updateAgent(
      'ab-00000003',
      { status: 'completed', endedAt: '2026-01-01T00:00:02.000Z', exitCode: 0, exitSignal: null, pid: null, paused: null },
      { type: 'agent.exited', severity: 'info', message: 'done', data: { code: 0, signal: null } },
    );
    for (let i = 4; i <= 20; i++)
      sm.updateAgent(
        'ab-00000003',
        { progress: { done: i, total: 20, unit: 'leads', succeeded: i - 1, failed: 1 } },
        { type: 'agent.progress', severity: 'debug', message: `${i}`, data: { done: i } },
      );
    expect(agentUpdates).toHaveLength(1);
    const row = sqliteOf(sm).prepare('SELECT * FROM agents WHERE id = ?').get('ab-00000003');
    closeSqlite(path);
    await sm.close();
    expect(row).toMatchObject({
      name: 'a',
      kind: 'supervised',
      script: 'a.py',
      args: '["--x"]',
      status: 'completed',
      pid: null,
      started_at: '2026-01-01T00:00:01.000Z',
      ended_at: '2026-01-01T00:00:02.000Z',
      exit_code: 0,
      exit_signal: null,
      restarts: 2,
      limit_micros: 9,
      paused: null,
      progress_done: 20,
      progress_total: 20,
      progress_unit: 'leads',
      progress_succeeded: 19,
      progress_failed: 1,
    });
    const again = StateManager.open(path);
    expect(again.getAgent('ab-00000003')).toMatchObject({ status: 'completed', restarts: 2, progress: { done: 20, total: 20, unit: 'leads', succeeded: 19, failed: 1 } });
    await again.close();
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
