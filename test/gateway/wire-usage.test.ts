import { afterEach, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { anthropicWire } from '../../src/gateway/wire/anthropic/wire.js';
import { openaiWire } from '../../src/gateway/wire/openai/wire.js';
import { responsesWire } from '../../src/gateway/wire/responses/wire.js';
import type { Wire } from '../../src/gateway/wire/types.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { agentToken, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// Usage as each wire reads it, whole and streamed, with one rule: a count is the provider's only
// where it gave a number; a count left out is unknown, and the gateway charges its own figure
// (the prompt estimate, the relayed text counted), never 0. Driven by the official SDKs against
// a scripted upstream on loopback (the one fake allowed: the LLM upstream).

/** What one streamed event's usage reads as. */
const streamed = (wire: Wire, json: unknown, event: string | null = null) => wire.inspect({ raw: '', event, data: JSON.stringify(json) }, json).usage;

describe('usage readers: each count only where the provider gave one', () => {
  const full = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17, prompt_tokens_details: { cached_tokens: 4 } };

  it('OpenAI chat and completions: a whole answer and a usage chunk read alike', () => {
    const all = { promptTokens: 12, completionTokens: 5, cacheReadTokens: 4 };
    expect(openaiWire.usage({ usage: full }, 'chat')).toEqual(all);
    expect(openaiWire.usage({ usage: full }, 'completions')).toEqual(all);
    expect(streamed(openaiWire, { choices: [], usage: full })).toEqual(all);
  });

  it('OpenAI: a completion count left out, null, negative or not a number is unknown (not 0), whole and streamed', () => {
    for (const completion_tokens of [undefined, null, -1, '5', Number.NaN]) {
      const usage = { prompt_tokens: 12, completion_tokens, total_tokens: 12 };
      expect(openaiWire.usage({ usage }, 'chat'), String(completion_tokens)).toEqual({ promptTokens: 12 });
      expect(streamed(openaiWire, { choices: [], usage }), String(completion_tokens)).toEqual({ promptTokens: 12 });
    }
    // And the other way: a completion count without a prompt count.
    expect(openaiWire.usage({ usage: { completion_tokens: 5 } }, 'chat')).toEqual({ completionTokens: 5 });
    expect(openaiWire.usage({ choices: [] }, 'chat')).toEqual({});
    expect(openaiWire.usage(null, 'chat')).toEqual({});
    // A chunk without usage says nothing about it.
    expect(streamed(openaiWire, { choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] })).toBeUndefined();
  });

  it('OpenAI embeddings: no completion count because there is no completion, which is 0', () => {
    expect(openaiWire.usage({ object: 'list', usage: { prompt_tokens: 3, total_tokens: 3 } }, 'embeddings')).toEqual({ promptTokens: 3, completionTokens: 0 });
  });

  it("Anthropic: a whole message's usage sums the prompt's cache parts; a missing output count is unknown", () => {
    const usage = { input_tokens: 10, cache_read_input_tokens: 100, cache_creation_input_tokens: 20, output_tokens: 7 };
    expect(anthropicWire.usage({ usage }, 'messages')).toEqual({ promptTokens: 130, completionTokens: 7, cacheReadTokens: 100, cacheWriteTokens: 20 });
    expect(anthropicWire.usage({ usage: { input_tokens: 10 } }, 'messages')).toEqual({ promptTokens: 10 });
    expect(anthropicWire.usage({ usage: { input_tokens: 10, output_tokens: null } }, 'messages')).toEqual({ promptTokens: 10 });
    expect(anthropicWire.usage({ usage: { output_tokens: 7 } }, 'messages')).toEqual({ completionTokens: 7 });
  });

  it("Anthropic streamed: message_start gives the prompt (its output_tokens counts nothing yet), message_delta the answer's count", () => {
    const start = { type: 'message_start', message: { usage: { input_tokens: 10, cache_read_input_tokens: 100, output_tokens: 1 } } };
    expect(streamed(anthropicWire, start, 'message_start')).toEqual({ promptTokens: 110, cacheReadTokens: 100 });
    expect(streamed(anthropicWire, { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 42 } }, 'message_delta')).toEqual({ completionTokens: 42 });
    // A provider repeating the input counts in message_delta is read the same way as anywhere else.
    const repeated = { type: 'message_delta', usage: { input_tokens: 10, cache_read_input_tokens: 100, output_tokens: 42 } };
    expect(streamed(anthropicWire, repeated, 'message_delta')).toEqual({ promptTokens: 110, completionTokens: 42, cacheReadTokens: 100 });
    expect(streamed(anthropicWire, { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: {} }, 'message_delta')).toEqual({});
  });

  it('Responses: a whole response and response.completed read alike; a missing output count is unknown', () => {
    const usage = { input_tokens: 9, input_tokens_details: { cached_tokens: 2 }, output_tokens: 4, total_tokens: 13 };
    expect(responsesWire.usage({ object: 'response', usage }, 'responses')).toEqual({ promptTokens: 9, completionTokens: 4, cacheReadTokens: 2 });
    for (const type of ['response.completed', 'response.incomplete', 'response.failed']) {
      expect(streamed(responsesWire, { type, sequence_number: 5, response: { output: [], usage } }, type), type).toEqual({ promptTokens: 9, completionTokens: 4, cacheReadTokens: 2 });
    }
    const partial = { input_tokens: 9, total_tokens: 9 };
    expect(responsesWire.usage({ usage: partial }, 'responses')).toEqual({ promptTokens: 9 });
    expect(streamed(responsesWire, { type: 'response.completed', sequence_number: 5, response: { output: [], usage: partial } }, 'response.completed')).toEqual({ promptTokens: 9 });
  });
});

