import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/index.js';
import { FakeService } from '../helpers/http.js';
import { otlpReceiver, type OtlpReceiver, spanStrings } from '../helpers/otlp.js';
import { agentToken, startTestRuntime, type TestRuntime, until } from '../helpers/runtime.js';
import { raw, withTools } from '../tools/helpers.js';

// With content capture off, nothing an agent chose that holds PII reaches the collector or
// /metrics: every agent-chosen string that becomes a span's name, attribute, event, link or
// trace state goes through one guard. The calls come from agents over real HTTP (the official
// SDKs where they fit), answered and refused (400, 404), streamed and not; the export is read as
// the collector received it, byte for byte, in both OTLP encodings.

const EMAIL = 'jane.roe@example.com';
const SSN = '123-45-6789';
const CARD = '4111 1111 1111 1111';
const PHONE = '+1 415 555 2671';
/** Every form a value may leave in (the card and the phone without their spaces too). */
const NEEDLES = [EMAIL, SSN, CARD, CARD.replaceAll(' ', ''), PHONE, '4155552671', 'jane.roe'];

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
/** Members the agent sends: one clean (kept), the others holding PII (never exported). */
const TRACESTATE = `rojo=00f067aa0ba902b7,mail=${EMAIL},ssn=${SSN},card=${CARD},tel=${PHONE}`;
const BAGGAGE = `user.email=${encodeURIComponent(EMAIL)},ssn=${SSN},card=${encodeURIComponent(CARD)}`;
const TRACE_HEADERS = { traceparent: TRACEPARENT, tracestate: TRACESTATE, baggage: BAGGAGE };

const simulated = {
  ...DEFAULTS.gateway,
  retry: { attempts: 1, baseMs: 1, maxMs: 1 },
  providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 0, chunkDelayMs: 0, failures: [] } },
};

/** Settles to the HTTP status an SDK call ended with (200 when it answered). */
async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    const r = await p;
    // A stream is read to its end: its span is built once the answer is over.
    if (r && typeof r === 'object' && Symbol.asyncIterator in r) for await (const _ of r as AsyncIterable<unknown>);
    return 200;
  } catch (e) {
    const status = (e as { status?: unknown }).status;
    if (typeof status === 'number') return status;
    throw e;
  }
}

