import { getTableColumns, is, SQL } from 'drizzle-orm';
import { getTableConfig, SQLiteSyncDialect, SQLiteTable, type SQLiteColumn } from 'drizzle-orm/sqlite-core';
import * as schema from '../src/state/schema.js';

// The PostgreSQL side of the one schema. src/state/schema.ts describes once every table both
// databases hold (a runtime's own are in src/state/runtime/schema-runtime.ts); this turns them
// into pg-core tables (src/state/panel/schema-pg.ts), by one rule, so the two dialects cannot
// drift: `npm run db:generate` writes the file, and
// test/state/pg-schema.test.ts fails while it differs from what this renders.
//
// The rule, column for column: text → text (an enum kept); integer → bigint (SQLite's INTEGER is
// 8 bytes: money in micro-dollars and epoch milliseconds need it); an integer boolean →
// boolean; real → double precision (SQLite's REAL is 8 bytes, PostgreSQL's real 4); blob → bytea;
// NOT NULL, defaults, unique and partial indexes as written. A table the panel keeps for each
// runtime (PER_RUNTIME) gains a `runtime_id` first: its key becomes (runtime_id, the runtime's
// own key), which is how a retried report can never count a row twice, and each index is
// prefixed with it. A table the panel holds once (SHARED: users, tokens, the vault) keeps its
// key, an AUTOINCREMENT one becoming an identity column.

/** Kept per runtime, under the runtime's own keys: what runtimes report. */
export const PER_RUNTIME = ['agents', 'events', 'llm_requests', 'tool_calls', 'breakers'] as const;
/** Kept once for the whole panel. */
export const SHARED = ['users', 'api_tokens', 'secrets', 'secret_audit_log', 'vault_meta'] as const;

const dialect = new SQLiteSyncDialect();

function whereText(where: SQL): string {
  return dialect.sqlToQuery(where).sql;
}

/** A value as TypeScript source, strings single-quoted as the rest of the code base. */
function literal(v: unknown): string {
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (Array.isArray(v)) return `[${v.map(literal).join(', ')}]`;
  return JSON.stringify(v);
}

function column(c: SQLiteColumn, perRuntime: boolean): string {
  const name = literal(c.name);
  let out: string;
  switch (c.columnType) {
    case 'SQLiteText':
      out = c.enumValues && c.enumValues.length > 0 ? `text(${name}, { enum: ${literal(c.enumValues)} })` : `text(${name})`;
      break;
    case 'SQLiteInteger':
      out = `bigint(${name}, { mode: 'number' })`;
      break;
    case 'SQLiteBoolean':
      out = `boolean(${name})`;
      break;
    case 'SQLiteReal':
      out = `doublePrecision(${name})`;
      break;
    case 'SQLiteBlobBuffer':
      out = `bytea(${name})`;
      break;
    default:
      throw new Error(`no PostgreSQL type for ${c.columnType} (column ${c.name}): extend scripts/pg-schema.ts`);
  }
  const autoIncrement = (c as unknown as { autoIncrement?: boolean }).autoIncrement === true;
  if (c.primary && !perRuntime) out += '.primaryKey()';
  if (c.primary && !perRuntime && autoIncrement) out += '.generatedByDefaultAsIdentity()';
  if (c.notNull && !(c.primary && !perRuntime)) out += '.notNull()';
  if (c.hasDefault && c.default !== undefined) {
    if (is(c.default, SQL)) throw new Error(`${c.name}: an SQL default is not mapped yet: extend scripts/pg-schema.ts`);
    out += `.default(${literal(c.default)})`;
  }
  if (c.isUnique) out += '.unique()';
  return out;
}

/** The source text of src/state/panel/schema-pg.ts. */
export function renderPgSchema(): string {
  const tables = (Object.entries(schema) as Array<[string, unknown]>).filter((e): e is [string, SQLiteTable] => is(e[1], SQLiteTable)).sort((a, b) => a[0].localeCompare(b[0])); // a module's export order differs between loaders
  const wanted = new Set<string>([...PER_RUNTIME, ...SHARED]);
  const body: string[] = [];
  const seen = new Set<string>();
  for (const [exportName, table] of tables) {
    const cfg = getTableConfig(table);
    if (!wanted.has(cfg.name))
      throw new Error(`schema.ts holds the tables both databases keep: name ${cfg.name} in PER_RUNTIME or SHARED, or move it to src/state/runtime/schema-runtime.ts (the runtime's own)`);
    seen.add(cfg.name);
    const perRuntime = (PER_RUNTIME as readonly string[]).includes(cfg.name);
    if (cfg.foreignKeys.length > 0 || cfg.primaryKeys.length > 0 || cfg.uniqueConstraints.length > 0)
      throw new Error(`${cfg.name}: composite keys and references are not mapped yet: extend scripts/pg-schema.ts`);
    const columns = Object.entries(getTableColumns(table)) as Array<[string, SQLiteColumn]>;
    const lines = columns.map(([key, c]) => `    ${key}: ${column(c, perRuntime)},`);
    if (perRuntime) lines.unshift("    runtimeId: text('runtime_id').notNull(),");
    const keyOf = (name: string) => columns.find(([, c]) => c.name === name)![0];
    const extras: string[] = [];
    if (perRuntime) {
      const pk = columns.find(([, c]) => c.primary);
      if (!pk) throw new Error(`${cfg.name} has no primary key to keep per runtime`);
      extras.push(`primaryKey({ name: ${literal(`${cfg.name}_pkey`)}, columns: [t.runtimeId, t.${pk[0]}] })`);
    }
    for (const ix of cfg.indexes) {
      const c = ix.config;
      const cols = (c.columns as SQLiteColumn[]).map((col) => `t.${keyOf(col.name)}`);
      if (perRuntime) cols.unshift('t.runtimeId');
      let text = `${c.unique ? 'uniqueIndex' : 'index'}(${literal(c.name)}).on(${cols.join(', ')})`;
      if (c.where) text += `.where(sql.raw(${literal(whereText(c.where))}))`;
      extras.push(text);
    }
    const third = extras.length > 0 ? `,\n  (t) => [\n    ${extras.join(',\n    ')},\n  ]` : '';
    body.push(`export const ${exportName} = pgTable(\n  ${literal(cfg.name)},\n  {\n${lines.join('\n')}\n  }${third},\n);`);
  }
  const missing = [...wanted].filter((n) => !seen.has(n));
  if (missing.length > 0) throw new Error(`schema.ts has no table ${missing.join(', ')}`);
  return `${[
    '// Generated by `npm run db:generate` from src/state/schema.ts (scripts/pg-schema.ts says how): do',
    "// not edit. The control panel's PostgreSQL copy of the tables it shares with a runtime.",
    "import { sql } from 'drizzle-orm';",
    "import { bigint, boolean, customType, doublePrecision, index, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';",
    '',
    "const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => 'bytea' });",
    '',
    body.join('\n\n'),
  ].join('\n')}\n`;
}
