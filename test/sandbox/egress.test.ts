import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/index.js';
import { addressKind, EgressProxy, type EgressRecord, type ResolvedAddress } from '../../src/sandbox/egress.js';
import { chooseSandbox, egressRule, sandboxSupport } from '../../src/sandbox/index.js';
import { CLI, freePort } from '../helpers/cli.js';
import { parseExposition, sumOf } from '../helpers/exposition.js';
import { ROOT, startTestRuntime, until, type TestRuntime } from '../helpers/runtime.js';

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
    // A wildcard names host names: never an address that happens to end the same way.
    expect(egressRule(['*.0.1:8080'], '127.0.0.1', 8080)).toBeNull();
  });

  it('tell the addresses a name may never lead to, in their IPv4-mapped forms too', () => {
    const kinds: Array<[string, string]> = [
      ['127.0.0.1', 'loopback'],
      ['127.8.9.10', 'loopback'],
      ['::1', 'loopback'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['0.0.0.0', 'unspecified'],
      ['::', 'unspecified'],
      ['169.254.169.254', 'link-local'],
      ['fe80::1', 'link-local'],
      ['::ffff:169.254.169.254', 'link-local'],
      ['224.0.0.1', 'multicast'],
      ['ff02::1', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['100.64.0.1', 'private'],
      ['fd00::2', 'private'],
      ['::ffff:10.0.0.1', 'private'],
      ['172.32.0.1', 'public'],
      ['93.184.216.34', 'public'],
      ['2606:4700::1111', 'public'],
    ];
    for (const [address, kind] of kinds) expect(addressKind(address), address).toBe(kind);
  });
});

/** An "internal host" of the tests: a private address no machine here needs to have, its connections routed to a listener on loopback. */
const INTRANET = '10.9.8.7';

/** An HTTP server on `host`, counting what reaches it. */
async function listener(host: string): Promise<{ server: Server; port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.end(`hello from ${host}`);
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  return { server, port: (server.address() as AddressInfo).port, hits };
}

