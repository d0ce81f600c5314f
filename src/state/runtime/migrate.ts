import Database from 'better-sqlite3';
import { readMigrationFiles, type MigrationMeta } from 'drizzle-orm/migrator';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../core/errors.js';
import { VERSION } from '../../core/index.js';

// The schema is written once, in schema.ts. drizzle-kit turns each change of it into a SQL file
// of migrations/sqlite/ (`npm run db:generate`, see drizzle.config.ts), listed in order in that
// folder's meta/_journal.json; what drizzle cannot express (the append-only triggers) is a custom
// migration in the same list. This file applies, when a database is opened, the entries it lacks.
//
// What has run is PRAGMA user_version, as it was before the journal, counting on from the
// versions the hand-written migrations reached: entry i of the journal is version LEGACY + i + 1.
// So an iron-cage from before the journal refuses a database made by this one ("newer than this
// iron-cage understands") instead of taking it for its own, an upgrade commits once, in one
// transaction with its number, and the database holds no bookkeeping table beside the schema's.
// (drizzle's own migrator keeps a table, skips a database newer than it without a word, and
// could not tell a database made by the hand-written migrations from an empty one.)

/** Versions 1…7 were made by hand-written migrations, before the journal (see adoptLegacy). */
const LEGACY = 7;
/** How many journal entries (0000_baseline, 0001_append_only) build what legacy version 7 was: a legacy database is moved into them. */
const BASELINE = 2;

let journal: MigrationMeta[] | null = null;

/** The journal's migrations: beside the bundle (dist/migrations/sqlite) or, from source, src/state/migrations/sqlite. */
function migrations(): MigrationMeta[] {
  if (journal) return journal;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'migrations', 'sqlite'), join(here, '..', 'migrations', 'sqlite')];
  const dir = candidates.find((c) => existsSync(join(c, 'meta', '_journal.json')));
  if (!dir) throw new Error(`the database migrations are missing (looked in ${candidates.join(', ')}): reinstall iron-cage`);
  journal = readMigrationFiles({ migrationsFolder: dir });
  return journal;
}

/** The user_version of a database with every migration applied. */
export function schemaVersion(): number {
  return LEGACY + migrations().length;
}

/**
 * Bring the database to the newest schema, all or nothing: a legacy one is moved into the
 * baseline, then every journal entry it lacks runs, all in one transaction that ends by setting
 * its version. A failure anywhere rolls the whole upgrade back, so the file is always at a version
 * some iron-cage wrote (the one it had, or this one's), never between two. A database newer than
 * this iron-cage is refused before anything is written (a ConfigError: the CLI says it on one line
 * and exits 2).
 *
 * `notice` hears of the one-time copy of a legacy database before it starts. `journal` is for
 * tests alone (a migration made to fail); it defaults to the migrations of this build.
 *
 * @example
 *   migrate(new Database('./iron_state.db'), (m) => logger.warn(m)); // { from: 29, to: 37 }
 */