describe.each(['http/protobuf', 'http/json'] as const)('with content capture off, no PII an agent sent reaches the OTLP export or /metrics (%s)', (protocol) => {
  let rx: OtlpReceiver;
  let tool: FakeService;
  let t: TestRuntime;
  const statuses: Record<string, number> = {};
  let conversationId = '';

  beforeAll(async () => {
    rx = await otlpReceiver();
    tool = await FakeService.start();
    tool.reply = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' });
    t = await startTestRuntime({
      config: { ...withTools({ crm: { url: tool.url } }), gateway: simulated },
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_BSP_SCHEDULE_DELAY: '20' },
    });
    const a = await agentToken(t, { name: 'pii-prober' });
    const openai = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0, defaultHeaders: TRACE_HEADERS });
    const anthropic = new Anthropic({ baseURL: t.rt.url, apiKey: a.token, maxRetries: 0, defaultHeaders: TRACE_HEADERS });
    const messages = [{ role: 'user' as const, content: 'Say hi.' }];
    const tools = [{ type: 'function' as const, function: { name: 'lookup_contact', description: `find ${SSN}`, parameters: { type: 'object', properties: {} } } }];
    const chat = { model: 'gpt-4o-mini', messages, user: EMAIL, metadata: { [EMAIL]: SSN, phone: PHONE }, tools } as const;
    // Every agent-chosen string the conventions or iron-cage could make an attribute of.
    const calls: Record<string, () => Promise<unknown>> = {
      'chat, answered': () => openai.chat.completions.create({ ...chat }),
      'chat, streamed': () => openai.chat.completions.create({ ...chat, stream: true }),
      'chat, a response_format type holding PII': () => openai.chat.completions.create({ ...chat, response_format: { type: EMAIL } as never }),
      'chat, a tool name holding PII (400)': () => openai.chat.completions.create({ ...chat, tools: [{ type: 'function', function: { name: `lookup_${EMAIL}`, parameters: {} } }] }),
      'chat, a service_tier holding PII': () => openai.chat.completions.create({ ...chat, service_tier: SSN as never }),
      'chat, a model name holding PII (400)': () => openai.chat.completions.create({ ...chat, model: `gpt-4o-${EMAIL}` }),
      'chat, a seed and a stop holding PII': () => openai.chat.completions.create({ ...chat, seed: 4111111111111111, stop: [CARD] }),
      'completions, answered': () => openai.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'hi', user: PHONE, suffix: EMAIL }),
      'embeddings, an encoding_format holding PII': () => openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hi', encoding_format: EMAIL as never, user: SSN }),
      'embeddings, answered': () => openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hi', user: SSN, dimensions: 8 }),
      'responses, a previous_response_id holding an e-mail (404)': () => openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', previous_response_id: EMAIL }),
      'responses, a previous_response_id holding an SSN (404)': () => openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', previous_response_id: `resp_${SSN}` }),
      'responses, a conversation id holding an e-mail (404)': () => openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', conversation: EMAIL }),
      'responses, a conversation object holding a card (404)': () => openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', conversation: { id: `conv_${CARD}` } }),
      'responses, streamed, user, metadata, service tier': () =>
        openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', stream: true, user: EMAIL, metadata: { [SSN]: PHONE }, safety_identifier: CARD, prompt_cache_key: EMAIL }),
      'responses, a text format type holding PII (400)': () => openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', service_tier: EMAIL as never, text: { format: { type: PHONE } as never } }),
      'responses, retrieved by an id holding PII (404)': () => openai.responses.retrieve(EMAIL),
      'conversations, retrieved by an id holding PII (404)': () => openai.conversations.retrieve(`conv_${SSN}`),
      'responses, in a real conversation (its id is shown)': async () => {
        const conv = await openai.conversations.create({ metadata: { owner: EMAIL } });
        conversationId = conv.id;
        return openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', conversation: conv.id, user: EMAIL });
      },
      'messages, answered': () => anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 20, messages, metadata: { user_id: EMAIL }, stop_sequences: [SSN] }),
      'messages, streamed': () => anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 20, messages, metadata: { user_id: PHONE }, stream: true }),
    };
    for (const [name, call] of Object.entries(calls)) statuses[name] = await statusOf(call());
    // The tool proxy: a path and a query holding PII, a service that is none, each with the trace headers.
    const toolHeaders = { ...TRACE_HEADERS, 'x-user': EMAIL };
    statuses['tool, a path and query holding PII'] = (
      await raw(t.rt.url, 'GET', `/tools/crm/users/${EMAIL}?ssn=${SSN}&tel=${encodeURIComponent(PHONE)}`, { token: a.token, headers: toolHeaders })
    ).status;
    statuses['tool, a POST holding PII'] = (
      await raw(t.rt.url, 'POST', `/tools/crm/cards/${CARD.replaceAll(' ', '')}`, { token: a.token, headers: toolHeaders, body: JSON.stringify({ email: EMAIL }) })
    ).status;
    statuses['tool, a service name holding PII (400)'] = (await raw(t.rt.url, 'GET', `/tools/${EMAIL}/x?card=${CARD.replaceAll(' ', '')}`, { token: a.token, headers: toolHeaders })).status;
    // Every call above is a span but three: the two retrievals are no LLM calls, and a path naming no service is only an event.
    const spans = Object.keys(statuses).length - 3;
    await until(() => rx.spans.filter((s) => s.attributes['iron_cage.agent.id'] === a.agentId).length >= spans, 10_000);
    // One more scheduled export, for anything ended last.
    await new Promise((r) => setTimeout(r, 200));
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    await rx?.close();
    await tool?.close();
  });

  it('the calls were answered and refused as meant (200, 400, 404; streamed and not)', () => {
    expect(statuses).toMatchObject({
      'chat, answered': 200,
      'chat, streamed': 200,
      'chat, a model name holding PII (400)': 400,
      'embeddings, answered': 200,
      'responses, a previous_response_id holding an e-mail (404)': 404,
      'responses, a previous_response_id holding an SSN (404)': 404,
      'responses, a conversation id holding an e-mail (404)': 404,
      'responses, a conversation object holding a card (404)': 404,
      'responses, in a real conversation (its id is shown)': 200,
      'messages, answered': 200,
      'messages, streamed': 200,
      'tool, a path and query holding PII': 200,
      'tool, a service name holding PII (400)': 400,
    });
    expect(rx.bodies.length).toBeGreaterThan(0);
  });

  it('no exported byte holds any PII value the agent sent', () => {
    const leaks: string[] = [];
    for (const body of rx.bodies) for (const needle of NEEDLES) if (body.includes(needle)) leaks.push(needle);
    if (leaks.length > 0) {
      // Say where, for whoever reads the failure.
      const where = rx.spans.flatMap((s) => [...spanStrings(s), s.traceState].filter((v) => NEEDLES.some((n) => v.includes(n))).map((v) => `${s.name}: ${v}`));
      expect([...new Set(leaks)], where.join('\n')).toEqual([]);
    }
  });

  it('what holds no PII is still shown: the model, a real conversation id, the clean tracestate member', () => {
    const conv = rx.spans.find((s) => s.attributes['gen_ai.conversation.id'] === conversationId);
    expect(conversationId).toMatch(/^conv_/);
    expect(conv?.attributes['gen_ai.request.model']).toBe('gpt-4o-mini');
    const joined = rx.spans.filter((s) => s.traceId === TRACEPARENT.split('-')[1]);
    expect(joined.length).toBeGreaterThan(10);
    for (const s of joined) expect(s.traceState).toBe('rojo=00f067aa0ba902b7');
    const embeddings = rx.spans.find((s) => s.attributes['gen_ai.embeddings.dimension.count'] === 8);
    expect(embeddings?.name).toBe('embeddings text-embedding-3-small');
  });

  it('/metrics holds none of them either', async () => {
    const text = await (await fetch(`${t.rt.url}/metrics`)).text();
    expect(text).toContain('gen_ai_client_operation_duration_seconds');
    for (const needle of NEEDLES) expect(text, needle).not.toContain(needle);
  });
});
