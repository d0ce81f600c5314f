import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

// A probe found that an agent-chosen `model` name, or a progress report's `unit`, was stored in
// plaintext in the request rows, events, the log, cost by model and the agent's status. Every
// string an agent supplies that is stored or shown goes through the redactor, or is refused
// when it cannot be valid (a model name holding PII).

let t: TestRuntime;
let agent: { token: string; agentId: string };

beforeAll(async () => {
  t = await startTestRuntime({});
  agent = (await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'strings', budgetUsd: 5 }) })).json()) as { token: string; agentId: string };
});
afterAll(() => t?.stop());

/** Everything the value could have reached: the database file (and its WAL), the log, the events, the status and the costs. */
async function everywhere(): Promise<string> {
  const db = t.rt.config.db;
  const files = [db, `${db}-wal`].map((f) => {
    try {
      return readFileSync(f).toString('latin1');
    } catch {
      return '';
    }
  });
  const api = await Promise.all([`/api/events?limit=1000`, `/api/agents/${agent.agentId}/status`, `/api/agents/${agent.agentId}/costs`, '/api/agents'].map(async (p) => (await t.api(p)).text()));
  return [...files, t.log(), ...api].join('\n');
}

describe('a model name holding PII is refused, never sent, stored or shown', () => {
  it.each([
    ['an e-mail address', 'gpt-4o-jane.doe@example.com', 'EMAIL'],
    ['a disguised one', 'jane.doe＠example.com', 'EMAIL'],
    ['a phone number', 'gpt +1 (212) 555-0147', 'PHONE'],
    ['an SSN', 'gpt-4o for 123-45-6789', 'SSN'],
    ['an SSN joined to the name', 'gpt-4o_123-45-6789', 'SSN'],
    ['a phone joined to the name', 'gpt4o+14155552671', 'PHONE'],
    ['a card number', 'gpt-4o 4111 1111 1111 1111', 'CREDIT_CARD'],
  ])('%s → 400 naming the type, with no request row', async (_what, model, type) => {
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: agent.token, maxRetries: 0 });
    const err = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(new RegExp(`model: not a model name: it holds what looks like ${type}`));
    expect((err as Error).message).not.toContain(model);
    const all = await everywhere();
    expect(all).not.toContain(model);
    // Nor what a disguised name stands for.
    expect(all).not.toContain(model.normalize('NFKC'));
    for (const piece of model.split(/\s+/).filter((p) => /\d{3}|@|＠/.test(p))) expect(all).not.toContain(piece);
  });

  it('one longer than any model name (257 characters and more) → 400 saying so, read no further, with no request row', async () => {
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: agent.token, maxRetries: 0 });
    for (const model of [`gpt-4o-${'x'.repeat(250)}`, `gpt-4o-${'abcdefabcdefabcd 1234567 '.repeat(40_000)}`]) {
      const err = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as Error).message).toContain(`model: not a model name: at most 256 characters (got ${model.trim().length})`);
      expect(await everywhere()).not.toContain(model.slice(0, 200));
    }
    // 256 characters are still a name, the provider's to refuse.
    const err = await client.chat.completions.create({ model: `gpt-4o-${'x'.repeat(249)}`, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 404, code: 'model_not_found' });
  });

  it("an ordinary unknown model name still passes, and is the provider's to refuse", async () => {
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: agent.token, maxRetries: 0 });
    // Not our 400: the name reached the (simulated) provider, which has no such model, as OpenAI would say.
    const err = await client.chat.completions.create({ model: 'gpt-4o-2099-01-01', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 404, code: 'model_not_found' });
    expect((err as Error).message).toContain('The model `gpt-4o-2099-01-01` does not exist');
  });
});

describe("a progress report's unit is scanned like the agent's own events", () => {
  it('an address in the unit is redacted in the status, the event, the log, the projection and the file', async () => {
    const r = await t.api(`/api/agents/${agent.agentId}/progress`, { method: 'POST', token: agent.token, body: JSON.stringify({ done: 3, total: 10, unit: 'ann@example.org' }) });
    expect(r.status).toBe(200);
    const status = (await (await t.api(`/api/agents/${agent.agentId}/status`)).json()) as { progress: { unit: string } };
    expect(status.progress.unit).toBe('[EMAIL_REDACTED]');
    expect(await everywhere()).not.toContain('ann@example.org');
    // A unit with nothing to redact is kept as sent.
    await t.api(`/api/agents/${agent.agentId}/progress`, { method: 'POST', token: agent.token, body: JSON.stringify({ done: 4, total: 10, unit: 'leads' }) });
    expect(((await (await t.api(`/api/agents/${agent.agentId}/status`)).json()) as { progress: { unit: string } }).progress.unit).toBe('leads');
  });
});
