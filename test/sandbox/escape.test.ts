import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxSupport } from '../../src/sandbox/index.js';
import { cli, freePort } from '../helpers/cli.js';
import { ROOT } from '../helpers/runtime.js';

// The escape suite: real agents, run by `iron-cage start`, try every way out a probe
// found. Run with `--sandbox off` each attempt succeeds (so the suite can fail); sandboxed each is
// blocked, while iron-cage and its data stay whole. Nothing leaves this machine's loopback: the
// "other services" (a TCP service, a panel, UDP, a DNS server, an abstract Unix socket) are
// listeners this test starts.

const supported = sandboxSupport();
// CI installs bubblewrap, Perl and socat (.ci/run): there the suite must run, never skip.
if (process.env.IRON_CAGE_CI && !supported.ok) throw new Error(`the sandbox cannot start here: ${supported.reason}`);
const ESCAPE = join(ROOT, 'test/fixtures/agents/escape');

let dir: string;
let home: string;
let work: string;
let outside: string;
const listeners: Array<HttpServer | NetServer> = [];
const udps: UdpSocket[] = [];
const env: Record<string, string> = {};
let port: number;
let abstractListener: ChildProcess | undefined;

async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!ok()) throw new Error('the abstract socket listener did not start');
}

const listen = async (s: HttpServer | NetServer, where: number | string) => {
  await new Promise<void>((r) => (typeof where === 'number' ? s.listen(where, '127.0.0.1', () => r()) : s.listen(where, () => r())));
  listeners.push(s);
};
const udp = async () => {
  const s = createSocket('udp4');
  s.on('message', (msg, from) => s.send(msg, from.port, from.address));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  udps.push(s);
  return s.address().port;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'iron-escape-'));
  home = join(dir, 'home');
  work = join(dir, 'work');
  outside = join(dir, 'outside');
  for (const d of [join(home, '.ssh'), join(home, '.aws'), work, outside]) mkdirSync(d, { recursive: true });
  writeFileSync(join(home, '.ssh/id_ed25519'), '-----BEGIN OPENSSH PRIVATE KEY-----\nescape\n', { mode: 0o600 });
  writeFileSync(join(home, '.aws/credentials'), '[default]\naws_secret_access_key = escape\n', { mode: 0o600 });
  writeFileSync(join(work, 'iron_demo.db'), 'another run of iron-cage keeps its state here\n', { mode: 0o600 });
  writeFileSync(join(work, 'iron-cage.yaml'), 'providers:\n  openai:\n    api_key: sk-escape-0123456789abcdef\nsandbox:\n  limits:\n    file_size_mb: 8\n');
  writeFileSync(join(work, 'escape_agent.py'), readFileSync(join(ESCAPE, 'escape_agent.py')));
  writeFileSync(join(work, 'escape_agent.mjs'), readFileSync(join(ESCAPE, 'escape_agent.mjs')));
  const http = () => createHttpServer((_q, res) => res.end('a service on this machine\n'));
  const [tcp, panel] = [await freePort(), await freePort()];
  await listen(http(), tcp);
  await listen(http(), panel);
  const abstract = `iron-escape-${process.pid}`;
  // socat, not Node: Node names an abstract socket with its sockaddr's padding.
  abstractListener = spawn('socat', [`ABSTRACT-LISTEN:${abstract},fork`, 'SYSTEM:echo hello'], { stdio: 'ignore' });
  await until(() => readFileSync('/proc/net/unix', 'utf8').includes(`@${abstract}`));
  port = await freePort();
  Object.assign(env, {
    HOME: home,
    ESCAPE_DB: join(work, 'iron_state.db'),
    ESCAPE_OTHER_DB: join(work, 'iron_demo.db'),
    ESCAPE_CONFIG: join(work, 'iron-cage.yaml'),
    ESCAPE_OUTSIDE: join(outside, 'note'),
    ESCAPE_TCP_PORT: String(tcp),
    ESCAPE_PANEL_PORT: String(panel),
    ESCAPE_UDP_PORT: String(await udp()),
    ESCAPE_DNS_PORT: String(await udp()),
    ESCAPE_ABSTRACT: abstract,
    ESCAPE_BIG_MB: '24',
    ESCAPE_CAGE_PORT: String(port),
  });
}, 30_000);

