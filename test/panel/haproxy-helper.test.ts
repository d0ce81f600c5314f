import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { haproxyAbsent, startHaproxy, type TestHaproxy } from '../helpers/haproxy.js';
import { serve, type TestServer } from '../helpers/http.js';

// The load-balancer helper itself (test/helpers/haproxy.ts), before any panel replica stands
// behind it: two tiny servers that say their name, a real HAProxy in front.

const absent = haproxyAbsent();

/** A server answering its name on every path (`/api/health`, the checks' path, included). */
const named = (name: string): Promise<TestServer> =>
  serve((_req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(name);
  });

async function waitUntil(ok: () => boolean, timeoutMs = 2_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(absent)('test/helpers/haproxy.ts: a real HAProxy in front of two servers', () => {
  let a: TestServer;
  let b: TestServer;
  let lb: TestHaproxy;
  // Kept-alive connections, as a runtime's client keeps them: HAProxy still balances each request.
  const agent = new Agent({ connections: 2 });
  const get = async (path = '/') => {
    const r = await request(`${lb.url}${path}`, { dispatcher: agent });
    return { status: r.statusCode, body: await r.body.text(), servedBy: r.headers['x-served-by'] };
  };

  beforeAll(async () => {
    a = await named('a');
    b = await named('b');
    lb = await startHaproxy({
      backends: [
        { port: a.port, name: 'a' },
        { port: b.port, name: 'b' },
      ],
    });
    await lb.waitUp();
  });
  afterAll(async () => {
    await agent.close();
    await lb?.stop();
    await a?.close();
    await b?.close();
  });

  it('alternates requests between the servers on kept-alive connections, and says which took each', async () => {
    const seen = [];
    for (let i = 0; i < 6; i++) seen.push(await get());
    expect(seen.every((r) => r.status === 200 && r.body === r.servedBy)).toBe(true);
    const bodies = seen.map((r) => r.body);
    // Round robin: never the same server twice in a row.
    for (let i = 1; i < bodies.length; i++) expect(bodies[i]).not.toBe(bodies[i - 1]);
    expect(new Set(bodies)).toEqual(new Set(['a', 'b']));
    const stat = await lb.servers();
    expect(stat.map((s) => [s.name, s.status, s.check])).toEqual([
      ['a', 'UP', 'L7OK'],
      ['b', 'UP', 'L7OK'],
    ]);
    expect(stat.reduce((n, s) => n + s.requests, 0)).toBeGreaterThanOrEqual(6);
  });

  it('passes a WebSocket upgrade through, and keeps it open past the checks; reloads with other backends', async () => {
    const wss = new WebSocketServer({ noServer: true });
    const server = createServer((_req, res) => res.end('w'));
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send(`echo ${m}`))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      await lb.reload([{ port, name: 'w' }]);
      await lb.waitUp();
      expect((await lb.servers()).map((s) => s.name)).toEqual(['w']);
      const ws = new WebSocket(`ws://127.0.0.1:${lb.port}/ws`);
      await new Promise((r, j) => ws.once('open', r).once('error', j));
      const echoes: string[] = [];
      ws.on('message', (m) => echoes.push(String(m)));
      const say = async (m: string) => {
        ws.send(m);
        await waitUntil(() => echoes.length > 0 && echoes.at(-1) === `echo ${m}`);
      };
      await say('one');
      // Longer than two check intervals: the tunnel is not cut by them.
      await new Promise((r) => setTimeout(r, 1_200));
      await say('two');
      expect(echoes).toEqual(['echo one', 'echo two']);
      ws.close();
    } finally {
      await lb.reload([
        { port: a.port, name: 'a' },
        { port: b.port, name: 'b' },
      ]);
      await lb.waitUp();
      wss.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('sends everything to the survivor within 2 s of a server being killed, and marks it DOWN', async () => {
    await b.close();
    const killedAt = Date.now();
    let lastB = killedAt;
    let downAt: number | null = null;
    const bodies: string[] = [];
    while (Date.now() < killedAt + 3_000) {
      const r = await get();
      // A refused connection is tried again on the other server: no request fails meanwhile.
      expect(r.status).toBe(200);
      bodies.push(r.body);
      if (r.body === 'b') lastB = Date.now();
      if (downAt === null && (await lb.servers()).find((x) => x.name === 'b')?.status === 'DOWN') downAt = Date.now();
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(lastB - killedAt).toBeLessThan(2_000);
    expect(bodies.slice(-10)).toEqual(Array(10).fill('a'));
    expect(downAt).not.toBeNull();
    expect(downAt! - killedAt).toBeLessThan(2_000);
    expect((await lb.servers()).find((x) => x.name === 'a')?.status).toBe('UP');
  });
});
