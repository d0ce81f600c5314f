import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { DEFAULTS } from '../../src/config/index.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { agentToken, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// Doors of the gateway PII used to pass unscanned: prompts of /v1/completions and embeddings,
// refusals, content-part arrays, error bodies (and the ledger's copy of them), bodies and SSE
// lines that are not JSON, and the pii.detected preview.

const upstream = useFakeLlm();

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const gateway = () => upstream.gateway({ timeoutMs: 2000 });
const agent = (rt: TestRuntime) => agentToken(rt);

const post = (rt: TestRuntime, token: string, path: string, body: unknown) =>
  fetch(`${rt.rt.url}/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

const events = async (rt: TestRuntime, agentId: string) => (await (await rt.api(`/api/events?agentId=${agentId}&limit=1000`)).json()).events as any[];

describe('prompts, with prompt redaction on', () => {
  it('/v1/completions prompt (string or array) and embeddings input are redacted; token arrays are untouched', async () => {
    t = await startTestRuntime({ config: { gateway: gateway(), safety: { ...DEFAULTS.safety, locations: { prompt: 'redact' } } } });
    const a = await agent(t);
    upstream.answer({ text: 'ok', usage: { prompt_tokens: 5, completion_tokens: 1 } });
    expect((await post(t, a.token, '/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'Write to bob@example.org' })).status).toBe(200);
    expect(upstream.requests.at(-1)!.body.prompt).toBe('Write to [EMAIL_REDACTED]');
    await post(t, a.token, '/completions', { model: 'gpt-3.5-turbo-instruct', prompt: ['Write to bob@example.org', 'and call 555-123-4567'] });
    expect(upstream.requests.at(-1)!.body.prompt).toEqual(['Write to [EMAIL_REDACTED]', 'and call [PHONE_REDACTED]']);
    await post(t, a.token, '/embeddings', { model: 'text-embedding-3-small', input: 'bob@example.org' });
    expect(upstream.requests.at(-1)!.body.input).toBe('[EMAIL_REDACTED]');
    await post(t, a.token, '/embeddings', { model: 'text-embedding-3-small', input: ['a bob@example.org', 'plain'] });
    expect(upstream.requests.at(-1)!.body.input).toEqual(['a [EMAIL_REDACTED]', 'plain']);
    const tokens = [[5551234567, 1], [4111111111111111]];
    await post(t, a.token, '/embeddings', { model: 'text-embedding-3-small', input: tokens });
    expect(upstream.requests.at(-1)!.body.input).toEqual(tokens);
    // Earlier turns' tool calls go out redacted too, still JSON.
    const args = JSON.stringify({ to: 'bob@example.org' });
    await post(t, a.token, '/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'send_email', arguments: args } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'sent to bob@example.org' },
      ],
    });
    const sent = upstream.requests.at(-1)!.body.messages;
    expect(JSON.parse(sent[1].tool_calls[0].function.arguments)).toEqual({ to: '[EMAIL_REDACTED]' });
    expect(sent[2].content).toBe('sent to [EMAIL_REDACTED]');
    const rows = (await (await t.api(`/api/audit/pii?agentId=${a.agentId}`)).json()).records as any[];
    expect(rows.every((r) => r.location === 'llm.prompt')).toBe(true);
  });

  it('prompts are not scanned by default, and locations.prompt: off wins over redact_prompts', async () => {
    t = await startTestRuntime({ config: { gateway: gateway(), safety: { ...DEFAULTS.safety, redactPrompts: true, locations: { prompt: 'off' } } } });
    const a = await agent(t);
    upstream.answer({ text: 'ok', usage: { prompt_tokens: 5, completion_tokens: 1 } });
    await post(t, a.token, '/embeddings', { model: 'text-embedding-3-small', input: 'bob@example.org' });
    expect(upstream.requests.at(-1)!.body.input).toBe('bob@example.org');
  });
});

describe('provider answers that used to pass unscanned', () => {
  it('message.refusal and content-part arrays of a whole answer', async () => {
    t = await startTestRuntime({ config: { gateway: gateway() } });
    const a = await agent(t);
    upstream.answer({
      body: {
        id: 'x',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [
          { index: 0, message: { role: 'assistant', content: null, refusal: 'I will not mail bob@example.org' }, finish_reason: 'stop' },
          { index: 1, message: { role: 'assistant', content: [{ type: 'text', text: 'Reach ops@corp.example' }] }, finish_reason: 'stop' },
        ],
        usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
      },
    });
    const r = await (await post(t, a.token, '/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] })).json();
    expect(r.choices[0].message.refusal).toBe('I will not mail [EMAIL_REDACTED]');
    expect(r.choices[1].message.content).toEqual([{ type: 'text', text: 'Reach [EMAIL_REDACTED]' }]);
  });

  it('a streamed refusal', async () => {
    t = await startTestRuntime({ config: { gateway: gateway() } });
    const a = await agent(t);
    upstream.raw((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const piece of ['I will not mail bob@exa', 'mple.org, sorry'])
        res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { refusal: piece }, finish_reason: null }] })}\n\n`);
      res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    let refusal = '';
    for await (const ch of await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] })) refusal += ch.choices[0]?.delta?.refusal ?? '';
    expect(refusal).toBe('I will not mail [EMAIL_REDACTED], sorry');
  });

  it('tool-call arguments cut off inside a string (max tokens): the held-back tail comes with finish_reason, redacted', async () => {
    t = await startTestRuntime({ config: { gateway: gateway() } });
    const a = await agent(t);
    upstream.raw((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: unknown, finish: string | null) =>
        res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
      chunk({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'send_email', arguments: '' } }] }, null);
      for (const piece of ['{"to":"mail bo', 'b@example', '.org']) chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null);
      chunk({}, 'length');
      res.end('data: [DONE]\n\n');
    });
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    let args = '';
    for await (const ch of await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] }))
      args += ch.choices[0]?.delta?.tool_calls?.[0]?.function?.arguments ?? '';
    expect(args).toBe('{"to":"mail [EMAIL_REDACTED]');
  });

  it('Anthropic: a tool_use input cut off inside a string gets its tail as input_json_delta before content_block_stop', async () => {
    t = await startTestRuntime({ config: { gateway: upstream.gateway({ timeoutMs: 2000, anthropic: true }) } });
    const a = await agent(t);
    upstream.raw((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const ev = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
      ev('message_start', { message: { id: 'm', type: 'message', role: 'assistant', model: 'claude-3-5-haiku-latest', content: [], stop_reason: null, usage: { input_tokens: 5, output_tokens: 1 } } });
      ev('content_block_start', { index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: 'send_email', input: {} } });
      for (const p of ['{"to":"mail bo', 'b@example', '.org']) ev('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: p } });
      ev('content_block_stop', { index: 0 });
      ev('message_delta', { delta: { stop_reason: 'max_tokens' }, usage: { output_tokens: 9 } });
      ev('message_stop', {});
      res.end();
    });
    const r = await fetch(`${t.rt.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': a.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 9, stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    const events = (await r.text())
      .split('\n\n')
      .filter((e) => e.includes('data: '))
      .map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)));
    const partial = events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.partial_json as string);
    expect(partial.join('')).toBe('{"to":"mail [EMAIL_REDACTED]');
    expect(events.findIndex((e) => e.type === 'content_block_stop')).toBeGreaterThan(events.findLastIndex((e) => e.type === 'content_block_delta'));
  });

  it('an error body is redacted for the agent and in llm_requests.error', async () => {
    t = await startTestRuntime({ config: { gateway: gateway() } });
    const a = await agent(t);
    upstream.answer({ status: 400, body: { error: { message: "Invalid recipient 'bob@example.org' in messages[0]", type: 'invalid_request_error', param: null, code: null } } });
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
    const err = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.message).toContain("Invalid recipient '[EMAIL_REDACTED]'");
    const rows = sqliteOf(t.rt.state).prepare('SELECT error FROM llm_requests').all() as Array<{ error: string }>;
    expect(rows.map((r) => r.error)).toEqual(["Invalid recipient '[EMAIL_REDACTED]' in messages[0]"]);
  });

  it('an error body under block is redacted, recorded as redacted and counted in its row, and stops nobody; under warn the ledger still keeps it redacted', async () => {
    const body = { error: { message: "Invalid recipient 'bob@example.org'", type: 'invalid_request_error', param: null, code: null } };
    for (const safetyMode of ['block', 'warn'] as const) {
      t = await startTestRuntime({ config: { gateway: gateway(), safetyMode } });
      const a = await agent(t);
      upstream.answer({ status: 400, body });
      const r = await post(t, a.token, '/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
      expect(r.status).toBe(400);
      // The agent gets block's redaction, warn's text unchanged.
      expect((await r.json()).error.message).toBe(safetyMode === 'block' ? "Invalid recipient '[EMAIL_REDACTED]'" : "Invalid recipient 'bob@example.org'");
      const rows = sqliteOf(t.rt.state).prepare('SELECT error, redactions FROM llm_requests').all();
      expect(rows).toEqual([{ error: "Invalid recipient '[EMAIL_REDACTED]'", redactions: 1 }]);
      const audit = sqliteOf(t.rt.state).prepare('SELECT action FROM pii_audit').all();
      expect(audit).toEqual([{ action: safetyMode === 'block' ? 'redacted' : 'warned' }]);
      const detected = (await events(t, a.agentId)).filter((e) => e.type === 'pii.detected');
      expect(detected.map((e) => e.data.action)).toEqual([safetyMode === 'block' ? 'redacted' : 'warned']);
      await t.stop();
      t = undefined;
    }
  });

  it('a body that is not JSON, and SSE lines that are not JSON', async () => {
    t = await startTestRuntime({ config: { gateway: gateway() } });
    const a = await agent(t);
    upstream.raw((res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('plain answer: mail bob@example.org'));
    const whole = await post(t, a.token, '/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(await whole.text()).toBe('plain answer: mail [EMAIL_REDACTED]');
    upstream.raw((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: not json, mail bob@example.org\n\n');
      res.end('data: [DONE]\n\n');
    });
    const streamed = await post(t, a.token, '/chat/completions', { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }] });
    const text = await streamed.text();
    expect(text).toContain('data: not json, mail [EMAIL_REDACTED]');
    expect(text).not.toContain('bob@example.org');
  });
});

describe('the pii.detected preview', () => {
  it('shows only the redacted neighbourhood of each finding, not the rest of the answer', async () => {
    t = await startTestRuntime({ config: { gateway: gateway() } });
    const a = await agent(t);
    const far = 'The quarterly figures are confidential and must stay out of any notification.';
    upstream.answer({ text: `${far} ${'x '.repeat(40)}Mail bob@example.org today. ${'y '.repeat(40)}${far}`, usage: { prompt_tokens: 5, completion_tokens: 80 } });
    await post(t, a.token, '/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    const ev = (await events(t, a.agentId)).find((e) => e.type === 'pii.detected');
    expect(ev.data.preview).toContain('Mail [EMAIL_REDACTED] today.');
    expect(ev.data.preview).not.toContain('quarterly');
    expect(ev.data.preview).not.toContain('confidential');
    expect(ev.data.preview.length).toBeLessThanOrEqual('[EMAIL_REDACTED]'.length + 2 * 40 + 2);
  });
});
