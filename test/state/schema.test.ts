import Database from 'better-sqlite3';
import { generateSQLiteDrizzleJson, generateSQLiteMigration } from 'drizzle-kit/api';
import { getTableConfig, SQLiteTable, type SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RequestsStore, PiiStore, schemaVersion, StateManager } from '../../src/state/index.js';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { migrate } from '../../src/state/runtime/migrate.js';
import * as sharedTables from '../../src/state/schema.js';
import * as ownTables from '../../src/state/runtime/schema-runtime.js';
import { LEGACY_MIGRATIONS } from '../fixtures/state/legacy-migrations.js';
import { closeSqlite, sqliteOf } from '../helpers/db.js';
import { ROOT, tempDir } from '../helpers/runtime.js';

// src/state/schema.ts (the tables both databases hold) and src/state/runtime/schema-runtime.ts (the
// runtime's own) are the one description of the runtime's database; drizzle-kit generates the
// migrations from them. These tests fail when a change to either has no migration, when the
// database the migrations build differs from them, and when a database of an older version does
// not become exactly what a new one is.

/** Every table of the runtime's database. */
const schema = { ...sharedTables, ...ownTables };
const tables: SQLiteTable[] = (Object.values(schema) as unknown[]).filter((v): v is SQLiteTable => v instanceof SQLiteTable);
const MIGRATIONS = join(ROOT, 'src/state/migrations/sqlite');

/** Tables whose history the database itself refuses to rewrite. */
const APPEND_ONLY = ['events', 'pii_audit', 'secret_audit_log'];
/** A settled call's ledger row as the gateway writes it, costing `micros`. */
const ledgerRow = (agentId: string, micros: number) => ({
  agentId,
  endpoint: 'chat',
  provider: 'simulated',
  model: 'm',
  stream: false,
  status: 'ok',
  httpStatus: 200,
  promptTokens: 1,
  completionTokens: 1,
  costMicros: micros,
  reservedMicros: micros,
  usageSource: 'provider',
  latencyMs: 1,
  firstByteMs: null,
  redactions: 0,
  error: null,
  attempts: 1,
  budgets: null,
});
/** The tables every call writes, without AUTOINCREMENT since migration 0027. */
const LEDGER_TABLES = ['events', 'llm_requests'];

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

