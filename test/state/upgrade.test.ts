import Database from 'better-sqlite3';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/index.js';
import { ConfigError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { VERSION } from '../../src/core/index.js';
import { boot } from '../../src/runtime/index.js';
import { schemaVersion, StateManager } from '../../src/state/index.js';
import { migrate } from '../../src/state/runtime/migrate.js';
import { cli, CLI_TEST_TIMEOUT_MS, cliInProcess, freePort, launchCli } from '../helpers/cli.js';
import { FIXTURES, ROOT, tempDir, until } from '../helpers/runtime.js';

// An upgrade keeps everything. test/fixtures/state/iron_state-02b528e.sqlite is a state
// file made by the CLI of commit 02b528e (schema version 29; how, and the figures it held then:
// test/fixtures/state/README.md). Opened by this iron-cage the way a user who upgraded opens it,
// through the command line, it is migrated and its agents, ledger, audit trail and vault are
// what the old iron-cage said they were. A file from a newer iron-cage is refused in one line and
// left as it was, and an upgrade that fails leaves the file exactly at its old version.

const FIXTURE = join(FIXTURES, 'state/iron_state-02b528e.sqlite');
const OLD_VERSION = 29;
const MASTER_KEY = 'fixture-master-key-02b528e-upgrade';
const SECRETS = [
  { name: 'CRM_API_TOKEN', environment: 'development', value: 'crm-token-7f3a-upgrade' },
  { name: 'DB_PASSWORD', environment: 'production', value: 'hunter2-prod-9c1e' },
];
/** Each agent as 02b528e's GET /api/agents and GET /api/agents/:id/costs said it. */
const AGENTS = [
  {
    id: 'ag-84a1baae',
    name: 'weather',
    kind: 'supervised',
    status: 'completed',
    progress: { done: 3, total: 3, unit: 'steps' },
    limitUsd: 1,
    costs: { spentUsd: 0.000069, requests: 3, promptTokens: 245, completionTokens: 52, byStatus: { ok: 3 }, models: [['gpt-4o-mini', 3, 0.000069]] },
  },
  {
    id: 'sp-588e1cde',
    name: 'spender',
    kind: 'supervised',
    status: 'completed',
    progress: { done: 0, total: null, unit: 'items' },
    limitUsd: 0.002,
    costs: { spentUsd: 0.00174, requests: 3, promptTokens: 30, completionTokens: 14, byStatus: { ok: 3 }, models: [['gpt-4', 3, 0.00174]] },
  },
  {
    id: 'pi-52c730dd',
    name: 'pii-printer',
    kind: 'supervised',
    status: 'completed',
    progress: { done: 0, total: null, unit: 'items' },
    limitUsd: 0.5,
    costs: { spentUsd: 0, requests: 0, promptTokens: 0, completionTokens: 0, byStatus: {}, models: [] },
  },
  {
    id: 'no-4b617b31',
    name: 'notebook',
    kind: 'external',
    status: 'running',
    progress: { done: 0, total: null, unit: 'items' },
    limitUsd: 5,
    costs: { spentUsd: 0, requests: 0, promptTokens: 0, completionTokens: 0, byStatus: {}, models: [] },
  },
] as const;
/** How many rows of each record 02b528e left: the event log, the ledger, the vault's and PII's audit trails. */
const KEPT = { events: 46, llm_requests: 6, secret_audit_log: 7, pii_audit: 1 } as const;
/** Each record's order: its rows as they were are the first ones in this order. */
const ORDER: Record<keyof typeof KEPT, string> = { events: 'seq', llm_requests: 'id', secret_audit_log: 'id', pii_audit: 'id' };

/** The fixture copied into `dir` as `iron_state.db` with its keys beside it, private as iron-cage keeps them. */
function copyFixture(dir: string): string {
  const db = join(dir, 'iron_state.db');
  for (const [from, to] of [
    ['', ''],
    ['.key', '.key'],
    ['.audit.key', '.audit.key'],
  ]) {
    copyFileSync(FIXTURE + from, db + to);
    chmodSync(db + to, 0o600);
  }
  return db;
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function readOnly<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** A record's rows in order, each as JSON (a column the upgrade added is left out: `columns`). */
const rowsOf = (db: Database.Database, table: keyof typeof KEPT, columns: string[]) =>
  db
    .prepare(`SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM ${table} ORDER BY ${ORDER[table]}`)
    .all()
    .map((r) => JSON.stringify(r));
const columnsOf = (db: Database.Database, table: string) => (db.prepare(`PRAGMA table_info("${table}")`).all() as Array<{ name: string }>).map((c) => c.name);

/** Everything a file holds, as SQL reads it: its version, its schema and every table's rows. */
function dump(db: Database.Database) {
  const schema = db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY type, name").all() as Array<{ type: string; name: string }>;
  const rows = Object.fromEntries(
    schema
      .filter((s) => s.type === 'table')
      .map((s) => [
        s.name,
        db
          .prepare(`SELECT * FROM "${s.name}"`)
          .all()
          .map((r) => JSON.stringify(r))
          .sort(),
      ]),
  );
  return { version: db.pragma('user_version', { simple: true }), schema, rows };
}

describe("a state file from the previous iron-cage (02b528e, schema version 29) opened by this one's command line", { timeout: 2 * CLI_TEST_TIMEOUT_MS }, () => {
  it('is migrated, with its agents, their spend, the ledger, the audit trails and the vault as they were', async () => {
    const { dir, cleanup } = tempDir('iron-cage-upgrade-');
    const db = copyFixture(dir);
    // The first two commands as processes of their own (they race to migrate the file); the
    // others in-process (cliInProcess: the same program, no cold start of Node for each).
    const run = (args: string[], env: NodeJS.ProcessEnv = {}) => cli([...args, '--db', db], { cwd: dir, env: { IRON_CAGE_MASTER_KEY: '', ...env } });
    const runHere = (args: string[], env: NodeJS.ProcessEnv = {}) => cliInProcess([...args, '--db', db], { cwd: dir, env: { IRON_CAGE_MASTER_KEY: '', ...env } });
    try {
      const before = readOnly(db, (d) => {
        expect(d.pragma('user_version', { simple: true })).toBe(OLD_VERSION);
        return Object.fromEntries(
          (Object.keys(KEPT) as Array<keyof typeof KEPT>).map((t) => {
            const rows = rowsOf(d, t, columnsOf(d, t));
            expect(rows, t).toHaveLength(KEPT[t]);
            return [t, { columns: columnsOf(d, t), rows }];
          }),
        ) as Record<keyof typeof KEPT, { columns: string[]; rows: string[] }>;
      });

      // The first two commands after the upgrade, at once: one migrates, the other waits for it.
      const [listed, tokens] = await Promise.all([run(['secrets', 'list', '--json'], { IRON_CAGE_MASTER_KEY: MASTER_KEY }), run(['token', 'list'])]);
      for (const r of [listed, tokens]) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(readOnly(db, (d) => d.pragma('user_version', { simple: true }))).toBe(schemaVersion());
      expect((JSON.parse(listed.stdout) as Array<{ name: string; environment: string }>).map((s) => [s.name, s.environment]).sort()).toEqual(SECRETS.map((s) => [s.name, s.environment]));
      expect(tokens.stdout).toMatch(/^tok_9441e6255411 +agent +api +notebook +agent no-4b617b31$/m);

      // The vault opens with the old master key, every value as it was; the audit key opens the sealed PII finding.
      const got = await Promise.all(SECRETS.map((s) => runHere(['secrets', 'get', s.name, '--env', s.environment], { IRON_CAGE_MASTER_KEY: MASTER_KEY })));
      expect(got.map((r) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr }))).toEqual(SECRETS.map((s) => ({ code: 0, stdout: `${s.value}\n`, stderr: '' })));
      const [revealed, users] = await Promise.all([runHere(['audit', 'pii', '--reveal', '1', '--reason', 'upgrade check']), runHere(['user', 'list'])]);
      expect({ code: revealed.code, stdout: revealed.stdout, stderr: revealed.stderr }).toEqual({ code: 0, stdout: '123-45-6789\n', stderr: '' });
      expect(users.stdout).toMatch(/^user_f4495b831546 +viewer +ann +added 2026-11-26T07:31:53\.177Z$/m);

      // The agents and their spend, as `iron-cage serve` shows them to a viewer.
      const made = await runHere(['token', 'create', '--role', 'viewer', '--name', 'upgrade-check']);
      expect(made.code).toBe(0);
      const token = /\bic_[A-Za-z0-9_-]+/.exec(made.stdout)![0];
      const port = await freePort();
      const serve = launchCli(['serve', '--db', db, '--port', String(port), '--host', '127.0.0.1'], { IRON_CAGE_MASTER_KEY: '' }, dir);
      try {
        const get = async (path: string) => {
          const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } });
          expect(r.status, `${path}: ${serve.out()}`).toBe(200);
          return (await r.json()) as any;
        };
        await until(() => serve.out().includes('recorded agent run(s)'), 30_000);
        const agents = (await get('/api/agents')) as any[];
        expect(agents.map((a) => a.id).sort()).toEqual(AGENTS.map((a) => a.id).sort());
        for (const a of AGENTS) {
          expect(
            agents.find((x) => x.id === a.id),
            a.id,
          ).toMatchObject({ name: a.name, kind: a.kind, status: a.status, progress: a.progress, budget: { limitUsd: a.limitUsd, spentUsd: a.costs.spentUsd } });
          const costs = await get(`/api/agents/${a.id}/costs`);
          const { models, ...sums } = a.costs;
          expect(costs, a.id).toMatchObject({ ...sums, limitUsd: a.limitUsd });
          expect(costs.byModel.map((m: any) => [m.model, m.requests, m.costUsd])).toEqual(models);
        }
      } finally {
        serve.child.kill('SIGTERM');
        await serve.exited;
      }

      readOnly(db, (d) => {
        // Each record holds the rows it held, unchanged, then what these commands added; its ids run on without a gap.
        for (const t of Object.keys(KEPT) as Array<keyof typeof KEPT>) {
          const after = rowsOf(d, t, before[t].columns);
          expect(after.slice(0, KEPT[t]), t).toEqual(before[t].rows);
          const ids = (d.prepare(`SELECT ${ORDER[t]} AS id FROM ${t} ORDER BY ${ORDER[t]}`).all() as Array<{ id: number }>).map((r) => r.id);
          expect(ids, t).toEqual(ids.map((_, i) => i + 1));
        }
        // What the upgraded file was asked since: two reveals, one PII reveal, one server's start and stop.
        expect(
          (d.prepare('SELECT operation, secret_name AS name FROM secret_audit_log WHERE id > ? ORDER BY id').all(KEPT.secret_audit_log) as any[]).map((r) => `${r.operation} ${r.name}`).sort(),
        ).toEqual(['REVEAL CRM_API_TOKEN', 'REVEAL DB_PASSWORD']);
        expect(d.prepare('SELECT type FROM events WHERE seq > ? ORDER BY seq').pluck().all(KEPT.events)).toEqual(expect.arrayContaining(['pii.revealed', 'server.started', 'server.stopping']));
        // The rollups the upgrade rebuilt (0029) sum the ledger.
        expect(d.prepare('SELECT agent_id, sum(requests) AS n, sum(cost_micros) AS cost FROM llm_totals GROUP BY agent_id ORDER BY agent_id').all()).toEqual(
          d.prepare('SELECT agent_id, count(*) AS n, sum(cost_micros) AS cost FROM llm_requests GROUP BY agent_id ORDER BY agent_id').all(),
        );
      });
      // The audit trails are still append-only, the ledger now too (0027).
      const w = new Database(db);
      try {
        for (const [table, order] of Object.entries(ORDER)) {
          if (table !== 'llm_requests') expect(() => w.prepare(`UPDATE ${table} SET ${order} = ${order} WHERE ${order} = 1`).run(), table).toThrow(/append-only/);
          expect(() => w.prepare(`DELETE FROM ${table} WHERE ${order} = 1`).run(), table).toThrow(/append-only/);
        }
      } finally {
        w.close();
      }
      // And the file is what a new one is, down to its schema's text.
      const fresh = StateManager.open(join(dir, 'fresh.db'));
      await fresh.close();
      const schemaOf = (path: string) => readOnly(path, (d) => dump(d).schema);
      expect(schemaOf(db)).toEqual(schemaOf(join(dir, 'fresh.db')));
    } finally {
      cleanup();
    }
  });

  it('from a newer iron-cage is refused by every command in one line naming the file, both versions and the fix, and left byte for byte as it was', async () => {
    const { dir, cleanup } = tempDir('iron-cage-upgrade-');
    const db = copyFixture(dir);
    const newer = schemaVersion() + 1;
    const w = new Database(db);
    w.pragma(`user_version = ${newer}`);
    // In the rollback journal's mode, as an older SQLite tool may leave a file: switched to WAL, its header would change.
    w.pragma('journal_mode = DELETE');
    w.close();
    const bytes = sha256(db);
    const files = readdirSync(dir).sort();
    try {
      const commands = [
        ['secrets', 'list'],
        ['secrets', 'get', 'CRM_API_TOKEN'],
        ['token', 'list'],
        ['user', 'list'],
        ['audit', 'pii'],
        ['dashboard'],
        ['serve', '--port', String(await freePort())],
        ['start', join(ROOT, 'examples/python-stdlib/agent.py'), '--exit', '--sandbox', 'off', '--port', String(await freePort())],
      ];
      // Those that serve as processes of their own (they handle signals before they open the
      // file); the others in-process (cliInProcess: the same program, no cold start of Node for each).
      const results = await Promise.all(commands.map((c) => (c[0] === 'serve' || c[0] === 'start' ? cli : cliInProcess)([...c, '--db', db], { cwd: dir, env: { IRON_CAGE_MASTER_KEY: MASTER_KEY } })));
      const line = `iron-cage: the state file ${db} has schema version ${newer}: newer than this iron-cage understands (iron-cage ${VERSION} reads up to schema version ${schemaVersion()}), a newer iron-cage wrote it. Upgrade iron-cage to open it; the file was left as it was\n`;
      for (const [i, r] of results.entries())
        expect({ command: commands[i]!.join(' '), code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ command: commands[i]!.join(' '), code: 2, stdout: '', stderr: line });
      expect(sha256(db)).toBe(bytes);
      expect(readdirSync(dir).sort()).toEqual(files);
    } finally {
      cleanup();
    }
  });
});

