import { execFile, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, realpathSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import { freePort } from './http.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// A real PostgreSQL for a test or a benchmark: Debian's `postgresql` package (installed by
// .ci/run), a fresh cluster made with initdb in a temp folder, served by pg_ctl on a loopback
// port, torn down after. No Docker. As root (CI), the server runs as the package's `postgres`
// user, since PostgreSQL refuses to run as root.

const run = promisify(execFile);

/** Where Debian puts the server's programs (they are not on PATH), newest version first. */
function binDir(): string {
  const onPath = spawnSync('sh', ['-c', 'command -v pg_ctl'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return dirname(realpathSync(onPath));
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'pg_ctl'))) return join(root, v, 'bin');
  throw new Error('PostgreSQL is not installed: `apt-get install -y postgresql` (.ci/run does it)');
}

export interface TestPostgres {
  /** postgres://iron@127.0.0.1:PORT/iron (trust authentication, loopback only). */
  url: string;
  port: number;
  dir: string;
  /** A second, empty database on the same server; its URL. */
  createDatabase(name: string): Promise<string>;
  /** The rows of one query on `url`, on a connection of its own (a test reading what a panel wrote). */
  rows<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Stop the server (fast shutdown); `start()` brings the same cluster back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stop it and delete its folder. */
  destroy(): Promise<void>;
}

/** The run's one PostgreSQL server, as the global setup (postgres-setup.ts) provides it to every file. */
export interface SharedPostgres {
  port: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: SharedPostgres | null;
  }
}

let databases = 0;

/**
 * A PostgreSQL database of a test file's own. By default a new database on the run's one server
 * (started once by the global setup: an initdb and a start are about 2 s of a 2-core machine,
 * which thirty files used to pay each), dropped by `destroy`; a file that stops and starts its
 * server (an outage) or sets the server's own settings asks for a server of its own (`own`).
 *
 * @example
 *   const pg = await startPostgres();
 *   afterAll(() => pg.destroy());
 *   const panel = await startPanel({ database: pg.url });
 */
export async function startPostgres(opts: { settings?: Record<string, string>; own?: boolean } = {}): Promise<TestPostgres> {
  const shared = opts.own || opts.settings ? null : sharedServer();
  return shared ? databaseOn(shared) : startServer(opts);
}

/** The run's server, when the global setup started one (a file run under another config may have none). */
function sharedServer(): SharedPostgres | null {
  try {
    return inject('postgres') ?? null;
  } catch {
    return null;
  }
}

/** One statement on its own connection: its rows. */
async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/** A fresh database on the shared server, named for this worker and file; its own databases too. */
async function databaseOn(server: SharedPostgres): Promise<TestPostgres> {
  const base = `t${process.pid}_${++databases}`;
  const made = [base];
  const urlOf = (db: string) => `postgres://iron@127.0.0.1:${server.port}/${db}`;
  const admin = async (sql: string) => void (await query(urlOf('postgres'), sql));
  await admin(`CREATE DATABASE ${base}`);
  const url = urlOf(base);
  const shared = (what: string) => async () => {
    throw new Error(`the run's shared PostgreSQL cannot be ${what} by one file: ask for a server of its own, startPostgres({ own: true })`);
  };
  return {
    url,
    port: server.port,
    dir: '',
    rows: <T>(sql: string, params: unknown[] = []) => query<T>(url, sql, params),
    async createDatabase(name: string) {
      const db = `${base}_${name}`;
      await admin(`CREATE DATABASE ${db}`);
      made.push(db);
      return urlOf(db);
    },
    stop: shared('stopped'),
    start: shared('started'),
    async destroy() {
      for (const db of made.reverse()) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
    },
  };
}

/**
 * A PostgreSQL server of its own (about 2 s on a quiet 2-core machine): for the run's shared one,
 * and for a file that stops it or changes its settings.
 */
export async function startServer(opts: { settings?: Record<string, string> } = {}): Promise<TestPostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'iron-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim()) : null;
  if (asRoot && !Number.isInteger(owner)) throw new Error('running as root needs the `postgres` user the postgresql package creates');
  if (owner !== null) {
    chmodSync(dir, 0o755);
    chownSync(dir, owner, owner);
  }
  const as = (cmd: string, args: string[]) => (owner !== null ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : run(join(bin, cmd), args));
  await as('initdb', ['-D', data, '-U', 'iron', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: "'127.0.0.1'",
    port: String(port),
    unix_socket_directories: `'${dir}'`,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '400',
    shared_buffers: "'128MB'",
    ...opts.settings,
  };
  const conf = join(dir, 'extra.conf');
  writeFileSync(
    conf,
    `${Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\n`,
  );
  if (owner !== null) chownSync(conf, owner, owner);
  appendFileSync(join(data, 'postgresql.conf'), `include '${conf}'\n`);
  const log = join(dir, 'server.log');
  const start = async () => {
    await as('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '30', 'start']);
  };
  const stop = async () => {
    await as('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']).catch(() => undefined);
  };
  await start();
  await run(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'iron', 'iron']);
  const url = `postgres://iron@127.0.0.1:${port}/iron`;
  return {
    url,
    port,
    dir,
    rows: <T>(sql: string, params: unknown[] = []) => query<T>(url, sql, params),
    async createDatabase(name: string) {
      await run(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'iron', name]);
      return `postgres://iron@127.0.0.1:${port}/${name}`;
    },
    stop,
    start,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The panel's migrations up to (not including) `tag`, in a folder of their own: the schema a panel
 * ran before that migration, for a test of its upgrade over rows already held. drizzle's migrate()
 * takes the folder; `cleanup` removes it.
 *
 * @example
 *   const before = pgMigrationsBefore('0019');
 *   await migrate(drizzle(client), { migrationsFolder: before.dir });
 */
export function pgMigrationsBefore(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `ic-pg-before-${tag}-`));
  cpSync(fileURLToPath(new URL('../../src/state/migrations/pg', import.meta.url)), dir, { recursive: true });
  const file = join(dir, 'meta/_journal.json');
  const journal = JSON.parse(readFileSync(file, 'utf8')) as { entries: Array<{ tag: string }> };
  journal.entries = journal.entries.filter((e) => e.tag < tag);
  writeFileSync(file, JSON.stringify(journal));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
