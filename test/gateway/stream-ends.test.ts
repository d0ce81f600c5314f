import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import Anthropic from '@anthropic-ai/sdk';
import { pump, type Pumped } from '../../src/gateway/relay.js';
import { fakeGatewaySuite, sse } from '../helpers/fake-llm.js';
import { serve } from '../helpers/http.js';
import { sqliteOf } from '../helpers/db.js';
import { until } from '../helpers/runtime.js';

// How a stream ends: the final event only after the row is on disk, held-back text delivered
// when there is no final event, a relay failure or a body that just closes still ends the call.

const _EMAIL = 'bob@example.org';
const gw = fakeGatewaySuite('ends');
const { llm, post } = gw;
const data = (d: unknown) => `data: ${typeof d === 'string' ? d : JSON.stringify(d)}\n\n`;
const chunk = (delta: unknown, finish: string | null = null) => ({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] });
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true };
/** Choice 0's streamed text. */
const contentOf = (text: string) =>
  text
    .split('\n\n')
    .filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)))
    .map((j) => j.choices?.[0]?.delta?.content ?? '')
    .join('');
const lastRow = () => sqliteOf(gw.t.rt.state).prepare('SELECT status, error FROM llm_requests ORDER BY rowid DESC LIMIT 1').get() as { status: string; error: string | null };

/** The data of each SSE event, parsed. */
const parsed = (text: string) =>
  text
    .split('\n\n')
    .filter((e) => e.includes('data: {'))
    .map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)));
const PIECES = ['mail bob@', 'example', '.org now'];
const REDACTED = 'mail [EMAIL_REDACTED] now';

