import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { policiesSchema, policySet } from '../../src/config/policies.js';
import { SseSplitter } from '../../src/core/sse.js';
import { fakeGatewaySuite, json, sse } from '../helpers/fake-llm.js';

// Tool calls in answers, the shapes the simulated provider does not make, from a scripted upstream (the
// fake LLM): text streamed before the call (it goes on; the call is held back), a custom tool's
// free-text input (Codex's apply_patch), several calls in one answer with one withheld (the
// others keep dense indices), and arguments that are not JSON (a rule that tests them fails closed).

const gw = fakeGatewaySuite('shapes', {
  policies: policySet(
    policiesSchema.parse([
      { name: 'no-push', match: { llm_tool: ['Bash', 'shell'], args: { command: { matches: String.raw`\bgit\s+push\b` } } }, action: 'deny', reason: 'pushes go through review' },
      { name: 'no-etc', match: { llm_tool: 'apply_patch', args: { input: { contains: '/etc/' } } }, action: 'deny' },
    ]),
  ),
});

const openai = () => new OpenAI({ baseURL: `${gw.t.rt.url}/v1`, apiKey: gw.token, maxRetries: 0 });
const anthropic = () => new Anthropic({ baseURL: gw.t.rt.url, apiKey: gw.token, maxRetries: 0 });
const DENIED = /\[iron-cage\] tool call \w+ in an answer of gpt-4o is refused by policy rule no-\w+/;

const chunk = (delta: object, finish: string | null = null) => ({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [{ index: 0, delta, finish_reason: finish }] });
const call = (index: number, id: string, name: string) => chunk({ tool_calls: [{ index, id, type: 'function', function: { name, arguments: '' } }] });
const args = (index: number, text: string) => chunk({ tool_calls: [{ index, function: { arguments: text } }] });
const USAGE = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [], usage: { prompt_tokens: 9, completion_tokens: 30, total_tokens: 39 } };

/** A raw stream's events as the agent got them, parsed (null for `[DONE]`). */
async function events(r: Response): Promise<Array<{ event: string | null; json: any }>> {
  expect(r.status).toBe(200);
  return new SseSplitter().pushAll([Buffer.from(await r.text())]).map((e) => ({ event: e.event, json: e.data === '[DONE]' ? null : JSON.parse(e.data) }));
}

