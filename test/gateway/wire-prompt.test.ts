import { afterEach, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { DEFAULTS } from '../../src/config/index.js';
import type { PromptParts, PromptText } from '../../src/core/prompt.js';
import { countPromptTokens } from '../../src/domain/budget/index.js';
import { simRequest } from '../../src/gateway/providers/sim/request.js';
import { anthropicWire } from '../../src/gateway/wire/anthropic/wire.js';
import { openaiWire } from '../../src/gateway/wire/openai/wire.js';
import { responsesWire } from '../../src/gateway/wire/responses/wire.js';
import { agentToken, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { useFakeLlm } from '../helpers/fake-llm.js';

// Each wire reads a request's prompt, once, into PromptParts: what the budget counts, the prompt
// guard redacts (each text's `set` writes into the body) and the simulated provider answers. One
// reader per wire, so the three agree by construction; these tests pin what each reader sees.

const text = (t: string) => ({ type: 'text', text: t, set: expect.any(Function) });
const enc = (s: string) => encode(s, { disallowedSpecial: new Set() }).length;

describe('OpenAI wire: chat, completions and embeddings prompts', () => {
  const lookup = { name: 'lookup', description: 'Search the CRM.', parameters: { type: 'object', properties: { q: { type: 'string' } } } };
  const audio = { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } };
  const custom = { type: 'custom', custom: { name: 'sql' } };
  const schema = { name: 'lead', schema: { type: 'object', properties: { score: { type: 'integer' } } } };
  const chat = () => ({
    model: 'gpt-4o',
    messages: [
      { role: 'developer', content: 'Be terse.' },
      { role: 'user', name: 'dana', content: [{ type: 'text', text: 'Describe this.' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } }, audio] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{"q":"acme"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'Acme: 120 staff' },
      { role: 'assistant', content: [{ type: 'refusal', refusal: 'I cannot.' }] },
    ],
    tools: [{ type: 'function', function: lookup }, custom],
    functions: [{ name: 'legacy', parameters: { type: 'object' } }],
    response_format: { type: 'json_schema', json_schema: schema },
  });

  it('chat: messages with roles, names, parts, calls and results; tools (callable or not); what else the model is shown', () => {
    expect(openaiWire.prompt('chat', chat())).toEqual({
      instructions: null,
      messages: [
        { role: 'system', label: 'developer', parts: [text('Be terse.')] },
        { role: 'user', label: 'user', name: 'dana', parts: [text('Describe this.'), { type: 'image', low: true }, { type: 'other', value: audio, parts: [] }] },
        { role: 'assistant', label: 'assistant', parts: [{ type: 'call', id: 'c1', name: 'lookup', input: '{"q":"acme"}', set: expect.any(Function) }] },
        { role: 'tool', label: 'tool', callId: 'c1', parts: [text('Acme: 120 staff')] },
        { role: 'assistant', label: 'assistant', parts: [text('I cannot.')] },
      ],
      input: [],
      tools: [
        { ...lookup, callable: true },
        { name: 'legacy', parameters: { type: 'object' }, callable: false },
      ],
      shown: [custom, schema],
    });
  });

  it('chat: writes redacted text back where the agent put it, a call as JSON text', () => {
    const body = chat();
    const p = openaiWire.prompt('chat', body);
    (p.messages[1]!.parts[0] as PromptText).set!('[DESCRIBED]');
    const call = p.messages[2]!.parts[0]!;
    if (call.type === 'call') call.set!('{"q":"[NAME]"}');
    (p.messages[4]!.parts[0] as PromptText).set!('[REFUSED]');
    expect(body.messages[1]!.content).toEqual([{ type: 'text', text: '[DESCRIBED]' }, expect.anything(), audio]);
    expect(body.messages[2]!.tool_calls![0]!.function.arguments).toBe('{"q":"[NAME]"}');
    expect(body.messages[4]!.content).toEqual([{ type: 'refusal', refusal: '[REFUSED]' }]);
  });

  it('completions and embeddings: a prompt or input of strings and token ids, no messages', () => {
    expect(openaiWire.prompt('completions', { prompt: 'Say hi' })).toMatchObject({ messages: [], input: [text('Say hi')] });
    expect(openaiWire.prompt('completions', { prompt: ['a', [1, 2, 3], 7] }).input).toEqual([text('a'), { type: 'tokens', count: 3 }, { type: 'tokens', count: 1 }]);
    expect(openaiWire.prompt('embeddings', { input: ['one', 'two'] }).input).toEqual([text('one'), text('two')]);
    // An endpoint reads only its own fields: a chat body's messages are no embeddings input.
    expect(openaiWire.prompt('embeddings', { input: 'x', messages: [{ role: 'user', content: 'y' }] }).messages).toEqual([]);
  });

  it("output: the endpoint's limit fields in order, its choices", () => {
    expect(openaiWire.output('chat', { max_completion_tokens: 500, max_tokens: 300, n: 2 })).toEqual({ limit: 500, choices: 2, thinking: 0 });
    expect(openaiWire.output('chat', { max_tokens: 300, best_of: 4 })).toEqual({ limit: 300, choices: 1, thinking: 0 });
    expect(openaiWire.output('completions', { max_tokens: 100, best_of: 4, n: 2 })).toEqual({ limit: 100, choices: 4, thinking: 0 });
    expect(openaiWire.output('embeddings', { input: 'x', max_tokens: 5 })).toEqual({ limit: null, choices: 1, thinking: 0 });
    expect(openaiWire.limitOutput('completions', { prompt: 'x' }, 40)).toEqual({ prompt: 'x', max_tokens: 40 });
  });
});

describe('Anthropic wire: messages prompts', () => {
  const body = () => ({
    model: 'claude-sonnet-4-0',
    max_tokens: 4096,
    thinking: { type: 'enabled', budget_tokens: 2048 },
    system: [{ type: 'text', text: 'Be terse.', cache_control: { type: 'ephemeral' } }],
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'Call the tool.', signature: 'sig' },
          { type: 'tool_use', id: 't1', name: 'get_weather', input: { city: 'Paris' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'Sunny' }] },
          { type: 'document', source: { type: 'text', data: 'x' } },
        ],
      },
    ],
    tools: [
      { name: 'get_weather', description: 'Weather by city.', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
      { type: 'web_search_20250305', name: 'web_search', max_uses: 3 },
    ],
  });

  it('system framed as a message of its own; blocks as parts; thinking shown but not rewritable; server tools not callable', () => {
    const p = anthropicWire.prompt('messages', body());
    expect(p).toEqual({
      instructions: { parts: [text('Be terse.')], framed: true },
      messages: [
        { role: 'user', label: 'user', parts: [text('Weather in Paris?')] },
        {
          role: 'assistant',
          label: 'assistant',
          parts: [
            { type: 'thinking', text: 'Call the tool.' },
            { type: 'call', id: 't1', name: 'get_weather', input: { city: 'Paris' }, set: expect.any(Function) },
          ],
        },
        {
          role: 'user',
          label: 'user',
          parts: [
            { type: 'result', callId: 't1', parts: [text('Sunny')] },
            { type: 'other', value: { type: 'document', source: { type: 'text', data: 'x' } }, parts: [text('x')] },
          ],
        },
      ],
      input: [],
      tools: [
        { name: 'get_weather', description: 'Weather by city.', parameters: { type: 'object', properties: { city: { type: 'string' } } }, callable: true },
        { name: 'web_search', callable: false },
      ],
      shown: [],
    });
  });

  it('a tool_use input is written back as an object, from the JSON text the guard redacts', () => {
    const b = body();
    const call = anthropicWire.prompt('messages', b).messages[1]!.parts[1]!;
    if (call.type === 'call') call.set!('{"city":"[CITY]"}');
    expect(b.messages[1]!.content[1]).toEqual({ type: 'tool_use', id: 't1', name: 'get_weather', input: { city: '[CITY]' } });
  });

  it('is estimated at 4 characters a token with the message overheads (hand-worked)', () => {
    const p = anthropicWire.prompt('messages', { max_tokens: 10, system: 'a'.repeat(40), messages: [{ role: 'user', content: 'b'.repeat(80) }] });
    // system: 3 + 40/4; user: 3 + "user" 1 + 80/4; reply priming 3
    expect(countPromptTokens('claude-3-5-haiku-latest', p)).toEqual({ tokens: 3 + 10 + 3 + 1 + 20 + 3, method: 'estimate', encoding: null });
  });

  it('output: max_tokens, one choice, the thinking it grants', () => {
    expect(anthropicWire.output('messages', body())).toEqual({ limit: 4096, choices: 1, thinking: 2048 });
    expect(anthropicWire.output('messages', { max_tokens: 50, thinking: { type: 'disabled', budget_tokens: 2048 } })).toEqual({ limit: 50, choices: 1, thinking: 0 });
  });
});

