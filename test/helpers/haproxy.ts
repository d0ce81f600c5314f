import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './http.js';
import { ON_CI } from './prometheus.js';

// A real HAProxy in front of a test's (or a benchmark's) backends: Debian's `haproxy` package
// (installed by .ci/run), on a loopback port of its own, with a generated config and its runtime
// API on a Unix socket in a temp folder, stopped and deleted after. It never uses the package's
// service (/etc/haproxy, port 80). Started through `setpriv --pdeathsig SIGKILL` in master-worker
// mode: when the test process dies, however it dies, the kernel kills the master and its worker
// follows it.

/** The binary: HAPROXY_PATH, else Debian's /usr/sbin/haproxy (not on a non-root PATH). */
export function haproxyPath(): string {
  return process.env.HAPROXY_PATH || '/usr/sbin/haproxy';
}

const INSTALL = '`apt-get install -y haproxy` (.ci/run does it) or set HAPROXY_PATH';

/**
 * Why an HAProxy test cannot run here (the binary is absent), or null when it can. Only a
 * developer's machine may skip; on CI (IRON_CAGE_CI=1) the absence throws, so the suite fails.
 *
 * @example
 *   const absent = haproxyAbsent();
 *   describe.skipIf(absent)('…', () => { … });
 */
export function haproxyAbsent(): string | null {
  if (existsSync(haproxyPath())) return null;
  const why = `HAProxy is not installed (${haproxyPath()}): ${INSTALL}`;
  if (ON_CI) throw new Error(`${why}; CI never skips this test`);
  console.warn(`skipping the real-HAProxy tests: ${why}`);
  return why;
}

/** One backend: a server on 127.0.0.1; its name is what `X-Served-By` and `servers()` say (default s0, s1, …). */
export type HaproxyBackend = number | { port: number; name?: string };

export interface HaproxyOptions {
  backends: HaproxyBackend[];
  /** The health check: `GET <checkPath>` must answer 200 (default `/api/health`; `/readyz` once replicas serve it). */
  checkPath?: string;
  /**
   * The checks' Host header (default `127.0.0.1:<frontend port>`, the name clients use: a panel
   * started with that in `allowed_hosts` answers both; its DNS-rebinding guard refuses others).
   */
  checkHost?: string;
  /** How each request picks a server (default roundrobin). */
  balance?: 'roundrobin' | 'leastconn';
  /** The frontend's port (default: a free one). */
  port?: number;
  /** Connections at once, in all (default 8,000: HAProxy needs two descriptors each, under a 20,000 ulimit). */
  maxconn?: number;
  /** Health checks every `interMs` (default 500), a server down after `fall` failures (2), up after `rise` successes (1). */
  interMs?: number;
  fall?: number;
  rise?: number;
  /** How long a check may take (HAProxy's `timeout check`; default: `interMs`, HAProxy's own default). */
  checkTimeoutMs?: number;
}

/** One server of the backend as the runtime API's `show stat` says it. */
export interface HaproxyServer {
  name: string;
  /** `UP`, `DOWN`, `MAINT`, `DRAIN`, `no check`, or a transition (`UP 1/2`: one failure so far). */
  status: string;
  /** Requests it has been given (`stot`). */
  requests: number;
  /** Connections open to it now (`scur`). */
  current: number;
  /** The last check's result (`L7OK`, `L4CON`, `L7STS`, …). */
  check: string;
}

