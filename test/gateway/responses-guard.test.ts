import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import type { Config } from '../../src/config/index.js';
import { type Answer, useFakeLlm } from '../helpers/fake-llm.js';
import { agentToken, startTestRuntime, until, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// Redaction and the budget on /v1/responses. A scripted Responses upstream on loopback (the one
// fake allowed: the LLM upstream) splits text where the simulated provider never would.

const upstream = useFakeLlm();

/** The upstream's Responses answer: this text in these deltas, billing these counts. */
const says = (deltas: string[], input_tokens: number, output_tokens: number, extra: Answer = {}): Answer => ({
  text: deltas.join(''),
  pieces: deltas,
  usage: { input_tokens, input_tokens_details: { cached_tokens: 0 }, output_tokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: input_tokens + output_tokens },
  ...extra,
});

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const gateway = () => upstream.gateway();

async function start(config: Partial<Config> = {}, budgetUsd: number | null = 5) {
  t = await startTestRuntime({ config });
  const a = await agentToken(t, { name: 'resp-guard', budgetUsd });
  return { ...a, client: new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 }) };
}

const lastRow = () => sqliteOf(t!.rt.state).prepare('SELECT * FROM llm_requests ORDER BY id DESC LIMIT 1').get() as Record<string, unknown>;
const costs = async (agentId: string) => (await t!.api(`/api/agents/${agentId}/costs`)).json();

function sse(text: string): Array<{ event: string; data: any }> {
  return text
    .split('\n\n')
    .filter((b) => b.trim() !== '')
    .map((b) => ({ event: /^event: (.*)$/m.exec(b)?.[1] ?? '', data: JSON.parse(/^data: (.*)$/m.exec(b)![1]!) }));
}

const REDACTED = 'Write to [EMAIL_REDACTED] or call soon, [EMAIL_REDACTED]';
const SPLIT = ['Write to ceo@ac', 'me.com or', ' call soon, ', 'cfo@acme.com'];

