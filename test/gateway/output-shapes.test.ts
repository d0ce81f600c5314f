import { describe, expect, it } from 'vitest';
import { fakeGatewaySuite, json, sse } from '../helpers/fake-llm.js';

// Output the wires did not know the shape of (custom tools, audio transcripts, annotations,
// thinking, server tools, items that arrive only whole, mid-stream errors, JSON of no known
// shape) is scanned too: every string outside structural fields.

const EMAIL = 'bob@example.org';
const gw = fakeGatewaySuite('shapes');
const { llm, post } = gw;
/** The data of each SSE event, parsed. */
const events = (text: string) =>
  text
    .split('\n\n')
    .filter((e) => e.includes('data: '))
    .map((e) => e.slice(e.indexOf('data: ') + 6))
    .filter((d) => d !== '[DONE]')
    .map((d) => JSON.parse(d));
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
const msg = { model: 'claude-3-5-haiku-latest', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
const chunk = (delta: unknown, finish: string | null = null) => ({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] });

describe('OpenAI chat', () => {
  it('whole: custom tool input, audio transcript and annotations are redacted; the answer stays the same JSON shape', async () => {
    llm.raw(
      json({
        id: 'x',
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            finish_reason: 'tool_calls',
            message: {
              role: 'assistant',
              content: 'ok',
              audio: { id: 'a', data: 'AAAA', transcript: `to ${EMAIL}` },
              annotations: [{ type: 'url_citation', url_citation: { url: `mailto:${EMAIL}`, title: EMAIL } }],
              tool_calls: [{ id: 'c', type: 'custom', custom: { name: 'mail', input: `to ${EMAIL}` } }],
            },
          },
        ],
        usage: { prompt_tokens: 1, completion_tokens: 1 },
      }),
    );
    const m = (await (await post('/chat/completions', chat)).json()).choices[0].message;
    expect(m.tool_calls[0]).toEqual({ id: 'c', type: 'custom', custom: { name: 'mail', input: 'to [EMAIL_REDACTED]' } });
    expect(m.audio).toEqual({ id: 'a', data: 'AAAA', transcript: 'to [EMAIL_REDACTED]' });
    expect(m.annotations[0].url_citation).toEqual({ url: 'mailto:[EMAIL_REDACTED]', title: '[EMAIL_REDACTED]' });
  });

  it("streamed: a string error and a provider's own top-level fields (citations, search results) are redacted", async () => {
    llm.raw(
      sse([
        [null, { ...chunk({ content: 'See ' }), citations: [`mailto:${EMAIL}`], search_results: [{ title: `by ${EMAIL}`, url: 'https://x.org' }] }],
        [null, { ...chunk({ content: 'more.' }), error: `quota of ${EMAIL}` }],
        [null, { error: `bad ${EMAIL}` }],
        [null, chunk({}, 'stop')],
        [null, '[DONE]'],
      ]),
    );
    const text = await (await post('/chat/completions', { ...chat, stream: true })).text();
    expect(text).not.toContain(EMAIL);
    const evs = events(text);
    expect(evs[0].citations).toEqual(['mailto:[EMAIL_REDACTED]']);
    expect(evs[0].search_results).toEqual([{ title: 'by [EMAIL_REDACTED]', url: 'https://x.org' }]);
    expect(evs[1].error).toBe('quota of [EMAIL_REDACTED]');
    expect(evs[2].error).toBe('bad [EMAIL_REDACTED]');
    expect(evs.map((e) => e.choices?.[0]?.delta?.content ?? '').join('')).toBe('See more.');
  });

  it('streamed: a tool name and a mid-stream error are redacted', async () => {
    llm.raw(
      sse([
        [null, chunk({ tool_calls: [{ index: 0, id: 'c', type: 'function', function: { name: `n_${EMAIL}`, arguments: '' } }] })],
        [null, { error: { message: `bad ${EMAIL}`, type: 'server_error' } }],
        [null, chunk({}, 'tool_calls')],
        [null, '[DONE]'],
      ]),
    );
    const text = await (await post('/chat/completions', { ...chat, stream: true })).text();
    expect(text).not.toContain(EMAIL);
    const evs = events(text);
    expect(evs.find((e) => e.error)?.error).toEqual({ message: 'bad [EMAIL_REDACTED]', type: 'server_error' });
    expect(evs[0].choices[0].delta.tool_calls[0].function.name).toBe('[EMAIL_REDACTED]');
  });

  it('JSON of no known shape (an object, an array) is redacted string by string and stays valid JSON', async () => {
    llm.raw(json({ result: `mail\n${EMAIL}` }));
    expect(await (await post('/chat/completions', chat)).json()).toEqual({ result: 'mail\n[EMAIL_REDACTED]' });
    llm.raw(json([EMAIL, 1]));
    expect(await (await post('/chat/completions', chat)).json()).toEqual(['[EMAIL_REDACTED]', 1]);
  });
});

