import { describe, expect, it } from 'vitest';
import { fakeGatewaySuite, json, sse } from '../helpers/fake-llm.js';
import { mayHoldLogprobs, withholdLogprobs } from '../../src/gateway/wire/strings.js';

// Token log-probabilities spell out the text token by token. A whole answer whose text redaction
// changed loses them (an array becomes [], anything else null); a stream under redaction carries
// none, since a piece's tokens would leave before the redactor knows whether it is PII. Chat,
// completions and the Responses API alike. Under warn, and in a whole answer with no finding,
// they pass as the provider sent them.

const gw = fakeGatewaySuite('logprobs');
const { llm, post } = gw;
const tokens = (...ts: string[]) => ts.map((token) => ({ token, logprob: -0.1, bytes: [...Buffer.from(token)], top_logprobs: [{ token, logprob: -0.1, bytes: [] }] }));
const events = (text: string) =>
  text
    .split('\n\n')
    .filter((e) => e.includes('data: '))
    .map((e) => e.slice(e.indexOf('data: ') + 6))
    .filter((d) => d !== '[DONE]')
    .map((d) => JSON.parse(d));
const chat = { model: 'gpt-4o-mini', logprobs: true, top_logprobs: 1, messages: [{ role: 'user', content: 'hi' }] };
const wholeChat = {
  id: 'x',
  object: 'chat.completion',
  choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'mail bob@example.org' }, logprobs: { content: tokens('mail', ' bob', '@example', '.org') } }],
  usage: { prompt_tokens: 1, completion_tokens: 4 },
};
const chunk = (content: string, lp: unknown, finish: string | null = null) => ({
  id: 'x',
  object: 'chat.completion.chunk',
  choices: [{ index: 0, delta: { content }, logprobs: lp, finish_reason: finish }],
});
const streamedChat: Array<[string | null, unknown]> = [
  [null, chunk('mail', { content: tokens('mail') })],
  [null, chunk(' bob', { content: tokens(' bob') })],
  [null, chunk('@example.org', { content: tokens('@example', '.org') }, 'stop')],
  [null, '[DONE]'],
];