describe('the migrations', () => {
  it('cover every change of the schema (npm run db:generate writes the missing one)', async () => {
    const journal = JSON.parse(readFileSync(join(MIGRATIONS, 'meta/_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> };
    const last = journal.entries.at(-1)!.tag.split('_')[0];
    const snapshot = JSON.parse(readFileSync(join(MIGRATIONS, `meta/${last}_snapshot.json`), 'utf8'));
    const now = await generateSQLiteDrizzleJson(schema, snapshot.id);
    expect(await generateSQLiteMigration(snapshot, now)).toEqual([]);
  });

  it('build the partial indexes from the one list of looked-up and of timeline event types, as comparisons (no IN list: SQLite builds one at every insert)', () => {
    const last = (index: string) =>
      readdirSync(MIGRATIONS)
        .filter((f) => f.endsWith('.sql'))
        .sort()
        .map((f) => readFileSync(join(MIGRATIONS, f), 'utf8'))
        .filter((text) => text.includes(`CREATE INDEX \`${index}\``))
        .at(-1)!;
    expect(last('events_agent_type')).toContain(`WHERE ${schema.LOOKUP_EVENT_TYPES_SQL};`);
    expect(last('events_timeline')).toContain(`WHERE ${schema.TIMELINE_EVENT_TYPES_SQL};`);
    for (const condition of [schema.LOOKUP_EVENT_TYPES_SQL, schema.TIMELINE_EVENT_TYPES_SQL]) expect(condition).not.toMatch(/\bIN\b/i);
  });
});

describe('the statements', () => {
  /**
   * The files that may hold a statement written out as SQL text, each with why drizzle cannot say
   * it (or should not); every other file of src/ builds its statements with drizzle from the
   * schema. Where a file writes SQL it names the tables and columns through the schema's own
   * objects (`${table}`, `sql.identifier(column.name)`) wherever drizzle allows.
   */
  const ALLOWED: Record<string, string> = {
    'state/runtime/migrate.ts': 'the migration runner works on the schema itself: sqlite_master, sqlite_sequence, a legacy table copied',
    'state/runtime/timeline.store.ts':
      "the timeline's overview: its per-bucket counts and per-step seeks are one recursive CTE (`WITH RECURSIVE`, which drizzle cannot say; a statement per bucket, or drizzle's scalar subqueries with 500 placeholders, cost 2-10× more), built from the table's own columns",
    'state/panel/ingest.store.ts': "the panel's ingest: a batch's rows as one JSON bind (`INSERT … SELECT … FROM json_to_recordset(…)`), and its rollups and runtime row in the batch's transaction",
    'state/panel/fleet-approvals.store.ts': "every approval a batch decided, in one `UPDATE … FROM json_to_recordset(…)` (the batch's rows as one JSON bind, as the ingest's)",
    'state/panel/fleet.store.ts': "the fleet's latest events: each live runtime's newest along its primary key (`CROSS JOIN LATERAL`), an index read per runtime rather than a scan of the log",
    'state/panel/leases.store.ts':
      "a batch's figures over the leases of the runtimes outside it in one statement (aggregates with `FILTER (WHERE …)`), and the batch's turns advanced in one `UPDATE … FROM json_to_recordset(…)`",
    'state/panel/coverage.store.ts': "the keys a batch's rows name read as one JSON bind (`json_to_recordset`), beside what each was told as and the budget of that id now",
    'state/panel/pg.ts': "drizzle's own bookkeeping table (`drizzle.__drizzle_migrations`), which is no table of the schema: whether the database holds this build's migrations",
    'panel/bus.ts':
      "the replicas' feed on the raw pool beside its LISTEN connection: a frame's row inserted and NOTIFYed in one statement (`WITH … INSERT … RETURNING` into `pg_notify`), read after the last id, pruned",
  };
  /** A statement written out, in any case (PostgreSQL's and SQLite's keywords are case-insensitive). */
  const STATEMENT = /\b(INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\S+\s+SET|SELECT\s[^;`'"]*?\sFROM)\s/gi;
  const SRC = join(ROOT, 'src');
  const statementsIn = (f: string) => [...readFileSync(join(SRC, f), 'utf8').matchAll(STATEMENT)].map((m) => `${f}: ${m[0]}`);

  it('finds a statement in any case', () => {
    expect(['SELECT a FROM t ', 'select a from t ', 'Insert Into t ', 'update t set ', 'delete from t '].map((t) => [...t.matchAll(STATEMENT)].length)).toEqual([1, 1, 1, 1, 1]);
  });

  it('are all built by drizzle from schema.ts: no statement is written out by hand in src/, but in the files that say why', () => {
    const found = (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && !(f in ALLOWED)).flatMap(statementsIn);
    expect(found).toEqual([]);
  });

  it('lists only files that still write a statement out (a file that no longer does leaves the list)', () => {
    expect(Object.keys(ALLOWED).filter((f) => !existsSync(join(SRC, f)) || statementsIn(f).length === 0)).toEqual([]);
  });
});

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
      // A composite key (llm_totals') numbers its columns 1, 2, … in key order.
      const composite = cfg.primaryKeys[0]?.columns.map((c) => c.name) ?? [];
      const pkOf = (c: (typeof cfg.columns)[number]) => (c.primary ? 1 : composite.indexOf(c.name) + 1);
      const want = cfg.columns.map((c) => ({
        name: c.name,
        type: c.getSQLType().toUpperCase(),
        notnull: c.notNull && pkOf(c) === 0 ? 1 : 0,
        dflt_value: sqlDefault(c),
        pk: pkOf(c),
      }));
      // SQLite reports a primary key's NOT NULL only when written out; compare what matters.
      expect(live.map((c) => ({ ...c, type: c.type.toUpperCase(), notnull: c.pk ? 0 : c.notnull }))).toEqual(want.map((c) => expect.objectContaining(c)));
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
      // drizzle-kit writes a unique column as a unique index named <table>_<column>_unique.
      const uniqueColumns = cfg.columns.filter((c) => c.isUnique);
      const uniqueNames = new Set(uniqueColumns.map((c) => c.uniqueName));
      const created = list.filter((i) => i.origin === 'c' && !uniqueNames.has(i.name)).map((i) => ({ name: i.name, unique: i.unique === 1, columns: columnsOf(i.name) }));
      const declared = cfg.indexes.map((i) => ({ name: i.config.name, unique: i.config.unique, columns: i.config.columns.map((c) => (c as SQLiteColumn).name) }));
      const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
      expect(created.sort(byName)).toEqual(declared.sort(byName));
      const uniqueLive = list
        .filter((i) => i.unique === 1 && (i.origin === 'u' || uniqueNames.has(i.name)))
        .map((i) => columnsOf(i.name).join(','))
        .sort();
      const uniqueDeclared = uniqueColumns.map((c) => c.name).sort();
      expect(uniqueLive).toEqual(uniqueDeclared);
    });
  });

  it('keeps the audit trails append-only', async () => {
    const { dir, cleanup } = tempDir();
    const sm = StateManager.open(join(dir, 's.db'));
    const db = sqliteOf(sm);
    try {
      const triggers = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
      // The append-only guards, the one that keeps event_counts (test/state/request-plans.test.ts)
      // and the two that keep the ledger's rollups (test/state/request-plans.test.ts, test/budget/steps.test.ts).
      // Besides the append-only ones: the rollups' and each agent's stored-state count (0024).
      const stored = ['responses', 'response_items', 'conversations', 'conversation_items'].flatMap((t) => ['in', 'out', 'changed'].map((w) => `${t}_stored_${w}`));
      // And the approvals' (0025): decided once, never deleted; and the one that counts MCP calls (0026, test/state/mcp-totals.test.ts).
      expect(triggers).toEqual(
        [
          ...APPEND_ONLY.flatMap((t) => [`${t}_no_delete`, `${t}_no_update`]),
          'events_counted',
          'llm_requests_rolled',
          'llm_requests_settled',
          ...stored,
          'approvals_decided_once',
          'approvals_no_delete',
          'tool_calls_mcp',
          // The ledger: settled (an UPDATE of a pending row), never deleted (0027).
          'llm_requests_no_delete',
        ].sort(),
      );
      sm.record({ agentId: null, type: 'server.stopping', severity: 'info', message: 'x', data: { reason: 'r' } });
      expect(() => db.prepare("UPDATE events SET message = 'y'").run()).toThrow('append-only');
      expect(() => db.prepare('DELETE FROM events').run()).toThrow('append-only');
      const requests = new RequestsStore(sm);
      await sm.writeSoon((tx) => requests.insert(tx, ledgerRow('a', 1)), null);
      expect(() => db.prepare('DELETE FROM llm_requests').run()).toThrow('the ledger is append-only: DELETE is not allowed');
    } finally {
      closeSqlite(sm.path);
      await sm.close();
      cleanup();
    }
  });

  it('is made in one pass of the statements the journal left, after the first of the process, and is exactly what the journal builds', () => {
    // The journal's every step on one database (a copy of the journal: migrate's one-pass path is for this build's own).
    const stepByStep = new Database(':memory:');
    const stepped: string[] = [];
    const execStep = stepByStep.exec.bind(stepByStep);
    vi.spyOn(stepByStep, 'exec').mockImplementation((sql: string) => (stepped.push(sql), execStep(sql)));
    migrate(stepByStep, () => {}, [...readMigrationFiles({ migrationsFolder: MIGRATIONS })]);
    // (another journal than this build's is run step by step whatever came before: tables rebuilt, columns added)
    expect(stepped.some((sql) => /^ALTER TABLE /m.test(sql))).toBe(true);
    // This process's first new database is built by the journal, if nothing made one before; the next one in one pass.
    const first = new Database(':memory:');
    migrate(first);
    const next = new Database(':memory:');
    const ran: string[] = [];
    const exec = next.exec.bind(next);
    vi.spyOn(next, 'exec').mockImplementation((sql: string) => (ran.push(sql), exec(sql)));
    try {
      expect(migrate(next)).toEqual({ from: 0, to: schemaVersion() });
      const whole = (db: Database.Database) => db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid').all();
      expect(whole(next)).toEqual(whole(stepByStep));
      expect(whole(first)).toEqual(whole(stepByStep));
      // What the file keeps besides the schema: its header's settings and rows a migration might seed.
      const kept = (db: Database.Database) => ({
        ...Object.fromEntries(['user_version', 'application_id', 'page_size', 'auto_vacuum', 'encoding'].map((p) => [p, db.pragma(p, { simple: true })])),
        rows: (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map(({ name }) => [
          name,
          (db.prepare(`SELECT count(*) AS n FROM "${name}"`).get() as { n: number }).n,
        ]),
      });
      for (const db of [first, next]) expect(kept(db)).toEqual(kept(stepByStep));
      // One statement an object, each a CREATE: no table made and then rebuilt, no column added.
      const made = whole(stepByStep).filter((o) => (o as { sql: string | null }).sql !== null && !(o as { name: string }).name.startsWith('sqlite_'));
      expect(ran.length).toBe(made.length);
      expect(ran.filter((sql) => !/^CREATE (TABLE|INDEX|UNIQUE INDEX|TRIGGER) /.test(sql))).toEqual([]);
      // Its rows go where the journal's would, triggers and all.
      next.prepare("INSERT INTO events (ts, agent_id, type, severity, message, data) VALUES ('t', NULL, 'server.started', 'info', 'm', '{}')").run();
      expect(() => next.prepare("UPDATE events SET message = 'y'").run()).toThrow('append-only');
    } finally {
      for (const db of [stepByStep, first, next]) db.close();
    }
  });

  it('is built by the journal step by step when it is not empty (a file that is not ours is never given the schema over what it holds)', () => {
    const db = new Database(':memory:');
    try {
      db.exec('CREATE TABLE theirs (x)');
      // Whatever came before in this process, the one-pass schema is there to use now.
      const before = new Database(':memory:');
      migrate(before);
      before.close();
      const ran: string[] = [];
      const exec = db.exec.bind(db);
      vi.spyOn(db, 'exec').mockImplementation((sql: string) => (ran.push(sql), exec(sql)));
      migrate(db);
      expect(ran.some((sql) => /^ALTER TABLE /m.test(sql))).toBe(true);
      expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'theirs'").get()).toEqual({ name: 'theirs' });
    } finally {
      db.close();
    }
  });
});

describe('per-agent event lookups', () => {
  afterEach(() => vi.restoreAllMocks());

  it('go through the partial index of the types they look up, never the whole log', async () => {
    const { dir, cleanup } = tempDir();
    // Watch the statements the lookups prepare on the StateManager's own connection (watched from
    // before it opens: it keeps the prepare it found), and ask SQLite, on the test's, how it would
    // run each.
    let watching = false;
    let db: Database.Database | null = null;
    const plans: string[] = [];
    const prepare = Database.prototype.prepare;
    const spy = vi.spyOn(Database.prototype, 'prepare').mockImplementation(function (this: Database.Database, text: string) {
      if (watching && this !== db && text.includes('"events"')) {
        const params = Array.from({ length: (text.match(/\?/g) ?? []).length }, (_, i) => (i === 0 ? 'ab-00000001' : 'pii.detected'));
        const plan = prepare.call(db!, `EXPLAIN QUERY PLAN ${text}`) as Database.Statement<unknown[]>;
        plans.push((plan.all(...params) as Array<{ detail: string }>).map((r) => r.detail).join('; '));
      }
      return prepare.call(this, text);
    } as typeof prepare);
    const sm = StateManager.open(join(dir, 's.db'));
    db = sqliteOf(sm);
    try {
      const ddl = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'events_agent_type'").get() as { sql: string }).sql;
      expect(ddl).toContain(`WHERE ${schema.LOOKUP_EVENT_TYPES_SQL}`);
      watching = true;
      sm.eventsOfTypes('ab-00000001', ['agent.started', 'agent.exited', 'agent.restarting']);
      sm.eventsOfTypes('ab-00000001', ['pii.detected'], { limit: 50, newestFirst: true });
      sm.countEvents('ab-00000001', 'tool.refused');
      expect(plans).toHaveLength(5);
      for (const plan of plans) expect(plan).toMatch(/USING (COVERING )?INDEX events_agent_type \(agent_id=\? AND type=\?\)/);
    } finally {
      spy.mockRestore();
      closeSqlite(sm.path);
      await sm.close();
      cleanup();
    }
  });
});

/** A database as the hand-written migrations left it at `version`. */
function legacyDb(path: string, version: number): Database.Database {
  const db = new Database(path);
  for (let v = 1; v <= version; v++) {
    db.exec(LEGACY_MIGRATIONS[v - 1]!);
    db.pragma(`user_version = ${v}`);
  }
  return db;
}

/** Everything SQLite keeps about the schema, DDL text included (the root pages aside). */
const schemaOf = (db: Database.Database) => db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name').all();

/** One row in every column of every table, values made up from the column's type. */
function fill(db: Database.Database): Record<string, unknown[]> {
  const rows: Record<string, unknown[]> = {};
  for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>) {
    const columns = (db.prepare(`PRAGMA table_info(${name})`).all() as ColumnInfo[]).filter((c) => !(c.pk && c.type === 'INTEGER'));
    const value = (c: ColumnInfo) => (c.type === 'INTEGER' ? 7 : c.type === 'REAL' ? 1.5 : c.type === 'BLOB' ? Buffer.from(c.name) : c.name === 'args' ? '["x"]' : `${name}.${c.name}`);
    const insert = db.prepare(`INSERT INTO ${name} (${columns.map((c) => `"${c.name}"`).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
    insert.run(...columns.map(value));
    rows[name] = db.prepare(`SELECT * FROM ${name}`).all();
  }
  return rows;
}

describe('an older database', () => {
  const freshSchema = () => withFreshDb(schemaOf);

  it.each(LEGACY_MIGRATIONS.map((_, i) => i + 1))('at version %i is upgraded to exactly what a new one is, keeping its rows', (version) => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'old.db');
    const old = legacyDb(path, version);
    const rows = fill(old);
    // Ids handed out and since deleted stay used: checkpoints are pruned from the front.
    for (let i = 0; i < 3; i++) old.prepare("INSERT INTO checkpoints (agent_id, created_at, state) VALUES ('agents.id', 't', '{}')").run();
    old.prepare('DELETE FROM checkpoints WHERE id > 1').run();
    const marks = old.prepare('SELECT name, seq FROM sqlite_sequence ORDER BY name').all();
    try {
      // The migration alone (StateManager.open would go on to mark the made-up agent crashed).
      expect(migrate(old)).toEqual({ from: version, to: schemaVersion() });
      expect(old.pragma('user_version', { simple: true })).toBe(schemaVersion());
      expect(schemaOf(old)).toEqual(freshSchema());
      for (const [table, before] of Object.entries(rows)) {
        const columns = Object.keys(before[0] as object).map((c) => `"${c}"`);
        expect(old.prepare(`SELECT ${columns.join(', ')} FROM ${table}`).all(), table).toEqual(before);
      }
      // The call path's two tables keep no sequence (0027): their ids go on from their largest.
      expect(old.prepare('SELECT name, seq FROM sqlite_sequence ORDER BY name').all()).toEqual(marks.filter((m) => !LEDGER_TABLES.includes((m as { name: string }).name)));
    } finally {
      old.close();
      cleanup();
    }
  });

  it('is migrated forward on open, keeping its rows', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'old.db');
    const old = legacyDb(path, 1);
    old
      .prepare(
        "INSERT INTO agents (id, name, kind, script, status, pid, supervisor_pid, created_at, limit_micros) VALUES ('ab-00000001', 'old', 'external', NULL, 'completed', NULL, NULL, '2026-01-01T00:00:00.000Z', 5000000)",
      )
      .run();
    old.prepare("INSERT INTO events (ts, agent_id, type, severity, message, data) VALUES ('2026-01-01T00:00:00.000Z', 'ab-00000001', 'agent.registered', 'info', 'Agent old registered', '{}')").run();
    old.prepare("INSERT INTO checkpoints (agent_id, created_at, state) VALUES ('ab-00000001', '2026-01-01T00:00:01.000Z', '{\"lead\":7}')").run();
    old.close();

    const notices: string[] = [];
    const sm = StateManager.open(path, { warn: (m) => notices.push(m) });
    const db = sqliteOf(sm);
    try {
      expect(notices.filter((m) => m.startsWith('Upgrading'))).toEqual([expect.stringContaining(`Upgrading the database from schema version 1 to ${schemaVersion()}`)]);
      expect(db.pragma('user_version', { simple: true })).toBe(schemaVersion());
      expect(sm.getAgent('ab-00000001')).toMatchObject({ name: 'old', status: 'completed', budget: { limitUsd: 5 } });
      // A run from before outcomes were reported never reported any.
      expect(sm.getAgent('ab-00000001')!.progress).toEqual({ done: 0, total: null, unit: 'items', succeeded: null, failed: null });
      expect(sm.lastEvents(10, 'ab-00000001')).toMatchObject([{ type: 'agent.registered', message: 'Agent old registered' }]);
      expect(sm.latestCheckpoint('ab-00000001')?.state).toEqual({ lead: 7 });
      // The tables later versions added are there and usable.
      const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>).map((r) => r.name);
      expect(names.sort()).toEqual(tables.map((t) => getTableConfig(t).name).sort());
      const requests = new RequestsStore(sm);
      await sm.writeSoon((tx) => requests.insert(tx, ledgerRow('ab-00000001', 7)), null);
      expect(requests.spendByAgent().get('ab-00000001')).toBe(7);
      expect(new PiiStore(sm).totals()).toEqual([]);
      // The old events stay append-only.
      expect(() => db.prepare('DELETE FROM events').run()).toThrow('append-only');
    } finally {
      closeSqlite(sm.path);
      await sm.close();
      cleanup();
    }
  });

  it('that cannot be upgraded is left exactly as it was', () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'old.db');
    const old = legacyDb(path, 7);
    // A row today's schema refuses (its key NOT NULL): the copy fails, and takes the upgrade down whole.
    old.prepare("INSERT INTO agents (id, name, kind, status, created_at) VALUES (NULL, 'keyless', 'external', 'completed', 't')").run();
    const before = { schema: schemaOf(old), agents: old.prepare('SELECT * FROM agents').all() };
    old.close();
    try {
      expect(() => StateManager.open(path)).toThrow(/NOT NULL/);
      const db = new Database(path, { readonly: true });
      try {
        expect(db.pragma('user_version', { simple: true })).toBe(7);
        expect({ schema: schemaOf(db), agents: db.prepare('SELECT * FROM agents').all() }).toEqual(before);
      } finally {
        db.close();
      }
    } finally {
      cleanup();
    }
  });

  it('from a newer iron-cage is refused, untouched', () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'new.db');
    const db = new Database(path);
    db.pragma(`user_version = ${schemaVersion() + 1}`);
    db.close();
    try {
      expect(() => StateManager.open(path)).toThrow(/newer than this iron-cage understands/);
    } finally {
      cleanup();
    }
  });
});