/** A CONNECT through the proxy at `port`: the proxy's status line, and the open socket when it said 200. */
function tunnel(port: number, authority: string, token: string): Promise<{ status: number; text: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nProxy-Authorization: Bearer ${token}\r\n\r\n`));
    let text = '';
    const onData = (c: Buffer) => {
      text += c.toString();
      if (!text.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      resolve({ status: Number(text.split(' ')[1]), text, socket });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** An HTTP request sent through an open tunnel; its answer's body. */
function through(socket: Socket, host: string): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.once('end', () => resolve(text.slice(text.indexOf('\r\n\r\n') + 4)));
    socket.write(`GET /through HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

/** A plain-HTTP request in absolute form through the proxy at `port`. */
function plain(port: number, url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: url, headers: { host: new URL(url).host, 'proxy-authorization': `Bearer ${token}` } }, (res: IncomingMessage) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('the egress proxy resolving a name once, and judging what it resolved to (SSRF)', () => {
  let loop: Awaited<ReturnType<typeof listener>>;
  let inside: Awaited<ReturnType<typeof listener>> | null = null;
  const dialled: string[] = [];
  let proxyServer: Server;
  let port: number;
  const records: EgressRecord[] = [];
  const asked: string[] = [];
  /** What each name resolves to: the test's own resolver, as a hosts file would say it. */
  const names: Record<string, (n: number) => string> = {
    'api.example.test': () => '127.0.0.1',
    'mapped.example.test': () => '::ffff:127.0.0.1',
    'metadata.example.test': () => '169.254.169.254',
    'zero.example.test': () => '0.0.0.0',
    'group.example.test': () => '224.0.0.1',
    'ten.example.test': () => '10.1.2.3',
    'loop.test': () => '127.0.0.1',
  };

  beforeAll(async () => {
    loop = await listener('127.0.0.1');
    inside = await listener('127.0.0.1');
    // An internal host the user named, whose resolver answers loopback from its second question on (DNS rebinding).
    names['intranet.test'] = (n) => (n === 0 ? INTRANET : '127.0.0.1');
    names['wiki.example.test'] = () => INTRANET;
    const p = String(loop.port);
    const q = String(inside.port);
    const proxy = new EgressProxy({
      allow: [`*.example.test:${p}`, `*.example.test:${q}`, `loop.test:${p}`, `127.0.0.1:${p}`, `intranet.test:${q}`],
      agentOf: async (token) => (token === 'run' ? { agentId: 'ag-1' } : { refused: 'not a run token', agentId: null }),
      lookup: async (host): Promise<ResolvedAddress[]> => {
        const n = asked.filter((h) => h === host).length;
        asked.push(host);
        const f = names[host];
        if (!f) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
        const address = f(n);
        return [{ address, family: address.includes(':') ? 6 : 4 }];
      },
      record: (r) => records.push(r),
      // The network as the proxy reaches it: the internal host is the loopback listener `inside`; every address asked is kept.
      connect: (address, port) => {
        dialled.push(address);
        return connect({ host: address === INTRANET ? '127.0.0.1' : address, port });
      },
    });
    proxyServer = createServer((req, res) => proxy.request(req, res));
    proxyServer.on('connect', (req, socket, head) => proxy.connect(req, socket, head));
    await new Promise<void>((r) => proxyServer.listen(0, '127.0.0.1', () => r()));
    port = (proxyServer.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const s of [proxyServer, loop?.server, inside?.server]) if (s) await new Promise<void>((r) => s.close(() => r()));
  });

  it('never reaches loopback, unspecified, link-local or multicast addresses through a name, tunnelled or plain, and says why', async () => {
    const cases: Array<[string, RegExp]> = [
      ['api.example.test', /\bapi\.example\.test resolves to 127\.0\.0\.1, a loopback address/],
      ['mapped.example.test', /resolves to ::ffff:127\.0\.0\.1, a loopback address/],
      ['metadata.example.test', /resolves to 169\.254\.169\.254, a link-local address \(the cloud metadata service\)/],
      ['zero.example.test', /resolves to 0\.0\.0\.0, an unspecified address/],
      ['group.example.test', /resolves to 224\.0\.0\.1, a multicast address/],
      // Named exactly, it is still this machine: the user allows the address itself (127.0.0.1:<port>) for that.
      ['loop.test', /\bloop\.test resolves to 127\.0\.0\.1, a loopback address/],
    ];
    for (const [host, why] of cases) {
      const t = await tunnel(port, `${host}:${loop.port}`, 'run');
      expect(t.status, host).toBe(403);
      expect(t.text, host).toMatch(why);
      t.socket.destroy();
      const p = await plain(port, `http://${host}:${loop.port}/x`, 'run');
      expect(p.status, host).toBe(403);
      expect(p.body, host).toMatch(why);
    }
    expect(loop.hits).toEqual([]);
    const refused = records.filter((r) => !r.allowed);
    expect(refused).toHaveLength(cases.length * 2);
    expect(refused[0]).toMatchObject({ agentId: 'ag-1', host: 'api.example.test', port: loop.port, method: 'CONNECT', refused: expect.stringMatching(/resolves to 127\.0\.0\.1, a loopback address/) });
  });

  it('judges what the system resolver says too: localhost, named exactly, is this machine', async () => {
    const proxy = new EgressProxy({ allow: [`localhost:${loop.port}`], agentOf: async () => ({ agentId: 'ag-1' }), record: () => {} });
    const server = createServer();
    server.on('connect', (req, socket, head) => proxy.connect(req, socket, head));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const t = await tunnel((server.address() as AddressInfo).port, `localhost:${loop.port}`, 'run');
      expect(t.status).toBe(403);
      expect(t.text).toMatch(/localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
      t.socket.destroy();
      expect(loop.hits).toEqual([]);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('reaches an address the allow-list names as an address, exactly', async () => {
    const t = await tunnel(port, `127.0.0.1:${loop.port}`, 'run');
    expect(t.status).toBe(200);
    expect(await through(t.socket, '127.0.0.1')).toBe('hello from 127.0.0.1');
    expect((await plain(port, `http://127.0.0.1:${loop.port}/plain`, 'run')).body).toBe('hello from 127.0.0.1');
    expect(loop.hits).toEqual(['/through', '/plain']);
  });

  it('refuses a private address reached through a wildcard', async () => {
    const t = await tunnel(port, `ten.example.test:${loop.port}`, 'run');
    expect(t.status).toBe(403);
    expect(t.text).toMatch(/ten\.example\.test resolves to 10\.1\.2\.3, a private address, which a wildcard \(\*\.example\.test:\d+\) does not reach/);
    t.socket.destroy();
  });

  it('reaches a private host the user named exactly, at the address it judged, asking the resolver once', async () => {
    const before = asked.filter((h) => h === 'intranet.test').length;
    dialled.length = 0;
    const t = await tunnel(port, `intranet.test:${inside!.port}`, 'run');
    expect(t.status).toBe(200);
    // The resolver would now answer loopback: the connection went where the first answer said.
    expect(await through(t.socket, 'intranet.test')).toBe('hello from 127.0.0.1');
    expect(dialled).toEqual([INTRANET]);
    expect(asked.filter((h) => h === 'intranet.test').length - before).toBe(1);
    // The same host under a wildcard is refused.
    const w = await tunnel(port, `wiki.example.test:${inside!.port}`, 'run');
    expect(w.status).toBe(403);
    expect(w.text).toMatch(/a private address, which a wildcard/);
    w.socket.destroy();
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

describe.skipIf(!supported.ok)('a run token at the egress proxy once its run has ended', () => {
  let up: Awaited<ReturnType<typeof listener>>;
  let t: TestRuntime;

  beforeAll(async () => {
    up = await listener('127.0.0.1');
    const sandbox = { ...DEFAULTS.sandbox, mode: 'on' as const, allow: [`127.0.0.1:${up.port}`] };
    t = await startTestRuntime({ config: { sandbox }, sandbox: chooseSandbox({ sandbox, port: 0 }), agent: { script: join(ROOT, 'test/fixtures/agents/sleeper.mjs') } });
    await until(() => t.log().includes('sleeper ready'), 30_000);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    if (up) await new Promise<void>((r) => up.server.close(() => r()));
  });

  it('opens a tunnel while the run is live, cuts it when the run ends, and refuses the same token after', async () => {
    const agentId = t.rt.agentId!;
    const port = Number(new URL(t.rt.url).port);
    // A token of the agent's run, never revoked: only the run's end can close the door to it.
    const run = await t.rt.tokens.issueRun({ name: agentId, agentId });
    const first = await tunnel(port, `127.0.0.1:${up.port}`, run.token);
    expect(first.status).toBe(200);
    expect(await through(first.socket, '127.0.0.1')).toBe('hello from 127.0.0.1');
    const open = await tunnel(port, `127.0.0.1:${up.port}`, run.token);
    expect(open.status).toBe(200);
    const cut = new Promise<void>((r) => open.socket.once('close', () => r()));

    expect(t.rt.stopAgent(agentId, 'test')).toBe(true);
    await until(() => t.rt.state.agentBrief(agentId)?.status === 'stopped', 20_000);
    await cut;

    const after = await tunnel(port, `127.0.0.1:${up.port}`, run.token);
    expect(after.status).toBe(407);
    expect(after.text).toMatch(/has stopped: its run token no longer opens egress/);
    after.socket.destroy();
    const said = await until(() => t.rt.state.lastEvents(500, agentId).filter((e) => e.type === 'sandbox.egress'));
    expect(said.some((e) => /cut: agent \S+ has stopped/.test(e.message))).toBe(true);
    expect(said.some((e) => /^Egress refused: CONNECT 127\.0\.0\.1:\d+: agent \S+ has stopped/.test(e.message))).toBe(true);
    expect(up.hits).toEqual(['/through']);
  }, 60_000);
});
