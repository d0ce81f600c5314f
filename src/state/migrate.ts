import Database from 'better-sqlite3';
import { readMigrationFiles, type MigrationMeta } from 'drizzle-orm/migrator';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The schema is written once, in schema.ts. drizzle-kit turns each change of it into a SQL file
// of migrations/sqlite/ (`npm run db:generate`, see drizzle.config.ts), listed in order in that
// folder's meta/_journal.json; what drizzle cannot express (the append-only triggers) is a custom
// migration in the same list. This file applies, when a database is opened, the entries it lacks.
//
// What has run is PRAGMA user_version, as it was before the journal, counting on from the
// versions the hand-written migrations reached: entry i of the journal is version LEGACY + i + 1.
// So an iron-cage from before the journal refuses a database made by this one ("newer than this
// iron-cage understands") instead of taking it for its own, each entry commits in one
// transaction with its number, and the database holds no bookkeeping table beside the schema's.
// (drizzle's own migrator keeps a table, skips a database newer than it without a word, and
// could not tell a database made by the hand-written migrations from an empty one.)

/** Versions 1…7 were made by hand-written migrations, before the journal (see adoptLegacy). */
const LEGACY = 7;
/** How many journal entries (0000_baseline, 0001_append_only) build what legacy version 7 was: a legacy database is moved into them. */
const BASELINE = 2;

let journal: MigrationMeta[] | null = null;

/** The journal's migrations: beside the bundle (dist/migrations/sqlite) or, from source, beside this file. */
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
 * Bring the database to the newest schema: a legacy one is first moved into the baseline, then
 * each journal entry it lacks runs in its own transaction with its version number.
 *
 * `notice` hears of the one-time copy of a legacy database before it starts.
 *
 * @example
 *   migrate(new Database('./iron_state.db'), (m) => logger.warn(m)); // { from: 3, to: 9 }
 */
export function migrate(db: Database.Database, notice: (message: string) => void = () => {}): { from: number; to: number } {
  const all = migrations();
  const to = LEGACY + all.length;
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > to) throw new Error(`database schema version ${from} is newer than this iron-cage understands (${to}); upgrade iron-cage`);
  try {
    if (from > 0 && from <= LEGACY) {
      notice(`Upgrading the database from schema version ${from} to ${to}: every row is copied once, which takes a while on a large file`);
      adoptLegacy(db, all.slice(0, BASELINE));
    }
    // Our own SQL, outside SQLite's defensive mode (better-sqlite3's default): a migration may edit
    // the schema's text in place where nothing stored changes (0027), which that mode refuses.
    const first = Math.max(db.pragma('user_version', { simple: true }) as number, LEGACY);
    if (first < to) db.unsafeMode(true);
    try {
      for (let v = first; v < to; v++) {
        db.transaction(() => {
          run(db, all[v - LEGACY]!);
          db.pragma(`user_version = ${v + 1}`);
        })();
      }
    } finally {
      db.unsafeMode(false);
    }
  } catch (e) {
    const at = db.pragma('user_version', { simple: true }) as number;
    throw new Error(`could not upgrade the database from schema version ${at} (iron-cage's is ${to}): ${(e as Error).message}`, { cause: e });
  }
  return { from, to };
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
 * builds a new one, in one transaction: its tables are set aside, the baseline creates the
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
  db.transaction(() => {
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
  })();
}