describe('a stream’s end', () => {
  it('the head reaches the agent at once when the upstream is slow to its first event', async () => {
    let firstEvent!: () => void;
    const upstreamReady = new Promise<void>((resolve) => {
      llm.raw((res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.flushHeaders();
        firstEvent = () => {
          res.write(data(chunk({ content: 'hello' })));
          res.write(data(chunk({}, 'stop')));
          res.end(data('[DONE]'));
        };
        resolve();
      });
    });
    const answer = post('/chat/completions', chat);
    await upstreamReady;
    // The agent holds the response (status and head) while the upstream has sent no event yet.
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([answer, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 10_000)))]);
    clearTimeout(timer);
    firstEvent();
    expect(r, 'no head before the first event').not.toBeNull();
    expect(r!.status).toBe(200);
    expect(contentOf(await r!.text())).toBe('hello');
  });

  it('[DONE] reaches the agent only once the row is on disk, even when it comes before the upstream ends', async () => {
    let endUpstream!: () => void;
    llm.raw((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(data(chunk({ content: 'hello' })));
      res.write(data(chunk({}, 'stop')));
      res.write(data('[DONE]'));
      // The upstream keeps its connection open a while after its final event.
      endUpstream = () => res.end();
    });
    const r = await post('/chat/completions', chat);
    const reader = r.body!.getReader();
    let text = '';
    let sawHello = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
      if (!sawHello && text.includes('hello')) {
        sawHello = true;
        expect(text).not.toContain('[DONE]');
        endUpstream();
      }
      if (text.includes('[DONE]')) expect(lastRow().status).toBe('ok');
    }
    expect(text).toContain('[DONE]');
    expect(contentOf(text)).toBe('hello');
  });

  it('text held back is delivered, redacted, when the stream ends with no [DONE]', async () => {
    llm.raw((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const piece of ['write to bob@', 'example', '.org']) res.write(data(chunk({ content: piece })));
      res.end();
    });
    const text = await (await post('/chat/completions', chat)).text();
    expect(text).not.toContain('example');
    expect(contentOf(text)).toBe('write to [EMAIL_REDACTED]');
  });

  it('text held back is delivered, redacted, when the stream closes after a mid-stream error event', async () => {
    llm.raw((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const piece of ['mail ', 'bob@exam', 'ple.org']) res.write(data(chunk({ content: piece })));
      res.end(data({ error: { message: 'overloaded', type: 'server_error' } }));
    });
    const text = await (await post('/chat/completions', chat)).text();
    expect(text).toContain('overloaded');
    expect(contentOf(text)).toBe('mail [EMAIL_REDACTED]');
  });

  it('a Responses stream with no final event: the held-back text goes out as the next numbered delta', async () => {
    llm.raw((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      ['mail bob@', 'example', '.org'].forEach((delta, i) => {
        res.write(`event: response.output_text.delta\n${data({ type: 'response.output_text.delta', item_id: 'm', output_index: 0, content_index: 0, delta, sequence_number: i })}`);
      });
      res.end();
    });
    const text = await (await post('/responses', { model: 'gpt-4o-mini', input: 'hi', stream: true })).text();
    const evs = parsed(text);
    expect(evs.map((e) => e.delta).join('')).toBe('mail [EMAIL_REDACTED]');
    expect(evs.map((e) => e.sequence_number)).toEqual(evs.map((_, i) => i));
  });

  it('a relay failure on a malformed event ends the call as an error, not an uncaught exception', async () => {
    let sendBad = null as (() => void) | null;
    llm.raw((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: response.output_text.delta\n${data({ type: 'response.output_text.delta', output_index: 0, content_index: 0, delta: 'hello there. ', sequence_number: 1 })}`);
      sendBad = () =>
        res.end(
          `event: response.content_part.added\n${data({ type: 'response.content_part.added', output_index: 0, content_index: -1, part: { type: 'output_text', text: '' }, sequence_number: 2 })}`,
        );
    });
    const reader = (await post('/responses', { model: 'gpt-4o-mini', input: 'hi', stream: true })).body!.getReader();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
      if (text.includes('hello there') && sendBad) {
        sendBad();
        sendBad = null;
      }
    }
    expect(text).toContain('hello there');
    const row = lastRow();
    expect(row.status).toBe('error');
    expect(row.error).toMatch(/^relay failed: /);
  });
});

describe('an e-mail split over three pieces of a stream other than the answer text', () => {
  it('Anthropic thinking: redacted, as thinking, the same as in a whole answer', async () => {
    const thinking = (index: number) =>
      [
        ['content_block_start', { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }],
        ...PIECES.map((p) => ['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: p } }]),
        ['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: 'sig' } }],
        ['content_block_stop', { type: 'content_block_stop', index }],
      ] as Array<[string, unknown]>;
    llm.raw(
      sse([
        [
          'message_start',
          {
            type: 'message_start',
            message: { id: 'm', type: 'message', role: 'assistant', model: 'claude-3-5-haiku-latest', content: [], stop_reason: null, usage: { input_tokens: 3, output_tokens: 1 } },
          },
        ],
        ...thinking(0),
        ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 5 } }],
        ['message_stop', { type: 'message_stop' }],
      ]),
    );
    const client = new Anthropic({ baseURL: gw.t.rt.url, apiKey: gw.token, maxRetries: 0 });
    const msg = { model: 'claude-3-5-haiku-latest', max_tokens: 10, messages: [{ role: 'user' as const, content: 'hi' }] };
    const streamed = await client.messages.stream(msg).finalMessage();
    llm.raw((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'm',
          type: 'message',
          role: 'assistant',
          model: msg.model,
          content: [{ type: 'thinking', thinking: PIECES.join(''), signature: 'sig' }],
          stop_reason: 'end_turn',
          usage: { input_tokens: 3, output_tokens: 5 },
        }),
      );
    });
    const whole = await client.messages.create(msg);
    expect(streamed.content).toEqual([{ type: 'thinking', thinking: REDACTED, signature: 'sig' }]);
    expect(streamed.content).toEqual(whole.content);
  });

  it('Responses reasoning summary and custom tool input: redacted deltas of their own kind, the done events agree, numbers stay gapless', async () => {
    const deltas = (type: string, extra: object) => PIECES.map((delta) => [type, { type, item_id: 'i', output_index: 0, ...extra, delta }] as [string, object]);
    const events: Array<[string, object]> = [
      ...deltas('response.reasoning_summary_text.delta', { summary_index: 0 }),
      ['response.reasoning_summary_text.done', { type: 'response.reasoning_summary_text.done', item_id: 'i', output_index: 0, summary_index: 0, text: PIECES.join('') }],
      [
        'response.reasoning_summary_part.done',
        { type: 'response.reasoning_summary_part.done', item_id: 'i', output_index: 0, summary_index: 0, part: { type: 'summary_text', text: PIECES.join('') } },
      ],
      ...deltas('response.custom_tool_call_input.delta', { output_index: 1 }).map(([n, d]) => [n, { ...d, output_index: 1, item_id: 'c' }] as [string, object]),
      ['response.custom_tool_call_input.done', { type: 'response.custom_tool_call_input.done', item_id: 'c', output_index: 1, input: PIECES.join('') }],
      ['response.completed', { type: 'response.completed', response: { id: 'r', object: 'response', status: 'completed', output: [], usage: { input_tokens: 2, output_tokens: 6 } } }],
    ];
    llm.raw(sse(events.map(([n, d], i) => [n, { ...d, sequence_number: i }])));
    const evs = parsed(await (await post('/responses', { model: 'gpt-4o-mini', input: 'hi', stream: true })).text());
    expect(evs.map((e) => e.sequence_number)).toEqual(evs.map((_, i) => i));
    const joined = (type: string) =>
      evs
        .filter((e) => e.type === type)
        .map((e) => e.delta)
        .join('');
    expect(joined('response.reasoning_summary_text.delta')).toBe(REDACTED);
    expect(joined('response.custom_tool_call_input.delta')).toBe(REDACTED);
    expect(evs.find((e) => e.type === 'response.reasoning_summary_text.done').text).toBe(REDACTED);
    expect(evs.find((e) => e.type === 'response.reasoning_summary_part.done').part.text).toBe(REDACTED);
    expect(evs.find((e) => e.type === 'response.custom_tool_call_input.done').input).toBe(REDACTED);
  });

  it('OpenAI chat audio transcript and custom tool input: redacted, in deltas of their own kind', async () => {
    llm.raw(
      sse([
        ...PIECES.map((p) => [null, chunk({ audio: { id: 'a', transcript: p } })] as [null, unknown]),
        ...PIECES.map((p) => [null, chunk({ tool_calls: [{ index: 0, type: 'custom', custom: { input: p } }] })] as [null, unknown]),
        [null, chunk({}, 'tool_calls')],
        [null, '[DONE]'],
      ]),
    );
    const evs = parsed(await (await post('/chat/completions', chat)).text());
    const deltas = evs.map((e) => e.choices?.[0]?.delta ?? {});
    expect(deltas.map((d) => d.audio?.transcript ?? '').join('')).toBe(REDACTED);
    expect(deltas.map((d) => d.tool_calls?.[0]?.custom?.input ?? '').join('')).toBe(REDACTED);
  });
});

describe('a stream’s row', () => {
  const USAGE = { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 };
  const rowsNow = () =>
    sqliteOf(gw.t.rt.state).prepare('SELECT id, status, prompt_tokens AS p, completion_tokens AS c, usage_source AS source FROM llm_requests ORDER BY id').all() as Array<{
      id: number;
      status: string;
      p: number;
      c: number;
      source: string;
    }>;

  it('one that arrives whole in one read (its pending row not yet written when it ends) is one finished row, on disk before the agent has [DONE]', async () => {
    const before = rowsNow().length;
    // Head, text, usage and [DONE] in one write: settled before the writer's next commit.
    llm.raw((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(data(chunk({ content: 'hello' })) + data(chunk({}, 'stop')) + data({ ...chunk({}), choices: [], usage: USAGE }) + data('[DONE]'));
    });
    const r = await post('/chat/completions', { ...chat, stream_options: { include_usage: true } });
    const reader = r.body!.getReader();
    let text = '';
    let atDone: ReturnType<typeof rowsNow> | null = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
      if (atDone === null && text.includes('[DONE]')) atDone = rowsNow().slice(before);
    }
    expect(contentOf(text)).toBe('hello');
    expect(atDone).toEqual([{ id: expect.any(Number), status: 'ok', p: 7, c: 3, source: 'provider' }]);
    expect(rowsNow().slice(before)).toEqual(atDone);
  });

  it('one still running when its pending row commits is on record as pending, then that same row is closed', async () => {
    const before = rowsNow().length;
    let finish!: () => void;
    llm.raw((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // A line's end: the redactor holds nothing back.
      res.write(data(chunk({ content: 'hello\n' })));
      finish = () => res.end(data(chunk({}, 'stop')) + data({ ...chunk({}), choices: [], usage: USAGE }) + data('[DONE]'));
    });
    const r = await post('/chat/completions', { ...chat, stream_options: { include_usage: true } });
    const reader = r.body!.getReader();
    let text = '';
    while (!text.includes('hello')) text += Buffer.from((await reader.read()).value!).toString();
    const pending = await until(() =>
      rowsNow()
        .slice(before)
        .find((x) => x.status === 'pending'),
    );
    finish();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    expect(contentOf(text)).toBe('hello\n');
    expect(rowsNow().slice(before)).toEqual([{ id: pending.id, status: 'ok', p: 7, c: 3, source: 'provider' }]);
  });
});

describe('pump', () => {
  it('a body destroyed with neither end nor error ends the pump, as an error', async () => {
    const stops: Array<[string, string | null]> = [];
    const r: Pumped = {
      firstByte: () => undefined,
      events: (chunks) => Buffer.concat(chunks).toString(),
      end: () => '',
      flushAll: () => '',
      blocked: null,
      drain: () => undefined,
      stop: (status, why) => void stops.push([status, why]),
      finished: () => undefined,
      tail: '',
    };
    const server = await serve((_req, res) => {
      const body = new PassThrough();
      body.write('data: a\n\n');
      setImmediate(() => body.destroy());
      void pump(r, body, res, new AbortController().signal).then(() => res.end('done'));
    });
    try {
      const text = await (await fetch(server.url)).text();
      expect(text).toBe('data: a\n\ndone');
      expect(stops).toEqual([['error', 'stream broke: Premature close']]);
    } finally {
      await server.close();
    }
  });
});