describe('chat completions', () => {
  it('streamed text goes on; of three calls the denied one goes, the others keep indices 0 and 1; the turn still calls', async () => {
    gw.llm.raw(
      sse([
        [null, chunk({ role: 'assistant', content: 'Pushing ' })],
        [null, chunk({ content: 'now.' })],
        [null, call(0, 'call_a', 'Read')],
        [null, args(0, '{"path":"a.txt"}')],
        [null, call(1, 'call_b', 'Bash')],
        [null, args(1, '{"command":"git ')],
        [null, args(1, 'push origin main"}')],
        [null, call(2, 'call_c', 'Bash')],
        [null, args(2, '{"command":"ls"}')],
        [null, chunk({}, 'tool_calls')],
        [null, USAGE],
        [null, '[DONE]'],
      ]),
    );
    const r = await openai()
      .chat.completions.stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'push it' }], tools: [{ type: 'function', function: { name: 'Bash' } }] })
      .finalChatCompletion();
    const m = r.choices[0]!.message;
    expect(m.content).toMatch(new RegExp(`^Pushing now\\.\\n\\n${DENIED.source}: pushes go through review\\. It was not run\\.$`));
    expect(m.tool_calls?.map((c) => (c.type === 'function' ? [c.id, c.function.name, c.function.arguments] : null))).toEqual([
      ['call_a', 'Read', '{"path":"a.txt"}'],
      ['call_c', 'Bash', '{"command":"ls"}'],
    ]);
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it("a custom tool's free-text input is read as { input }: a patch to /etc/ is withheld, whole and streamed", async () => {
    const patch = '*** Begin Patch\n*** Update File: /etc/hosts\n+127.0.0.1 evil\n*** End Patch';
    gw.llm.raw(
      json({
        id: 'c2',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o',
        choices: [
          { index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_p', type: 'custom', custom: { name: 'apply_patch', input: patch } }] }, finish_reason: 'tool_calls' },
        ],
        usage: { prompt_tokens: 5, completion_tokens: 20, total_tokens: 25 },
      }),
    );
    const whole = (await (await gw.post('/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })).json()) as any;
    expect(whole.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: expect.stringMatching(/refused by policy rule no-etc/) } });
    expect(whole.choices[0].message.tool_calls).toBeUndefined();
    gw.llm.raw(
      sse([
        [null, chunk({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_p', type: 'custom', custom: { name: 'apply_patch', input: '' } }] })],
        ...patch.split('\n').map((line, i): [null, object] => [null, chunk({ tool_calls: [{ index: 0, custom: { input: `${i > 0 ? '\n' : ''}${line}` } }] })]),
        [null, chunk({}, 'tool_calls')],
        [null, '[DONE]'],
      ]),
    );
    const got = await events(await gw.post('/chat/completions', { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] }));
    const text = got.map((e) => e.json?.choices?.[0]?.delta?.content ?? '').join('');
    expect(text).toMatch(/refused by policy rule no-etc/);
    expect(got.some((e) => e.json?.choices?.[0]?.delta?.tool_calls)).toBe(false);
    expect(got.map((e) => e.json?.choices?.[0]?.finish_reason).filter(Boolean)).toEqual(['stop']);
  });

  it('arguments that are not JSON, under a rule that tests them: withheld, saying they could not be read', async () => {
    gw.llm.raw(
      sse([
        [null, chunk({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_x', type: 'function', function: { name: 'Bash', arguments: '' } }] })],
        [null, args(0, '{"command": git push')],
        [null, chunk({}, 'tool_calls')],
        [null, '[DONE]'],
      ]),
    );
    const r = await openai()
      .chat.completions.stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
      .finalChatCompletion();
    expect(r.choices[0]!.message.tool_calls ?? []).toEqual([]);
    expect(r.choices[0]!.message.content).toMatch(/refused by policy rule no-push: pushes go through review; its arguments could not be read \(the model wrote arguments that are not JSON/);
  });
});

describe('Responses', () => {
  const created = { type: 'response.created', response: { id: 'resp_1', object: 'response', status: 'in_progress', output: [] } };
  const patch = '*** Begin Patch\n*** Add File: /etc/cron.d/x\n*** End Patch';
  const streamed = (): Array<[string, object]> => {
    const out: Array<[string, object]> = [
      ['response.created', created],
      ['response.output_item.added', { type: 'response.output_item.added', output_index: 0, item: { id: 'msg_1', type: 'message', status: 'in_progress', role: 'assistant', content: [] } }],
      ['response.content_part.added', { type: 'response.content_part.added', item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }],
      ['response.output_text.delta', { type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Patching.' }],
      ['response.output_text.done', { type: 'response.output_text.done', item_id: 'msg_1', output_index: 0, content_index: 0, text: 'Patching.' }],
      ['response.content_part.done', { type: 'response.content_part.done', item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', text: 'Patching.', annotations: [] } }],
      [
        'response.output_item.done',
        {
          type: 'response.output_item.done',
          output_index: 0,
          item: { id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Patching.', annotations: [] }] },
        },
      ],
      [
        'response.output_item.added',
        { type: 'response.output_item.added', output_index: 1, item: { id: 'ctc_1', type: 'custom_tool_call', call_id: 'call_p', name: 'apply_patch', input: '', status: 'in_progress' } },
      ],
      ...patch
        .split('\n')
        .map((line, i): [string, object] => [
          'response.custom_tool_call_input.delta',
          { type: 'response.custom_tool_call_input.delta', item_id: 'ctc_1', output_index: 1, delta: `${i > 0 ? '\n' : ''}${line}` },
        ]),
      ['response.custom_tool_call_input.done', { type: 'response.custom_tool_call_input.done', item_id: 'ctc_1', output_index: 1, input: patch }],
      [
        'response.output_item.done',
        { type: 'response.output_item.done', output_index: 1, item: { id: 'ctc_1', type: 'custom_tool_call', call_id: 'call_p', name: 'apply_patch', input: patch, status: 'completed' } },
      ],
      [
        'response.completed',
        {
          type: 'response.completed',
          response: {
            id: 'resp_1',
            object: 'response',
            status: 'completed',
            output: [
              { id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Patching.', annotations: [] }] },
              { id: 'ctc_1', type: 'custom_tool_call', call_id: 'call_p', name: 'apply_patch', input: patch, status: 'completed' },
            ],
            usage: { input_tokens: 5, output_tokens: 20, total_tokens: 25 },
          },
        },
      ],
    ];
    return out.map(([name, data], i) => [name, { ...data, sequence_number: i }]);
  };

  it("streamed: the text before goes on, the custom call's events become a message's, numbered without a gap", async () => {
    gw.llm.raw(sse(streamed()));
    const got = await events(await gw.post('/responses', { model: 'gpt-4o', stream: true, input: 'patch it', store: false }));
    expect(got.map((e) => e.json.sequence_number)).toEqual(got.map((_, i) => i));
    expect(got.every((e) => e.event === e.json.type)).toBe(true);
    expect(got.some((e) => String(e.json.type).startsWith('response.custom_tool_call'))).toBe(false);
    const last = got.at(-1)!.json;
    expect(last.type).toBe('response.completed');
    expect(last.response.output.map((o: any) => o.type)).toEqual(['message', 'message']);
    expect(last.response.output[1].content[0].text).toMatch(/refused by policy rule no-etc/);
    const deltas = got.filter((e) => e.json.type === 'response.output_text.delta').map((e) => e.json.delta);
    expect(deltas.join('')).toMatch(/^Patching\.\[iron-cage\] tool call apply_patch .*It was not run\.$/);
    // The official SDK follows the rewritten stream to the same end.
    gw.llm.raw(sse(streamed()));
    const final = await openai().responses.stream({ model: 'gpt-4o', input: 'patch it', store: false }).finalResponse();
    expect(final.output.map((o) => o.type)).toEqual(['message', 'message']);
    expect(final.output_text).toMatch(/^Patching\.\[iron-cage\] tool call apply_patch/);
  });
});

describe('Anthropic messages', () => {
  it('streamed text goes on; the denied tool_use becomes a text block and the turn ends', async () => {
    const ev = (type: string, data: object): [string, object] => [type, { type, ...data }];
    gw.llm.raw(
      sse([
        ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-6', content: [], stop_reason: null, usage: { input_tokens: 9, output_tokens: 1 } } }),
        ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
        ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Pushing now.' } }),
        ev('content_block_stop', { index: 0 }),
        ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: {} } }),
        ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"command": "git push' } }),
        ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: ' --force"}' } }),
        ev('content_block_stop', { index: 1 }),
        ev('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 30 } }),
        ev('message_stop', {}),
      ]),
    );
    const m = await anthropic()
      .messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 100, messages: [{ role: 'user', content: 'push' }] })
      .finalMessage();
    expect(m.stop_reason).toBe('end_turn');
    expect(m.content.map((b) => b.type)).toEqual(['text', 'text']);
    expect(m.content[0]).toMatchObject({ text: 'Pushing now.' });
    expect(m.content[1]).toMatchObject({ text: expect.stringMatching(/^\[iron-cage\] tool call Bash in an answer of claude-sonnet-4-6 is refused by policy rule no-push/) });
  });
});