describe('a --db that cannot be a state file', () => {
  it('is refused by every command in one line naming it and why, exit 2, making nothing: a folder, a path through a file, a file that is no database, a folder mkdir cannot make', async () => {
    const { dir, cleanup } = tempDir('iron-cage-unopenable-');
    writeFileSync(join(dir, 'notes.txt'), 'my notes\n', { mode: 0o644 });
    const other = join(dir, 'other.db');
    const o = new Database(other);
    o.exec("create table agents (name text); insert into agents values ('not ours')");
    o.close();
    chmodSync(other, 0o644);
    execFileSync('mkfifo', [join(dir, 'pipe.db')]);
    const otherBytes = sha256(other);
    const cases: Array<[string, string]> = [
      // Refused before anything is changed: `--db /dev/null` had its mode set to 0600 (as root), a FIFO's open waited forever.
      ['/dev/null', "/dev/null is not a regular file (a device): give a state file's path"],
      [join(dir, 'pipe.db'), `${join(dir, 'pipe.db')} is not a regular file (a FIFO): give a state file's path`],
      // Another program's SQLite database: read-only commands added iron-cage's tables to it (or failed half-way, with a stack).
      [other, `${other} is another program's SQLite database (it has tables and no iron-cage schema version): give another path; it was left as it was`],
      [dir, `${dir} is a folder, not a state file: give a file's path (e.g. ${join(dir, 'iron_state.db')})`],
      [join(dir, 'notes.txt/s.db'), `${join(dir, 'notes.txt/s.db')}: cannot make its folder, ${join(dir, 'notes.txt')} is a file (give another path)`],
      [join(dir, 'notes.txt'), `${join(dir, 'notes.txt')} is not an iron-cage state file (not an SQLite database): give another path`],
      // Where mkdir says ENOENT under a folder that exists, Node's recursive mkdir spun at full CPU forever.
      ['/proc/iron-cage-nope/s.db', '/proc/iron-cage-nope/s.db: cannot make the folder /proc/iron-cage-nope (ENOENT)'],
    ];
    try {
      for (const [db, message] of cases) {
        // In-process (cliInProcess): these commands handle no signal; `serve` and `start` open the file in Runtime.start, below.
        // Where nothing stands yet, only a command that adds makes a state file (the others answer from nothing there).
        const commands = existsSync(db) ? [['secrets', 'list'], ['token', 'list'], ['user', 'list'], ['dashboard']] : [['token', 'create', '--name', 'ci', '--role', 'viewer']];
        for (const c of commands) {
          const r = await cliInProcess([...c, '--db', db], { cwd: dir });
          expect({ command: `${c.join(' ')} --db ${db}`, code: r.code, stderr: r.stderr }).toEqual({ command: `${c.join(' ')} --db ${db}`, code: 2, stderr: `iron-cage: ${message}\n` });
        }
        await expect(boot({ ...DEFAULTS, host: '127.0.0.1', port: 0, db }, undefined, { logger: createLogger({ format: 'json', level: 'error' }) })).rejects.toThrow(new ConfigError(message));
      }
      expect(readdirSync(dir).sort()).toEqual(['notes.txt', 'other.db', 'pipe.db']);
      expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('my notes\n');
      // Not even their modes were changed.
      for (const f of ['notes.txt', 'other.db']) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o644);
      expect(sha256(other)).toBe(otherBytes);
      expect(statSync('/dev/null').mode & 0o777).toBe(0o666);
    } finally {
      cleanup();
    }
  });
});

