import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { egressRule, sandboxSupport } from '../../src/sandbox/index.js';
import { CLI, freePort } from '../helpers/cli.js';
import { parseExposition, sumOf } from '../helpers/exposition.js';
import { ROOT, until } from '../helpers/runtime.js';

// The sandbox's egress allow-list (sandbox.network.allow): a sandboxed agent reaches a listed
// host:port through the cage's proxy (plain HTTP and a CONNECT tunnel), nothing else (a host not
// listed: 403; no credential: 407; directly: no route), and each connection is a sandbox.egress
// event with its bytes and a /metrics count. The "outside" hosts are listeners on this machine's
// loopback; nothing leaves it.

const supported = sandboxSupport();
if (process.env.IRON_CAGE_CI && !supported.ok) throw new Error(`the sandbox cannot start here: ${supported.reason}`);

let work: string;
const servers: Server[] = [];
const ports: Record<string, number> = {};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'iron-egress-'));
  for (const name of ['allowed', 'tunnel', 'other']) {
    const s = createServer((req, res) => res.end(`${name} says hello to ${req.url}\n`));
    ports[name] = await freePort();
    await new Promise<void>((r) => s.listen(ports[name], '127.0.0.1', () => r()));
    servers.push(s);
  }
  writeFileSync(join(work, 'egress_agent.py'), readFileSync(join(ROOT, 'test/fixtures/agents/escape/egress_agent.py')));
  writeFileSync(join(work, 'iron-cage.yaml'), `sandbox:\n  network:\n    allow: ["127.0.0.1:${ports.allowed}", "127.0.0.1:${ports.tunnel}"]\n`);
}, 30_000);
afterAll(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  rmSync(work, { recursive: true, force: true });
});

describe('the allow-list rules', () => {
  it('match a host exactly or under a wildcard, on 80 and 443 unless a port is named', () => {
    expect(egressRule(['pypi.org'], 'pypi.org', 443)).toBe('pypi.org');
    expect(egressRule(['pypi.org'], 'PyPI.org', 80)).toBe('pypi.org');
    expect(egressRule(['pypi.org'], 'pypi.org', 8443)).toBeNull();
    expect(egressRule(['pypi.org'], 'evil-pypi.org', 443)).toBeNull();
    expect(egressRule(['*.example.com'], 'api.example.com', 443)).toBe('*.example.com');
    expect(egressRule(['*.example.com'], 'example.com', 443)).toBeNull();
    expect(egressRule(['*.example.com'], 'api.example.com.evil.net', 443)).toBeNull();
    expect(egressRule(['127.0.0.1:8080'], '127.0.0.1', 8080)).toBe('127.0.0.1:8080');
  });
});

describe.skipIf(!supported.ok)('a sandboxed agent through the egress proxy', () => {
  it('reaches the listed hosts, plain and tunnelled, nothing else; each connection an event and counted', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'start', 'egress_agent.py', '--sandbox', 'on', '--port', String(port)], {
      cwd: work,
      env: { ...process.env, ESCAPE_ALLOWED_PORT: String(ports.allowed), ESCAPE_TUNNEL_PORT: String(ports.tunnel), ESCAPE_OTHER_PORT: String(ports.other) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    try {
      await until(() => out.includes('EGRESS done') || child.exitCode !== null, 30_000);
      const said = (name: string) => new RegExp(`EGRESS ${name} (.*)$`, 'm').exec(out)?.[1] ?? '';
      expect(said('plain allowed'), out).toBe('200 allowed says hello to /hello');
      expect(said('tunnel allowed')).toBe('200 tunnel says hello to /through-the-tunnel');
      // (the agent's output has its IP addresses redacted on the way to the log)
      expect(said('plain refused')).toMatch(/^403 (127\.0\.0\.1|\[IP_ADDRESS_REDACTED\]):\d+ is not in sandbox\.network\.allow/);
      expect(said('tunnel refused')).toMatch(/^failed OSError Tunnel connection failed: 403/);
      expect(said('tunnel without credential')).toMatch(/^failed OSError Tunnel connection failed: 407/);
      expect(said('direct')).toMatch(/^failed (ConnectionRefusedError|OSError)/);
      // Each connection on the agent's timeline, and on /metrics.
      await until(async () => {
        const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return sumOf(parseExposition(m), 'iron_cage_sandbox_egress_total') >= 5;
      }, 10_000);
      const m = parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      expect(sumOf(m, 'iron_cage_sandbox_egress_total', { rule: `127.0.0.1:${ports.allowed}`, outcome: 'allowed' })).toBe(1);
      expect(sumOf(m, 'iron_cage_sandbox_egress_total', { rule: `127.0.0.1:${ports.tunnel}`, outcome: 'allowed' })).toBe(1);
      expect(sumOf(m, 'iron_cage_sandbox_egress_total', { outcome: 'refused' })).toBe(3);
      expect(sumOf(m, 'iron_cage_sandbox_egress_bytes_total', { direction: 'down' })).toBeGreaterThan(0);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    const db = new Database(join(work, 'iron_state.db'), { readonly: true });
    try {
      const events = (db.prepare("select agent_id, data from events where type = 'sandbox.egress' order by seq").all() as Array<{ agent_id: string | null; data: string }>).map((e) => ({
        agent: e.agent_id,
        ...JSON.parse(e.data),
      }));
      expect(events).toHaveLength(5);
      expect(events.filter((e) => e.allowed).map((e) => [e.method, e.port])).toEqual([
        ['GET', ports.allowed],
        ['CONNECT', ports.tunnel],
      ]);
      for (const e of events.filter((x) => x.allowed)) expect(e.bytesDown).toBeGreaterThan(0);
      expect(events.filter((e) => !e.allowed).map((e) => e.refused)).toEqual([
        `127.0.0.1:${ports.other} is not in sandbox.network.allow`,
        `127.0.0.1:${ports.other} is not in sandbox.network.allow`,
        expect.stringContaining('needs the agent run token'),
      ]);
      expect(events.slice(0, 4).every((e) => e.agent !== null)).toBe(true);
    } finally {
      db.close();
    }
  }, 90_000);
});
