import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { DEFAULTS } from '../../src/config/index.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

// PII in LLM output on the Anthropic wire, whole and streamed. The simulated provider echoes
// `Repeat exactly: <text>` and streams it word by word, so a card number written with spaces
// arrives split over several text deltas.

let t: TestRuntime;
let a: { token: string; agentId: string };
beforeAll(async () => {
  t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
  a = await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'anthropic-pii', budgetUsd: 5 }) })).json();
});
afterAll(async () => t?.stop());

const audit = async () => (await (await t.api(`/api/audit/pii?agentId=${a.agentId}`)).json()).records as any[];
const lastRow = () => t.rt.state.database.prepare('SELECT stream, redactions FROM llm_requests ORDER BY rowid DESC LIMIT 1').get() as { stream: number; redactions: number };

describe('PII in LLM output on the Anthropic wire', () => {
  it('is redacted in a whole message, audited, and counted on its request', async () => {
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: a.token, maxRetries: 0 });
    const m = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 200, messages: [{ role: 'user', content: 'Repeat exactly: Mail ceo@acme.com or call 555-123-4567' }] });
    expect(m.content).toEqual([{ type: 'text', text: 'Mail [EMAIL_REDACTED] or call [PHONE_REDACTED]' }]);
    const records = await audit();
    expect(records.map((r) => [r.type, r.location, r.action]).sort()).toEqual([
      ['EMAIL', 'llm.output', 'redacted'],
      ['PHONE', 'llm.output', 'redacted'],
    ]);
    expect(JSON.stringify(records)).not.toContain('ceo@acme.com');
    expect(lastRow()).toEqual({ stream: 0, redactions: 2 });
  });

  it('is redacted in a stream, also when a value is split across text deltas, and no raw byte carries it', async () => {
    const prompt = 'Repeat exactly: Card 4111 1111 1111 1111 and mail jane.doe@corp.example now';
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: a.token, maxRetries: 0 });
    const stream = client.messages.stream({ model: 'claude-3-5-haiku-latest', max_tokens: 200, messages: [{ role: 'user', content: prompt }] });
    const deltas: string[] = [];
    stream.on('text', (d) => deltas.push(d));
    const final = await stream.finalMessage();
    expect(deltas.join('')).toBe('Card [CREDIT_CARD_REDACTED] and mail [EMAIL_REDACTED] now');
    expect(deltas.length).toBeGreaterThan(3);
    expect(final.content).toEqual([{ type: 'text', text: 'Card [CREDIT_CARD_REDACTED] and mail [EMAIL_REDACTED] now' }]);
    expect(lastRow()).toEqual({ stream: 1, redactions: 2 });

    // The wire itself, event by event: the values appear in no field of any event.
    const raw = await fetch(`${t.rt.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': a.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 200, stream: true, messages: [{ role: 'user', content: prompt }] }),
    });
    expect(raw.status).toBe(200);
    const sse = await raw.text();
    expect(sse).toContain('event: message_stop');
    expect(sse).toContain('[CREDIT_CARD_REDACTED]');
    for (const leak of ['4111', 'jane.doe', 'corp.example']) expect(sse).not.toContain(leak);
  });
});