describe("a link in the place of a state file's journal or key", () => {
  // Planted beside the state (a folder swapped under a sandboxed agent, see test/sandbox), a
  // -shm link made iron-cage chmod whatever it pointed to 0600; a key link was read as the key.
  it('is refused at start naming it, and what it points to keeps its mode and bytes', async () => {
    const { dir, cleanup } = tempDir('iron-cage-links-');
    try {
      const victim = join(dir, 'victim.txt');
      writeFileSync(victim, 'not yours\n', { mode: 0o644 });
      chmodSync(victim, 0o644);
      for (const [sub, name, message] of [
        ['shm', 'iron_state.db-shm', (db: string) => `${db}-shm is a symbolic link: iron-cage changes none of its own files through a link; remove it`],
        ['key', 'iron_state.db.key', (db: string) => `key file ${db}.key is a symbolic link: iron-cage reads its keys from files of its own; remove it`],
      ] as const) {
        const db = join(dir, sub, 'iron_state.db');
        const made = await cliInProcess(['token', 'create', '--name', 'ci', '--role', 'viewer', '--db', db], { cwd: dir });
        expect(made.code).toBe(0);
        rmSync(join(dir, sub, name), { force: true });
        symlinkSync(victim, join(dir, sub, name));
        await expect(boot({ ...DEFAULTS, host: '127.0.0.1', port: 0, db }, undefined, { logger: createLogger({ format: 'json', level: 'error' }) })).rejects.toThrow(new ConfigError(message(db)));
      }
      expect(statSync(victim).mode & 0o777).toBe(0o644);
      expect(readFileSync(victim, 'utf8')).toBe('not yours\n');
    } finally {
      cleanup();
    }
  });
});