// ── Through the gateway: what a missing count is charged ─────────────────────────────────────

/** What the upstream answers, on every wire. */
const TEXT = 'The lead fits the Cost line: budgets, alerts and attribution for their agents.';
/**
 * TEXT in gpt-4o's tokens (o200k): The| lead| fits| the| Cost| line|:| budgets|,| alerts| and|
 * attribution| for| their| agents|. — 16, the count a provider reports for it.
 */
const TEXT_TOKENS = 16;

const upstream = useFakeLlm();
/** The upstream answers TEXT and bills `usage`, exactly as given; Anthropic streams open with `startUsage`. */
const bills = (usage: Record<string, unknown>, startUsage: Record<string, unknown> = {}) => upstream.answer({ text: TEXT, usage, startUsage });

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function start() {
  t = await startTestRuntime({ config: { gateway: upstream.gateway({ anthropic: true }) } });
  const a = await agentToken(t, { name: 'usage' });
  return {
    openai: new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 }),
    anthropic: new Anthropic({ baseURL: t.rt.url, apiKey: a.token, maxRetries: 0 }),
  };
}

const lastRow = () => sqliteOf(t!.rt.state).prepare('SELECT prompt_tokens, completion_tokens, usage_source, cost_micros FROM llm_requests ORDER BY id DESC LIMIT 1').get() as Record<string, unknown>;

// A count the provider left out is unknown, and the provider billed it anyway: the call is
// charged as if it had produced all the output its limit allows (the worst case reserved for
// it), at the known prompt count. Prices hand-worked from the catalog: gpt-4o $2.50/M in and
// $10/M out; claude-3-5-haiku $0.80/M in and $4/M out; every request below allows 100 tokens out.
describe('a count the provider left out is charged as the worst case reserved for it, never 0 nor what we counted', () => {
  it('chat, whole and streamed: 12 prompt tokens as told and all 100 allowed output tokens, $0.00103', async () => {
    const { openai } = await start();
    const ask = { model: 'gpt-4o', max_tokens: 100, messages: [{ role: 'user' as const, content: 'Qualify the lead.' }] };
    bills({ prompt_tokens: 12, completion_tokens: TEXT_TOKENS, total_tokens: 12 + TEXT_TOKENS });
    await openai.chat.completions.create(ask);
    expect(lastRow()).toMatchObject({ prompt_tokens: 12, completion_tokens: TEXT_TOKENS, usage_source: 'provider' });

    // 12 × 2.5 + 100 × 10 micro-dollars.
    const worst = { prompt_tokens: 12, completion_tokens: 100, usage_source: 'estimate', cost_micros: 1030 };
    bills({ prompt_tokens: 12, total_tokens: 12 });
    const whole = await openai.chat.completions.create(ask);
    expect(whole.choices[0]!.message.content).toBe(TEXT);
    expect(lastRow()).toEqual(worst);

    const stream = await openai.chat.completions.create({ ...ask, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(TEXT);
    expect(lastRow()).toEqual(worst);
  });

  it('Anthropic, whole and streamed (message_delta without output_tokens): all 100 allowed, not the 1 message_start opens with', async () => {
    const { anthropic } = await start();
    const ask = { model: 'claude-3-5-haiku-latest', max_tokens: 100, messages: [{ role: 'user' as const, content: 'Qualify the lead.' }] };
    // 10 × 0.8 + 100 × 4 micro-dollars.
    const worst = { prompt_tokens: 10, completion_tokens: 100, usage_source: 'estimate', cost_micros: 408 };
    bills({ input_tokens: 10 });
    const whole = await anthropic.messages.create(ask);
    expect(whole.content[0]).toMatchObject({ type: 'text', text: TEXT });
    expect(lastRow()).toEqual(worst);

    bills({}, { input_tokens: 10, output_tokens: 1 });
    const stream = anthropic.messages.stream(ask);
    expect(await stream.finalText()).toBe(TEXT);
    expect(lastRow()).toEqual(worst);

    bills({ output_tokens: 30 }, { input_tokens: 10, output_tokens: 1 });
    await anthropic.messages.stream(ask).finalText();
    expect(lastRow()).toMatchObject({ prompt_tokens: 10, completion_tokens: 30, usage_source: 'provider' });
  });

  it('Anthropic streamed: a message_delta repeating the input without its cache parts does not lower the prompt message_start gave', async () => {
    const { anthropic } = await start();
    const ask = { model: 'claude-3-5-haiku-latest', max_tokens: 100, messages: [{ role: 'user' as const, content: 'Qualify the lead.' }] };
    bills({ input_tokens: 10, output_tokens: 30 }, { input_tokens: 10, cache_read_input_tokens: 100, output_tokens: 1 });
    await anthropic.messages.stream(ask).finalText();
    expect(lastRow()).toMatchObject({ prompt_tokens: 110, completion_tokens: 30, usage_source: 'provider' });
  });

  it('Responses: 9 input tokens and all 100 allowed out; embeddings: no completion, so provider usage with 0 output', async () => {
    const { openai } = await start();
    bills({ input_tokens: 9, total_tokens: 9 });
    const r = await openai.responses.create({ model: 'gpt-4o', input: 'Qualify the lead.', max_output_tokens: 100 });
    expect(r.output_text).toBe(TEXT);
    // 9 × 2.5 + 100 × 10 = 1022.5 micro-dollars, rounded up.
    expect(lastRow()).toEqual({ prompt_tokens: 9, completion_tokens: 100, usage_source: 'estimate', cost_micros: 1023 });

    bills({ prompt_tokens: 3, total_tokens: 3 });
    await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'Acme Robotics' });
    expect(lastRow()).toMatchObject({ prompt_tokens: 3, completion_tokens: 0, usage_source: 'provider' });
  });
});
