import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { join } from 'node:path';
import { DEFAULTS } from '../../src/config/index.js';
import { parsePriceOverrides, SPEC_PRICE_OVERRIDES } from '../../src/domain/budget/index.js';
import { ROOT, startTestRuntime, WsProbe, type TestRuntime } from '../helpers/runtime.js';

// An agent whose budget is used up shows it: `budget_exhausted` in its status object, over
// REST and the WebSocket, for an external agent (a token from `iron-cage token create` or
// POST /api/tokens) as for a supervised one that keeps running under `on_exhausted: refuse`.

let t: TestRuntime | undefined;
let probe: WsProbe | undefined;
afterEach(async () => {
  await probe?.close();
  probe = undefined;
  await t?.stop();
  t = undefined;
});

const status = async (rt: TestRuntime, id: string) => (await (await rt.api(`/api/agents/${id}/status`)).json()).status as string;

describe('an exhausted budget is visible in the agent status', () => {
  it('an external agent goes from running to budget_exhausted, and back to running once the limit is raised', async () => {
    // About $0.0005 a call at the spec GPT-4 price: $0.005 pays for roughly ten.
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway, pricing: parsePriceOverrides(SPEC_PRICE_OVERRIDES) } } });
    const a = (await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'notebook', budgetUsd: 0.005 }) })).json()) as { token: string; agentId: string };
    probe = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
    await probe.opened;
    const before = await status(t, a.agentId);
    expect(before).not.toBe('budget_exhausted');
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
    let refused = false;
    for (let i = 0; i < 100 && !refused; i++) {
      refused = await client.chat.completions
        .create({ model: 'gpt-4', max_tokens: 5, messages: [{ role: 'user', content: `call ${i}` }] })
        .then(() => false)
        .catch((e) => e.status === 402);
    }
    expect(refused).toBe(true);
    const exhausted = await probe.waitForEvent((e) => e.type === 'budget.exhausted' && e.agentId === a.agentId);
    expect(exhausted.message).toMatch(/Budget exhausted/);
    expect(await status(t, a.agentId)).toBe('budget_exhausted');
    expect(
      probe
        .agentStates()
        .filter((s) => s.id === a.agentId)
        .at(-1),
    ).toMatchObject({ status: 'budget_exhausted', kind: 'external' });
    const list = await (await t.api('/api/agents')).json();
    expect(list.find((x: any) => x.id === a.agentId).status).toBe('budget_exhausted');

    expect((await t.api(`/api/agents/${a.agentId}/budget`, { method: 'POST', body: JSON.stringify({ limitUsd: 1 }) })).status).toBe(200);
    await probe.waitForEvent((e) => e.type === 'budget.changed' && e.agentId === a.agentId);
    expect(await status(t, a.agentId)).toBe(before);
    expect(
      probe
        .agentStates()
        .filter((s) => s.id === a.agentId)
        .at(-1).status,
    ).toBe(before);
    expect((await client.chat.completions.create({ model: 'gpt-4', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })).choices).toHaveLength(1);
  });

  it('a supervised agent under on_exhausted: refuse shows budget_exhausted while it keeps running, then its exit', async () => {
    t = await startTestRuntime({
      agent: { script: join(ROOT, 'test/fixtures/agents/keeps_calling.py') },
      env: { KEEP_CALLS: '20' },
      config: { budgetMicros: 5_000, gateway: { ...DEFAULTS.gateway, pricing: parsePriceOverrides(SPEC_PRICE_OVERRIDES), budgetPolicy: { ...DEFAULTS.gateway.budgetPolicy, onExhausted: 'refuse' } } },
    });
    probe = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
    await probe.opened;
    const id = t.rt.agentId!;
    await probe.waitForEvent((e) => e.type === 'budget.exhausted' && e.agentId === id);
    const carried = probe.messages.flatMap((m) => (m.type === 'event' ? [m] : m.type === 'events' ? m.items : [])).find((i: any) => i.event.type === 'budget.exhausted');
    expect(carried.agent).toMatchObject({ id, kind: 'supervised', status: 'budget_exhausted' });
    expect(await t.rt.agentDone!).toEqual({ status: 'completed', exitCode: 0 });
    // A finished run shows how it ended, not its budget.
    expect(await status(t, id)).toBe('completed');
  });
});
