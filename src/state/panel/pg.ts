import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client, ClientBase, Pool, PoolClient } from 'pg';
import * as panel from './schema-panel.js';
import * as shared from './schema-pg.js';

// The control panel's database: PostgreSQL through node-postgres and drizzle. The tables are
// schema-pg.ts (generated from schema.ts) and schema-panel.ts; their migrations
// (migrations/pg, drizzle-kit's journal) are applied by drizzle's own migrator when the panel
// opens the database, under an advisory lock so two panels starting at once migrate once.

export const pgSchema = { ...shared, ...panel };
export type PanelDb = NodePgDatabase<typeof pgSchema>;

/** A PostgreSQL connection string as `--database` takes it, checked before anything connects. */
export function checkDatabaseUrl(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `not a URL: expected postgres://user[:password]@host[:port]/database`;
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return `expected a postgres:// URL, got ${u.protocol}//… (the panel keeps its state in PostgreSQL)`;
  if (!u.hostname && !u.searchParams.get('host')) return 'the URL names no host';
  if (u.pathname.length <= 1) return 'the URL names no database (postgres://user@host/DATABASE)';
  return null;
}

/** Where the URL points, without its password: for messages. */
export function describeDatabase(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || u.searchParams.get('host') || 'localhost'}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'the database';
  }
}

function migrationsFolder(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'migrations', 'pg'), join(here, '..', 'migrations', 'pg')];
  const dir = candidates.find((c) => existsSync(join(c, 'meta', '_journal.json')));
  if (!dir) throw new Error(`the PostgreSQL migrations are missing (looked in ${candidates.join(', ')}): reinstall iron-cage`);
  return dir;
}

/** When the newest migration this build carries was made (drizzle's journal): the schema it needs. */
let newestMigration: number | null = null;
function newestMigrationOfBuild(): number {
  if (newestMigration === null) {
    const journal = JSON.parse(readFileSync(join(migrationsFolder(), 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ when: number }> };
    newestMigration = Math.max(...journal.entries.map((e) => e.when));
  }
  return newestMigration;
}

/**
 * Whether the database holds every migration this build carries (a readiness probe's question:
 * a database a newer replica migrated further is still current for this one). Throws when the
 * database cannot be asked.
 */
export async function schemaCurrent(db: Pick<ClientBase, 'query'>): Promise<boolean> {
  const r = await db.query<{ newest: string | null }>('select max(created_at) as newest from drizzle.__drizzle_migrations');
  return Number(r.rows[0]?.newest ?? 0) >= newestMigrationOfBuild();
}

/**
 * End a connection of the panel's own (the feed's listener, the probes'): with a goodbye, or its
 * socket destroyed after `withinMs` (a server that went silent never answers the goodbye, and the
 * socket would stay half-open until TCP gives up).
 */
export async function endClient(c: Client, withinMs = 1_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    c.end().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
        resolve();
      }, withinMs);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

/** Any number fits the advisory lock's bigint; this one says "iron-cage migrations". */
const MIGRATION_LOCK = 0x1c0ca9e;

/** drizzle's node-postgres driver, once a database has been opened (loaded on first use: a runtime never needs it). */
let drizzleLoaded: typeof import('drizzle-orm/node-postgres').drizzle | null = null;
const onClient = new WeakMap<PoolClient, PanelDb>();

/**
 * drizzle over one connection of the pool (a transaction run by hand on it: statements of its own
 * beside drizzle's), made once per connection.
 */
export function drizzleOn(client: PoolClient): PanelDb {
  let db = onClient.get(client);
  if (!db) {
    if (!drizzleLoaded) throw new Error('drizzleOn: no database was opened in this process (openPostgres)');
    onClient.set(client, (db = drizzleLoaded(client, { schema: pgSchema })));
  }
  return db;
}

export interface Postgres {
  db: PanelDb;
  pool: Pool;
  close(): Promise<void>;
}

/**
 * Connect, migrate, and hand back drizzle over a pool. Throws with a message naming the database
 * (never its password) when it cannot be reached or refuses the login.
 *
 * @example
 *   const { db, close } = await openPostgres('postgres://iron@db/iron', { onError: (e) => log.error(e) });
 */
export async function openPostgres(url: string, opts: { max?: number; onError?: (err: Error) => void } = {}): Promise<Postgres> {
  const bad = checkDatabaseUrl(url);
  if (bad) throw new Error(`--database: ${bad}`);
  // The driver is loaded by the first connection: only the panel (and its tools) ever open one.
  const [{ default: pg }, { drizzle }, { migrate }] = await Promise.all([import('pg'), import('drizzle-orm/node-postgres'), import('drizzle-orm/node-postgres/migrator')]);
  drizzleLoaded = drizzle;
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 20, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000, application_name: 'iron-cage panel' });
  // A connection that dies while idle (the server restarted) is an 'error' on the pool: without a
  // listener it would end the process. The next query takes a fresh connection.
  pool.on('error', (err) => opts.onError?.(err));
  // The pool listens only to its idle clients (pg-pool takes its listener off a client it hands
  // out): a connection the server drops while it is checked out (a query or a transaction under
  // way, the jobs' round, when PostgreSQL restarts) would emit an 'error' nobody hears, an
  // uncaught exception that ends the process. Each client gets a listener of its own for its whole
  // life; what it was running still rejects with the error, and its user sees that.
  pool.on('connect', (client) => client.on('error', (err) => opts.onError?.(err)));
  const client = await pool.connect().catch(async (err: Error) => {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot reach PostgreSQL at ${describeDatabase(url)}: ${err.message}`);
  });
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await migrate(drizzle(client, { schema: pgSchema }), { migrationsFolder: migrationsFolder() });
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } catch (err) {
    client.release(true);
    await pool.end().catch(() => undefined);
    throw new Error(`could not prepare the panel's tables in ${describeDatabase(url)}: ${(err as Error).message}`);
  }
  client.release();
  const db = drizzle(pool, { schema: pgSchema });
  return { db, pool, close: () => pool.end() };
}
