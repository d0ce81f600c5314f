import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { IronEvent } from '../../src/core/events.js';
import { PiiStore, ResponsesStore, StateManager, type PiiAuditInput } from '../../src/state/index.js';
import { storeDb } from '../../src/state/runtime/manager.js';
import { apiTokens } from '../../src/state/schema.js';
import { tempDir } from '../helpers/runtime.js';

const finding = (over: Partial<PiiAuditInput> = {}): PiiAuditInput => ({
  agentId: null,
  location: 'tool.response',
  requestRef: null,
  type: 'email',
  risk: 'medium',
  severity: 'warn',
  action: 'redacted',
  confidence: 0.9,
  start: 0,
  end: 5,
  valueHmac: 'h',
  valueSealed: 's',
  ...over,
});

const event = (message: string) => ({ agentId: null, type: 'server.stopping', severity: 'info', message, data: { reason: 'r' } }) as const;

describe('the group commit', () => {
  it('resolves once the rows are on disk and the event has been broadcast', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 's.db');
    const sm = StateManager.open(path);
    const heard: IronEvent[] = [];
    sm.subscribe((e) => heard.push(e));
    const pii = new PiiStore(sm);
    try {
      const pending = pii.record([finding(), finding({ type: 'phone' })], event('two findings'));
      // Queued, not yet written: nobody has heard of it.
      expect(heard).toEqual([]);
      await pending;
      expect(heard.map((e) => e.message)).toEqual(['two findings']);
      const other = new Database(path, { readonly: true });
      try {
        expect((other.prepare('SELECT count(*) AS n FROM pii_audit').get() as { n: number }).n).toBe(2);
        expect((other.prepare('SELECT message FROM events ORDER BY seq DESC LIMIT 1').get() as { message: string }).message).toBe('two findings');
      } finally {
        other.close();
      }
    } finally {
      await sm.close();
      cleanup();
    }
  });

  it('commits the writes of one tick together, and one failing write takes only itself down', async () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    const heard: string[] = [];
    sm.subscribe((e) => heard.push(e.message));
    const pii = new PiiStore(sm);
    try {
      const results = await Promise.allSettled([
        pii.record([finding()], event('first')),
        // NOT NULL on type: this insert fails inside its own savepoint.
        pii.record([finding({ type: null as unknown as string })], event('broken')),
        pii.record([finding({ type: 'iban' })], event('third')),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(heard).toEqual(['first', 'third']);
      expect(
        pii
          .totals()
          .map((t) => t.type)
          .sort(),
      ).toEqual(['email', 'iban']);
      expect(sm.lastEvents(10).map((e) => e.message)).toEqual(['first', 'third']);
    } finally {
      await sm.close();
      cleanup();
    }
  });

  it('a lone write that fails is refused and leaves nothing behind', async () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    const pii = new PiiStore(sm);
    try {
      await expect(pii.record([finding(), finding({ type: null as unknown as string })], event('half'))).rejects.toThrow(/NOT NULL/);
      expect(pii.totals()).toEqual([]);
      expect(sm.lastEvents(10)).toEqual([]);
    } finally {
      await sm.close();
      cleanup();
    }
  });

  it('a write nobody waits for (later) shares a commit with those of the next moments, and one made sooner takes it along', async () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    const heard: string[] = [];
    sm.subscribe((e) => heard.push(e.message));
    const { writer } = storeDb(sm);
    const turn = () => new Promise((r) => setImmediate(r));
    try {
      const first = writer.later(() => undefined, event('first'));
      await turn();
      // Not committed on the next turn, as a `soon` would be: it waits for company.
      expect(heard).toEqual([]);
      const second = writer.later(() => undefined, event('second'));
      await first;
      // One commit for both: the first is heard only with the second.
      expect(heard).toEqual(['first', 'second']);
      await second;
      const third = writer.later(() => undefined, event('third'));
      await sm.writeSoon(() => undefined, event('fourth'));
      expect(heard).toEqual(['first', 'second', 'third', 'fourth']);
      await third;
      expect(sm.lastEvents(10).map((e) => e.message)).toEqual(['first', 'second', 'third', 'fourth']);
    } finally {
      await sm.close();
      cleanup();
    }
  });

  it('is written at close, so nothing queued is lost at shutdown', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 's.db');
    const sm = StateManager.open(path);
    const pending = new PiiStore(sm).record([finding()], event('last words'));
    await sm.close();
    await pending;
    const again = StateManager.open(path);
    try {
      expect(new PiiStore(again).totals()).toEqual([{ agentId: null, type: 'email', action: 'redacted', n: 1 }]);
    } finally {
      await again.close();
      cleanup();
    }
  });
});