describe('Responses wire: instructions and input items', () => {
  const items = () => [
    { role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris?' }] },
    { type: 'reasoning', id: 'rs_1', summary: [] },
    { type: 'function_call', call_id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' },
    { type: 'function_call_output', call_id: 'c1', output: 'Sunny' },
  ];

  it('instructions are not a message; items read as messages, calls and tool outputs; function tools callable; the text format schema shown', () => {
    const schema = { type: 'object', properties: { sky: { type: 'string' } } };
    const p = responsesWire.prompt('responses', {
      instructions: 'Be terse.',
      input: items(),
      tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object' } }, { type: 'web_search' }],
      text: { format: { type: 'json_schema', name: 'w', schema } },
    });
    expect(p).toEqual({
      instructions: { parts: [text('Be terse.')], framed: false },
      messages: [
        { role: 'user', label: 'user', parts: [text('Weather in Paris?')] },
        { role: 'assistant', parts: [] },
        { role: 'assistant', parts: [{ type: 'call', id: 'c1', name: 'get_weather', input: '{"city":"Paris"}', set: expect.any(Function) }] },
        { role: 'tool', callId: 'c1', parts: [text('Sunny')] },
      ],
      input: [],
      tools: [{ name: 'get_weather', parameters: { type: 'object' }, callable: true }],
      shown: [{ type: 'web_search' }, schema],
    });
  });

  it('counts as gpt-tokenizer does: bare instructions and input, items framed like messages (hand-worked)', () => {
    expect(countPromptTokens('gpt-4o', responsesWire.prompt('responses', { instructions: 'Be terse.', input: 'Say hi' })).tokens).toBe(enc('Be terse.') + enc('Say hi'));
    const tokens = countPromptTokens('gpt-4o', responsesWire.prompt('responses', { input: items() })).tokens;
    // user: 3 + role + text; reasoning: 3; call: 3 + name + arguments + 3; output: 3 + text; priming 3
    expect(tokens).toBe(3 + enc('user') + enc('Weather in Paris?') + 3 + 3 + enc('get_weather') + enc('{"city":"Paris"}') + 3 + 3 + enc('Sunny') + 3);
  });

  it('a custom tool call (Codex’s apply_patch) is a call whose input is its free text, counted like arguments', () => {
    const input = [
      { type: 'custom_tool_call', call_id: 'c2', name: 'apply_patch', input: '*** Begin Patch' },
      { type: 'custom_tool_call_output', call_id: 'c2', output: 'Done!' },
    ];
    const p = responsesWire.prompt('responses', { input, tools: [{ type: 'custom', name: 'apply_patch' }] });
    expect(p.messages).toEqual([
      { role: 'assistant', parts: [{ type: 'call', id: 'c2', name: 'apply_patch', input: '*** Begin Patch', set: expect.any(Function) }] },
      { role: 'tool', callId: 'c2', parts: [text('Done!')] },
    ]);
    expect(p.tools).toEqual([{ name: 'apply_patch', callable: false }]);
    expect(countPromptTokens('gpt-4o', responsesWire.prompt('responses', { input })).tokens).toBe(3 + enc('apply_patch') + enc('*** Begin Patch') + 3 + 3 + enc('Done!') + 3);
  });

  it('output: max_output_tokens', () => {
    expect(responsesWire.output('responses', { max_output_tokens: 700, max_tokens: 5 })).toEqual({ limit: 700, choices: 1, thinking: 0 });
  });
});

describe('one conversation in three wires is one prompt', () => {
  const chat = {
    messages: [
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'Sunny' },
    ],
  };
  const messages = {
    max_tokens: 100,
    system: 'Be terse.',
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'c1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c1', content: 'Sunny' }] },
    ],
  };
  const responses = {
    instructions: 'Be terse.',
    input: [
      { role: 'user', content: 'Weather in Paris?' },
      { type: 'function_call', call_id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { type: 'function_call_output', call_id: 'c1', output: 'Sunny' },
    ],
  };

  it('the simulated provider reads the same turns from each', () => {
    const turns = [
      { role: 'system', text: 'Be terse.' },
      { role: 'user', text: 'Weather in Paris?' },
      { role: 'assistant', text: '', toolCalls: [{ id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      { role: 'tool', text: 'Sunny', toolCallId: 'c1' },
    ];
    expect(simRequest('chat', chat, 'gpt-4o', '').turns).toEqual(turns);
    expect(simRequest('messages', messages, 'claude-3-5-haiku-latest', '').turns).toEqual(turns);
    expect(simRequest('responses', responses, 'gpt-4o', '').turns).toEqual(turns);
  });

  it('every text the guard may rewrite is found in each (and nothing it must not: roles, names, call ids)', () => {
    const writable = (p: PromptParts): string[] => {
      const out: string[] = [];
      const walk = (parts: PromptParts['input']) => {
        for (const x of parts) {
          if (x.type === 'text' && x.set) out.push(x.text);
          if (x.type === 'call' && x.set) out.push(typeof x.input === 'string' ? x.input : JSON.stringify(x.input));
          if (x.type === 'result' || x.type === 'other') walk(x.parts);
        }
      };
      if (p.instructions) walk(p.instructions.parts);
      for (const m of p.messages) walk(m.parts);
      walk(p.input);
      return out;
    };
    const all = ['Be terse.', 'Weather in Paris?', '{"city":"Paris"}', 'Sunny'];
    expect(writable(openaiWire.prompt('chat', structuredClone(chat)))).toEqual(all);
    expect(writable(anthropicWire.prompt('messages', structuredClone(messages)))).toEqual(all);
    expect(writable(responsesWire.prompt('responses', structuredClone(responses)))).toEqual(all);
  });

  it('the same text costs the same wherever a wire puts it (Claude estimate: only the framing differs)', () => {
    const tokens = (p: PromptParts) => countPromptTokens('claude-3-5-haiku-latest', p).tokens;
    // The estimate is a token per 4 characters, rounded up: 'Be terse.' 9 → 3, 'Weather in Paris?'
    // 17 → 5, 'get_weather' 11 → 3, '{"city":"Paris"}' 16 → 4, 'Sunny' 5 → 2.
    const texts = 3 + 5 + 3 + 4 + 2;
    // Role labels: 'system' 2, 'user' 1, 'assistant' 3, 'tool' 1.
    const [system, user, assistant, tool] = [2, 1, 3, 1];
    // chat: 4 messages with role labels; each call 3; priming 3
    expect(tokens(openaiWire.prompt('chat', chat))).toBe(texts + 4 * 3 + (system + user + assistant + tool) + 3 + 3);
    // messages: system framed (3), 3 messages with labels, the call 3, priming 3
    expect(tokens(anthropicWire.prompt('messages', messages))).toBe(texts + 3 + 3 * 3 + user * 2 + assistant + 3 + 3);
    // responses: bare instructions, 3 items (only the message has a role), the call 3, priming 3
    expect(tokens(responsesWire.prompt('responses', responses))).toBe(texts + 3 * 3 + user + 3 + 3);
  });
});

// ── Through the gateway: the prompt guard on each wire, with the official SDKs ───────────────

const upstream = useFakeLlm();

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function start() {
  t = await startTestRuntime({ config: { gateway: upstream.gateway({ anthropic: true }), safety: { ...DEFAULTS.safety, locations: { prompt: 'redact' } } } });
  const a = await agentToken(t, { name: 'prompt' });
  return {
    openai: new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 }),
    anthropic: new Anthropic({ baseURL: t.rt.url, apiKey: a.token, maxRetries: 0 }),
  };
}

