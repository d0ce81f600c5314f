import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { dashboardSession, ROOT, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';
import { apiAgentToken, openWs, type Sock } from './sess-helpers.js';

// A security review found "memory grows without bound with slow WebSocket readers": 60 sockets that never
// read, after 200 events of 65 KB, took the server from 0.6 to 2.4 GB; no per-token cap.

let t: TestRuntime | undefined;
let socks: Sock[] = [];
let server: ChildProcess | undefined;
let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(async () => {
  for (const s of socks) s.ws.terminate();
  socks = [];
  await t?.stop();
  t = undefined;
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGKILL');
    await exited;
  }
  server = undefined;
  tmp?.cleanup();
  tmp = undefined;
});

const post = (url: string, token: string, path: string, body: unknown) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Every event a socket received, in order, from snapshot and live frames. */
const eventsOf = (s: Sock) => s.frames.flatMap((m) => (m.type === 'snapshot' ? m.events : m.type === 'event' ? [m.event] : m.type === 'events' ? m.items.map((i: any) => i.event) : []));

describe('an SDK event over the size limit', () => {
  it('is refused with 413, counting bytes (UTF-8) and not characters; the limit itself is accepted', async () => {
    t = await startTestRuntime();
    const a = await apiAgentToken(t, 'big');
    const send = (data: object) => post(t!.rt.url, a.token, `/api/agents/${a.agentId}/events`, { message: 'm', data });
    const wrap = '{"k":""}'.length;
    expect((await send({ k: 'x'.repeat(65_536 - wrap) })).status).toBe(201);
    const over = await send({ k: 'x'.repeat(65_537 - wrap) });
    expect(over.status).toBe(413);
    expect((await over.json()).error).toEqual({ code: 'payload_too_large', message: "data: 65537 bytes as JSON; an event's data may be at most 65536 bytes" });
    // 22,000 characters, 66,000 bytes.
    const euros = await send({ k: '€'.repeat(22_000) });
    expect(euros.status).toBe(413);
    expect((await euros.json()).error.message).toBe(`data: ${66_000 + wrap} bytes as JSON; an event's data may be at most 65536 bytes`);
  });
});

describe('connections per token', () => {
  it('are capped: the 9th socket of an agent token is closed with 4429, and a slot freed lets the next one in', async () => {
    t = await startTestRuntime();
    const a = await apiAgentToken(t, 'many');
    socks = await Promise.all(Array.from({ length: 8 }, () => openWs(t!.rt.url, a.token)));
    await until(() => socks.every((s) => s.frames.length > 0));
    const ninth = await openWs(t.rt.url, a.token);
    expect(await ninth.closed).toEqual({ code: 4429, reason: 'too many WebSockets open for this token (at most 8)' });
    expect(ninth.frames).toEqual([]);
    // Another token is not held back by this one's sockets.
    const admin = await openWs(t.rt.url, t.rt.adminToken);
    await until(() => admin.frames.length > 0);
    socks.push(admin);

    const one = socks.shift()!;
    one.ws.close();
    await one.closed;
    await until(() => t!.rt.server.hub.size === 8);
    const again = await openWs(t.rt.url, a.token);
    socks.push(again);
    await until(() => again.frames.length > 0);
    expect(again.frames[0].type).toBe('snapshot');
  });
});