describe('the one write path', () => {
  const token = (id: string) => ({ id, name: id, role: 'agent', agentId: null, hash: `hash-${id}`, createdAt: 't', revokedAt: null });

  it('is the only one: the database refuses a write made anywhere else, and takes the same write from the writer', async () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    const { orm, writer } = storeDb(sm);
    try {
      expect(() => orm.insert(apiTokens).values(token('outside')).run()).toThrow(/outside the StateManager's writer/);
      // A write that reads back (RETURNING) is a write too.
      expect(() => orm.insert(apiTokens).values(token('returning')).returning().get()).toThrow(/outside the StateManager's writer/);
      expect(() => orm.delete(apiTokens).run()).toThrow(/outside the StateManager's writer/);
      writer.now(() => orm.insert(apiTokens).values(token('inside')).run(), null);
      expect(orm.select({ id: apiTokens.id }).from(apiTokens).all()).toEqual([{ id: 'inside' }]);
    } finally {
      await sm.close();
      cleanup();
    }
  });

  it('stays open for a write inside a write, and closes again after a write that failed', async () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    const { orm, writer } = storeDb(sm);
    try {
      writer.now(() => {
        writer.now(() => orm.insert(apiTokens).values(token('inner')).run(), null);
        orm.insert(apiTokens).values(token('after-inner')).run();
      }, null);
      expect(() =>
        writer.now(() => {
          throw new Error('boom');
        }, null),
      ).toThrow('boom');
      await expect(
        writer.soon(() => {
          throw new Error('later');
        }, null),
      ).rejects.toThrow('later');
      expect(() => orm.insert(apiTokens).values(token('outside')).run()).toThrow(/outside the StateManager's writer/);
      expect(orm.select({ id: apiTokens.id }).from(apiTokens).orderBy(apiTokens.id).all()).toEqual([{ id: 'after-inner' }, { id: 'inner' }]);
    } finally {
      await sm.close();
      cleanup();
    }
  });
});

describe('a part of a write kept all or nothing (Writer.within)', () => {
  const token = (id: string) => ({ id, name: id, role: 'agent', agentId: null, hash: `hash-${id}`, createdAt: 't', revokedAt: null });
  const response = (id: string) => ({ id, agentId: 'a1', model: 'm', previousResponseId: null, inputTokens: 1, outputTokens: 2, body: 'sealed', createdAt: 1, expiresAt: 10_000 });
  const item = (itemId: string, body: string) => ({ itemId, kind: 'output' as const, body });

  it('a stored turn whose item fails leaves no response nor item, and the rest of the write stands', async () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    const { orm } = storeDb(sm);
    const responses = new ResponsesStore(sm);
    try {
      await sm.writeSoon((tx) => {
        orm.insert(apiTokens).values(token('row-before')).run();
        // NOT NULL on body: the turn's third row fails, after its response and first item went in.
        expect(() => responses.insert(tx, { response: response('resp_broken'), items: [item('msg_1', '@0'), item('msg_2', null as unknown as string)] })).toThrow(/NOT NULL/);
        responses.insert(tx, { response: response('resp_whole'), items: [item('msg_3', '@0'), item('msg_4', '@1')] });
        orm.insert(apiTokens).values(token('row-after')).run();
      }, null);
      expect(responses.get('a1', 'resp_broken', 0)).toBeNull();
      expect(responses.get('a1', 'resp_whole', 0)?.id).toBe('resp_whole');
      expect(responses.itemsOf('a1', ['resp_broken', 'resp_whole']).map((r) => r.itemId)).toEqual(['msg_3', 'msg_4']);
      expect(orm.select({ id: apiTokens.id }).from(apiTokens).orderBy(apiTokens.id).all()).toEqual([{ id: 'row-after' }, { id: 'row-before' }]);
    } finally {
      await sm.close();
      cleanup();
    }
  });
});
