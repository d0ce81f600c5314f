import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { breakers, withTools } from './helpers.js';
import { FakeService } from '../helpers/http.js';

let up: FakeService;
let t: TestRuntime;

beforeAll(async () => {
  up = await FakeService.start();
  // The service answers three lookups, then rate-limits everything.
  up.reply = (req) =>
    up.seen.length <= 3
      ? { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ person: req.url.split('?')[0], n: up.seen.length }) }
      : { status: 429, headers: { 'content-type': 'application/json' }, body: '{"error":"slow down"}' };
  t = await startTestRuntime({
    config: withTools({ linkedin: { url: up.url, cost_per_call_usd: 0.1, breaker: { failure_threshold: 3, cooldown_s: 600 } } }),
    agent: { script: join(import.meta.dirname, 'fixtures/tools_agent.py') },
  });
});
afterAll(async () => {
  await t?.stop();
  await up?.close();
});

describe('a Python agent using iron_cage.tools under iron-cage', () => {
  it('gets live answers, then cached ones once the circuit opens, and sees the breaker', async () => {
    const outcome = await t.rt.agentDone!;
    const lines = t.rt.state
      .lastEvents(1000, t.rt.agentId!)
      .filter((e) => e.type === 'agent.output')
      .map((e) => e.message);
    expect(outcome.status, lines.join('\n')).toBe('completed');
    const calls = lines.filter((l) => l.startsWith('{"i"')).map((l) => JSON.parse(l));
    expect(calls.map((c) => [c.status, c.tier, c.breaker])).toEqual([
      [200, 'live', null],
      [200, 'live', null],
      [200, 'live', null],
      [200, 'cache', null],
      [200, 'cache', null],
      [200, 'cache', null],
      [200, 'cache', 'open'],
      [200, 'cache', 'open'],
    ]);
    // A cached answer is the live answer it was stored from.
    expect(calls[3].body).toEqual(calls[0].body);
    expect(calls[7].body).toEqual(calls[1].body);
    const open = JSON.parse(lines.find((l) => l.startsWith('{"circuit_open"'))!);
    expect(open.circuit_open).toBe('linkedin');
    expect(open.retry_after_s).toBeGreaterThan(500);

    // The upstream heard exactly the calls made while the circuit was closed.
    expect(up.seen).toHaveLength(6);
    expect(up.seen[0]!.url).toBe('/people/0?fields=name%2Ctitle');
    expect((await breakers(t)).linkedin).toMatchObject({ state: 'OPEN', blocked: 3, costSavedUsd: 0.3, served: { live: 3, cache: 5, failed: 1 } });
    const mine = await (await t.api(`/api/tools/calls?agentId=${t.rt.agentId}&limit=100`)).json();
    expect(mine.calls).toHaveLength(9);
    expect(mine.calls.every((c: any) => c.agentId === t.rt.agentId)).toBe(true);
    // The performance panel's cache hit rate: calls the cache answered over calls a tier answered.
    const answered = mine.calls.filter((c: any) => c.tier !== null);
    const perf = await (await t.api(`/api/agents/${t.rt.agentId}/performance`)).json();
    // window: null while the agent's tool calls are fewer than the performance window (all of them count).
    expect(perf.tools).toEqual({ calls: answered.length, cacheHitRate: Math.round((answered.filter((c: any) => c.tier === 'cache').length / answered.length) * 10_000) / 10_000, window: null });
    expect(perf.tools.cacheHitRate).toBeGreaterThan(0);
    const opened = t.rt.state.lastEvents(1000).find((e) => e.type === 'breaker.transition');
    expect(opened).toMatchObject({ agentId: t.rt.agentId, message: 'Circuit linkedin OPEN after 3 consecutive failures (429); cooldown 600s' });
  });
});