describe('the live feed', () => {
  it('cuts a burst into frames of about 1 MB and sends an event too big for the feed with its data left out', async () => {
    t = await startTestRuntime();
    const a = await apiAgentToken(t, 'burst');
    const s = await openWs(t.rt.url, t.rt.adminToken);
    socks.push(s);
    await until(() => s.frames.length > 0);
    const sizes: number[] = [];
    s.ws.on('message', (raw: Buffer) => sizes.push(raw.length));
    // One tick: the hub batches all of these; the state's own append is what the routes call.
    const blob = 'x'.repeat(60 * 1024);
    const seqs = Array.from({ length: 50 }, (_, i) => t!.rt.state.record({ agentId: a.agentId, type: 'agent.event', severity: 'info', message: `b${i}`, data: { blob } }).seq);
    // A path no route bounds: the bus carries it whole, the feed does not.
    const huge = t.rt.state.record({ agentId: a.agentId, type: 'agent.event', severity: 'info', message: 'huge', data: { blob: 'y'.repeat(300 * 1024) } });
    await until(() => eventsOf(s).some((e) => e.seq === huge.seq));
    const got = eventsOf(s).filter((e) => e.seq >= seqs[0]!);
    expect(got.map((e) => e.seq)).toEqual([...seqs, huge.seq]);
    expect(got.slice(0, -1).every((e) => e.data.blob === blob)).toBe(true);
    expect(got.at(-1)).toMatchObject({ message: 'huge', data: { truncated: true } });
    expect(got.at(-1).data.bytes).toBeGreaterThan(300 * 1024);
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThan(1024 * 1024 + 70 * 1024);
    // The event itself is kept whole for REST.
    const listed = await (await t.api(`/api/events?after=${huge.seq - 1}&limit=1`)).json();
    expect(listed.events[0].data.blob).toHaveLength(300 * 1024);
  });
});

/** The server's resident memory now and at its peak, in bytes (Linux /proc). */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

describe('slow readers', () => {
  it("keep the server's memory bounded: 68 sockets that never read, 400 events of 60 KB (1.6 GB owed to them)", async () => {
    tmp = tempDir();
    const child = spawn(process.execPath, [join(ROOT, 'dist/cli.js'), 'serve', '--port', '0', '--db', join(tmp.dir, 'iron_state.db'), '--log-format', 'json'], {
      cwd: tmp.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server = child;
    let out = '';
    child.stdout!.on('data', (c) => (out += c));
    const url = await until(() => /dashboard (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1]);
    const admin = await dashboardSession(join(tmp.dir, 'iron_state.db'), url);
    const r = await post(url!, admin!, '/api/tokens', { role: 'agent', name: 'flood' });
    const agent = (await r.json()) as { token: string; agentId: string };

    // 60 dashboards and the agent's own 8 sockets, all past their snapshot, then never read again.
    socks = await Promise.all([...Array.from({ length: 60 }, () => openWs(url!, admin!)), ...Array.from({ length: 8 }, () => openWs(url!, agent.token))]);
    await until(() => socks.every((s) => s.frames.length > 0));
    for (const s of socks) (s.ws as unknown as { _socket: Socket })._socket.pause();
    const before = memory(child.pid!);

    const blob = 'z'.repeat(60 * 1024);
    const EVENTS = 400;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < EVENTS; i = next++) {
        const res = await post(url!, agent.token, `/api/agents/${agent.agentId}/events`, { message: `e${i}`, data: { blob } });
        expect(res.status).toBe(201);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    // Newcomers get a snapshot of those big events, too (12 MB each: ten make the point).
    socks.push(...(await Promise.all(Array.from({ length: 10 }, () => openWs(url!, admin!)))));
    await until(() => socks.slice(-10).every((s) => s.frames.length > 0));
    // A round trip after the last broadcast: every frame for the slow sockets has been dealt with.
    expect((await fetch(`${url}/api/health`)).status).toBe(200);

    const after = memory(child.pid!);
    const owed = 68 * EVENTS * blob.length;
    const grew = after.peak - before.rss;
    // Loose on purpose: what counts is that growth does not follow what was owed (1.6 GB).
    expect(grew, `peak grew ${(grew / 2 ** 20).toFixed(0)} MB for ${(owed / 2 ** 20).toFixed(0)} MB owed`).toBeLessThan(owed / 8);

    // The slow ones were cut off, not left to hold their buffers: with 1013, or dropped (1006)
    // when they did not take the close in time either.
    for (const s of socks.slice(0, 68)) (s.ws as unknown as { _socket: Socket })._socket.resume();
    const codes = await Promise.all(socks.slice(0, 68).map((s) => s.closed));
    expect(codes.filter((c) => c.code !== 1013 && c.code !== 1006)).toEqual([]);
  }, 120_000);
});