describe('PII redaction on /v1/responses', () => {
  it('redacts output text in a whole response, output_text included', async () => {
    const a = await start({ gateway: gateway() });
    upstream.answer(says(SPLIT, 7, 14));
    const r = await a.client.responses.create({ model: 'gpt-4o-mini', input: 'who do I write to?' });
    expect(r.output_text).toBe(REDACTED);
    expect((r.output[0] as any).content[0].text).toBe(REDACTED);
    expect(lastRow()).toMatchObject({ endpoint: 'responses', redactions: 2, prompt_tokens: 7, completion_tokens: 14, usage_source: 'provider' });
  });

  it('redacts a stream that carries its text only in the done events (no deltas)', async () => {
    const a = await start({ gateway: gateway() });
    upstream.answer(says(SPLIT, 7, 14, { noDeltas: true }));
    const r = await fetch(`${t!.rt.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', input: 'x', stream: true }),
    });
    const raw = await r.text();
    for (const leak of ['ceo@', 'cfo@', 'acme.com']) expect(raw).not.toContain(leak);
    const evs = sse(raw);
    expect(evs.filter((e) => e.event === 'response.output_text.delta')).toEqual([]);
    expect(evs.find((e) => e.event === 'response.output_text.done')!.data.text).toBe(REDACTED);
    expect(evs.at(-1)!.data.response.output[0].content[0].text).toBe(REDACTED);
    // Counted once, however many done events repeat the text.
    expect(lastRow()).toMatchObject({ endpoint: 'responses', stream: 1, redactions: 2 });
  });

  it('redacts a stream split mid-address: deltas, every done event and response.completed carry the redacted text, numbering stays gapless', async () => {
    const a = await start({ gateway: gateway() });
    upstream.answer(says(SPLIT, 7, 14));
    const r = await fetch(`${t!.rt.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', input: 'x', stream: true }),
    });
    const raw = await r.text();
    for (const leak of ['ceo@', 'cfo@', 'acme.com']) expect(raw).not.toContain(leak);
    const evs = sse(raw);
    expect(evs.map((e) => e.data.sequence_number)).toEqual(evs.map((_, i) => i));
    for (const e of evs) expect(e.event).toBe(e.data.type);
    const deltas = evs.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta as string);
    expect(deltas.join('')).toBe(REDACTED);
    // The held-back tail (an address at the very end) goes out as a delta before the part's done event.
    const doneAt = evs.findIndex((e) => e.event === 'response.output_text.done');
    expect(evs[doneAt - 1]!.event).toBe('response.output_text.delta');
    expect(evs[doneAt]!.data.text).toBe(REDACTED);
    expect(evs.find((e) => e.event === 'response.content_part.done')!.data.part.text).toBe(REDACTED);
    expect(evs.find((e) => e.event === 'response.output_item.done')!.data.item.content[0].text).toBe(REDACTED);
    expect(evs.at(-1)!.data.response.output[0].content[0].text).toBe(REDACTED);
    expect(lastRow()).toMatchObject({ endpoint: 'responses', stream: 1, status: 'ok', redactions: 2, completion_tokens: 14, usage_source: 'provider' });

    // And what the SDK assembles from it.
    upstream.answer(says(SPLIT, 7, 14));
    const s = a.client.responses.stream({ model: 'gpt-4o-mini', input: 'x' });
    let text = '';
    s.on('response.output_text.delta', (e) => (text += e.delta));
    const final = await s.finalResponse();
    expect(text).toBe(REDACTED);
    expect(final.output_text).toBe(REDACTED);
  });

  it('block mode ends the stream with an error event the SDK raises, nothing of the address sent', async () => {
    const a = await start({ gateway: gateway(), safetyMode: 'block' });
    upstream.answer(says(SPLIT, 7, 14));
    const s = a.client.responses.stream({ model: 'gpt-4o-mini', input: 'x' });
    const err = await s.finalResponse().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('pii_blocked');
    expect((err as Error).message).toMatch(/blocked this response: it contained PII \(EMAIL\)/);
    // The error event goes out first; the row is settled right after it.
    expect(await until(() => lastRow().status !== 'pending' && lastRow())).toMatchObject({ endpoint: 'responses', status: 'blocked' });
    const raw = await (
      await fetch(`${t!.rt.url}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', input: 'x', stream: true }),
      })
    ).text();
    for (const leak of ['ceo@', 'acme.com']) expect(raw).not.toContain(leak);
    const evs = sse(raw);
    expect(evs.at(-1)).toMatchObject({ event: 'error', data: { type: 'error', code: 'pii_blocked', sequence_number: evs.length - 1 } });
  });

  it('the simulated provider is redacted the same way, whole and streamed', async () => {
    const a = await start();
    const input = 'Repeat exactly: reach me at jane.doe@example.com';
    const whole = await a.client.responses.create({ model: 'gpt-4o-mini', input });
    expect(whole.output_text).toBe('reach me at [EMAIL_REDACTED]');
    const final = await a.client.responses.stream({ model: 'gpt-4o-mini', input }).finalResponse();
    expect(final.output_text).toBe('reach me at [EMAIL_REDACTED]');
  });
});

describe('the budget on /v1/responses', () => {
  it('reserves max_output_tokens before the call, holds it while the stream runs, settles on the usage', async () => {
    const a = await start({ gateway: gateway() }, 1);
    let release!: () => void;
    upstream.answer(says(['first ', 'second'], 1000, 2000, { hold: new Promise<void>((r) => (release = r)) }));
    const s = await a.client.responses.create({ model: 'gpt-4o-mini', input: 'x', max_output_tokens: 50_000, stream: true });
    const it = s[Symbol.asyncIterator]();
    while ((await it.next()).value?.type !== 'response.output_text.delta');
    // gpt-4o-mini: $0.60 per million output tokens, so 50k reserved is $0.03 and more.
    const during = await costs(a.agentId);
    expect(during.reservedUsd).toBeGreaterThanOrEqual(0.03);
    release();
    while (!(await it.next()).done);
    const after = await costs(a.agentId);
    expect(after.reservedUsd).toBe(0);
    // 1000 in at $0.15/M and 2000 out at $0.60/M.
    expect(after.spentUsd).toBeCloseTo(0.00015 + 0.0012, 9);
    expect(lastRow()).toMatchObject({ endpoint: 'responses', cost_micros: 1350, prompt_tokens: 1000, completion_tokens: 2000 });
  });

  it('a tight budget refuses with 402 in one attempt, nothing sent upstream', async () => {
    let attempts = 0;
    const a = await start({ gateway: gateway() }, 0.001);
    const counting = new OpenAI({ baseURL: `${t!.rt.url}/v1`, apiKey: a.token, fetch: (url, init) => (attempts++, fetch(url, init)) });
    const sent = upstream.requests.length;
    const err = await counting.responses.create({ model: 'gpt-4o-mini', input: 'x', max_output_tokens: 100_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('budget_exceeded');
    expect((err as Error).message).toContain(`/api/agents/${a.agentId}/budget`);
    expect(attempts).toBe(1);
    expect(upstream.requests.length).toBe(sent);
    // A call that fits is served.
    const ok = await a.client.responses.create({ model: 'gpt-4o-mini', input: 'x', max_output_tokens: 100 });
    expect(ok.status).toBe('completed');
  });
});
