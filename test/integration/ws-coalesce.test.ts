import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setImmediate as tick } from 'node:timers/promises';
import { WS_COALESCE } from '../../src/server/index.js';
import { startTestRuntime, until, WsProbe, type TestRuntime } from '../helpers/runtime.js';

// With many viewers the hub sends one frame per client per WS_COALESCE.ms window instead of one
// per tick: every event still arrives once, in order; a few viewers keep the per-tick frames.

const EVENTS = 20;
let t: TestRuntime;
beforeAll(async () => {
  t = await startTestRuntime();
});
afterAll(async () => {
  await t?.stop();
});

/** `n` clients connected; `EVENTS` events recorded one per tick; what each client received live. */
async function burst(n: number, tag: string) {
  const url = `${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`;
  const clients = Array.from({ length: n }, () => new WsProbe(url));
  await Promise.all(clients.map((c) => c.opened));
  await until(() => clients.every((c) => c.messages.some((m) => m.type === 'snapshot')));
  for (let i = 0; i < EVENTS; i++) {
    t.rt.state.record({ agentId: null, type: 'agent.event', severity: 'info', message: `${tag} ${i}`, data: { i } });
    await tick();
  }
  await Promise.all(clients.map((c) => c.waitForEvent((e) => e.message === `${tag} ${EVENTS - 1}`)));
  const seen = clients.map((c) => ({
    messages: c
      .events()
      .filter((e) => e.message?.startsWith(`${tag} `))
      .map((e) => e.message),
    frames: c.messages.filter((m) => m.type !== 'snapshot').length,
  }));
  await Promise.all(clients.map((c) => c.close()));
  return seen;
}

describe('WebSocket flushes with many viewers', () => {
  it(`past ${WS_COALESCE.above} clients, one frame per window carries every event once, in order`, async () => {
    const expected = Array.from({ length: EVENTS }, (_, i) => `many ${i}`);
    const seen = await burst(WS_COALESCE.above + 10, 'many');
    for (const s of seen) expect(s.messages).toEqual(expected);
    // 20 ticks take far less than a window each: a few frames, not one per event.
    expect(Math.max(...seen.map((s) => s.frames))).toBeLessThan(EVENTS);
  });

  it('a few clients get a frame per tick', async () => {
    const seen = await burst(2, 'few');
    for (const s of seen) expect(s.messages).toEqual(Array.from({ length: EVENTS }, (_, i) => `few ${i}`));
    expect(seen.every((s) => s.frames === EVENTS)).toBe(true);
  });
});
