import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestRuntime, until, WsProbe, type TestRuntime } from '../helpers/runtime.js';

// The WebSocket feed's promises from docs/api.md: a snapshot of the last 200 events, or with
// `after` up to 10,000 (flagged `truncated` when there is more), and a client too far behind
// closed with 1013, after which `after` gets it everything it missed.

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function agent(rt: TestRuntime): Promise<{ token: string; agentId: string }> {
  const r = await rt.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: `ws${Math.random().toString(36).slice(2, 8)}` }) });
  expect(r.status).toBe(201);
  return r.json();
}

/** POSTs `n` events for the agent, `parallel` at a time; returns their seqs in order. */
async function postEvents(rt: TestRuntime, a: { token: string; agentId: string }, n: number, parallel: number, data: object = {}): Promise<number[]> {
  const seqs: number[] = new Array(n);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const r = await rt.api(`/api/agents/${a.agentId}/events`, { method: 'POST', token: a.token, body: JSON.stringify({ message: `e${i}`, data }) });
      expect(r.status).toBe(201);
      seqs[i] = ((await r.json()) as { seq: number }).seq;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return seqs.sort((x, y) => x - y);
}

const wsUrl = (rt: TestRuntime, query = '') => `${rt.rt.url.replace('http', 'ws')}/ws?token=${rt.rt.adminToken}${query}`;

async function snapshotOf(probe: WsProbe): Promise<any> {
  await probe.opened;
  const snap = await until(() => probe.messages[0]);
  expect(snap.type).toBe('snapshot');
  return snap;
}

describe('WebSocket query', () => {
  it('refuses an `after` that is not digits (400), as the list routes do', async () => {
    t = await startTestRuntime();
    const status = (query: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(wsUrl(t!, query));
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => {
          ws.close();
          resolve(101);
        });
      });
    for (const bad of ['1e3', '0x10', '', '-1', '1.5', ' 7']) expect(await status(`&after=${encodeURIComponent(bad)}`), bad).toBe(400);
    expect(await status('&after=0')).toBe(101);
  });
});

describe('WebSocket snapshot', () => {
  it('holds the last 200 events, or with after up to 10,000 flagged truncated; the rest follows from its last seq', async () => {
    t = await startTestRuntime();
    const a = await agent(t);
    // Through the REST route 10,000 events take most of a minute; the state's own append is what
    // that route calls, so the snapshot reads exactly what the route would have stored.
    for (let i = 0; i < 10_050; i++) t.rt.state.record({ agentId: a.agentId, type: 'agent.event', severity: 'info', message: `e${i}`, data: {} });
    const lastSeq = t.rt.state.lastSeq();
    expect(lastSeq).toBeGreaterThan(10_050);

    const recent = new WsProbe(wsUrl(t));
    const r = await snapshotOf(recent);
    expect(r.truncated).toBe(false);
    expect(r.seq).toBe(lastSeq);
    expect(r.events.map((e: any) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => lastSeq - 199 + i));
    await recent.close();

    const fromStart = new WsProbe(wsUrl(t, '&after=0'));
    const first = await snapshotOf(fromStart);
    expect(first.truncated).toBe(true);
    expect(first.events.map((e: any) => e.seq)).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
    await fromStart.close();

    // Reconnecting from the last seq it got: the remainder, not truncated, and nothing missing.
    const rest = new WsProbe(wsUrl(t, `&after=${first.events.at(-1).seq}`));
    const second = await snapshotOf(rest);
    expect(second.truncated).toBe(false);
    expect(second.events.map((e: any) => e.seq)).toEqual(Array.from({ length: lastSeq - 10_000 }, (_, i) => 10_001 + i));
    await rest.close();

    // Exactly 10,000 left: all of them, and nothing was left out.
    const exact = new WsProbe(wsUrl(t, `&after=${lastSeq - 10_000}`));
    const whole = await snapshotOf(exact);
    expect(whole.truncated).toBe(false);
    expect(whole.events).toHaveLength(10_000);
    expect(whole.events.at(-1).seq).toBe(lastSeq);
    await exact.close();
  }, 120_000);
});

describe('a WebSocket client too far behind', () => {
  it('is closed with 1013 and, reconnecting with after, misses nothing', async () => {
    t = await startTestRuntime();
    const a = await agent(t);
    const hub = t.rt.server.hub;
    const slow = new WebSocket(wsUrl(t));
    const received: any[] = [];
    slow.on('message', (raw) => received.push(JSON.parse(String(raw))));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => slow.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
    await new Promise<void>((resolve, reject) => {
      slow.once('open', () => resolve());
      slow.once('error', reject);
    });
    await until(() => received.length > 0);
    const clients = hub.size;
    // Stop reading: frames pile up in the kernel, then in the server's send buffer (8 MB).
    slow.pause();
    const big = { blob: 'x'.repeat(60 * 1024) };
    let posted = 0;
    while (hub.size === clients) {
      expect(posted, 'the slow client was never cut off').toBeLessThan(2_000); // 120 MB
      await postEvents(t, a, 20, 4, big);
      posted += 20;
    }
    slow.resume();
    expect(await closed).toEqual({ code: 1013, reason: 'too far behind: reconnect with ?after=<last seq>' });

    const seen = received.flatMap((m) => (m.type === 'snapshot' ? m.events : m.type === 'event' ? [m.event] : m.type === 'events' ? m.items.map((i: any) => i.event) : []));
    const lastSeen = seen.at(-1).seq as number;
    expect(lastSeen).toBeLessThan(t.rt.state.lastSeq());
    const again = new WsProbe(wsUrl(t, `&after=${lastSeen}`));
    const snap = await snapshotOf(again);
    expect(snap.truncated).toBe(false);
    const all = [...seen, ...snap.events].map((e) => e.seq as number);
    const from = all[0]!;
    expect(all).toEqual(Array.from({ length: t.rt.state.lastSeq() - from + 1 }, (_, i) => from + i));
    await again.close();
  }, 120_000);
});