export interface TestHaproxy {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  dir: string;
  /** The config it runs (rewritten by `reload`). */
  config: string;
  /** The master process (`setpriv` execs into it). */
  pid: number;
  /** The backend's servers, in config order. */
  servers(): Promise<HaproxyServer[]>;
  /** Polls `servers()` until `predicate` holds, at most `timeoutMs` (default 10 s); a timeout names the last answer. */
  waitFor(predicate: (servers: HaproxyServer[]) => boolean, timeoutMs?: number): Promise<HaproxyServer[]>;
  /** Until every server is `UP` (each checked once: a server starts UP until its first check). */
  waitUp(timeoutMs?: number): Promise<HaproxyServer[]>;
  /** A runtime API command (`show info`, `set server be/s0 state drain`, …); its whole answer. */
  command(cmd: string): Promise<string>;
  /** New backends (or the same), the config rewritten and the master told (SIGUSR2); resolves once the new worker answers. */
  reload(backends?: HaproxyBackend[]): Promise<void>;
  /** SIGTERM (SIGKILL after 5 s), then the folder deleted. */
  stop(): Promise<void>;
}

/** The name of backend `i`. */
const nameOf = (b: HaproxyBackend, i: number) => (typeof b === 'number' ? `s${i}` : (b.name ?? `s${i}`));
const portOf = (b: HaproxyBackend) => (typeof b === 'number' ? b : b.port);

/** The config for these options (the frontend on `port`, the runtime API at `socket`). */
export function haproxyConfig(o: HaproxyOptions & { port: number; socket: string }): string {
  const servers = o.backends.map((b, i) => {
    const name = nameOf(b, i);
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`haproxy: backend name ${JSON.stringify(name)}: letters, digits, ".", "_", "-" only`);
    return `  server ${name} 127.0.0.1:${portOf(b)} check`;
  });
  const path = o.checkPath ?? '/api/health';
  if (!/^\/[!-~]*$/.test(path)) throw new Error(`haproxy: check path ${JSON.stringify(path)} must start with / and hold no space`);
  const host = o.checkHost ?? `127.0.0.1:${o.port}`;
  const inter = o.interMs ?? 500;
  return [
    'global',
    `  maxconn ${o.maxconn ?? 8000}`,
    // The runtime API: which servers are up, drain or disable one (level admin), on a socket only this user reaches.
    `  stats socket ${o.socket} mode 600 level admin`,
    '  hard-stop-after 5s',
    '',
    'defaults',
    '  mode http',
    `  maxconn ${o.maxconn ?? 8000}`,
    '  option http-keep-alive',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-keep-alive 30s',
    '  timeout http-request 10s',
    // An upgraded connection (a WebSocket) lives by this, not by client/server.
    '  timeout tunnel 1h',
    '  timeout client-fin 5s',
    ...(o.checkTimeoutMs === undefined ? [] : [`  timeout check ${o.checkTimeoutMs}ms`]),
    // A connection refused (a backend just killed, not yet marked down) goes to another server.
    '  retries 3',
    '  option redispatch 1',
    '',
    'frontend fe',
    `  bind 127.0.0.1:${o.port}`,
    '  default_backend be',
    '',
    'backend be',
    `  balance ${o.balance ?? 'roundrobin'}`,
    '  option httpchk',
    `  http-check send meth GET uri ${path} ver HTTP/1.1 hdr Host ${host}`,
    '  http-check expect status 200',
    `  default-server inter ${inter}ms fastinter ${inter}ms downinter ${inter}ms fall ${o.fall ?? 2} rise ${o.rise ?? 1}`,
    // Which server answered: a client can tell where its request went.
    '  http-response set-header X-Served-By %s',
    ...servers,
    '',
  ].join('\n');
}