describe('the prompt guard reads each wire through its reader', () => {
  it('Anthropic: system, text, tool_use input (still an object) and tool_result are redacted; a signed thought goes as sent', async () => {
    const { anthropic } = await start();
    upstream.answer({ usage: { input_tokens: 10, output_tokens: 5 } });
    await anthropic.messages.create({
      model: 'claude-sonnet-4-0',
      max_tokens: 4096,
      system: [{ type: 'text', text: 'Reply to bob@example.org only.' }],
      messages: [
        { role: 'user', content: 'Mail bob@example.org the offer.' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'Send it to bob@example.org.', signature: 'sig' },
            { type: 'tool_use', id: 't1', name: 'send', input: { to: 'bob@example.org' } },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'sent to bob@example.org' }] },
      ],
    });
    const sent = upstream.requests.at(-1)!.body;
    expect(sent.system).toEqual([{ type: 'text', text: 'Reply to [EMAIL_REDACTED] only.' }]);
    expect(sent.messages[0].content).toBe('Mail [EMAIL_REDACTED] the offer.');
    expect(sent.messages[1].content).toEqual([
      { type: 'thinking', thinking: 'Send it to bob@example.org.', signature: 'sig' },
      { type: 'tool_use', id: 't1', name: 'send', input: { to: '[EMAIL_REDACTED]' } },
    ]);
    expect(sent.messages[2].content).toEqual([{ type: 'tool_result', tool_use_id: 't1', content: 'sent to [EMAIL_REDACTED]' }]);
  });

  it('Responses: instructions, input text, function_call arguments, function_call_output and a custom tool call’s input are redacted', async () => {
    const { openai } = await start();
    upstream.answer({ usage: { input_tokens: 10, output_tokens: 5 } });
    await openai.responses.create({
      model: 'gpt-4o',
      instructions: 'Reply to bob@example.org only.',
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'Mail bob@example.org the offer.' }] },
        { type: 'function_call', call_id: 'c1', name: 'send', arguments: '{"to":"bob@example.org"}' },
        { type: 'function_call_output', call_id: 'c1', output: 'sent to bob@example.org' },
        { type: 'custom_tool_call', call_id: 'c2', name: 'apply_patch', input: '+Contact: bob@example.org' },
        { type: 'custom_tool_call_output', call_id: 'c2', output: 'Done!' },
      ],
    });
    const sent = upstream.requests.at(-1)!.body;
    expect(sent.instructions).toBe('Reply to [EMAIL_REDACTED] only.');
    expect(sent.input[0].content).toEqual([{ type: 'input_text', text: 'Mail [EMAIL_REDACTED] the offer.' }]);
    expect(JSON.parse(sent.input[1].arguments)).toEqual({ to: '[EMAIL_REDACTED]' });
    expect(sent.input[2].output).toBe('sent to [EMAIL_REDACTED]');
    expect(sent.input[3].input).toBe('+Contact: [EMAIL_REDACTED]');
  });
});
