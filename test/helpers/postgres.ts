import { execFile, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, realpathSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { freePort } from './http.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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

/**
 * A PostgreSQL server of its own, started for one test file (about 2 s on a quiet 2-core machine).
 *
 * @example
 *   const pg = await startPostgres();
 *   afterAll(() => pg.destroy());
 *   const panel = await startPanel({ database: pg.url });
 */
export async function startPostgres(opts: { settings?: Record<string, string> } = {}): Promise<TestPostgres> {
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
    max_connections: '200',
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
    async rows<T>(sql: string, params: unknown[] = []) {
      const client = new pg.Client(url);
      await client.connect();
      try {
        return (await client.query(sql, params)).rows as T[];
      } finally {
        await client.end();
      }
    },
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