export function migrate(db: Database.Database, notice: (message: string) => void = () => {}, journal: readonly MigrationMeta[] = migrations()): { from: number; to: number } {
  const all = journal;
  const to = LEGACY + all.length;
  const from = versionOf(db);
  if (from > to) throw newerThanThis(db, from, to);
  if (from === to) return { from, to };
  if (from > 0 && from <= LEGACY) notice(`Upgrading the database from schema version ${from} to ${to}: every row is copied once, which takes a while on a large file`);
  /** The journal entry running, by its number (0027 is migrations/sqlite/0027_….sql): for the message. */
  let running = -1;
  try {
    // IMMEDIATE: the write lock before the version is read again, so a second iron-cage opening
    // the same file at the same moment waits, then finds it upgraded and runs nothing; it waits
    // as long as an upgrade may take (a legacy copy of millions of rows), not the usual 5 s.
    const waited = db.pragma('busy_timeout', { simple: true }) as number;
    db.pragma(`busy_timeout = ${Math.max(waited, UPGRADE_WAIT_MS)}`);
    const upgrade = db.transaction(() => {
      const at = versionOf(db);
      if (at > to) throw newerThanThis(db, at, to);
      if (at > 0 && at <= LEGACY) adoptLegacy(db, all.slice(0, BASELINE));
      const first = Math.max(versionOf(db), LEGACY);
      if (first >= to) return;
      // Our own SQL, outside SQLite's defensive mode (better-sqlite3's default): a migration may
      // edit the schema's text in place where nothing stored changes (0027), which that mode refuses.
      db.unsafeMode(true);
      try {
        const fresh = at === 0 && all === migrations() && isEmpty(db);
        if (fresh && asBuilt) for (const statement of asBuilt) db.exec(statement);
        else {
          for (let v = first; v < to; v++) run(db, all[(running = v - LEGACY)]!);
          running = -1;
          if (fresh) asBuilt = schemaOf(db);
        }
      } finally {
        db.unsafeMode(false);
      }
      db.pragma(`user_version = ${to}`);
    });
    try {
      upgrade.immediate();
    } finally {
      db.pragma(`busy_timeout = ${waited}`);
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const at = versionOf(db);
    const step = running >= 0 ? ` (in migration ${String(running).padStart(4, '0')})` : '';
    throw new Error(`could not upgrade ${fileOf(db)} from schema version ${from} to ${to}${step}: ${(e as Error).message}; nothing was changed, it is still at schema version ${at}`, { cause: e });
  }
  return { from, to };
}

/**
 * Refuses a database a newer iron-cage wrote, before anything (its journal mode included) is
 * written to it; migrate() refuses it too, this is for the opener that sets pragmas first.
 */
export function refuseNewer(db: Database.Database): void {
  // The version and the tables read in one statement, one snapshot: another iron-cage making this
  // very file may commit its first migration between two reads (version 0, then its tables).
  const { at, tables } = db.prepare("select (select user_version from pragma_user_version) as at, exists (select 1 from sqlite_master where type = 'table') as tables").get() as {
    at: number;
    tables: number;
  };
  const ours = schemaVersion();
  if (at > ours) throw newerThanThis(db, at, ours);
  // No schema version but tables: another program's database, never made ours (its tables added, its journal changed).
  if (at === 0 && tables === 1)
    throw new ConfigError(`${db.memory ? 'the database' : db.name} is another program's SQLite database (it has tables and no iron-cage schema version): give another path; it was left as it was`);
}

/**
 * The schema a new database is given, as the statements that make it: what sqlite_master held once
 * the journal had built the first new database of this process. The next new one is made by those
 * statements alone, in one pass (~6 ms), rather than by every step of the journal (~28 ms: tables
 * made and then rebuilt, columns added, triggers replaced), and ends as the journal would leave it,
 * down to the DDL text (test/state/schema.test.ts). Only this build's journal, only a database with
 * nothing in it: the first of a process is built by the journal itself, so no second copy of the
 * schema is kept anywhere to drift from it. What gains is a process that makes many (a test
 * worker: ~250 in `npm run test:quick`), not a start. Only the schema is carried: a migration that
 * seeded rows or set a file setting (application_id, page_size) would be lost after the first, and
 * test/state/schema.test.ts compares both with the journal's to say so.
 */
let asBuilt: string[] | null = null;

/** Nothing in it yet: no table, index, trigger or view (a new file, or one that is not ours: that one is left to the journal). */
const isEmpty = (db: Database.Database): boolean => db.prepare('SELECT 1 FROM sqlite_master LIMIT 1').get() === undefined;

/** The statements that make what the database holds, in the order it was made (SQLite's own objects, such as sqlite_sequence, come with them). */
const schemaOf = (db: Database.Database): string[] =>
  (db.prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid").all() as Array<{ sql: string }>).map((r) => r.sql);

/** How long a second opener waits for an upgrade under way: 10 minutes. */
const UPGRADE_WAIT_MS = 600_000;

const versionOf = (db: Database.Database): number => db.pragma('user_version', { simple: true }) as number;

/** How a message names the database: its path when it is a file. */
const fileOf = (db: Database.Database): string => (db.memory || !db.name ? 'the database' : `the state file ${db.name}`);

function newerThanThis(db: Database.Database, version: number, ours: number): ConfigError {
  return new ConfigError(
    `${fileOf(db)} has schema version ${version}: newer than this iron-cage understands (iron-cage ${VERSION} reads up to schema version ${ours}), a newer iron-cage wrote it. Upgrade iron-cage to open it; the file was left as it was`,
  );
}

function run(db: Database.Database, m: MigrationMeta): void {
  for (const statement of m.sql) if (statement.trim()) db.exec(statement);
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
const tablesOf = (db: Database.Database) =>
  (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
const columnsOf = (db: Database.Database, table: string) => (db.prepare(`PRAGMA table_info(${q(table)})`).all() as Array<{ name: string }>).map((c) => c.name);

/**
 * A database made by the hand-written migrations (user_version 1…7) is rebuilt as the baseline
 * builds a new one, inside migrate's transaction: its tables are set aside, the baseline creates the
 * schema, the rows are copied over (a column the old version did not have takes its default),
 * and the old tables go. Afterwards the file is indistinguishable from one made new, down to the
 * DDL text, which no set of ALTERs could give (drizzle writes a primary key NOT NULL, a boolean's
 * default `false`, a unique column as a named index). Every row is copied once: a one-time cost
 * at the first start of this version.
 */
function adoptLegacy(db: Database.Database, baseline: MigrationMeta[]): void {
  // Which tables and columns the baseline has, learnt by building it in memory: nothing here
  // repeats the schema. Tables it does not know (someone else's) are left as they are.
  const scratch = new Database(':memory:');
  for (const m of baseline) run(scratch, m);
  const built = new Map(tablesOf(scratch).map((t) => [t, new Set(columnsOf(scratch, t))]));
  scratch.close();
  const old = tablesOf(db).filter((t) => built.has(t));
  // AUTOINCREMENT's high-water marks: ids once handed out (rows since pruned) are never reused.
  const marks = db.prepare('SELECT name, seq FROM sqlite_sequence').all() as Array<{ name: string; seq: number }>;
  const attached = db.prepare("SELECT type, name, tbl_name AS tbl FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL").all() as Array<{
    type: string;
    name: string;
    tbl: string;
  }>;
  for (const a of attached) if (old.includes(a.tbl)) db.exec(`DROP ${a.type.toUpperCase()} ${q(a.name)}`);
  for (const t of old) db.exec(`ALTER TABLE ${q(t)} RENAME TO ${q(`legacy_${t}`)}`);
  for (const m of baseline) run(db, m);
  for (const t of old) {
    const columns = columnsOf(db, `legacy_${t}`)
      .filter((c) => built.get(t)!.has(c))
      .map(q)
      .join(', ');
    db.exec(`INSERT INTO ${q(t)} (${columns}) SELECT ${columns} FROM ${q(`legacy_${t}`)}`);
    db.exec(`DROP TABLE ${q(`legacy_${t}`)}`);
  }
  for (const { name, seq } of marks) {
    if (!old.includes(name)) continue;
    if (db.prepare('UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?').run(seq, name).changes === 0) db.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(name, seq);
  }
  db.pragma(`user_version = ${LEGACY + baseline.length}`);
}