afterAll(async () => {
  abstractListener?.kill();
  for (const s of listeners) await new Promise<void>((r) => s.close(() => r()));
  for (const s of udps) s.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Run an escape agent under `iron-cage start`; its verdicts by attempt. */
async function run(script: string, mode: 'on' | 'off') {
  for (const f of ['note']) rmSync(join(outside, f), { force: true });
  rmSync(join(home, 'escape-note'), { force: true });
  const r = await cli(['start', script, '--sandbox', mode, '--port', String(port), '--exit'], { cwd: work, env, timeoutMs: 45_000 });
  const out = r.stdout + r.stderr;
  const verdicts = new Map<string, string>();
  for (const m of out.matchAll(/ESCAPE (ok|blocked) (.+?)\s*$/gm)) verdicts.set(m[2]!, m[1]!);
  const done = /ESCAPE done (\d+)/.exec(out);
  return { code: r.code, out, verdicts, count: done ? Number(done[1]) : 0, wroteOutside: existsSync(join(outside, 'note')), wroteHome: existsSync(join(home, 'escape-note')) };
}

/** Writes judged by what reached this side: inside the sandbox the home folder is a private, empty one. */
const HOST_JUDGED = new Set(['write into the home folder']);

describe.skipIf(!supported.ok)('the escape suite: an agent confined, iron-cage and its data whole', () => {
  it('a Python agent escapes 31 ways unsandboxed and none sandboxed', async () => {
    const open = await run('escape_agent.py', 'off');
    expect(open.code, open.out).toBe(0);
    expect(open.count).toBeGreaterThanOrEqual(31);
    const failedOpen = [...open.verdicts].filter(([, v]) => v !== 'ok').map(([k]) => k);
    expect(failedOpen, 'unsandboxed, every attempt must succeed (or the suite proves nothing)').toEqual([]);
    expect(open.wroteOutside && open.wroteHome).toBe(true);

    const caged = await run('escape_agent.py', 'on');
    expect(caged.code, caged.out).toBe(0);
    expect(caged.out).toMatch(/sandbox: files, network, processes/);
    // The end-of-run summary says it too.
    expect(caged.out).toMatch(/Sandbox +files, network, processes \(writes \S+; only the cage; 4,096 MB memory, 512 processes\)/);
    expect(open.out).toMatch(/Sandbox +none: turned off \(--sandbox off\)/);
    expect(caged.count).toBe(open.count);
    const escaped = [...caged.verdicts].filter(([k, v]) => v === 'ok' && !HOST_JUDGED.has(k)).map(([k]) => k);
    expect(escaped, 'sandboxed, no attempt may succeed').toEqual([]);
    expect(caged.wroteOutside || caged.wroteHome).toBe(false);
    // iron-cage and its data whole: the state file opens and holds both runs.
    const db = new Database(join(work, 'iron_state.db'), { readonly: true });
    try {
      expect((db.prepare("select count(*) as n from agents where status = 'completed'").get() as { n: number }).n).toBeGreaterThanOrEqual(2);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      // Each run's record says what its agent could touch: what /api/agents/:id and the dashboard show.
      const said = (db.prepare('select sandbox from agents order by created_at').all() as Array<{ sandbox: string }>).map((r) => JSON.parse(r.sandbox));
      expect(said[0]).toEqual({ sandboxed: false, why: 'turned off (--sandbox off)' });
      expect(said[1]).toMatchObject({ sandboxed: true, write: [realpathSync(work)], reach: [`127.0.0.1:${port} (the cage)`], limits: { fileSizeMb: 8, processes: 512 } });
      expect(said[1].hidden).toContain(realpathSync(home));
    } finally {
      db.close();
    }
  }, 120_000);

  it('a Node agent likewise', async () => {
    const open = await run('escape_agent.mjs', 'off');
    expect(open.code, open.out).toBe(0);
    expect([...open.verdicts].filter(([, v]) => v !== 'ok').map(([k]) => k)).toEqual([]);
    expect(open.count).toBeGreaterThanOrEqual(8);
    const caged = await run('escape_agent.mjs', 'on');
    expect(caged.code, caged.out).toBe(0);
    expect(caged.count).toBe(open.count);
    expect([...caged.verdicts].filter(([k, v]) => v === 'ok' && !HOST_JUDGED.has(k)).map(([k]) => k)).toEqual([]);
    expect(caged.wroteOutside || caged.wroteHome).toBe(false);
  }, 120_000);
});