describe('Anthropic messages', () => {
  it('whole: server_tool_use input and thinking blocks are redacted', async () => {
    llm.raw(
      json({
        id: 'm',
        type: 'message',
        role: 'assistant',
        model: 'claude-3-5-haiku-latest',
        stop_reason: 'end_turn',
        usage: { input_tokens: 1, output_tokens: 1 },
        content: [
          { type: 'thinking', thinking: `user is ${EMAIL}`, signature: 'sig' },
          { type: 'server_tool_use', id: 's', name: 'web_search', input: { query: EMAIL } },
          { type: 'mcp_tool_use', id: 'u', name: 'mail', server_name: 'crm', input: { to: EMAIL } },
        ],
      }),
    );
    const r = await (await post('/messages', msg)).json();
    expect(r.content).toEqual([
      { type: 'thinking', thinking: 'user is [EMAIL_REDACTED]', signature: 'sig' },
      { type: 'server_tool_use', id: 's', name: 'web_search', input: { query: '[EMAIL_REDACTED]' } },
      { type: 'mcp_tool_use', id: 'u', name: 'mail', server_name: 'crm', input: { to: '[EMAIL_REDACTED]' } },
    ]);
  });

  it('streamed: thinking_delta, text in content_block_start and an error event are redacted', async () => {
    llm.raw(
      sse([
        ['message_start', { type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', content: [], model: 'c', usage: { input_tokens: 1, output_tokens: 1 } } }],
        ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } }],
        ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: `x ${EMAIL}` } }],
        ['content_block_stop', { type: 'content_block_stop', index: 0 }],
        ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: `pre ${EMAIL}` } }],
        ['content_block_stop', { type: 'content_block_stop', index: 1 }],
        ['error', { type: 'error', error: { type: 'overloaded_error', message: `over ${EMAIL}` } }],
      ]),
    );
    const text = await (await post('/messages', { ...msg, stream: true })).text();
    expect(text).not.toContain(EMAIL);
    const evs = events(text);
    // Thinking is streamed like text: a tail that may go on is held back to the block's end.
    const thinking = evs.filter((e) => e.index === 0 && e.type === 'content_block_delta').map((e) => e.delta);
    expect(thinking.every((d) => d.type === 'thinking_delta')).toBe(true);
    expect(thinking.map((d) => d.thinking).join('')).toBe('x [EMAIL_REDACTED]');
    expect(evs.find((e) => e.type === 'content_block_start' && e.index === 1).content_block).toEqual({ type: 'text', text: 'pre [EMAIL_REDACTED]' });
    expect(evs.at(-1)).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'over [EMAIL_REDACTED]' } });
  });
});

describe('OpenAI responses', () => {
  it('streamed: items that arrive only whole, custom tool input and reasoning deltas, error and response.failed', async () => {
    const fc = { type: 'function_call', id: 'f', call_id: 'c', name: 'mail', arguments: `{"to":"${EMAIL}"}` };
    llm.raw(
      sse([
        ['response.created', { type: 'response.created', sequence_number: 0, response: { id: 'r', output: [] } }],
        ['response.output_item.added', { type: 'response.output_item.added', sequence_number: 1, output_index: 0, item: fc }],
        ['response.custom_tool_call_input.delta', { type: 'response.custom_tool_call_input.delta', sequence_number: 2, output_index: 1, item_id: 'i', delta: `to ${EMAIL}` }],
        ['response.reasoning_summary_text.delta', { type: 'response.reasoning_summary_text.delta', sequence_number: 3, output_index: 2, item_id: 'j', summary_index: 0, delta: `r ${EMAIL}` }],
        [
          'response.output_item.done',
          {
            type: 'response.output_item.done',
            sequence_number: 4,
            output_index: 3,
            item: { type: 'message', id: 'm', role: 'assistant', content: [{ type: 'output_text', text: `hi ${EMAIL}`, annotations: [] }] },
          },
        ],
        ['error', { type: 'error', sequence_number: 5, code: 'x', message: `err ${EMAIL}` }],
        [
          'response.failed',
          {
            type: 'response.failed',
            sequence_number: 6,
            response: { id: 'r', status: 'failed', error: { code: 'x', message: `fail ${EMAIL}` }, output: [], usage: { input_tokens: 1, output_tokens: 1 } },
          },
        ],
      ]),
    );
    const text = await (await post('/responses', { model: 'gpt-4o-mini', input: 'hi', stream: true })).text();
    expect(text).not.toContain(EMAIL);
    const evs = events(text);
    expect(evs[1].item.arguments).toBe('{"to":"[EMAIL_REDACTED]"}');
    expect(JSON.parse(evs[1].item.arguments)).toEqual({ to: '[EMAIL_REDACTED]' });
    // Streamed like text: a tail that may go on is held back, here to the final event.
    const joined = (type: string) =>
      evs
        .filter((e) => e.type === type)
        .map((e) => e.delta)
        .join('');
    expect(joined('response.custom_tool_call_input.delta')).toBe('to [EMAIL_REDACTED]');
    expect(joined('response.reasoning_summary_text.delta')).toBe('r [EMAIL_REDACTED]');
    expect(evs.find((e) => e.type === 'response.output_item.done').item.content[0].text).toBe('hi [EMAIL_REDACTED]');
    expect(evs.find((e) => e.type === 'error').message).toBe('err [EMAIL_REDACTED]');
    expect(evs.at(-1).response.error).toEqual({ code: 'x', message: 'fail [EMAIL_REDACTED]' });
    expect(evs.map((e) => e.sequence_number)).toEqual(evs.map((_, i) => i));
  });
});