/** A database as the journal's migrations before `tag` left it (a file from an earlier iron-cage). */
function journalDbBefore(path: string, tag: string): Database.Database {
  const all = readMigrationFiles({ migrationsFolder: MIGRATIONS });
  const journal = JSON.parse(readFileSync(join(MIGRATIONS, 'meta/_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> };
  const at = journal.entries.findIndex((e) => e.tag === tag);
  expect(at).toBeGreaterThan(0);
  const db = new Database(path);
  for (const m of all.slice(0, at)) for (const statement of m.sql) if (statement.trim()) db.exec(statement);
  db.pragma(`user_version = ${schemaVersion() - (all.length - at)}`);
  return db;
}

describe('the call path without a sequence (0027)', () => {
  const ddlOf = (db: Database.Database, table: string) => (db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) as { sql: string }).sql;
  const sequences = (db: Database.Database) => db.prepare('SELECT name, seq FROM sqlite_sequence WHERE name IN (?, ?) ORDER BY name').all(...LEDGER_TABLES);
  const event = (db: Database.Database) => db.prepare("INSERT INTO events (ts, agent_id, type, severity, message, data) VALUES ('t', NULL, 'server.started', 'info', 'm', '{}')").run().lastInsertRowid;
  const row = (db: Database.Database) =>
    db.prepare("INSERT INTO llm_requests (ts, agent_id, endpoint, provider, model, status) VALUES ('2026-11-25T10:00:00.000Z', 'a', 'chat', 'openai', 'm', 'ok')").run().lastInsertRowid;

  it('edits the two tables in place: the same rows and ids, which go on from the largest, and no sequence page to write', () => {
    const { dir, cleanup } = tempDir();
    const db = journalDbBefore(join(dir, 's.db'), '0027_ledger_without_sequence');
    try {
      for (let i = 0; i < 5; i++) [event(db), row(db)];
      const before = { events: db.prepare('SELECT * FROM events').all(), ledger: db.prepare('SELECT * FROM llm_requests').all() };
      expect(ddlOf(db, 'events')).toContain('AUTOINCREMENT');
      expect(sequences(db)).toEqual([
        { name: 'events', seq: 5 },
        { name: 'llm_requests', seq: 5 },
      ]);
      migrate(db);
      for (const t of LEDGER_TABLES) expect(ddlOf(db, t)).not.toContain('AUTOINCREMENT');
      expect(sequences(db)).toEqual([]);
      expect({ events: db.prepare('SELECT * FROM events').all(), ledger: db.prepare('SELECT * FROM llm_requests').all() }).toEqual(before);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      // This connection reads the schema as edited: a new row takes the next id, and no sequence.
      expect([event(db), row(db)]).toEqual([6, 6]);
      expect(sequences(db)).toEqual([]);
      // Written by migrate outside SQLite's defensive mode, which is back on afterwards.
      expect(() => db.exec('PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = sql WHERE 0')).toThrow();
    } finally {
      db.close();
      cleanup();
    }
  });

  it('leaves AUTOINCREMENT to a table whose newest ids were deleted by hand: only its sequence remembers them', () => {
    const { dir, cleanup } = tempDir();
    const db = journalDbBefore(join(dir, 's.db'), '0027_ledger_without_sequence');
    try {
      for (let i = 0; i < 5; i++) [event(db), row(db)];
      db.prepare('DELETE FROM llm_requests WHERE id > 3').run();
      migrate(db);
      expect(ddlOf(db, 'llm_requests')).toContain('AUTOINCREMENT');
      expect(ddlOf(db, 'events')).not.toContain('AUTOINCREMENT');
      expect(sequences(db)).toEqual([{ name: 'llm_requests', seq: 5 }]);
      expect([event(db), row(db)]).toEqual([6, 6]);
      expect(() => db.prepare('DELETE FROM llm_requests').run()).toThrow('append-only');
    } finally {
      db.close();
      cleanup();
    }
  });
});
