import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../../src/config/index.js';
import { FIXTURES, startTestRuntime, tempDir, WsProbe, type TestRuntime } from '../helpers/runtime.js';

// The dashboard's load promise: a hundred WebSocket clients connected while a real agent spends
// through the gateway each receive every event, once, in order: the same list /api/events holds.

const CLIENTS = 100;
const CALLS = 40;

// Holds the agent back until the test opens the gate, so every call it makes happens while all
// the clients are connected; then runs the spender fixture as its own main.
const GATED = `import os, runpy, sys, time
while not os.path.exists(sys.argv[1]):
    time.sleep(0.02)
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
`;

let t: TestRuntime | undefined;
let clients: WsProbe[] = [];
let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await t?.stop();
  t = undefined;
  tmp?.cleanup();
  tmp = undefined;
});

/** Every event the server holds, through the REST API's pages. */
async function allEvents(rt: TestRuntime): Promise<Array<{ seq: number; type: string }>> {
  const out: Array<{ seq: number; type: string }> = [];
  for (let after = 0; ; ) {
    const page = (await (await rt.api(`/api/events?after=${after}&limit=1000`)).json()) as { events: Array<{ seq: number; type: string }>; nextAfter: number; hasMore: boolean };
    out.push(...page.events);
    if (!page.hasMore) return out;
    after = page.nextAfter;
  }
}

describe('100 WebSocket clients while an agent runs', () => {
  it('each receives every event exactly once, in order, as /api/events lists them', async () => {
    tmp = tempDir();
    const dir = tmp.dir;
    const gate = join(dir, 'go');
    writeFileSync(join(dir, 'gated.py'), GATED);
    // A little simulated latency spreads the calls out, as a real provider would.
    const gateway = { ...DEFAULTS.gateway, providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 10, chunkDelayMs: 0, failures: [] } } };
    t = await startTestRuntime({
      dir,
      agent: { script: join(dir, 'gated.py'), args: [gate, join(FIXTURES, 'agents/spender.py')] },
      config: { budgetMicros: 50_000_000, gateway },
      env: { SPENDER_CALLS: String(CALLS) },
    });
    const url = `${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}&after=0`;
    clients = Array.from({ length: CLIENTS }, () => new WsProbe(url));
    await Promise.all(clients.map((c) => c.opened));
    writeFileSync(gate, '');

    expect(await t.rt.agentDone).toEqual({ status: 'completed', exitCode: 0 });
    const id = t.rt.agentId!;
    await Promise.all(clients.map((c) => c.waitForEvent((e) => e.type === 'agent.exited' && e.agentId === id, 30_000)));

    const held = await allEvents(t);
    const expected = held.map((e) => e.seq);
    // The agent did run through the gateway while the clients listened: its calls are events.
    expect(t.log()).toContain(`spent call ${CALLS - 1}`);
    expect(held.filter((e) => e.type === 'llm.request')).toHaveLength(CALLS);

    for (const [i, c] of clients.entries()) {
      expect(
        c.events().map((e) => e.seq),
        `client ${i}`,
      ).toEqual(expected);
      // One snapshot, then every call arrived live.
      const [snapshot, ...live] = c.messages;
      expect(snapshot.type, `client ${i}`).toBe('snapshot');
      expect(
        snapshot.events.filter((e: { type: string }) => e.type === 'llm.request'),
        `client ${i}`,
      ).toEqual([]);
      expect(
        live.every((m) => m.type === 'event' || m.type === 'events'),
        `client ${i}`,
      ).toBe(true);
    }
  }, 90_000);
});
