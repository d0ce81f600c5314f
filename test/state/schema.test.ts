import Database from 'better-sqlite3';
import { getTableConfig, SQLiteTable, type SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LlmStore, PiiStore, SCHEMA_VERSION, StateManager } from '../../src/state/index.js';
import * as schema from '../../src/state/schema.js';
import { closeSqlite, sqliteOf } from '../helpers/db.js';
import { tempDir } from '../helpers/runtime.js';

// The drizzle tables in src/state/schema.ts are the one description of the database; the
// migrations create it. These tests make the two unable to drift apart.

const tables: SQLiteTable[] = (Object.values(schema) as unknown[]).filter((v): v is SQLiteTable => v instanceof SQLiteTable);

/** Tables whose history the database itself refuses to rewrite. */
const APPEND_ONLY = ['events', 'pii_audit', 'secret_audit_log'];

interface ColumnInfo {
  name: string;
  type: string;
  notnull: number;
  dflt_value: string | null;
  pk: number;
}

function sqlDefault(c: SQLiteColumn): string | null {
  if (!c.hasDefault || c.default === undefined) return null;
  const v = c.default;
  if (typeof v === 'string') return `'${v.replace(/'/g, "''")}'`;
  if (typeof v === 'boolean') return v ? '1' : '0';
  return String(v);
}

function withFreshDb<T>(fn: (db: Database.Database) => T): T {
  const { dir, cleanup } = tempDir();
  const path = join(dir, 's.db');
  try {
    const sm = StateManager.open(path);
    void sm.close();
    const db = new Database(path, { readonly: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  } finally {
    cleanup();
  }
}

describe('the migrated database', () => {
  it('has exactly the tables of the drizzle schema', () => {
    withFreshDb((db) => {
      const live = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
      expect(live).toEqual(tables.map((t) => getTableConfig(t).name).sort());
    });
  });

  it.each(tables.map((t) => [getTableConfig(t).name, t] as const))('has the columns, keys and defaults drizzle declares for %s', (name, table) => {
    withFreshDb((db) => {
      const cfg = getTableConfig(table);
      const live = db.prepare(`PRAGMA table_info(${name})`).all() as ColumnInfo[];
      const want = cfg.columns.map((c) => ({
        name: c.name,
        type: c.getSQLType().toUpperCase(),
        notnull: c.notNull && !c.primary ? 1 : 0,
        dflt_value: sqlDefault(c),
        pk: c.primary ? 1 : 0,
      }));
      // SQLite reports a primary key's NOT NULL only when written out; compare what matters.
      expect(live.map((c) => ({ ...c, notnull: c.pk ? 0 : c.notnull }))).toEqual(want.map((c) => expect.objectContaining(c)));
      expect(live.map((c) => c.name)).toEqual(want.map((c) => c.name));
      const ddl = (db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) as { sql: string }).sql;
      const autoIncrement = cfg.columns.some((c) => (c as SQLiteColumn & { autoIncrement?: boolean }).autoIncrement === true);
      expect(/AUTOINCREMENT/i.test(ddl)).toBe(autoIncrement);
    });
  });

  it.each(tables.map((t) => [getTableConfig(t).name, t] as const))('has the indexes and unique constraints drizzle declares for %s', (name, table) => {
    withFreshDb((db) => {
      const cfg = getTableConfig(table);
      const list = db.prepare(`PRAGMA index_list(${name})`).all() as Array<{ name: string; unique: number; origin: string }>;
      const columnsOf = (index: string) => (db.prepare(`PRAGMA index_info(${index})`).all() as Array<{ name: string }>).map((c) => c.name);
      const created = list.filter((i) => i.origin === 'c').map((i) => ({ name: i.name, unique: i.unique === 1, columns: columnsOf(i.name) }));
      const declared = cfg.indexes.map((i) => ({ name: i.config.name, unique: i.config.unique, columns: i.config.columns.map((c) => (c as SQLiteColumn).name) }));
      const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
      expect(created.sort(byName)).toEqual(declared.sort(byName));
      const uniqueLive = list
        .filter((i) => i.origin === 'u')
        .map((i) => columnsOf(i.name).join(','))
        .sort();
      const uniqueDeclared = cfg.columns
        .filter((c) => c.isUnique)
        .map((c) => c.name)
        .sort();
      expect(uniqueLive).toEqual(uniqueDeclared);
    });
  });

  it('keeps the audit trails append-only', async () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    const db = sqliteOf(sm);
    try {
      const triggers = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
      expect(triggers).toEqual(APPEND_ONLY.flatMap((t) => [`${t}_no_delete`, `${t}_no_update`]).sort());
      sm.record({ agentId: null, type: 'server.stopping', severity: 'info', message: 'x', data: { reason: 'r' } });
      expect(() => db.prepare("UPDATE events SET message = 'y'").run()).toThrow('append-only');
      expect(() => db.prepare('DELETE FROM events').run()).toThrow('append-only');
    } finally {
      closeSqlite(sm.path);
      await sm.close();
      cleanup();
    }
  });
});