describe('an upgrade that fails', () => {
  const journal = readMigrationFiles({ migrationsFolder: join(ROOT, 'src/state/migrations/sqlite') });
  /** This build's migrations, entry `at` failing after its own statements ran. */
  const failingAt = (at: number) => journal.map((m, i) => (i === at ? { ...m, sql: [...m.sql, 'INSERT INTO no_such_table VALUES (1)'] } : m));

  // 0027 edits the schema's text in place (writable_schema), 0029 is the last: each fails with
  // every pending migration before it run in the same transaction.
  it.each([27, 29])('in migration %i leaves the file exactly at its old version, with its rows; the next start upgrades it', async (at) => {
    const { dir, cleanup } = tempDir('iron-cage-upgrade-');
    const path = copyFixture(dir);
    try {
      const bytes = sha256(path);
      const before = readOnly(path, dump);
      expect(before.version).toBe(OLD_VERSION);
      const db = new Database(path);
      // As StateManager opens it.
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      try {
        expect(() => migrate(db, () => {}, failingAt(at))).toThrow(
          `could not upgrade the state file ${path} from schema version ${OLD_VERSION} to ${schemaVersion()} (in migration 00${at}): no such table: no_such_table; nothing was changed, it is still at schema version ${OLD_VERSION}`,
        );
        // The same connection sees the old file too: its schema and rows, none of the new tables.
        expect(dump(db)).toEqual(before);
      } finally {
        db.close();
      }
      expect(sha256(path)).toBe(bytes);
      expect(readOnly(path, dump)).toEqual(before);

      const sm = StateManager.open(path);
      try {
        expect(
          sm
            .listAgents()
            .map((a) => a.name)
            .sort(),
        ).toEqual(AGENTS.map((a) => a.name).sort());
      } finally {
        await sm.close();
      }
      expect(readOnly(path, (d) => d.pragma('user_version', { simple: true }))).toBe(schemaVersion());
    } finally {
      cleanup();
    }
  });
});