/** One command on the runtime API's socket (non-interactive: HAProxy answers and closes). */
export function haproxyCommand(socket: string, cmd: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let out = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`haproxy runtime API: no answer to ${JSON.stringify(cmd)} within ${timeoutMs} ms`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${cmd}\n`));
    c.on('data', (d: string) => (out += d));
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** `show stat` CSV read by its header: the servers of backend `be`. */
export function parseServers(csv: string): HaproxyServer[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.replace(/^# /, '').split(',') ?? [];
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`haproxy show stat: no column ${name} in ${JSON.stringify(lines[0])}`);
    return i;
  };
  const [px, sv, status, stot, scur, check] = ['pxname', 'svname', 'status', 'stot', 'scur', 'check_status'].map(col) as [number, number, number, number, number, number];
  return (
    lines
      .slice(1)
      .map((l) => l.split(','))
      .filter((f) => f[px] === 'be' && f[sv] !== 'BACKEND' && f[sv] !== 'FRONTEND')
      // A check under way is `* L7OK` (its last result, marked in progress): the result is what is asked.
      .map((f) => ({ name: f[sv]!, status: f[status]!, requests: Number(f[stot]), current: Number(f[scur]), check: f[check]!.replace(/^\* /, '') }))
  );
}

/**
 * HAProxy on a loopback port in front of `backends`, ready (its runtime API answering) when this
 * resolves; each server starts UP and is checked at once (`waitUp` waits for every first check).
 *
 * @example
 *   const lb = await startHaproxy({ backends: [a.port, b.port], checkPath: '/api/health' });
 *   afterAll(() => lb.stop());
 *   await lb.waitUp();
 *   await fetch(`${lb.url}/api/health`); // X-Served-By: s0, then s1, …
 */
export async function startHaproxy(o: HaproxyOptions): Promise<TestHaproxy> {
  const bin = haproxyPath();
  if (!existsSync(bin)) throw new Error(`HAProxy is not installed (${bin}): ${INSTALL}`);
  if (o.backends.length === 0) throw new Error('haproxy: give at least one backend');
  const dir = mkdtempSync(join(tmpdir(), 'iron-haproxy-'));
  const socket = join(dir, 'admin.sock');
  const file = join(dir, 'haproxy.cfg');
  const port = o.port ?? (await freePort());
  let options: HaproxyOptions = o;
  let config = haproxyConfig({ ...options, port, socket });
  writeFileSync(file, config);
  // -W: master-worker (a reload is SIGUSR2 to the master); -db: in the foreground, so it is our child.
  const child: ChildProcess = spawn('setpriv', ['--pdeathsig', 'SIGKILL', bin, '-W', '-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  let gone = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      gone = true;
      resolve();
    }),
  );
  child.once('error', (e) => (stderr += `\n${e.message}`));

  const command = (cmd: string) => haproxyCommand(socket, cmd);
  const workerPid = async (): Promise<number | null> => {
    try {
      const m = /^Pid: (\d+)$/m.exec(await command('show info'));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  };
  const answering = async (timeoutMs: number, other: number | null): Promise<void> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (gone) throw new Error(`haproxy exited (${child.exitCode ?? child.signalCode}):\n${stderr}`);
      const pid = await workerPid();
      if (pid !== null && pid !== other) return;
      if (Date.now() > end) throw new Error(`haproxy did not answer on its runtime API within ${timeoutMs} ms:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    if (!gone) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await answering(10_000, null);
  } catch (err) {
    await stop();
    throw err;
  }

  const servers = async () => parseServers(await command('show stat'));
  const waitFor = async (predicate: (s: HaproxyServer[]) => boolean, timeoutMs = 10_000) => {
    const end = Date.now() + timeoutMs;
    let last: HaproxyServer[] = [];
    for (;;) {
      last = await servers();
      if (predicate(last)) return last;
      if (Date.now() > end) throw new Error(`haproxy: condition not met within ${timeoutMs} ms; servers ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const lb: TestHaproxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    config,
    pid: child.pid!,
    servers,
    waitFor,
    // A server is UP before its first check; its check status says whether one ran (L7OK).
    waitUp: (timeoutMs) => waitFor((s) => s.every((x) => x.status === 'UP' && x.check === 'L7OK'), timeoutMs),
    command,
    async reload(backends) {
      if (backends) options = { ...options, backends };
      config = haproxyConfig({ ...options, port, socket });
      writeFileSync(file, config);
      lb.config = config;
      const before = await workerPid();
      child.kill('SIGUSR2');
      await answering(10_000, before);
    },
    stop,
  };
  return lb;
}