describe('per-agent event lookups', () => {
  afterEach(() => vi.restoreAllMocks());

  it('go through the partial index of the types they look up, never the whole log', async () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    const db = sqliteOf(sm);
    try {
      const ddl = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'events_agent_type'").get() as { sql: string }).sql;
      expect(ddl).toContain(`WHERE ${schema.LOOKUP_EVENT_TYPES_SQL}`);
      // Watch the statements the lookups prepare (on the StateManager's own connection), and ask
      // SQLite, on the test's, how it would run each.
      const plans: string[] = [];
      const prepare = Database.prototype.prepare;
      vi.spyOn(Database.prototype, 'prepare').mockImplementation(function (this: Database.Database, text: string) {
        if (this !== db && text.includes('"events"')) {
          const params = Array.from({ length: (text.match(/\?/g) ?? []).length }, (_, i) => (i === 0 ? 'ab-00000001' : 'pii.detected'));
          const plan = prepare.call(db, `EXPLAIN QUERY PLAN ${text}`) as Database.Statement<unknown[]>;
          plans.push((plan.all(...params) as Array<{ detail: string }>).map((r) => r.detail).join('; '));
        }
        return prepare.call(this, text);
      } as typeof prepare);
      sm.eventsOfTypes('ab-00000001', ['agent.started', 'agent.exited', 'agent.restarting']);
      sm.eventsOfTypes('ab-00000001', ['pii.detected'], { limit: 50, newestFirst: true });
      sm.countEvents('ab-00000001', 'tool.refused');
      expect(plans).toHaveLength(5);
      for (const plan of plans) expect(plan).toMatch(/USING (COVERING )?INDEX events_agent_type \(agent_id=\? AND type=\?\)/);
    } finally {
      closeSqlite(sm.path);
      await sm.close();
      cleanup();
    }
  });
});

// What version 1 of iron-cage created, as it shipped (the migrations must carry it forward).
const V1 = `
  CREATE TABLE agents (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, script TEXT, args TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL, pid INTEGER, supervisor_pid INTEGER, created_at TEXT NOT NULL, started_at TEXT, ended_at TEXT,
    exit_code INTEGER, exit_signal TEXT, restarts INTEGER NOT NULL DEFAULT 0, progress_done INTEGER NOT NULL DEFAULT 0,
    progress_total INTEGER, progress_unit TEXT NOT NULL DEFAULT 'items', limit_micros INTEGER
  );
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, agent_id TEXT, type TEXT NOT NULL, severity TEXT NOT NULL,
    message TEXT NOT NULL, data TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX events_agent_seq ON events (agent_id, seq);
  CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END;
  CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END;
  CREATE TABLE checkpoints (id INTEGER PRIMARY KEY AUTOINCREMENT, agent_id TEXT NOT NULL, created_at TEXT NOT NULL, state TEXT NOT NULL);
  CREATE INDEX checkpoints_agent_id ON checkpoints (agent_id, id);
  PRAGMA user_version = 1;
`;

describe('an older database', () => {
  it('is migrated forward on open, keeping its rows', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'old.db');
    const old = new Database(path);
    old.exec(V1);
    old
      .prepare(
        "INSERT INTO agents (id, name, kind, script, status, pid, supervisor_pid, created_at, limit_micros) VALUES ('ab-00000001', 'old', 'external', NULL, 'completed', NULL, NULL, '2026-01-01T00:00:00.000Z', 5000000)",
      )
      .run();
    old.prepare("INSERT INTO events (ts, agent_id, type, severity, message, data) VALUES ('2026-01-01T00:00:00.000Z', 'ab-00000001', 'agent.registered', 'info', 'Agent old registered', '{}')").run();
    old.prepare("INSERT INTO checkpoints (agent_id, created_at, state) VALUES ('ab-00000001', '2026-01-01T00:00:01.000Z', '{\"lead\":7}')").run();
    old.close();

    const sm = StateManager.open(path);
    const db = sqliteOf(sm);
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(sm.getAgent('ab-00000001')).toMatchObject({ name: 'old', status: 'completed', budget: { limitUsd: 5 } });
      // A run from before outcomes were reported never reported any.
      expect(sm.getAgent('ab-00000001')!.progress).toEqual({ done: 0, total: null, unit: 'items', succeeded: null, failed: null });
      expect(sm.lastEvents(10, 'ab-00000001')).toMatchObject([{ type: 'agent.registered', message: 'Agent old registered' }]);
      expect(sm.latestCheckpoint('ab-00000001')?.state).toEqual({ lead: 7 });
      // The tables later versions added are there and usable.
      const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>).map((r) => r.name);
      expect(names.sort()).toEqual(tables.map((t) => getTableConfig(t).name).sort());
      const ledger = new LlmStore(sm);
      await ledger.record(
        {
          agentId: 'ab-00000001',
          endpoint: 'chat',
          provider: 'simulated',
          model: 'm',
          stream: false,
          status: 'ok',
          httpStatus: 200,
          promptTokens: 1,
          completionTokens: 1,
          costMicros: 7,
          reservedMicros: 7,
          usageSource: 'provider',
          latencyMs: 1,
          firstByteMs: null,
          redactions: 0,
          error: null,
        },
        null,
      );
      expect(ledger.spendByAgent().get('ab-00000001')).toBe(7);
      expect(new PiiStore(sm).totals()).toEqual([]);
      // The old events stay append-only.
      expect(() => db.prepare('DELETE FROM events').run()).toThrow('append-only');
    } finally {
      closeSqlite(sm.path);
      await sm.close();
      cleanup();
    }
  });
});