describe('token log-probabilities where redaction changed the text', () => {
  it('chat, whole: the text is redacted and its logprobs are withheld', async () => {
    llm.raw(json(wholeChat));
    const body = await (await post('/chat/completions', chat)).json();
    expect(body.choices[0].message.content).toBe('mail [EMAIL_REDACTED]');
    expect(body.choices[0].logprobs).toBeNull();
    expect(JSON.stringify(body)).not.toContain('example');
  });

  it('chat, streamed: no chunk carries tokens, even one whose text lags behind them', async () => {
    // A server buffering text (stop strings, incomplete UTF-8) may send tokens with an empty delta.
    llm.raw(sse([[null, chunk('', { content: tokens(' bob', '@example', '.org') })], ...streamedChat]));
    const text = await (await post('/chat/completions', { ...chat, stream: true })).text();
    const evs = events(text);
    expect(evs.map((e) => e.choices?.[0]?.delta?.content ?? '').join('')).toBe('mail [EMAIL_REDACTED]');
    for (const e of evs) for (const c of e.choices ?? []) expect(c.logprobs ?? null).toBeNull();
    expect(text).not.toContain('example');
    expect(text).not.toContain('bob');
  });

  it('whole: an answer of a shape no wire knows loses every logprobs member once its text changed', async () => {
    llm.raw(json({ result: { text: 'mail bob@example.org', logprobs: { tokens: [' bob', '@example', '.org'] } } }));
    const body = await (await post('/chat/completions', chat)).json();
    expect(body).toEqual({ result: { text: 'mail [EMAIL_REDACTED]', logprobs: null } });
  });

  it('whole, nothing found: the tokens pass as the provider sent them', async () => {
    llm.raw(json({ ...wholeChat, choices: [{ ...wholeChat.choices[0], message: { role: 'assistant', content: 'all clear' }, logprobs: { content: tokens('all', ' clear') } }] }));
    const body = await (await post('/chat/completions', chat)).json();
    expect(body.choices[0].logprobs.content.map((x: { token: string }) => x.token)).toEqual(['all', ' clear']);
  });

  it('completions and Responses: logprobs objects become null, token arrays []', async () => {
    llm.raw(
      json({
        id: 'x',
        object: 'text_completion',
        choices: [
          {
            index: 0,
            text: 'mail bob@example.org',
            finish_reason: 'stop',
            logprobs: { tokens: ['mail', ' bob', '@example', '.org'], token_logprobs: [-1, -1, -1, -1], top_logprobs: null, text_offset: [0, 4, 8, 16] },
          },
        ],
        usage: { prompt_tokens: 1, completion_tokens: 4 },
      }),
    );
    const c = await (await post('/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'hi', logprobs: 1 })).json();
    expect(c.choices[0]).toMatchObject({ text: 'mail [EMAIL_REDACTED]', logprobs: null });
    const part = (text: string) => ({ type: 'output_text', text, annotations: [], logprobs: tokens('mail', ' bob', '@example', '.org') });
    llm.raw(
      sse([
        [
          'response.output_text.delta',
          {
            type: 'response.output_text.delta',
            item_id: 'm',
            output_index: 0,
            content_index: 0,
            delta: 'mail bob@example.org',
            logprobs: tokens('mail', ' bob', '@example', '.org'),
            sequence_number: 0,
          },
        ],
        [
          'response.output_text.done',
          {
            type: 'response.output_text.done',
            item_id: 'm',
            output_index: 0,
            content_index: 0,
            text: 'mail bob@example.org',
            logprobs: tokens('mail', ' bob', '@example', '.org'),
            sequence_number: 1,
          },
        ],
        ['response.content_part.done', { type: 'response.content_part.done', item_id: 'm', output_index: 0, content_index: 0, part: part('mail bob@example.org'), sequence_number: 2 }],
        [
          'response.completed',
          {
            type: 'response.completed',
            sequence_number: 3,
            response: {
              id: 'r',
              object: 'response',
              status: 'completed',
              tools: [{ type: 'function', name: 'rate', parameters: { type: 'object', properties: { logprobs: { type: 'boolean' } } } }],
              output: [{ id: 'm', type: 'message', role: 'assistant', status: 'completed', content: [part('mail bob@example.org')] }],
              usage: { input_tokens: 1, output_tokens: 4, total_tokens: 5 },
            },
          },
        ],
      ]),
    );
    const text = await (await post('/responses', { model: 'gpt-4o-mini', input: 'hi', stream: true, include: ['message.output_text.logprobs'] })).text();
    expect(text).not.toContain('example');
    const evs = events(text);
    const done = evs.find((e) => e.type === 'response.content_part.done');
    expect(done.part).toMatchObject({ text: 'mail [EMAIL_REDACTED]', logprobs: [] });
    const completed = evs.find((e) => e.type === 'response.completed').response;
    expect(completed.output[0].content[0].logprobs).toEqual([]);
    // A tool's parameter named logprobs, echoed back, is no output: it stays.
    expect(completed.tools[0].parameters.properties.logprobs).toEqual({ type: 'boolean' });
    // Nothing to redact in it: a stream still carries no tokens, those of a part's done event (otherwise passed on unread) included.
    llm.raw(
      sse([
        ['response.output_text.delta', { type: 'response.output_text.delta', item_id: 'm', output_index: 0, content_index: 0, delta: 'hello', logprobs: [], sequence_number: 0 }],
        [
          'response.content_part.done',
          { type: 'response.content_part.done', item_id: 'm', output_index: 0, content_index: 0, part: { ...part('hello'), logprobs: tokens('hello') }, sequence_number: 1 },
        ],
      ]),
    );
    const clean = events(await (await post('/responses', { model: 'gpt-4o-mini', input: 'hi', stream: true })).text());
    expect(clean.find((e) => e.type === 'response.content_part.done').part).toMatchObject({ text: 'hello', logprobs: [] });
  });
});

describe('token log-probabilities under warn', () => {
  const warned = fakeGatewaySuite('warned', { safetyMode: 'warn' });

  it('pass as the provider sent them, whole and streamed (the text is not changed either)', async () => {
    warned.llm.raw(sse(streamedChat));
    const streamed = await (await warned.post('/chat/completions', { ...chat, stream: true })).text();
    const streamedTokens = events(streamed).flatMap((e) =>
      (e.choices ?? []).flatMap((c: { logprobs: { content: Array<{ token: string }> } | null }) => (c.logprobs?.content ?? []).map((x) => x.token)),
    );
    expect(streamedTokens).toEqual(['mail', ' bob', '@example', '.org']);
    warned.llm.raw(json(wholeChat));
    const r = await warned.post('/chat/completions', chat);
    const body = await r.json();
    expect(body.choices[0].message.content).toBe('mail bob@example.org');
    expect(body.choices[0].logprobs.content.map((x: { token: string }) => x.token)).toEqual(['mail', ' bob', '@example', '.org']);
  });
});

describe('mayHoldLogprobs', () => {
  // Every holder withholdLogprobs empties, with every kind of value, compact and spaced.
  const VALUES: unknown[] = [null, [], [{ token: 'a' }], { content: [{ token: 'a' }] }, 5, 0, 'x', '', true, false, {}];
  const holders = (v: unknown): unknown[] => [
    { logprobs: v },
    { part: { logprobs: v } },
    { choices: [{ index: 0, delta: { content: 'a' }, logprobs: v }] },
    { item: { content: [{ type: 'output_text', logprobs: v }] } },
    { output: [{ content: [{ logprobs: v }] }] },
    { type: 'response.completed', response: { output: [{ content: [{ text: 'a', logprobs: v }] }] } },
    { delta: 'a', logprobs: v, note: 'null' },
  ];
  const spaced = (j: unknown) => JSON.stringify(j, null, 1).replace(/":/g, '" : ');

  it('is false only where withholdLogprobs changes nothing, compact, spaced or with the key escaped', () => {
    let skipped = 0;
    for (const v of VALUES) {
      for (const h of holders(v)) {
        for (const raw of [JSON.stringify(h), spaced(h), JSON.stringify(h).replace('"logprobs"', '"\\u006cogprobs"')]) {
          const changes = withholdLogprobs(JSON.parse(raw));
          if (!mayHoldLogprobs(raw)) {
            skipped++;
            expect(changes, raw).toBe(false);
          }
        }
      }
    }
    // The precheck does skip: every null and [] holder, compact and spaced.
    expect(skipped).toBe(2 * 2 * holders(null).length);
  });
});
